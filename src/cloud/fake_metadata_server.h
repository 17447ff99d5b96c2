// FakeMetadataServer: the project's own stand-in for the instance metadata services of Alibaba,
// AWS, GCP and Azure, for tests and for the local fleet (each local instance gets its own, so a
// preemption can be delivered to one `baton agent` process). All four clouds are served at once
// from one base URL; their paths do not collide. Nothing is scheduled at first.
//
// It answers the documented endpoints (see preemption.h for the formats and links) the way the
// real services do, including their refusals:
//   PUT /latest/api/token                              AWS IMDSv2 / Alibaba hardening-mode token:
//       the TTL header (1..21600) is required (400), X-Forwarded-For is refused (403)
//   GET /latest/meta-data/instance/spot/termination-time   Alibaba: 404, or the release time
//   GET /latest/meta-data/instance-id                  Alibaba: the instance id (404 when unset)
//   GET /latest/meta-data/ram/security-credentials/    Alibaba: the RAM role's name (404: none);
//   GET /latest/meta-data/ram/security-credentials/<role>  its temporary keys as JSON (notes 6)
//       (also under "Ram/": the ECS docs' examples capitalise it, the SDKs do not)
//   GET /latest/meta-data/spot/instance-action             AWS: 401 without a valid token; 404,
//   GET /latest/meta-data/events/recommendations/rebalance      or the JSON document
//   GET /computeMetadata/v1/instance/preempted         GCP: 403 without Metadata-Flavor: Google
//   GET /metadata/scheduledevents?api-version=...      Azure: 400 without Metadata: true or a
//   GET /metadata/instance/compute/name?api-version=...        known api-version
// and a control API for scripts and the local fleet:
//   POST   /__baton/notice?cloud=aws|alibaba|gcp|azure|all&kind=termination|rebalance
//          &in_ms=N (or at_unix_ms=N; default: the cloud's documented warning)&action=stop
//   DELETE /__baton/notice                 clear every notice
//   POST   /__baton/expire-tokens          tokens handed out so far get 401 from now on
//   POST   /__baton/fail?count=N&status=500    the next N metadata requests fail
//   GET    /__baton/stats                  request counters as JSON
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "base/status.h"
#include "cloud/preemption.h"
#include "net/http_server.h"

namespace baton {

struct FakeMetadataOptions {
  int port = 0;  // 0: any free port
  // This VM's name, as Azure's compute/name and the Resources of its scheduled events say it.
  std::string instance_name = "baton-local-0";
  // AWS HttpTokens=required (IMDSv2 only): GETs without a token get 401. When false, as with
  // HttpTokens=optional, they are served (IMDSv1); a token that is sent must still be valid.
  bool aws_require_token = true;
  // Alibaba "security hardening mode only"; when false (normal mode, the default there), GETs
  // without a token are served.
  bool alibaba_require_token = false;
  // Alibaba's instance-id item ("i-bp1..."); empty: that item is 404.
  std::string instance_id = {};
};

// The temporary keys of an ECS instance RAM role, as the metadata service hands them out.
struct FakeRamRole {
  std::string role_name;
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;
  int64_t expiration_unix_s = 0;
};

class FakeMetadataServer {
 public:
  static Result<std::unique_ptr<FakeMetadataServer>> Start(FakeMetadataOptions options = {});
  ~FakeMetadataServer();

  std::string url() const { return http_.url(); }
  int port() const { return http_.port(); }
  // The service goes away (connections refused) and comes back on the same port; the scheduled
  // notices and tokens are kept.
  void Stop() { http_.Stop(); }
  Status Restart() { return http_.Start(port_); }

  // From now on `cloud` (every cloud when nullopt) reports a notice. A termination replaces an
  // earlier termination of that cloud: Alibaba and AWS give `deadline_unix_ms` as the time,
  // Azure as the Preempt event's NotBefore, GCP turns `preempted` TRUE. `aws_action` is AWS's
  // "terminate", "stop" or "hibernate". A rebalance recommendation exists only on AWS; its
  // noticeTime is the time it was scheduled (the deadline is not used).
  void ScheduleNotice(std::optional<Cloud> cloud, NoticeKind kind, int64_t deadline_unix_ms,
                      std::string aws_action = "terminate");
  // No notice anywhere.
  void Clear();
  // From now on the instance has RAM role `role` with these keys (shared/notes/cloud-apis.md
  // section 6); "LastUpdated" is the time of this call. An empty role name detaches the role.
  void SetRamRole(const std::string& role, const std::string& access_key_id,
                  const std::string& access_key_secret, const std::string& security_token,
                  int64_t expiration_unix_s);
  // Every token handed out so far is refused from now on, as after its TTL.
  void ExpireTokens();
  // The next `count` metadata requests (not /__baton/ ones) get `status` (0: the connection is
  // closed without an answer).
  void FailNextRequests(int count, int status = 500);

  // Counters and room for more routes (later fakes: instance identity).
  HttpServer& http() { return http_; }
  uint64_t CountOf(std::string_view method, std::string_view path) const {
    return http_.CountOf(method, path);
  }

 private:
  struct Scheduled {
    int64_t deadline_unix_ms = 0;
    int64_t issued_unix_ms = 0;
    std::string aws_action;
    std::string event_id;  // Azure
  };
  struct Token {
    bool aws = true;  // else Alibaba
    int64_t expires_unix_ms = 0;
  };

  explicit FakeMetadataServer(FakeMetadataOptions options);
  void AddRoutes();
  // Nullopt when the request may go on; else the refusal to send.
  std::optional<HttpServerResponse> CheckToken(const HttpServerRequest& r, bool aws);
  HttpServerResponse PutToken(const HttpServerRequest& r);
  HttpServerResponse Alibaba(const HttpServerRequest& r);
  HttpServerResponse AlibabaInstanceId(const HttpServerRequest& r);
  HttpServerResponse AlibabaRoleList(const HttpServerRequest& r);
  HttpServerResponse AlibabaRoleKeys(const HttpServerRequest& r, const std::string& role);
  HttpServerResponse AwsInstanceAction(const HttpServerRequest& r);
  HttpServerResponse AwsRebalance(const HttpServerRequest& r);
  HttpServerResponse Gcp(const HttpServerRequest& r);
  HttpServerResponse AzureEvents(const HttpServerRequest& r);
  HttpServerResponse AzureName(const HttpServerRequest& r);
  HttpServerResponse ControlNotice(const HttpServerRequest& r);
  HttpServerResponse Stats();

  const FakeMetadataOptions options_;
  HttpServer http_;
  int port_ = 0;

  std::mutex mu_;
  std::optional<Scheduled> termination_[4];  // by Cloud
  std::optional<Scheduled> rebalance_[4];
  std::map<std::string, Token> tokens_;
  std::optional<FakeRamRole> ram_role_;
  int64_t ram_role_updated_unix_ms_ = 0;
  int64_t azure_incarnation_ = 1;
  int fail_next_ = 0;
  int fail_status_ = 500;
  std::mt19937_64 rng_;
};

}  // namespace baton
