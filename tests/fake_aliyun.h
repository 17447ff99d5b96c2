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
// Test controls: injected faults (the next N calls of an action answer Throttling.User,
// ServiceUnavailable, or any error a test names), a log of every call with its parameters, answer
// and signing key, stock per zone and billing, spot reclaims, pausing an instance's process, and
// a snapshot of every instance.
//
// Implemented (shapes and codes of notes 2.1, 2.2 and 2.3):
//   ECS (fake_ecs.cc): DescribeRegions, DescribeZones over the configured regions and zones;
//     DescribeSpotPriceHistory from prices set with SetSpotPrice (Offset paging, 2 a page);
//     RunInstances / DescribeInstances / DeleteInstance / DescribeAvailableResource: instances
//     with ids, Pending -> Running after boot_seconds, spot fields, tags, ClientToken
//     idempotency, DryRun, OperationDenied.NoStock from the stock switches, OperationLocks
//     (Recycling) during a reclaim's notice, both kinds of paging;
//   each instance's machine (fake_ecs_host.h): a metadata service of its own (instance-id, the
//     RAM role's keys, spot termination-time) and, given a baton binary, the `baton agent` its
//     cloud-init user-data starts, as a process group that a delete or reclaim SIGKILLs;
//   ESS (fake_ess.cc): CreateScalingGroup / ModifyScalingGroup / EnableScalingGroup /
//     DescribeScalingGroups / DeleteScalingGroup (ForceDelete), CreateScalingConfiguration /
//     ModifyScalingConfiguration / DescribeScalingConfigurations, DescribeScalingInstances, with
//     paging and ClientToken; an Active group keeps its desired capacity with FakeEcs instances:
//     spot first along its vSwitches and instance types where there is stock, on-demand
//     compensation, back to spot (SpotAutoReplaceOnDemand), a replacement at once on a reclaim
//     (SpotInstanceRemedy), releases (SIGKILL) down to the desired capacity.
// Not here (such a call answers InvalidAction.NotFound, an unknown parameter InvalidParameter,
//   never a made-up success): Stop/Start/Reboot of instances, prices (TradePrice is 0; ESS takes
//   its priority order for "cheapest"), disks, networks beyond vSwitch ids; in ESS scaling rules
//   and activities, RemoveInstances / AttachInstances, launch templates, load balancers, health
//   checks, cooldowns (shown, not applied), MultiAZPolicy BALANCE / COMPOSABLE.
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
#include "fake_rpc_params.h"
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
  std::string scaling_group_id;         // the ESS group that launched it, or ""
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
  // From `unix_ms` on, spot `instance_type` in `zone_id` costs `price` per hour (what
  // DescribeSpotPriceHistory answers; no point: an empty history).
  void SetSpotPrice(const std::string& zone_id, const std::string& instance_type, int64_t unix_ms,
                    double price);
  Status Reclaim(const std::string& instance_id);
  // SIGSTOP (pause) or SIGCONT to the instance's process group.
  Status Signal(const std::string& instance_id, bool pause);
  std::vector<FakeInstanceSnapshot> Snapshot();

  // --- for FakeEss, which keeps its groups' instances here (no HTTP between the two) ---
  struct Zone {
    const FakeAliyunRegion* region;
    const FakeAliyunZone* zone;
  };
  const Config& config() const { return config_; }
  const FakeAliyunRegion* FindRegion(const std::string& region_id) const;
  std::optional<Zone> ZoneOfVSwitch(const std::string& vswitch_id) const;
  bool InStock(const std::string& zone_id, bool spot) const;
  // One instance as a scaling group launches it, validated by ESS already.
  struct GroupLaunch {
    std::string region_id, vswitch_id, instance_type, image_id, security_group_id;
    std::string spot_strategy = "NoSpot";  // NoSpot | SpotAsPriceGo | SpotWithPriceLimit
    double spot_price_limit = 0;
    std::string user_data;  // decoded
    std::string ram_role, instance_name, host_name;
    std::vector<std::pair<std::string, std::string>> tags;
    std::string scaling_group_id;
    Json params;  // what Snapshot shows as its run_params
  };
  // The new instance's id (Pending, then it boots as one of RunInstances does);
  // Unavailable when its zone has no stock for its billing or does not offer its type,
  // FailedPrecondition after PowerOffAll.
  Result<std::string> LaunchForGroup(const GroupLaunch& launch);
  // An instance as its group sees it; nullopt once it is gone (released, reclaimed, deleted).
  struct GroupMember {
    std::string status;  // Pending | Running
    std::string zone_id;
    std::string spot_strategy;
    bool recycling = false;  // a reclaim's notice runs
    int64_t created_ms = 0;
  };
  std::optional<GroupMember> FindLive(const std::string& instance_id);
  // Gone at once, its process group SIGKILLed: ESS releases without notice.
  void ReleaseNow(const std::string& instance_id);

 private:
  struct Instance;

  RpcAnswer DescribeRegions(const Json& params) const;
  RpcAnswer DescribeZones(const Json& params) const;
  RpcAnswer RunInstances(const Json& params);
  RpcAnswer DescribeInstances(const Json& params);
  RpcAnswer DeleteInstance(const Json& params);
  RpcAnswer DescribeAvailableResource(const Json& params) const;
  RpcAnswer DescribeSpotPriceHistory(const Json& params) const;

  // A copy of `prototype` with its id, sequence, creation and boot times.
  Instance* AddInstance(const Instance& prototype);
  // An instance that still exists (Pending or Running), or null.
  Instance* Live(const std::string& instance_id);
  void Release(Instance* instance, const std::string& status);
  Json Describe(const Instance& instance) const;

  Config config_;
  std::string endpoint_host_;
  std::vector<std::unique_ptr<Instance>> instances_;    // in creation order
  std::map<std::pair<std::string, bool>, bool> stock_;  // (zone, spot) -> available
  // (zone, type) -> (unix ms, price per hour), in time order
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int64_t, double>>>
      spot_prices_;
  ClientTokens client_tokens_;
  uint64_t next_sequence_ = 1;
  uint64_t id_salt_ = 0;
  bool powered_off_ = false;  // after PowerOffAll nothing boots any more
};

// ESS 2014-08-28 (fake_ess.cc): scaling groups, their configurations, and their instances, which
// are FakeEcs's (LaunchForGroup): they boot, run their agents and show in ECS's
// DescribeInstances. Every call, and the fake's clock, runs Advance: it keeps each Active group
// at its desired capacity (the rules are in fake_ess.cc).
class FakeEss : public FakeAliyunService {
 public:
  explicit FakeEss(FakeEcs* ecs);
  ~FakeEss() override;
  std::string name() const override { return "ess"; }
  std::string version() const override { return "2014-08-28"; }
  std::optional<RpcAnswer> Handle(const std::string& action, const Json& params) override;
  // Launches, replaces and releases the groups' instances; forgets the released ones.
  void Advance();

 private:
  struct Member;
  struct Group;
  struct Configuration;

  RpcAnswer CreateScalingGroup(const Json& params);
  RpcAnswer ModifyScalingGroup(const Json& params);
  RpcAnswer EnableScalingGroup(const Json& params);
  RpcAnswer DescribeScalingGroups(const Json& params);
  RpcAnswer DeleteScalingGroup(const Json& params);
  RpcAnswer CreateScalingConfiguration(const Json& params);
  RpcAnswer ModifyScalingConfiguration(const Json& params);
  RpcAnswer DescribeScalingConfigurations(const Json& params);
  RpcAnswer DescribeScalingInstances(const Json& params);

  // What CreateScalingGroup and ModifyScalingGroup share (only the parameters given change
  // `group`), and the checks of the result against the region and the other groups.
  void ReadGroupSettings(ParamReader& r, Group* group) const;
  std::optional<RpcAnswer> CheckGroup(const Group& group) const;
  // The same for CreateScalingConfiguration and ModifyScalingConfiguration.
  void ReadConfiguration(ParamReader& r, Configuration* configuration) const;
  std::optional<RpcAnswer> CheckConfiguration(const Configuration& configuration,
                                              const Group& group) const;

  Group* FindGroup(const std::string& id);
  Configuration* FindConfiguration(const std::string& id);
  std::string NewId(const char* prefix);
  void KeepCapacity(Group* group);
  // The members that make up the group's capacity (see fake_ess.cc).
  std::vector<const Member*> Counted(const Group& group);
  int64_t OnDemandShare(const Group& group, int64_t capacity) const;
  // One instance for `group` (spot only, or spot first where its policy says so); whether one
  // was launched.
  bool LaunchOne(Group* group, bool spot_only, const std::string& replaces);
  const Member* ToRemove(const Group& group, const std::vector<const Member*>& counted);
  void Forget(Group* group, const std::string& instance_id);
  Json DescribeGroup(const Group& group);

  FakeEcs* ecs_;
  std::vector<std::unique_ptr<Group>> groups_;                  // in creation order
  std::vector<std::unique_ptr<Configuration>> configurations_;  // in creation order
  ClientTokens group_tokens_, configuration_tokens_;
  uint64_t next_id_ = 1;
  uint64_t id_salt_ = 0;
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
  std::string code;           // "" on success
  std::string access_key_id;  // whose keys signed it ("" when the signature was refused)
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
  // The same with any error: e.g. (403, "Forbidden.RAM", ...), which a client does not retry.
  void FailNextWith(const std::string& action, int count, int http_status, const std::string& code,
                    const std::string& message);
  std::vector<FakeAliyunCall> Calls() const;
  // The calls of `action` that were answered 200.
  std::vector<Json> SuccessfulParams(const std::string& action) const;
  AliyunVerifier& verifier() { return verifier_; }

  // Test controls, thread-safe while the server runs.
  // Whether RunInstances (and a scaling group) finds capacity in `zone_id` for spot (or
  // on-demand) instances; both are in stock by default. Without it: 403 OperationDenied.NoStock,
  // and a scaling group tries its next vSwitch, or on-demand, or a later tick.
  void SetStock(const std::string& zone_id, bool spot, bool available);
  // The spot price of a zone and type from `unix_ms` on (ECS DescribeSpotPriceHistory).
  void SetSpotPrice(const std::string& zone_id, const std::string& instance_type, int64_t unix_ms,
                    double price);
  // A spot interruption (notes 2.3): the instance's metadata spot/termination-time is set to now
  // + host.notice_seconds at once and DescribeInstances shows the Recycling lock; when the time
  // is up its process group is SIGKILLed and the instance is gone (at once with notice 0).
  // NotFound for an instance that does not exist (any more); FailedPrecondition for one that is
  // not spot, or is already being reclaimed. A scaling group with SpotInstanceRemedy launches
  // the instance's replacement at once.
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
  FakeEss* ess_ = nullptr;  // in services_
  std::unique_ptr<PeriodicThread> clock_;
  std::map<std::string, std::pair<int, RpcAnswer>> faults_;  // action -> (count, answer)
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
