// Preemption notices from a cloud's instance metadata service (DESIGN.md, "Preemption").
//
// A PreemptionWatcher asks the metadata service of one cloud whether this spot instance is about
// to be reclaimed; a NoticeMonitor (notice_monitor.h) polls it on a thread. The base URL is
// configurable so that tests and the local fleet point it at a FakeMetadataServer.
//
// What each cloud documents, and what Poll() makes of it:
//   Alibaba ECS  GET /latest/meta-data/instance/spot/termination-time: 404 (or an empty body)
//                while none, else the UTC time the instance will be released, about 5 minutes
//                after the item appears ("2015-01-05T18:02:00Z"). Requests carry a
//                security-hardening-mode token (X-aliyun-ecs-metadata-token) when the service
//                hands one out.
//                https://www.alibabacloud.com/help/en/ecs/user-guide/best-practices-for-preemptible-instances/
//                https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata/
//   AWS EC2      IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds, 1..21600)
//                gives a token for X-aws-ec2-metadata-token. GET
//                /latest/meta-data/spot/instance-action: 404 while none, else
//                {"action": "terminate"|"stop"|"hibernate", "time": "2017-09-18T08:22:00Z"}
//                (about 2 minutes ahead). GET /latest/meta-data/events/recommendations/rebalance:
//                404 or {"noticeTime": "..."}, an elevated risk of interruption (kRebalance).
//                https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
//                https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/rebalance-recommendations.html
//                https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-v2-how-it-works.html
//   GCP          GET /computeMetadata/v1/instance/preempted with Metadata-Flavor: Google: "TRUE"
//                or "FALSE". The VM is stopped about 30 s after it turns TRUE, so the deadline is
//                30 s after we first saw it.
//                https://cloud.google.com/compute/docs/instances/create-use-spot
//                https://cloud.google.com/compute/docs/instances/create-use-preemptible
//                https://cloud.google.com/compute/docs/metadata/querying-metadata
//   Azure        GET /metadata/scheduledevents?api-version=2020-07-01 with Metadata: true:
//                {"DocumentIncarnation": N, "Events": [{"EventId", "EventType": "Preempt"|...,
//                "Resources": [vm names], "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT", ...}]}.
//                A Preempt event (at least 30 s ahead) for this VM is a notice; events for other
//                VMs of the same availability set or scale set are ignored once this VM's name is
//                known (GET /metadata/instance/compute/name).
//                https://learn.microsoft.com/azure/virtual-machines/linux/scheduled-events
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "net/metadata_client.h"

namespace baton {

enum class Cloud { kAlibaba, kAws, kGcp, kAzure };
inline constexpr Cloud kAllClouds[] = {Cloud::kAlibaba, Cloud::kAws, Cloud::kGcp, Cloud::kAzure};

// "alibaba" (also "aliyun"), "aws", "gcp", "azure"; any case.
Result<Cloud> ParseCloud(std::string_view name);
// "alibaba", "aws", "gcp", "azure".
const char* CloudName(Cloud cloud);

// The link-local address of each cloud's metadata service.
std::string DefaultMetadataUrl(Cloud cloud);
// EnvVar::kMetadataUrl when set and not empty, else DefaultMetadataUrl(cloud).
std::string ResolveMetadataUrl(Cloud cloud);
// How long before the instance goes away each cloud's notice is documented to appear: Alibaba
// 5 min, AWS 2 min, GCP 30 s, Azure Preempt at least 30 s.
int64_t DocumentedWarningMs(Cloud cloud);

enum class NoticeKind {
  kTermination,  // the instance will be reclaimed: checkpoint and exit
  kRebalance,    // AWS: elevated risk of interruption; advisory only
};
const char* NoticeKindName(NoticeKind kind);  // "termination", "rebalance"
Result<NoticeKind> ParseNoticeKind(std::string_view name);

struct Notice {
  Cloud cloud = Cloud::kAws;
  NoticeKind kind = NoticeKind::kTermination;
  // When the instance is reclaimed (Unix ms); 0 when the service does not say (a rebalance
  // recommendation, an Azure event that has already started).
  int64_t deadline_unix_ms = 0;
  // What the service said, for logs: "aws spot instance-action: stop at 2017-09-18T08:22:00Z".
  std::string detail;
};
// "aws termination notice, deadline 2017-09-18T08:22:00Z: <detail>".
std::string DescribeNotice(const Notice& notice);

// The metadata requests' timeout, the TTL asked for IMDSv2 / Alibaba hardening-mode tokens
// (net/metadata_client.h), and the clock, which also dates GCP's deadline.
using WatcherOptions = MetadataClientOptions;

class PreemptionWatcher {
 public:
  virtual ~PreemptionWatcher() = default;

  // `base_url` like "http://169.254.169.254" (a trailing slash is ignored); empty means
  // ResolveMetadataUrl(cloud). Does not contact the service.
  static Result<std::unique_ptr<PreemptionWatcher>> Create(Cloud cloud, std::string base_url = "",
                                                           WatcherOptions options = {});

  // One look at the metadata service: nullopt while there is no notice. When AWS reports both an
  // instance-action and a rebalance recommendation, the termination is returned. Errors (the
  // service unreachable, an unexpected status, a body that does not parse) name the URL; a
  // transport failure or a 5xx is Unavailable, a malformed body Corruption. Not thread-safe.
  virtual Result<std::optional<Notice>> Poll() = 0;

  virtual Cloud cloud() const = 0;
  virtual const std::string& base_url() const = 0;
};

// The id of the instance this runs on, as its cloud's metadata service says: Alibaba and AWS
// GET /latest/meta-data/instance-id (with a token where the service asks for one), GCP
// /computeMetadata/v1/instance/id. `base_url` "" means ResolveMetadataUrl(cloud). Errors name the
// URL; Azure is Unimplemented (its VM name is not the id fleets use).
Result<std::string> InstanceIdFromMetadata(Cloud cloud, std::string base_url = "",
                                           WatcherOptions options = {});

}  // namespace baton
