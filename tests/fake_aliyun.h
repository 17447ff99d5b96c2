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
// ServiceUnavailable) and a log of every call with its parameters and answer.
//
// Implemented so far: ECS DescribeRegions and DescribeZones over configured regions and zones.
// Next (not here yet: such a call answers InvalidAction.NotFound, never a made-up success):
//   ECS RunInstances / DescribeInstances / DeleteInstance: instances with ids, status
//     Pending -> Running, spot fields and OperationLocks (Recycling) in FakeEcs, with
//     DescribeInstances' InstanceIds JSON-array string and paging (notes 2.1, 2.3);
//   ESS scaling groups, configurations, Enable/Modify/DescribeScalingGroups,
//     DescribeScalingInstances, RemoveInstances, DeleteScalingGroup in FakeEss (notes 2.2),
//     with their instances kept in FakeEcs;
//   faults beyond the two codes (OperationDenied.NoStock per zone, a spot reclaim).
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
#include "base/status.h"
#include "net/http_server.h"

namespace baton::testing {

struct FakeAliyunZone {
  std::string zone_id;     // "cn-hangzhou-g"
  std::string local_name;  // "Hangzhou Zone G"
  std::vector<std::string> instance_types;
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

// ECS 2014-05-26: regions and zones (configured). Instances come next (see the file comment).
class FakeEcs : public FakeAliyunService {
 public:
  FakeEcs(std::vector<FakeAliyunRegion> regions, std::string endpoint_host)
      : regions_(std::move(regions)), endpoint_host_(std::move(endpoint_host)) {}
  std::string name() const override { return "ecs"; }
  std::string version() const override { return "2014-05-26"; }
  std::optional<RpcAnswer> Handle(const std::string& action, const Json& params) override;

 private:
  RpcAnswer DescribeRegions(const Json& params) const;
  RpcAnswer DescribeZones(const Json& params) const;

  std::vector<FakeAliyunRegion> regions_;
  std::string endpoint_host_;  // reported as every region's RegionEndpoint: "127.0.0.1:<port>"
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
  // Unix seconds for the signature's date check; the system clock when empty.
  std::function<int64_t()> now_seconds;
};

class FakeAliyun {
 public:
  explicit FakeAliyun(FakeAliyunOptions options);
  ~FakeAliyun();  // Stop()
  FakeAliyun(const FakeAliyun&) = delete;
  FakeAliyun& operator=(const FakeAliyun&) = delete;

  // Listens on a free loopback port.
  Status Start();
  void Stop();
  // "http://127.0.0.1:<port>"; both services are served there.
  std::string endpoint() const { return server_.url(); }

  // The next `count` calls of `action` (whichever service) answer `fault` instead of running.
  void FailNext(const std::string& action, int count, FakeAliyunFault fault);
  std::vector<FakeAliyunCall> Calls() const;
  // The calls of `action` that were answered 200.
  std::vector<Json> SuccessfulParams(const std::string& action) const;
  AliyunVerifier& verifier() { return verifier_; }

  // Answers one request; what the HTTP server calls (public for tests that feed requests).
  HttpServerResponse Handle(const HttpServerRequest& request);

 private:
  HttpServerResponse Answer(const std::string& host, FakeAliyunCall call, RpcAnswer answer);

  FakeAliyunOptions options_;
  AliyunVerifier verifier_;
  HttpServer server_;
  mutable std::mutex mu_;  // serialises Handle: services, faults, log
  std::vector<std::unique_ptr<FakeAliyunService>> services_;
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
