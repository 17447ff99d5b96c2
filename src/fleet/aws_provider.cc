#include "fleet/aws_provider.h"

#include <fmt/format.h>

#include <vector>

#include "cloud/aws_ec2.h"
#include "fleet/report.h"
#include "run/layout.h"

namespace baton::fleet {

AwsProvider::AwsProvider(const FleetSpec& spec, AwsClient* client, Store* store,
                         CloudProviderOptions options)
    : CloudProvider(spec, store, std::move(options),
                    CloudTimingsOf(spec, kAwsReclaimNoticeSeconds)),
      client_(client) {}

Result<std::unique_ptr<AwsProvider>> AwsProvider::Open(const FleetSpec& spec, AwsClient* client,
                                                       Store* store, CloudProviderOptions options) {
  std::unique_ptr<AwsProvider> p(new AwsProvider(spec, client, store, std::move(options)));
  BATON_RETURN_IF_ERROR(p->CloudProvider::Open());
  return p;
}

Result<std::string> AwsProvider::LaunchOne(int offer, bool handoff) {
  const Offer& o = spec().offers[offer];
  const AwsFleetSpec& a = spec().aws;
  Ec2RunRequest r;
  BATON_ASSIGN_OR_RETURN(r.user_data, AgentUserData(options(), a.binary_url, handoff));
  r.image_id = a.image_id;
  r.instance_type = o.instance_type;
  r.subnet_id = a.SubnetOf(o.zone);
  r.security_group_ids = a.security_group_ids;
  r.iam_instance_profile = a.instance_profile;
  r.key_name = a.key_name;
  r.spot = o.billing == Billing::kSpot;
  if (r.spot && o.spot_price_limit > 0)
    r.spot_max_price = fmt::format("{:.4f}", o.spot_price_limit);
  r.client_token = NewClientToken();
  for (const auto& [k, v] : a.tags) r.tags[k] = v;
  r.tags["Name"] = "baton-" + options().run;
  r.tags[kCloudRunTag] = options().run;
  r.tags[kCloudOfferTag] = o.Name();
  AwsError error;
  Result<std::vector<Ec2Instance>> made = Ec2RunInstances(client_, r, &error);
  if (!made.ok()) {
    if (IsAwsCapacityError(error.code)) {
      MarkNoCapacity(offer);
      return Unavailable("no capacity ({}: {}); tried again after {}", error.code, error.message,
                         FormatHours(a.no_capacity_backoff_seconds));
    }
    return made.status();
  }
  if (made->size() != 1) {
    return Internal("ec2 RunInstances answered {} instances, want 1", made->size());
  }
  BATON_RETURN_IF_ERROR(ValidateInstanceId(made->front().id));
  return made->front().id;
}

Status AwsProvider::DeleteOne(const std::string& id) {
  AwsError error;
  Result<std::vector<Ec2StateChange>> r = Ec2TerminateInstances(client_, {id}, &error);
  if (!r.ok() && ClassifyAwsError(error.code, error.http_status) != AwsErrorKind::kNotFound) {
    return r.status();
  }
  return Status::Ok();
}

Status AwsProvider::ListRun(std::map<std::string, CloudListing>* out) {
  Ec2InstanceQuery q;
  q.tags[kCloudRunTag] = options().run;
  // shutting-down, terminated (listed for about an hour), stopping and stopped instances run no
  // agent: they count as gone.
  q.filters["instance-state-name"] = {"pending", "running"};
  q.page_size = 100;
  BATON_ASSIGN_OR_RETURN(std::vector<Ec2Instance> listed, Ec2DescribeInstances(client_, q));
  std::vector<std::string> requests;
  std::map<std::string, std::string> instance_of_request;
  for (const Ec2Instance& i : listed) {
    CloudListing l;
    auto offer = i.tags.find(kCloudOfferTag);
    if (offer != i.tags.end()) l.offer = offer->second;
    l.created_unix_ms = i.launch_unix_ms;
    (*out)[i.id] = std::move(l);
    if (!i.spot_request_id.empty()) {
      requests.push_back(i.spot_request_id);
      instance_of_request[i.spot_request_id] = i.id;
    }
  }
  // The notice as the API shows it. Without it (the call denied) the agent still sees the notice
  // on its metadata service and checkpoints; the controller then learns of it from the heartbeat.
  Result<std::vector<Ec2SpotRequest>> spot = Ec2DescribeSpotRequests(client_, requests);
  if (!spot.ok()) {
    if (!notice_warned_) {
      notice_warned_ = true;
      Print("warning: no interruption notices from DescribeSpotInstanceRequests (" +
            spot.status().ToString() + "); the agents still read theirs");
    }
    return Status::Ok();
  }
  for (const Ec2SpotRequest& r : *spot) {
    auto id = instance_of_request.find(r.id);
    if (id == instance_of_request.end() || r.status_code != "marked-for-termination") continue;
    CloudListing& l = (*out)[id->second];
    l.notice = true;
    l.notice_detail = "interruption notice (spot request marked-for-termination)";
  }
  return Status::Ok();
}

}  // namespace baton::fleet
