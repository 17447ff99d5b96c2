// FakeAliyun: a loopback fake of Alibaba Cloud's RPC-style OpenAPI (ECS 2014-05-26, ESS
// 2014-08-28) for Baton's tests; no Alibaba emulator exists (shared/notes/cloud-apis.md section 5).
// It runs on the embedded HTTP server (net/http_server.h) and, like the real service:
//   - re-verifies every request's ACS3-HMAC-SHA256 signature from the bytes on the wire
//     (AliyunVerifier, written apart from the client's signer);
//   - dispatches by the x-acs-action header to the service that x-acs-version names (the one
//     endpoint serves both services; a version that no service has is NoSuchVersion);
//   - reads the RPC parameters from the query and from a form body, unflattening "A.1",
//     "A.1.B" and "A.B" into JSON arrays and objects (ParseRpcParameters);
//   - answers JSON with a RequestId on every answer, errors as HTTP 4xx/5xx with Code, Message,
//     RequestId and HostId (notes section 2.1).
// Test controls: injected faults (the next N calls of an action answer Throttling.User or
// ServiceUnavailable), a log of every call with its parameters and answer, stock per zone and
// billing, spot reclaims, pausing an instance's process, and a snapshot of every instance.
//
// Implemented so far (ECS; shapes and codes of notes 2.1 and 2.3, see fake_ecs.cc):
//   DescribeRegions, DescribeZones over the configured regions and zones;
//   RunInstances / DescribeInstances / DeleteInstance / DescribeAvailableResource: instances
//     with ids, Pending -> Running after boot_seconds, spot fields, tags, ClientToken
//     idempotency, DryRun, OperationDenied.NoStock from the stock switches, OperationLocks
//     (Recycling) during a reclaim's notice, both kinds of paging;
//   each instance's machine (fake_ecs_host.h): a metadata service of its own (instance-id, the
//     RAM role's keys, spot termination-time) and, given a baton binary, the `baton agent` its
//     cloud-init user-data starts, as a process group that a delete or reclaim SIGKILLs.
// Not here (such a call answers InvalidAction.NotFound, never a made-up success): Stop/Start/
//   Reboot of instances, prices (TradePrice is 0), disks, networks beyond vSwitch ids; ESS
//   (scaling groups, configurations, DescribeScalingInstances, RemoveInstances ... in FakeEss,
//   notes 2.2, with their instances kept in FakeEcs) is still a placeholder.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aliyun_verifier.h"
#include "base/json.h"
#include "base/periodic_thread.h"
#include "base/status.h"
#include "fake_ecs_host.h"
#include "net/http_server.h"

namespace baton::testing {

struct FakeAliyunZone {
  std::string zone_id;     // "cn-hangzhou-g"
  std::string local_name;  // "Hangzhou Zone G"
  std::vector<std::string> instance_types;
  std::vector<std::string> vswitch_ids = {};  // a vSwitch belongs to one zone
};

struct FakeAliyunRegion {
  std::string region_id;  // "cn-hangzhou"
  std::string local_name;
  std::vector<FakeAliyunZone> zones;
};

// The answer of one RPC action: a JSON body (RequestId is added by FakeAliyun) or an error.
struct RpcAnswer {
  int http_status = 200;
  Json body = Json::object();

  static RpcAnswer Ok(Json body) { return RpcAnswer{200, std::move(body)}; }
  static RpcAnswer Error(int http_status, const std::string& code, const std::string& message) {
    return RpcAnswer{http_status, Json{{"Code", code}, {"Message", message}}};
  }
};

// One service's actions and state. Handle returns nullopt for an action it does not know.
// Calls are serialised by FakeAliyun, so a service needs no lock of its own.
class FakeAliyunService {
 public:
  virtual ~FakeAliyunService() = default;
  virtual std::string name() const = 0;     // "ecs"
  virtual std::string version() const = 0;  // "2014-05-26"
  virtual std::optional<RpcAnswer> Handle(const std::string& action, const Json& params) = 0;
};

// One instance as InstancesSnapshot reports it (every instance ever created).
struct FakeInstanceSnapshot {
  std::string instance_id;
  std::string zone_id;
  std::string instance_type;
  std::string spot_strategy;  // NoSpot | SpotAsPriceGo | SpotWithPriceLimit
  std::string status;         // Pending | Running | Deleted | Reclaimed
  bool recycling = false;     // a reclaim's notice is running
  int64_t created_unix_ms = 0;
  int64_t released_unix_ms = 0;  // 0 while it exists
  bool process_alive = false;
  pid_t pid = -1;
  int exit_code = -1;  // the agent's exit code, 128 + signal when killed; -1: running or none
  std::vector<std::string> agent_argv;  // empty: no process was started
  Json run_params;                      // the RunInstances parameters it came from
  std::string agent_log;                // "" before it booted, or without a work folder
  std::string metadata_url;             // its metadata service, while it exists
};

// ECS 2014-05-26 (fake_ecs.cc): regions and zones (configured) and instances. Every call first
// moves instances along the clock (Advance).
class FakeEcs : public FakeAliyunService {
 public:
  struct Config {
    std::vector<FakeAliyunRegion> regions;
    std::vector<std::string> image_ids;
    std::vector<std::string> security_group_ids;
    FakeInstanceHostOptions host;
  };
  explicit FakeEcs(Config config);
  ~FakeEcs() override;  // PowerOffAll()
  std::string name() const override { return "ecs"; }
  std::string version() const override { return "2014-05-26"; }
  std::optional<RpcAnswer> Handle(const std::string& action, const Json& params) override;

  // "127.0.0.1:<port>": every region's RegionEndpoint, and the agents' API endpoint.
  void set_endpoint_host(std::string host) { endpoint_host_ = std::move(host); }
  // Boots instances whose boot time came, powers off those whose reclaim notice ran out, reaps
  // exited agents.
  void Advance();
  // Every machine off (the fake is stopping); instances keep their status, none boots any more.
  void PowerOffAll();

  void SetStock(const std::string& zone_id, bool spot, bool available);
  Status Reclaim(const std::string& instance_id);
  // SIGSTOP (pause) or SIGCONT to the instance's process group.
  Status Signal(const std::string& instance_id, bool pause);
  std::vector<FakeInstanceSnapshot> Snapshot();

 private:
  struct Instance;
  struct Zone {
    const FakeAliyunRegion* region;
    const FakeAliyunZone* zone;
  };

  RpcAnswer DescribeRegions(const Json& params) const;
  RpcAnswer DescribeZones(const Json& params) const;
  RpcAnswer RunInstances(const Json& params);
  RpcAnswer DescribeInstances(const Json& params);
  RpcAnswer DeleteInstance(const Json& params);
  RpcAnswer DescribeAvailableResource(const Json& params) const;

  const FakeAliyunRegion* FindRegion(const std::string& region_id) const;
  std::optional<Zone> ZoneOfVSwitch(const std::string& vswitch_id) const;
  bool InStock(const std::string& zone_id, bool spot) const;
  // An instance that still exists (Pending or Running), or null.
  Instance* Live(const std::string& instance_id);
  void Release(Instance* instance, const std::string& status);
  Json Describe(const Instance& instance) const;

  Config config_;
  std::string endpoint_host_;
  std::vector<std::unique_ptr<Instance>> instances_;            // in creation order
  std::map<std::pair<std::string, bool>, bool> stock_;          // (zone, spot) -> available
  std::map<std::string, std::pair<Json, Json>> client_tokens_;  // token -> (params, answer)
  uint64_t next_sequence_ = 1;
  uint64_t id_salt_ = 0;
  bool powered_off_ = false;  // after PowerOffAll nothing boots any more
};

// ESS 2014-08-28: known by its version so that requests reach it; it implements no action yet
// (scaling-group state comes next), so every call answers InvalidAction.NotFound.
class FakeEss : public FakeAliyunService {
 public:
  std::string name() const override { return "ess"; }
  std::string version() const override { return "2014-08-28"; }
  std::optional<RpcAnswer> Handle(const std::string&, const Json&) override { return std::nullopt; }
};

enum class FakeAliyunFault {
  kThrottling,          // HTTP 400 Throttling.User (notes 2.1: Throttling is 400)
  kServiceUnavailable,  // HTTP 503 ServiceUnavailable
};

// One request as the fake answered it (signature failures included, with an empty action when
// the request was refused before its action was read).
struct FakeAliyunCall {
  std::string service;  // "ecs", "ess", or "" when no service was reached
  std::string action;   // x-acs-action
  Json params = Json::object();
  int http_status = 0;
  std::string code;  // "" on success
};

struct FakeAliyunOptions {
  std::vector<AliyunCredential> credentials;
  std::vector<FakeAliyunRegion> regions;
  // What RunInstances accepts as ImageId and SecurityGroupId.
  std::vector<std::string> image_ids;
  std::vector<std::string> security_group_ids;
  // The instances' machines: processes, folders, notice and boot times.
  FakeInstanceHostOptions host;
  // Unix seconds for the signature's date check; the system clock when empty.
  std::function<int64_t()> now_seconds;
};

class FakeAliyun {
 public:
  explicit FakeAliyun(FakeAliyunOptions options);
  ~FakeAliyun();  // Stop()
  FakeAliyun(const FakeAliyun&) = delete;
  FakeAliyun& operator=(const FakeAliyun&) = delete;

  // Listens on a free loopback port, and starts the thread that moves instances along the clock
  // (boots, reclaims, reaping).
  Status Start();
  // Stops serving; every instance's process group is SIGKILLed and reaped, its metadata service
  // stopped. Idempotent.
  void Stop();
  // "http://127.0.0.1:<port>"; both services are served there.
  std::string endpoint() const { return server_.url(); }

  // The next `count` calls of `action` (whichever service) answer `fault` instead of running.
  void FailNext(const std::string& action, int count, FakeAliyunFault fault);
  std::vector<FakeAliyunCall> Calls() const;
  // The calls of `action` that were answered 200.
  std::vector<Json> SuccessfulParams(const std::string& action) const;
  AliyunVerifier& verifier() { return verifier_; }

  // Test controls, thread-safe while the server runs.
  // Whether RunInstances finds capacity in `zone_id` for spot (or on-demand) instances; both are
  // in stock by default. Without it: 403 OperationDenied.NoStock.
  void SetStock(const std::string& zone_id, bool spot, bool available);
  // A spot interruption (notes 2.3): the instance's metadata spot/termination-time is set to now
  // + host.notice_seconds at once and DescribeInstances shows the Recycling lock; when the time
  // is up its process group is SIGKILLed and the instance is gone (at once with notice 0).
  // NotFound for an instance that does not exist (any more); FailedPrecondition for one that is
  // not spot, or is already being reclaimed.
  Status Reclaim(const std::string& instance_id);
  // SIGSTOP / SIGCONT to the instance's process group: freezes an agent at a chosen step.
  Status PauseInstance(const std::string& instance_id);
  Status ResumeInstance(const std::string& instance_id);
  std::vector<FakeInstanceSnapshot> InstancesSnapshot();

  // Answers one request; what the HTTP server calls (public for tests that feed requests).
  HttpServerResponse Handle(const HttpServerRequest& request);

 private:
  HttpServerResponse Answer(const std::string& host, FakeAliyunCall call, RpcAnswer answer);

  FakeAliyunOptions options_;
  AliyunVerifier verifier_;
  HttpServer server_;
  mutable std::mutex mu_;  // serialises Handle, the test controls and the clock thread
  std::vector<std::unique_ptr<FakeAliyunService>> services_;
  FakeEcs* ecs_ = nullptr;  // in services_
  std::unique_ptr<PeriodicThread> clock_;
  std::map<std::string, std::pair<int, FakeAliyunFault>> faults_;  // action -> (count, fault)
  std::vector<FakeAliyunCall> calls_;
  uint64_t next_request_id_ = 1;
};

// "A.1"/"A.1.B"/"A.B" flattened parameters -> nested JSON (values stay strings): {"A.1": "x",
// "A.2": "y"} -> {"A": ["x", "y"]}; {"T.1.Key": "k"} -> {"T": [{"Key": "k"}]}. A name given
// twice, a name used both as a value and as a prefix, an empty segment, or list indices that do
// not run 1..N are InvalidArgument.
Result<Json> ParseRpcParameters(const std::vector<std::pair<std::string, std::string>>& pairs);
// The pairs of a raw query ("a=1&b=x%20y"; '+' stays '+') or of a form body ('+' is a space).
std::vector<std::pair<std::string, std::string>> SplitRpcPairs(std::string_view text,
                                                               bool form_encoded);

}  // namespace baton::testing
