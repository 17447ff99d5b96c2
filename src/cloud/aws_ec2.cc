#include "cloud/aws_ec2.h"

#include <charconv>
#include <cmath>

#include "base/strings.h"
#include "cloud/aliyun_signer.h"
#include "cloud/metadata_time.h"

namespace baton {
namespace {

// tag:<key> = value pairs as EC2's "Tag.N.Key"/"Tag.N.Value" structs.
std::vector<AwsParams> TagList(const std::map<std::string, std::string>& tags) {
  std::vector<AwsParams> out;
  for (const auto& [key, value] : tags) {
    AwsParams t;
    t.Set("Key", key).Set("Value", value);
    out.push_back(std::move(t));
  }
  return out;
}

// A time in an answer: "" is 0; anything else must parse.
Result<int64_t> TimeOf(const std::string& text, std::string_view action, const char* field) {
  if (text.empty()) return int64_t{0};
  Result<int64_t> ms = ParseRfc3339Ms(text);
  if (!ms.ok()) return Corruption("ec2 {} answer: {}: {}", action, field, ms.status().message());
  return *ms;
}

std::map<std::string, std::string> TagsOf(const XmlElement& item) {
  std::map<std::string, std::string> tags;
  for (const XmlElement* t : AwsItems(item.Child("tagSet"))) {
    tags[t->ChildText("key")] = t->ChildText("value");
  }
  return tags;
}

Result<Ec2Instance> InstanceOf(const XmlElement& item, std::string_view action) {
  Ec2Instance i;
  i.id = item.ChildText("instanceId");
  if (i.id.empty())
    return Corruption("ec2 {} answer line {}: an instance has no instanceId", action, item.line);
  if (const XmlElement* state = item.Child("instanceState")) {
    i.state = state->ChildText("name");
    std::string code = state->ChildText("code");
    int v = 0;
    auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), v);
    if (ec == std::errc() && end == code.data() + code.size() && !code.empty()) i.state_code = v;
  }
  if (const XmlElement* placement = item.Child("placement")) {
    i.zone = placement->ChildText("availabilityZone");
  }
  i.instance_type = item.ChildText("instanceType");
  i.lifecycle = item.ChildText("instanceLifecycle");
  i.spot = i.lifecycle == "spot";
  i.spot_request_id = item.ChildText("spotInstanceRequestId");
  i.launch_time = item.ChildText("launchTime");
  BATON_ASSIGN_OR_RETURN(i.launch_unix_ms, TimeOf(i.launch_time, action, "launchTime"));
  i.private_ip = item.ChildText("privateIpAddress");
  i.tags = TagsOf(item);
  return i;
}

}  // namespace

Result<AwsParams> Ec2RunInstancesParams(const Ec2RunRequest& r) {
  if (r.count < 1) return InvalidArgument("ec2 RunInstances: count {} is under 1", r.count);
  if (r.image_id.empty() && r.launch_template_id.empty()) {
    return InvalidArgument("ec2 RunInstances: neither an image id nor a launch template");
  }
  if (r.client_token.size() > 64) {
    return InvalidArgument("ec2 RunInstances: client token of {} characters (at most 64)",
                           r.client_token.size());
  }
  AwsParams p;
  p.Set("MinCount", r.count).Set("MaxCount", r.count);
  if (!r.image_id.empty()) p.Set("ImageId", r.image_id);
  if (!r.instance_type.empty()) p.Set("InstanceType", r.instance_type);
  if (!r.subnet_id.empty()) p.Set("SubnetId", r.subnet_id);
  if (!r.availability_zone.empty()) p.Set("Placement.AvailabilityZone", r.availability_zone);
  p.SetList("SecurityGroupId", r.security_group_ids);
  if (!r.iam_instance_profile.empty()) {
    bool arn = r.iam_instance_profile.rfind("arn:", 0) == 0;
    p.Set(arn ? "IamInstanceProfile.Arn" : "IamInstanceProfile.Name", r.iam_instance_profile);
  }
  if (!r.key_name.empty()) p.Set("KeyName", r.key_name);
  if (!r.launch_template_id.empty()) {
    p.Set("LaunchTemplate.LaunchTemplateId", r.launch_template_id);
    p.Set("LaunchTemplate.Version",
          r.launch_template_version.empty() ? "$Latest" : r.launch_template_version);
  }
  if (r.spot) {
    p.Set("InstanceMarketOptions.MarketType", "spot");
    p.Set("InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time");
    p.Set("InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate");
    if (!r.spot_max_price.empty()) {
      p.Set("InstanceMarketOptions.SpotOptions.MaxPrice", r.spot_max_price);
    }
  }
  if (!r.user_data.empty()) p.Set("UserData", Base64Encode(r.user_data));
  if (!r.client_token.empty()) p.Set("ClientToken", r.client_token);
  if (!r.tags.empty()) {
    std::vector<AwsParams> specs;
    for (const char* type : {"instance", "volume"}) {
      AwsParams spec;
      spec.Set("ResourceType", type).SetStructList("Tag", TagList(r.tags));
      specs.push_back(std::move(spec));
    }
    p.SetStructList("TagSpecification", specs);
  }
  return p;
}

Result<std::vector<Ec2Instance>> ParseEc2Instances(const XmlElement& answer,
                                                   std::string_view action) {
  std::vector<const XmlElement*> sets;
  if (const XmlElement* direct = answer.Child("instancesSet")) sets.push_back(direct);
  for (const XmlElement* reservation : AwsItems(answer.Child("reservationSet"))) {
    if (const XmlElement* set = reservation->Child("instancesSet")) sets.push_back(set);
  }
  std::vector<Ec2Instance> out;
  for (const XmlElement* set : sets) {
    for (const XmlElement* item : AwsItems(set)) {
      BATON_ASSIGN_OR_RETURN(Ec2Instance i, InstanceOf(*item, action));
      out.push_back(std::move(i));
    }
  }
  return out;
}

Result<std::vector<Ec2Instance>> Ec2RunInstances(AwsClient* client, const Ec2RunRequest& request,
                                                 AwsError* error) {
  BATON_ASSIGN_OR_RETURN(AwsParams params, Ec2RunInstancesParams(request));
  BATON_ASSIGN_OR_RETURN(XmlElement answer,
                         client->Call(AwsService::kEc2, "RunInstances", params, error));
  return ParseEc2Instances(answer, "RunInstances");
}

AwsParams Ec2InstanceQueryParams(const Ec2InstanceQuery& q) {
  AwsParams p;
  p.SetList("InstanceId", q.instance_ids);
  std::vector<AwsParams> filters;
  for (const auto& [key, value] : q.tags) {
    AwsParams f;
    f.Set("Name", "tag:" + key).SetList("Value", {value});
    filters.push_back(std::move(f));
  }
  for (const auto& [name, values] : q.filters) {
    AwsParams f;
    f.Set("Name", name).SetList("Value", values);
    filters.push_back(std::move(f));
  }
  p.SetStructList("Filter", filters);
  return p;
}

Result<std::vector<Ec2Instance>> Ec2DescribeInstances(AwsClient* client,
                                                      const Ec2InstanceQuery& query) {
  std::vector<Ec2Instance> out;
  // EC2 refuses MaxResults together with instance ids (InvalidParameterCombination).
  int page_size = query.instance_ids.empty() ? query.page_size : 0;
  Status s = PaginateEc2(client, "DescribeInstances", Ec2InstanceQueryParams(query), page_size,
                         [&](const XmlElement& page) -> Status {
                           BATON_ASSIGN_OR_RETURN(std::vector<Ec2Instance> got,
                                                  ParseEc2Instances(page, "DescribeInstances"));
                           for (Ec2Instance& i : got) out.push_back(std::move(i));
                           return Status::Ok();
                         });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<Ec2StateChange>> Ec2TerminateInstances(AwsClient* client,
                                                          const std::vector<std::string>& ids,
                                                          AwsError* error) {
  if (ids.empty()) return std::vector<Ec2StateChange>{};
  AwsParams p;
  p.SetList("InstanceId", ids);
  BATON_ASSIGN_OR_RETURN(XmlElement answer,
                         client->Call(AwsService::kEc2, "TerminateInstances", p, error));
  std::vector<Ec2StateChange> out;
  for (const XmlElement* item : AwsItems(answer.Child("instancesSet"))) {
    Ec2StateChange c;
    c.id = item->ChildText("instanceId");
    if (c.id.empty()) {
      return Corruption("ec2 TerminateInstances answer line {}: an item has no instanceId",
                        item->line);
    }
    if (const XmlElement* prev = item->Child("previousState"))
      c.previous_state = prev->ChildText("name");
    if (const XmlElement* cur = item->Child("currentState"))
      c.current_state = cur->ChildText("name");
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<Ec2SpotRequest>> Ec2DescribeSpotRequests(AwsClient* client,
                                                            const std::vector<std::string>& ids) {
  std::vector<Ec2SpotRequest> out;
  if (ids.empty()) return out;
  AwsParams p;
  p.SetList("SpotInstanceRequestId", ids);
  BATON_ASSIGN_OR_RETURN(XmlElement answer,
                         client->Call(AwsService::kEc2, "DescribeSpotInstanceRequests", p));
  for (const XmlElement* item : AwsItems(answer.Child("spotInstanceRequestSet"))) {
    Ec2SpotRequest r;
    r.id = item->ChildText("spotInstanceRequestId");
    if (r.id.empty()) {
      return Corruption(
          "ec2 DescribeSpotInstanceRequests answer line {}: an item has no spotInstanceRequestId",
          item->line);
    }
    r.state = item->ChildText("state");
    if (const XmlElement* status = item->Child("status")) r.status_code = status->ChildText("code");
    r.instance_id = item->ChildText("instanceId");
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Ec2SpotPrice>> ParseEc2SpotPrices(const XmlElement& answer) {
  std::vector<Ec2SpotPrice> out;
  for (const XmlElement* item : AwsItems(answer.Child("spotPriceHistorySet"))) {
    Ec2SpotPrice p;
    p.zone = item->ChildText("availabilityZone");
    p.instance_type = item->ChildText("instanceType");
    p.product_description = item->ChildText("productDescription");
    std::string price = item->ChildText("spotPrice");
    auto [end, ec] = std::from_chars(price.data(), price.data() + price.size(), p.price);
    if (price.empty() || ec != std::errc() || end != price.data() + price.size() ||
        !std::isfinite(p.price) || p.price < 0) {
      return Corruption(
          "ec2 DescribeSpotPriceHistory answer line {}: spotPrice '{}' is not a price", item->line,
          Printable(price));
    }
    p.timestamp = item->ChildText("timestamp");
    BATON_ASSIGN_OR_RETURN(p.unix_ms, TimeOf(p.timestamp, "DescribeSpotPriceHistory", "timestamp"));
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<Ec2SpotPrice>> Ec2DescribeSpotPriceHistory(AwsClient* client,
                                                              const Ec2SpotPriceQuery& query) {
  AwsParams p;
  p.SetList("InstanceType", query.instance_types);
  p.SetList("ProductDescription", query.product_descriptions);
  if (!query.availability_zone.empty()) p.Set("AvailabilityZone", query.availability_zone);
  if (query.start_unix_ms > 0) p.Set("StartTime", FormatRfc3339(query.start_unix_ms));
  std::vector<Ec2SpotPrice> out;
  Status s =
      PaginateEc2(client, "DescribeSpotPriceHistory", p, query.page_size,
                  [&](const XmlElement& page) -> Status {
                    BATON_ASSIGN_OR_RETURN(std::vector<Ec2SpotPrice> got, ParseEc2SpotPrices(page));
                    for (Ec2SpotPrice& sp : got) out.push_back(std::move(sp));
                    return Status::Ok();
                  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace baton
