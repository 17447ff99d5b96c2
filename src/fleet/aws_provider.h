// The `aws` provider: Baton's own controller (controller.h) drives Amazon EC2 directly, with the
// shared cloud provider's ledger, stops and adoption (cloud_provider.h).
//
//   Launch   RunInstances (cloud/aws_ec2.h): one instance of the offer's type in the subnet of its
//            zone; spot offers with InstanceMarketOptions (spot, one-time, terminate on
//            interruption; MaxPrice from the offer's spot_price_limit, else EC2's default, the
//            on-demand price), on-demand offers without; the instance profile (S3 for the run's
//            bucket), security groups, optional key; UserData is `baton agent cloud-init` for the
//            run's job (with --handoff for a make-before-break launch); tags baton:run=<job>,
//            baton:offer=<offer>, Name and the job's tags on the instance and its volumes; a
//            ClientToken makes a retried call idempotent. InsufficientInstanceCapacity,
//            SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded and the other capacity answers
//            (IsAwsCapacityError) mark the offer without capacity for no_capacity_backoff; then
//            it is tried again (so spot "comes back" when a launch succeeds).
//   Watch    DescribeInstances by the baton:run tag and instance-state-name pending|running, every
//            poll, all pages; for spot instances DescribeSpotInstanceRequests: status
//            marked-for-termination is the interruption notice. The agent reads the notice (and
//            the rebalance recommendation) from the metadata service itself and checkpoints;
//            an instance that stops listing was terminated.
//   Stop     a StopRequest in the bucket, then TerminateInstances once the agent's heartbeat is
//            final, or when stop_grace has passed.
// API: botocore's ec2 2016-11-15 model (shared/notes/cloud-apis.md section 3); docs/aws.md.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cloud/aws_api.h"
#include "fleet/cloud_provider.h"
#include "fleet/spec.h"
#include "store/store.h"

namespace baton::fleet {

// AWS interrupts a spot instance two minutes after its notice.
inline constexpr double kAwsReclaimNoticeSeconds = 120;

class AwsProvider : public CloudProvider {
 public:
  // Opens the run's fleet: reads the ledger (or starts one) and the run's tagged instances.
  static Result<std::unique_ptr<AwsProvider>> Open(const FleetSpec& spec, AwsClient* client,
                                                   Store* store, CloudProviderOptions options);

  std::string name() const override { return "aws"; }

 protected:
  Result<std::string> LaunchOne(int offer, bool handoff) override;
  Status DeleteOne(const std::string& id) override;
  Status ListRun(std::map<std::string, CloudListing>* out) override;

 private:
  AwsProvider(const FleetSpec& spec, AwsClient* client, Store* store, CloudProviderOptions options);

  AwsClient* client_;
  bool notice_warned_ = false;
};

}  // namespace baton::fleet
