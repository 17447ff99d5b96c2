#include "fleet/aliyun_ess.h"

#include <algorithm>

#include "base/json.h"
#include "fleet/aliyun_provider.h"

namespace baton::fleet {
namespace {

int64_t IntField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

EssGroup GroupOf(const Json& g) {
  EssGroup out;
  out.id = JsonStringOr(g, "ScalingGroupId");
  out.lifecycle = JsonStringOr(g, "LifecycleState");
  out.active_configuration_id = JsonStringOr(g, "ActiveScalingConfigurationId");
  out.min_size = IntField(g, "MinSize");
  out.max_size = IntField(g, "MaxSize");
  out.desired = IntField(g, "DesiredCapacity");
  out.total = IntField(g, "TotalCapacity");
  return out;
}

bool UsesSpot(const FleetSpec& spec) { return spec.policy != PolicyKind::kOnDemand; }

// The zones' vSwitches, spot-cheapest first (the offers' order): the group's priority.
std::vector<std::string> VSwitchIds(const FleetSpec& spec) {
  std::vector<std::string> ids;
  for (const Offer& o : spec.offers) {
    std::string id = spec.aliyun.VSwitchOf(o.zone);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

// Instance types in priority order (cheapest spot first), at most 10.
std::vector<std::string> InstanceTypes(const FleetSpec& spec) {
  std::vector<std::string> types;
  for (const Offer& o : spec.offers) {
    if (std::find(types.begin(), types.end(), o.instance_type) == types.end()) {
      types.push_back(o.instance_type);
    }
  }
  return types;
}

// The spot settings of the group (CreateScalingGroup and ModifyScalingGroup share them).
void SetGroupSpotParams(const FleetSpec& spec, RpcParams* p) {
  const bool spot = UsesSpot(spec);
  const bool compensate = spec.policy == PolicyKind::kSpotFirst;
  p->SetList("VSwitchIds", VSwitchIds(spec));
  p->Set("MultiAZPolicy", spot ? "COST_OPTIMIZED" : "PRIORITY");
  if (spot) {
    p->Set("CompensateWithOnDemand", compensate);
    p->Set("SpotInstanceRemedy", true);
    p->Set("OnDemandBaseCapacity", 0);
    p->Set("OnDemandPercentageAboveBaseCapacity", 0);
    RpcParams capacity;
    capacity.Set("CompensateWithOnDemand", compensate)
        .Set("SpotAutoReplaceOnDemand", compensate)
        .Set("OnDemandBaseCapacity", 0)
        .Set("OnDemandPercentageAboveBaseCapacity", 0);
    p->SetStruct("CapacityOptions", capacity);
  }
}

// What a scaling configuration says (CreateScalingConfiguration and ModifyScalingConfiguration).
Status SetConfigurationParams(const FleetSpec& spec, const EssUpOptions& o, RpcParams* p) {
  const AliyunFleetSpec& a = spec.aliyun;
  // Always --handoff: a replacement waits for the holder to checkpoint and let go; with no
  // holder it goes on at once.
  BATON_ASSIGN_OR_RETURN(std::string user_data,
                         AliyunUserData(a, o.job_url, o.baton_path, /*handoff=*/true));
  p->Set("ScalingConfigurationName", AliyunName(o.run, 64))
      .Set("ImageId", a.image_id)
      .Set("SecurityGroupId", a.security_group_id)
      .Set("InstanceName", AliyunName(o.run, 128))
      .Set("UserData", user_data);
  p->SetList("InstanceTypes", InstanceTypes(spec));
  if (!UsesSpot(spec)) {
    p->Set("SpotStrategy", "NoSpot");
  } else {
    std::vector<RpcParams> limits;
    for (const std::string& type : InstanceTypes(spec)) {
      for (const Offer& offer : spec.offers) {
        if (offer.instance_type != type || offer.spot_price_limit <= 0) continue;
        RpcParams l;
        l.Set("InstanceType", type)
            .Set("PriceLimit", fmt::format("{:.3f}", offer.spot_price_limit));
        limits.push_back(std::move(l));
        break;
      }
    }
    p->Set("SpotStrategy", limits.empty() ? "SpotAsPriceGo" : "SpotWithPriceLimit");
    p->SetStructList("SpotPriceLimit", limits);
    p->Set("SpotInterruptionBehavior", "Terminate");
  }
  if (!a.ram_role.empty()) p->Set("RamRoleName", a.ram_role);
  if (a.system_disk_gb > 0) p->Set("SystemDisk.Size", a.system_disk_gb);
  if (!a.system_disk_category.empty()) p->Set("SystemDisk.Category", a.system_disk_category);
  Json tags = Json::object();
  tags[kAliyunRunTag] = o.run;
  for (const auto& [k, v] : a.tags) tags[k] = v;
  p->Set("Tags", DumpJson(tags));
  return Status::Ok();
}

}  // namespace

std::string EssGroupName(const std::string& run) { return AliyunName(run, 64); }

Result<std::optional<EssGroup>> FindEssGroup(AliyunClient* client, const std::string& region,
                                             const std::string& run) {
  RpcParams q;
  q.Set("RegionId", region).Set("ScalingGroupName", EssGroupName(run));
  std::optional<EssGroup> found;
  BATON_RETURN_IF_ERROR(PaginatePages(
      client, AliyunService::kEss, "DescribeScalingGroups", q, 50, [&](const Json& page) {
        for (const Json& g : AliyunList(page, "ScalingGroups", "ScalingGroup")) {
          // The name filter is the server's; a group of another name is never ours.
          if (JsonStringOr(g, "ScalingGroupName") != EssGroupName(run)) continue;
          if (JsonStringOr(g, "LifecycleState") == "Deleting") continue;
          found = GroupOf(g);
        }
        return Status::Ok();
      }));
  return found;
}

Result<std::vector<EssInstance>> ListEssInstances(AliyunClient* client, const std::string& region,
                                                  const std::string& group_id) {
  RpcParams q;
  q.Set("RegionId", region).Set("ScalingGroupId", group_id);
  std::vector<EssInstance> out;
  BATON_RETURN_IF_ERROR(PaginatePages(
      client, AliyunService::kEss, "DescribeScalingInstances", q, 50, [&](const Json& page) {
        for (const Json& i : AliyunList(page, "ScalingInstances", "ScalingInstance")) {
          if (JsonStringOr(i, "ScalingGroupId", group_id) != group_id) continue;
          EssInstance e;
          e.id = JsonStringOr(i, "InstanceId");
          e.lifecycle = JsonStringOr(i, "LifecycleState");
          e.zone = JsonStringOr(i, "ZoneId");
          // notes 2.2: no charge type field; absent, empty or NoSpot is on-demand.
          std::string strategy = JsonStringOr(i, "SpotStrategy");
          e.spot = !strategy.empty() && strategy != "NoSpot";
          e.created = JsonStringOr(i, "CreatedTime", JsonStringOr(i, "CreationTime"));
          out.push_back(std::move(e));
        }
        return Status::Ok();
      }));
  return out;
}

Result<EssGroup> EssUp(const FleetSpec& spec, AliyunClient* client, const EssUpOptions& o,
                       std::vector<std::string>* made) {
  if (spec.policy == PolicyKind::kDeadline || spec.policy == PolicyKind::kAdaptive) {
    return InvalidArgument(
        "fleet.policy {} needs Baton's controller: use provider aliyun (ESS cannot switch "
        "to on-demand by a deadline)",
        PolicyName(spec.policy));
  }
  if (InstanceTypes(spec).size() > 10) {
    return InvalidArgument(
        "fleet.offers: an ESS scaling configuration takes at most 10 "
        "instance types; the job has {}",
        InstanceTypes(spec).size());
  }
  auto say = [&](const std::string& line) {
    made->push_back(line);
    if (o.print) o.print("aliyun-ess: " + line);
  };
  const std::string& region = spec.aliyun.region;
  BATON_ASSIGN_OR_RETURN(std::optional<EssGroup> group, FindEssGroup(client, region, o.run));
  if (!group) {
    RpcParams p;
    p.Set("RegionId", region)
        .Set("ScalingGroupName", EssGroupName(o.run))
        .Set("MinSize", 0)
        .Set("MaxSize", 1)
        .Set("DesiredCapacity", 0)
        .Set("ClientToken", NewClientToken());
    SetGroupSpotParams(spec, &p);
    std::vector<RpcParams> tags;
    RpcParams run_tag;
    run_tag.Set("Key", kAliyunRunTag).Set("Value", o.run);
    tags.push_back(run_tag);
    for (const auto& [k, v] : spec.aliyun.tags) {
      RpcParams t;
      t.Set("Key", k).Set("Value", v);
      tags.push_back(std::move(t));
    }
    p.SetStructList("Tag", tags);
    BATON_ASSIGN_OR_RETURN(Json r, client->Call(AliyunService::kEss, "CreateScalingGroup", p));
    group = EssGroup{};
    group->id = JsonStringOr(r, "ScalingGroupId");
    group->lifecycle = "Inactive";
    group->max_size = 1;
    if (group->id.empty()) return Internal("ESS CreateScalingGroup answered no ScalingGroupId");
    say(fmt::format("scaling group {} '{}' (created)", group->id, EssGroupName(o.run)));
  } else {
    RpcParams p;
    p.Set("ScalingGroupId", group->id).Set("MinSize", 0).Set("MaxSize", 1);
    SetGroupSpotParams(spec, &p);
    BATON_RETURN_IF_ERROR(client->Call(AliyunService::kEss, "ModifyScalingGroup", p).status());
    say(fmt::format("scaling group {} '{}' (existed; settings brought up to date)", group->id,
                    EssGroupName(o.run)));
  }

  RpcParams q;
  q.Set("RegionId", region).Set("ScalingGroupId", group->id);
  std::string config_id;
  BATON_RETURN_IF_ERROR(PaginatePages(
      client, AliyunService::kEss, "DescribeScalingConfigurations", q, 50, [&](const Json& page) {
        for (const Json& c : AliyunList(page, "ScalingConfigurations", "ScalingConfiguration")) {
          if (JsonStringOr(c, "ScalingConfigurationName") == AliyunName(o.run, 64)) {
            config_id = JsonStringOr(c, "ScalingConfigurationId");
          }
        }
        return Status::Ok();
      }));
  if (config_id.empty()) {
    RpcParams p;
    p.Set("ScalingGroupId", group->id).Set("ClientToken", NewClientToken());
    BATON_RETURN_IF_ERROR(SetConfigurationParams(spec, o, &p));
    BATON_ASSIGN_OR_RETURN(Json r,
                           client->Call(AliyunService::kEss, "CreateScalingConfiguration", p));
    config_id = JsonStringOr(r, "ScalingConfigurationId");
    if (config_id.empty()) {
      return Internal("ESS CreateScalingConfiguration answered no ScalingConfigurationId");
    }
    say(fmt::format("scaling configuration {} (created)", config_id));
  } else {
    RpcParams p;
    p.Set("ScalingConfigurationId", config_id);
    BATON_RETURN_IF_ERROR(SetConfigurationParams(spec, o, &p));
    BATON_RETURN_IF_ERROR(
        client->Call(AliyunService::kEss, "ModifyScalingConfiguration", p).status());
    say(fmt::format("scaling configuration {} (existed; brought up to date)", config_id));
  }

  if (group->lifecycle == "Inactive") {
    RpcParams p;
    p.Set("ScalingGroupId", group->id).Set("ActiveScalingConfigurationId", config_id);
    BATON_RETURN_IF_ERROR(client->Call(AliyunService::kEss, "EnableScalingGroup", p).status());
    say(fmt::format("scaling group {} enabled", group->id));
    group->lifecycle = "Active";
  }
  group->active_configuration_id = config_id;
  if (group->desired != 1) {
    BATON_RETURN_IF_ERROR(EssSetDesiredCapacity(client, group->id, 1));
    say(fmt::format("scaling group {}: desired capacity 1", group->id));
    group->desired = 1;
  }
  return *group;
}

Status EssSetDesiredCapacity(AliyunClient* client, const std::string& group_id, int n) {
  RpcParams p;
  p.Set("ScalingGroupId", group_id).Set("DesiredCapacity", n);
  return client->Call(AliyunService::kEss, "ModifyScalingGroup", p).status();
}

Status EssScaleToZero(AliyunClient* client, const std::string& region, const std::string& run) {
  BATON_ASSIGN_OR_RETURN(std::optional<EssGroup> group, FindEssGroup(client, region, run));
  if (!group) {
    return NotFound("no ESS scaling group '{}' in {}", EssGroupName(run), region);
  }
  return EssSetDesiredCapacity(client, group->id, 0);
}

Status EssDeleteGroup(AliyunClient* client, const std::string& group_id) {
  RpcParams p;
  p.Set("ScalingGroupId", group_id).Set("ForceDelete", true);
  AliyunError error;
  Result<Json> r = client->Call(AliyunService::kEss, "DeleteScalingGroup", p, &error);
  if (!r.ok() && ClassifyAliyunError(error.code, error.http_status) == AliyunErrorKind::kNotFound) {
    return Status::Ok();
  }
  return r.status();
}

}  // namespace baton::fleet
