// FakeEc2: a loopback fake of Amazon EC2's Query API (2016-11-15) for the `aws` provider's
// tests: moto (tests/aws_moto_test.cc) cannot refuse spot capacity, throttle or interrupt an
// instance; this fake can, and its instances are local `baton agent` processes started from the
// instance's user-data (tests/fake_ecs_host.h, as a VM of cloud "aws": a metadata service of its
// own that plays the spot interruption notice and the rebalance recommendation).
//
// Like EC2 it:
//   - re-verifies every request's SigV4 signature from the bytes on the wire (SigV4Verifier,
//     written apart from the client's signer): a bad one is AuthFailure / SignatureDoesNotMatch,
//     HTTP 401 / 403;
//   - reads a POST form body "Action=..&Version=2016-11-15&..." (another version:
//     InvalidAction), refuses parameters it does not know (UnknownParameter) and values it does
//     not accept (InvalidParameterValue, InvalidAMIID.NotFound, InvalidSubnetID.NotFound,
//     InvalidGroup.NotFound, InvalidInstanceID.NotFound), never a made-up success;
//   - answers XML in the ec2 namespace, errors as <Response><Errors><Error><Code/><Message/>
//     </Error></Errors><RequestID/></Response>.
// Actions: DescribeAvailabilityZones; RunInstances (one instance; subnet -> zone; spot through
// InstanceMarketOptions, one-time / terminate only; MaxPrice under the zone's spot price is
// SpotMaxPriceTooLow; a zone without spot capacity InsufficientInstanceCapacity (HTTP 500); tags
// on instance and volume; ClientToken: the same token answers the same instance);
// DescribeInstances (InstanceId.N, Filter tag:K / instance-state-name / availability-zone,
// MaxResults 5..1000 (also capped by the fake's page_cap) and NextToken); TerminateInstances;
// DescribeSpotInstanceRequests (status fulfilled, marked-for-termination during a notice,
// instance-terminated-no-capacity after it).
// Test controls: spot capacity per zone, the next N calls of an action failing with a code
// (RequestLimitExceeded, HTTP 503), interruption (notice, then SIGKILL after notice_seconds),
// rebalance recommendation, pausing an instance's process, a count of calls per action, every
// instance's snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "fake_ecs_host.h"
#include "net/http_server.h"
#include "sigv4_verifier.h"

namespace baton::testing {

struct FakeEc2Options {
  std::string region = "us-east-1";
  std::vector<std::pair<std::string, std::string>> subnets;  // zone -> subnet id
  std::vector<std::string> image_ids;
  std::vector<std::string> security_group_ids;
  std::vector<std::string> instance_profiles;  // names RunInstances accepts
  std::vector<SigV4Key> keys;
  // The machines; `cloud` is set to "aws". notice_seconds is the interruption notice (AWS: 120).
  FakeInstanceHostOptions host;
  double spot_price = 0.5;  // per hour, every zone: what MaxPrice is compared with
  int page_cap = 1000;      // DescribeInstances answers at most this many a page
};

struct FakeEc2Instance {
  std::string id;
  std::string zone;
  std::string subnet;
  std::string instance_type;
  std::string state;  // pending | running | shutting-down | terminated
  bool spot = false;
  std::string spot_request_id;
  std::string spot_status;          // fulfilled | marked-for-termination | instance-terminated-...
  bool terminated_by_call = false;  // TerminateInstances (else an interruption, when terminated)
  std::map<std::string, std::string> tags;         // on the instance
  std::map<std::string, std::string> volume_tags;  // on its volumes
  std::map<std::string, std::string> params;       // the RunInstances parameters
  std::vector<std::string> agent_argv;
  bool process_alive = false;
  std::string agent_log;
};

class FakeEc2 {
 public:
  explicit FakeEc2(FakeEc2Options options);
  ~FakeEc2();  // Stop()

  Status Start();
  void Stop();  // every machine off, the server down
  std::string endpoint() const { return http_.url(); }

  void SetSpotCapacity(const std::string& zone, bool available);
  // The next `count` calls of `action` fail with `code` and `http_status`.
  void FailNext(const std::string& action, int count, const std::string& code, int http_status);
  // A spot interruption: the notice on the instance's metadata service and its spot request
  // (marked-for-termination) now, the instance terminated notice_seconds later.
  Status Interrupt(const std::string& id);
  Status Rebalance(const std::string& id);
  Status Pause(const std::string& id);
  Status Resume(const std::string& id);

  std::vector<FakeEc2Instance> Snapshot();
  // Calls of `action` ("RunInstances"); "DescribeInstances#NextToken": the calls for a next page.
  int CallCount(const std::string& action) const;
  // The reasons of refused signatures, in order.
  std::vector<std::string> SignatureFailures() const;

 private:
  struct Instance;
  using Params = std::map<std::string, std::string>;
  struct Answer {
    int status = 200;
    std::string body;
  };

  HttpServerResponse Handle(const HttpServerRequest& request);
  Answer Dispatch(const std::string& action, const Params& p);
  Answer RunInstances(const Params& p);
  Answer DescribeInstances(const Params& p);
  Answer TerminateInstances(const Params& p);
  Answer DescribeSpotRequests(const Params& p);
  Answer DescribeZones(const Params& p) const;
  // Boots, interrupts and reaps along the clock; call with mu_ held.
  void Advance();
  void PowerOff(Instance* i, bool by_call);
  Instance* Find(const std::string& id);
  std::string InstanceXml(const Instance& i) const;
  Answer Error(int status, const std::string& code, const std::string& message);

  FakeEc2Options o_;
  SigV4Verifier verifier_;
  HttpServer http_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::map<std::string, bool> spot_capacity_;                // zone -> has (default true)
  std::map<std::string, std::pair<int, Answer>> fail_next_;  // action -> (count, answer)
  std::map<std::string, std::string> client_tokens_;         // token -> instance id
  std::map<std::string, int> calls_;
  std::vector<std::string> signature_failures_;
  uint64_t next_id_ = 1;
};

}  // namespace baton::testing
