// FakeEss: the ESS 2014-08-28 actions of the fake Alibaba Cloud (see fake_aliyun.h).
// Parameters and shapes: shared/notes/cloud-apis.md 2.1 (wrapped lists, paging with PageNumber /
// PageSize <= 50 and TotalCount) and 2.2; the error codes are those of the action pages in
// AlibabaCloudDocs/ess "intl.en-US/API Reference/Scaling group/" and ".../Scaling configuration/":
// InvalidScalingGroupId.NotFound 404, InvalidScalingGroupName.Duplicate 400,
// InvalidParameter.Conflict 400 (MinSize > MaxSize; the fake also uses it for a DesiredCapacity
// outside them [I]), IncorrectScalingGroupStatus 400, MissingActiveScalingConfiguration 400,
// InstanceInUse 400 (DeleteScalingGroup without ForceDelete),
// InvalidScalingConfigurationId.NotFound 404, InvalidScalingConfigurationName.Duplicate 400,
// InvalidImageId.NotFound, InvalidSecurityGroupId.NotFound and InvalidVSwitchId.NotFound 404,
// InvalidUserData. Base64FormatInvalid and InvalidUserData.SizeExceeded 400. A ClientToken seen
// again with other parameters is IdempotentParameterMismatch 400, as ECS says it [I].
//
// How a group keeps its capacity (KeepCapacity: after every call, and on every tick of the
// fake's clock), once it is Active with an active configuration:
//   - members whose instance is gone (released, reclaimed, deleted through ECS) are forgotten;
//   - the members that count are the live ones, less those being reclaimed when
//     SpotInstanceRemedy is on (they show as Removing and their replacement launches at once),
//     less an on-demand one whose spot replacement is on its way;
//   - fewer than DesiredCapacity: it launches one after another while it can. A spot
//     configuration under COST_OPTIMIZED tries spot in every vSwitch (in VSwitchIds order) and
//     instance type (in InstanceTypes order) where the zone has spot stock and offers the type,
//     then, with CompensateWithOnDemand, the same for on-demand; under PRIORITY it tries spot
//     only. The fake knows no prices, so "cheapest vCPU first" is the priority order. The group's
//     on-demand share (OnDemandBaseCapacity, then OnDemandPercentageAboveBaseCapacity of the
//     rest) is launched on-demand first. When nothing can launch, a later tick tries again;
//   - more than DesiredCapacity: members are released (SIGKILL, no notice) by RemovalPolicy, by
//     default OldestScalingConfiguration then OldestInstance (CreateScalingGroup.md);
//   - CapacityOptions.SpotAutoReplaceOnDemand: an on-demand member above the on-demand share
//     that runs gets a spot replacement where spot is in stock; once that one runs (InService)
//     the on-demand one is released.
// Without DesiredCapacity a group keeps its count between MinSize and MaxSize.
// DeleteScalingGroup removes a group at once (the fake shows no Deleting state).
// Not here (refused as unknown parameters, or InvalidAction.NotFound): prices, cooldowns (shown,
// not applied), scaling rules, activities (DescribeScalingActivities), health checks (every
// instance is Healthy), launch templates, SLB / RDS, attaching, detaching and removing
// instances, groups without vSwitches (classic network), MultiAZPolicy BALANCE and COMPOSABLE,
// SpotInstancePools, several security groups, data disks.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>

#include "cloud/metadata_time.h"
#include "fake_aliyun.h"
#include "fake_rpc_params.h"

namespace baton::testing {

struct FakeEss::Member {
  std::string instance_id;
  std::string configuration_id;
  std::string replaces;  // the on-demand member this spot one replaces (SpotAutoReplaceOnDemand)
};

struct FakeEss::Group {
  std::string id, region_id, name;
  std::string lifecycle = "Inactive";  // Inactive | Active
  int64_t min_size = 0, max_size = 0;
  std::optional<int64_t> desired;
  int64_t default_cooldown = 300;
  std::vector<std::string> vswitch_ids;
  std::string multi_az_policy = "PRIORITY";
  bool compensate_with_on_demand = true;
  bool spot_instance_remedy = false;
  int64_t on_demand_base_capacity = 0;
  int64_t on_demand_percentage_above_base = 0;
  bool spot_auto_replace_on_demand = false;
  std::string price_comparison_mode = "PricePerUnit";
  std::vector<std::string> removal_policies = {"OldestScalingConfiguration", "OldestInstance"};
  std::vector<std::pair<std::string, std::string>> tags;
  std::string active_configuration_id;
  int64_t created_ms = 0, modified_ms = 0;
  std::vector<Member> members;  // in launch order
};

struct FakeEss::Configuration {
  uint64_t sequence = 0;  // creation order, for RemovalPolicy OldestScalingConfiguration
  std::string id, group_id, name;
  std::string image_id, security_group_id;
  std::vector<std::string> instance_types;  // in priority order
  std::string spot_strategy = "NoSpot";
  std::vector<std::pair<std::string, double>> spot_price_limits;  // instance type -> price
  int64_t spot_duration = 1;
  std::string spot_interruption_behavior = "Terminate";
  std::string user_data;  // base64, as given
  std::string ram_role, instance_name, host_name;
  std::string system_disk_category;
  int64_t system_disk_size = 0;
  std::vector<std::pair<std::string, std::string>> tags;  // from the Tags JSON string
  int64_t created_ms = 0;

  double PriceLimitOf(const std::string& type) const {
    for (const auto& [t, price] : spot_price_limits) {
      if (t == type) return price;
    }
    return 0;
  }
};

namespace {

RpcAnswer GroupNotFound() {
  return RpcAnswer::Error(404, "InvalidScalingGroupId.NotFound",
                          "The specified scaling group does not exist.");
}

RpcAnswer ConfigurationNotFound() {
  return RpcAnswer::Error(404, "InvalidScalingConfigurationId.NotFound",
                          "The specified scaling configuration does not exist.");
}

RpcAnswer Duplicate(const std::string& code, const std::string& parameter) {
  return RpcAnswer::Error(400, code,
                          "The specified value of parameter \"" + parameter + "\" is duplicated.");
}

RpcAnswer Conflict(const std::string& a, const std::string& b) {
  return RpcAnswer::Error(400, "InvalidParameter.Conflict",
                          "The value of parameter " + a + " and parameter " + b + " are conflict.");
}

// Group and configuration names: 2-64 letters, digits, '_', '-', '.', starting with a letter or
// a digit (CreateScalingGroup.md, CreateScalingConfiguration.md).
bool ValidName(const std::string& name) {
  auto ok = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  };
  return name.size() >= 2 && name.size() <= 64 &&
         std::isalnum(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), ok);
}

bool IsSpot(const std::string& strategy) { return !strategy.empty() && strategy != "NoSpot"; }

// PageNumber (from 1) and PageSize (default 10, at most 50), notes 2.1.
struct Page {
  int64_t number = 1, size = 10;
};
Page ReadPage(ParamReader& r) {
  return Page{r.Int("PageNumber", 1, 1 << 30, 1), r.Int("PageSize", 1, 50, 10)};
}
Json Paged(const std::vector<Json>& items, const Page& page, const char* outer, const char* inner) {
  Json list = Json::array();
  const size_t start = std::min(items.size(), static_cast<size_t>((page.number - 1) * page.size));
  const size_t end = std::min(items.size(), start + static_cast<size_t>(page.size));
  for (size_t k = start; k < end; ++k) list.push_back(items[k]);
  return {{outer, {{inner, list}}},
          {"TotalCount", items.size()},
          {"PageNumber", page.number},
          {"PageSize", page.size}};
}

// A name filter given as Name (one value, as the Java SDK also sends it) or Name.1 .. Name.N.
std::vector<std::string> NameFilter(ParamReader& r, const Json& params, const char* name,
                                    size_t max) {
  if (params.contains(name) && params[name].is_string()) return {r.String(name)};
  return r.List(name, max);
}

Json TagList(const std::vector<std::pair<std::string, std::string>>& tags) {
  Json list = Json::array();
  for (const auto& [k, v] : tags) list.push_back({{"Key", k}, {"Value", v}});
  return list;
}

// The Tags of a scaling configuration: a JSON object of at most 20 string values; keys 1-64 and
// values up to 128 characters, neither starting with "acs:" or "aliyun"
// (CreateScalingConfiguration.md).
std::optional<std::vector<std::pair<std::string, std::string>>> ParseTags(const std::string& text,
                                                                          std::string* why) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.size() > kMaxTags) {
    *why = fmt::format("expected a JSON object of at most {} tags, as {{\"k\":\"v\"}}", kMaxTags);
    return std::nullopt;
  }
  auto reserved = [](const std::string& s) {
    return s.rfind("acs:", 0) == 0 || s.rfind("aliyun", 0) == 0;
  };
  std::vector<std::pair<std::string, std::string>> tags;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string() || k.empty() || k.size() > 64 || v.get<std::string>().size() > 128 ||
        reserved(k) || reserved(v.get<std::string>())) {
      *why = "tag '" + k + "': keys of 1-64 and values of up to 128 characters, strings, not " +
             "starting with acs: or aliyun";
      return std::nullopt;
    }
    tags.emplace_back(k, v.get<std::string>());
  }
  return tags;
}

}  // namespace

FakeEss::FakeEss(FakeEcs* ecs) : ecs_(ecs), id_salt_(std::random_device{}()) {}

FakeEss::~FakeEss() = default;

std::optional<RpcAnswer> FakeEss::Handle(const std::string& action, const Json& params) {
  ecs_->Advance();
  Advance();
  std::optional<RpcAnswer> answer;
  if (action == "CreateScalingGroup") answer = CreateScalingGroup(params);
  if (action == "ModifyScalingGroup") answer = ModifyScalingGroup(params);
  if (action == "EnableScalingGroup") answer = EnableScalingGroup(params);
  if (action == "DescribeScalingGroups") answer = DescribeScalingGroups(params);
  if (action == "DeleteScalingGroup") answer = DeleteScalingGroup(params);
  if (action == "CreateScalingConfiguration") answer = CreateScalingConfiguration(params);
  if (action == "ModifyScalingConfiguration") answer = ModifyScalingConfiguration(params);
  if (action == "DescribeScalingConfigurations") answer = DescribeScalingConfigurations(params);
  if (action == "DescribeScalingInstances") answer = DescribeScalingInstances(params);
  Advance();  // a group that was enabled or resized launches (or releases) now
  return answer;
}

std::string FakeEss::NewId(const char* prefix) {
  uint64_t n = next_id_++;
  return fmt::format("{}-{:04x}{:016x}", prefix, n, id_salt_ ^ (n * 0x9e3779b9));
}

FakeEss::Group* FakeEss::FindGroup(const std::string& id) {
  for (auto& g : groups_) {
    if (g->id == id) return g.get();
  }
  return nullptr;
}

FakeEss::Configuration* FakeEss::FindConfiguration(const std::string& id) {
  for (auto& c : configurations_) {
    if (c->id == id) return c.get();
  }
  return nullptr;
}

// --- scaling groups ------------------------------------------------------------------------------

void FakeEss::ReadGroupSettings(ParamReader& r, Group* g) const {
  if (r.Has("ScalingGroupName")) {
    g->name = r.String("ScalingGroupName");
    if (!ValidName(g->name)) {
      r.Fail(Invalid("ScalingGroupName",
                     "2-64 letters, digits, '_', '-' or '.', starting with a letter or digit"));
    }
  }
  if (auto n = r.OptionalInt("MinSize", 0, 2000)) g->min_size = *n;
  if (auto n = r.OptionalInt("MaxSize", 0, 2000)) g->max_size = *n;
  if (auto n = r.OptionalInt("DesiredCapacity", 0, 2000)) g->desired = *n;
  if (auto n = r.OptionalInt("DefaultCooldown", 0, 86400)) g->default_cooldown = *n;
  std::vector<std::string> vswitches = r.List("VSwitchIds", 5);
  if (!vswitches.empty()) g->vswitch_ids = vswitches;
  g->multi_az_policy = r.OneOf("MultiAZPolicy", {"PRIORITY", "COST_OPTIMIZED"}, g->multi_az_policy);
  if (auto b = r.OptionalBool("CompensateWithOnDemand")) g->compensate_with_on_demand = *b;
  if (auto b = r.OptionalBool("SpotInstanceRemedy")) g->spot_instance_remedy = *b;
  if (auto n = r.OptionalInt("OnDemandBaseCapacity", 0, 1000)) g->on_demand_base_capacity = *n;
  if (auto n = r.OptionalInt("OnDemandPercentageAboveBaseCapacity", 0, 100)) {
    g->on_demand_percentage_above_base = *n;
  }
  // CapacityOptions.* (notes 2.2: the Java SDK's keys) say the same as the top-level settings
  // and win over them when both are given.
  Json capacity_params = r.Struct("CapacityOptions");
  ParamReader capacity(capacity_params, "ESS", "CapacityOptions.");
  capacity.OnlyKnown({"CompensateWithOnDemand", "OnDemandBaseCapacity",
                      "OnDemandPercentageAboveBaseCapacity", "SpotAutoReplaceOnDemand",
                      "PriceComparisonMode"});
  if (auto b = capacity.OptionalBool("CompensateWithOnDemand")) g->compensate_with_on_demand = *b;
  if (auto n = capacity.OptionalInt("OnDemandBaseCapacity", 0, 1000)) {
    g->on_demand_base_capacity = *n;
  }
  if (auto n = capacity.OptionalInt("OnDemandPercentageAboveBaseCapacity", 0, 100)) {
    g->on_demand_percentage_above_base = *n;
  }
  if (auto b = capacity.OptionalBool("SpotAutoReplaceOnDemand")) {
    g->spot_auto_replace_on_demand = *b;
  }
  g->price_comparison_mode = capacity.OneOf("PriceComparisonMode", {"PricePerUnit", "PricePerVCpu"},
                                            g->price_comparison_mode);
  r.Fail(capacity.error());
  std::vector<std::string> removal = r.List("RemovalPolicy", 2);
  for (const std::string& p : removal) {
    if (p != "OldestInstance" && p != "NewestInstance" && p != "OldestScalingConfiguration") {
      r.Fail(Invalid("RemovalPolicy.N", "'" + p +
                                            "' is not one of OldestInstance | NewestInstance | "
                                            "OldestScalingConfiguration"));
    }
  }
  if (!removal.empty()) g->removal_policies = removal;
}

std::optional<RpcAnswer> FakeEss::CheckGroup(const Group& g) const {
  if (g.min_size > g.max_size) return Conflict("MinSize", "MaxSize");
  if (g.desired && (*g.desired < g.min_size || *g.desired > g.max_size)) {
    return Conflict("DesiredCapacity", "MinSize/MaxSize");
  }
  // The fake has no classic network: a group launches into its vSwitches.
  if (g.vswitch_ids.empty()) return Missing("VSwitchIds.N");
  for (const std::string& v : g.vswitch_ids) {
    std::optional<FakeEcs::Zone> zone = ecs_->ZoneOfVSwitch(v);
    if (!zone || zone->region->region_id != g.region_id) {
      return RpcAnswer::Error(404, "InvalidVSwitchId.NotFound",
                              "The specified virtual switch does not exist: " + v);
    }
  }
  if (std::any_of(groups_.begin(), groups_.end(), [&](const auto& o) {
        return o->id != g.id && o->region_id == g.region_id && o->name == g.name;
      })) {
    return Duplicate("InvalidScalingGroupName.Duplicate", "ScalingGroupName");
  }
  return std::nullopt;
}

RpcAnswer FakeEss::CreateScalingGroup(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"RegionId", "ScalingGroupName", "MinSize", "MaxSize", "DesiredCapacity",
               "DefaultCooldown", "VSwitchId", "VSwitchIds", "MultiAZPolicy",
               "CompensateWithOnDemand", "SpotInstanceRemedy", "OnDemandBaseCapacity",
               "OnDemandPercentageAboveBaseCapacity", "CapacityOptions", "RemovalPolicy", "Tag",
               "ClientToken"});
  auto g = std::make_unique<Group>();
  g->region_id = r.String("RegionId", true);
  r.String("MinSize", true);
  r.String("MaxSize", true);
  ReadGroupSettings(r, g.get());
  std::string vswitch = r.String("VSwitchId");
  if (g->vswitch_ids.empty() && !vswitch.empty()) g->vswitch_ids = {vswitch};
  g->tags = r.Tags();
  std::string token = r.String("ClientToken");
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (!ValidClientToken(token)) {
    return Invalid("ClientToken", "at most 64 printable ASCII characters");
  }
  if (ecs_->FindRegion(g->region_id) == nullptr) return RegionNotFound();
  if (std::optional<RpcAnswer> again = group_tokens_.Replay(token, params)) return *again;
  g->id = NewId("asg");
  if (g->name.empty()) g->name = g->id;
  if (std::optional<RpcAnswer> bad = CheckGroup(*g)) return *bad;
  g->created_ms = g->modified_ms = FakeNowMs();
  Json answer = {{"ScalingGroupId", g->id}};
  group_tokens_.Remember(token, params, answer);
  groups_.push_back(std::move(g));
  return RpcAnswer::Ok(answer);
}

RpcAnswer FakeEss::ModifyScalingGroup(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"ScalingGroupId", "ScalingGroupName", "MinSize", "MaxSize", "DesiredCapacity",
               "DefaultCooldown", "VSwitchIds", "MultiAZPolicy", "CompensateWithOnDemand",
               "SpotInstanceRemedy", "OnDemandBaseCapacity", "OnDemandPercentageAboveBaseCapacity",
               "CapacityOptions", "RemovalPolicy", "ActiveScalingConfigurationId"});
  std::string id = r.String("ScalingGroupId", true);
  std::string active = r.String("ActiveScalingConfigurationId");
  FAKE_RPC_RETURN_IF_ERROR(r);
  Group* g = FindGroup(id);
  if (g == nullptr) return GroupNotFound();
  Group changed = *g;
  ReadGroupSettings(r, &changed);
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (std::optional<RpcAnswer> bad = CheckGroup(changed)) return *bad;
  if (!active.empty()) {
    Configuration* c = FindConfiguration(active);
    if (c == nullptr || c->group_id != g->id) return ConfigurationNotFound();
    changed.active_configuration_id = active;
  }
  changed.modified_ms = FakeNowMs();
  *g = std::move(changed);
  return RpcAnswer::Ok(Json::object());
}

RpcAnswer FakeEss::EnableScalingGroup(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"ScalingGroupId", "ActiveScalingConfigurationId"});
  std::string id = r.String("ScalingGroupId", true);
  std::string active = r.String("ActiveScalingConfigurationId");
  FAKE_RPC_RETURN_IF_ERROR(r);
  Group* g = FindGroup(id);
  if (g == nullptr) return GroupNotFound();
  if (g->lifecycle != "Inactive") {
    return RpcAnswer::Error(400, "IncorrectScalingGroupStatus",
                            "The current status of the specified scaling group does not support "
                            "this action: it is " +
                                g->lifecycle + ".");
  }
  if (!active.empty()) {
    Configuration* c = FindConfiguration(active);
    if (c == nullptr || c->group_id != g->id) return ConfigurationNotFound();
    g->active_configuration_id = active;
  }
  if (g->active_configuration_id.empty()) {
    return RpcAnswer::Error(400, "MissingActiveScalingConfiguration",
                            "An active scaling configuration for the specified scaling group is "
                            "not supplied.");
  }
  g->lifecycle = "Active";
  g->modified_ms = FakeNowMs();
  return RpcAnswer::Ok(Json::object());
}

RpcAnswer FakeEss::DeleteScalingGroup(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"ScalingGroupId", "ForceDelete"});
  std::string id = r.String("ScalingGroupId", true);
  bool force = r.Bool("ForceDelete", false);
  FAKE_RPC_RETURN_IF_ERROR(r);
  Group* g = FindGroup(id);
  if (g == nullptr) return GroupNotFound();
  if (!g->members.empty() && !force) {
    return RpcAnswer::Error(400, "InstanceInUse",
                            "You cannot delete a scaling configuration or scaling group while "
                            "there is an instance associated with it.");
  }
  // ForceDelete: the instances the group created are released, its configurations go with it.
  for (const Member& m : g->members) ecs_->ReleaseNow(m.instance_id);
  std::erase_if(configurations_, [&](const auto& c) { return c->group_id == id; });
  std::erase_if(groups_, [&](const auto& group) { return group->id == id; });
  return RpcAnswer::Ok(Json::object());
}

Json FakeEss::DescribeGroup(const Group& g) {
  int64_t pending = 0, active = 0, removing = 0;
  for (const Member& m : g.members) {
    std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m.instance_id);
    if (!v) continue;
    if (v->recycling && g.spot_instance_remedy) {
      ++removing;
    } else if (v->status == "Pending") {
      ++pending;
    } else {
      ++active;
    }
  }
  const int64_t total = pending + active + removing;
  Json j = {{"ScalingGroupId", g.id},
            {"ScalingGroupName", g.name},
            {"RegionId", g.region_id},
            {"LifecycleState", g.lifecycle},
            {"MinSize", g.min_size},
            {"MaxSize", g.max_size},
            {"DefaultCooldown", g.default_cooldown},
            {"TotalCapacity", total},
            {"TotalInstanceCount", total},
            {"ActiveCapacity", active},
            {"PendingCapacity", pending},
            {"RemovingCapacity", removing},
            {"StoppedCapacity", 0},
            {"StandbyCapacity", 0},
            {"ProtectedCapacity", 0},
            {"PendingWaitCapacity", 0},
            {"RemovingWaitCapacity", 0},
            {"ActiveScalingConfigurationId", g.active_configuration_id},
            {"MultiAZPolicy", g.multi_az_policy},
            {"CompensateWithOnDemand", g.compensate_with_on_demand},
            {"OnDemandBaseCapacity", g.on_demand_base_capacity},
            {"OnDemandPercentageAboveBaseCapacity", g.on_demand_percentage_above_base},
            {"SpotInstanceRemedy", g.spot_instance_remedy},
            {"CapacityOptions",
             {{"CompensateWithOnDemand", g.compensate_with_on_demand},
              {"OnDemandBaseCapacity", g.on_demand_base_capacity},
              {"OnDemandPercentageAboveBaseCapacity", g.on_demand_percentage_above_base},
              {"SpotAutoReplaceOnDemand", g.spot_auto_replace_on_demand},
              {"PriceComparisonMode", g.price_comparison_mode}}},
            {"VSwitchId", g.vswitch_ids.front()},
            {"VSwitchIds", {{"VSwitchId", g.vswitch_ids}}},
            {"RemovalPolicies", {{"RemovalPolicy", g.removal_policies}}},
            {"CreationTime", MinuteTime(g.created_ms)},
            {"ModificationTime", MinuteTime(g.modified_ms)}};
  if (g.desired) j["DesiredCapacity"] = *g.desired;
  return j;
}

// notes 2.2: RegionId, ScalingGroupId.N and ScalingGroupName(.N) (up to 20 each), paging. The
// pages say inactive groups are "not displayed" for those filters; the example of the same page
// lists an Inactive group, so the fake reads it as "groups that do not exist" [I] and shows
// Inactive ones.
RpcAnswer FakeEss::DescribeScalingGroups(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"RegionId", "ScalingGroupId", "ScalingGroupName", "PageNumber", "PageSize"});
  std::string region_id = r.String("RegionId", true);
  std::vector<std::string> ids = r.List("ScalingGroupId", 20);
  std::vector<std::string> names = NameFilter(r, params, "ScalingGroupName", 20);
  Page page = ReadPage(r);
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (ecs_->FindRegion(region_id) == nullptr) return RegionNotFound();
  std::vector<Json> items;
  for (const auto& g : groups_) {
    if (g->region_id != region_id) continue;
    if (!ids.empty() && !Contains(ids, g->id)) continue;
    if (!names.empty() && !Contains(names, g->name)) continue;
    items.push_back(DescribeGroup(*g));
  }
  return RpcAnswer::Ok(Paged(items, page, "ScalingGroups", "ScalingGroup"));
}

// --- scaling configurations ----------------------------------------------------------------------

void FakeEss::ReadConfiguration(ParamReader& r, Configuration* c) const {
  if (r.Has("ScalingConfigurationName")) {
    c->name = r.String("ScalingConfigurationName");
    if (!ValidName(c->name)) {
      r.Fail(Invalid("ScalingConfigurationName",
                     "2-64 letters, digits, '_', '-' or '.', starting with a letter or digit"));
    }
  }
  if (r.Has("ImageId")) c->image_id = r.String("ImageId");
  if (r.Has("SecurityGroupId")) c->security_group_id = r.String("SecurityGroupId");
  // InstanceTypes.N (N is the priority) wins over InstanceType.
  std::vector<std::string> types = r.List("InstanceTypes", 10);
  if (!types.empty()) {
    c->instance_types = types;
  } else if (r.Has("InstanceType")) {
    c->instance_types = {r.String("InstanceType")};
  }
  c->spot_strategy =
      r.OneOf("SpotStrategy", {"NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"}, c->spot_strategy);
  if (r.Has("SpotPriceLimit")) {
    c->spot_price_limits.clear();
    std::vector<Json> limits = r.StructList("SpotPriceLimit", 10);
    for (size_t i = 0; i < limits.size(); ++i) {
      ParamReader item(limits[i], "ESS", fmt::format("SpotPriceLimit.{}.", i + 1));
      item.OnlyKnown({"InstanceType", "PriceLimit"});
      std::string type = item.String("InstanceType", true);
      double price = item.Double("PriceLimit", 0.001, 1e6, 0);
      if (!item.Has("PriceLimit"))
        item.Fail(Missing(fmt::format("SpotPriceLimit.{}.PriceLimit", i + 1)));
      r.Fail(item.error());
      c->spot_price_limits.emplace_back(type, price);
    }
  }
  c->spot_duration = r.Int("SpotDuration", 0, 6, c->spot_duration);
  c->spot_interruption_behavior =
      r.OneOf("SpotInterruptionBehavior", {"Terminate"}, c->spot_interruption_behavior);
  if (r.Has("UserData")) c->user_data = r.String("UserData");
  if (r.Has("RamRoleName")) c->ram_role = r.String("RamRoleName");
  if (r.Has("InstanceName")) c->instance_name = r.String("InstanceName");
  if (r.Has("HostName")) c->host_name = r.String("HostName");
  Json disk_params = r.Struct("SystemDisk");
  ParamReader disk(disk_params, "ESS", "SystemDisk.");
  disk.OnlyKnown({"Category", "Size"});
  c->system_disk_category = disk.OneOf(
      "Category", {"cloud", "cloud_efficiency", "cloud_ssd", "ephemeral_ssd", "cloud_essd"},
      c->system_disk_category);
  c->system_disk_size = disk.Int("Size", 20, 500, c->system_disk_size);
  r.Fail(disk.error());
  if (r.Has("Tags")) {
    std::string why;
    std::optional<std::vector<std::pair<std::string, std::string>>> tags =
        ParseTags(r.String("Tags"), &why);
    if (tags) {
      c->tags = *tags;
    } else {
      r.Fail(Invalid("Tags", why));
    }
  }
}

std::optional<RpcAnswer> FakeEss::CheckConfiguration(const Configuration& c, const Group& g) const {
  if (c.image_id.empty()) return Missing("ImageId");
  if (c.instance_types.empty()) return Missing("InstanceTypes.N");
  if (c.security_group_id.empty()) return Missing("SecurityGroupId");
  const FakeEcs::Config& cloud = ecs_->config();
  if (!Contains(cloud.image_ids, c.image_id)) {
    return RpcAnswer::Error(404, "InvalidImageId.NotFound",
                            "The specified image does not exist: " + c.image_id);
  }
  if (!Contains(cloud.security_group_ids, c.security_group_id)) {
    return RpcAnswer::Error(404, "InvalidSecurityGroupId.NotFound",
                            "The specified security group does not exist: " + c.security_group_id);
  }
  const FakeAliyunRegion* region = ecs_->FindRegion(g.region_id);
  for (const std::string& type : c.instance_types) {
    bool offered =
        std::any_of(region->zones.begin(), region->zones.end(),
                    [&](const FakeAliyunZone& z) { return Contains(z.instance_types, type); });
    if (!offered) {
      return Invalid("InstanceTypes.N", "no zone of " + g.region_id + " offers '" + type + "'");
    }
  }
  for (const auto& [type, price] : c.spot_price_limits) {
    if (!Contains(c.instance_types, type)) {
      return Invalid("SpotPriceLimit.N.InstanceType",
                     "'" + type + "' is not one of the configuration's instance types");
    }
  }
  if (!c.user_data.empty()) {
    Result<std::string> raw = DecodeBase64(c.user_data);
    if (!raw.ok()) {
      return RpcAnswer::Error(400, "InvalidUserData.Base64FormatInvalid",
                              "The specified parameter UserData must be base64 encoded.");
    }
    if (raw->size() > kMaxUserDataBytes) {
      return RpcAnswer::Error(400, "InvalidUserData.SizeExceeded",
                              fmt::format("The specified parameter UserData exceeds the size: {} "
                                          "bytes decoded, at most {}.",
                                          raw->size(), kMaxUserDataBytes));
    }
  }
  if (std::any_of(configurations_.begin(), configurations_.end(), [&](const auto& o) {
        return o->id != c.id && o->group_id == c.group_id && o->name == c.name;
      })) {
    return Duplicate("InvalidScalingConfigurationName.Duplicate", "ScalingConfigurationName");
  }
  return std::nullopt;
}

// The parameters of a configuration that CreateScalingConfiguration and
// ModifyScalingConfiguration share.
constexpr std::string_view kConfigurationParams[] = {"ScalingConfigurationName",
                                                     "ImageId",
                                                     "InstanceType",
                                                     "InstanceTypes",
                                                     "SecurityGroupId",
                                                     "SpotStrategy",
                                                     "SpotPriceLimit",
                                                     "SpotDuration",
                                                     "SpotInterruptionBehavior",
                                                     "UserData",
                                                     "RamRoleName",
                                                     "InstanceName",
                                                     "HostName",
                                                     "SystemDisk",
                                                     "Tags"};

RpcAnswer FakeEss::CreateScalingConfiguration(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"ScalingGroupId", "ClientToken"}, kConfigurationParams);
  auto c = std::make_unique<Configuration>();
  c->group_id = r.String("ScalingGroupId", true);
  std::string token = r.String("ClientToken");
  ReadConfiguration(r, c.get());
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (!ValidClientToken(token)) {
    return Invalid("ClientToken", "at most 64 printable ASCII characters");
  }
  if (std::optional<RpcAnswer> again = configuration_tokens_.Replay(token, params)) return *again;
  Group* g = FindGroup(c->group_id);
  if (g == nullptr) return GroupNotFound();
  c->id = NewId("asc");
  if (c->name.empty()) c->name = c->id;
  if (std::optional<RpcAnswer> bad = CheckConfiguration(*c, *g)) return *bad;
  c->sequence = next_id_;
  c->created_ms = FakeNowMs();
  Json answer = {{"ScalingConfigurationId", c->id}};
  configuration_tokens_.Remember(token, params, answer);
  configurations_.push_back(std::move(c));
  return RpcAnswer::Ok(answer);
}

RpcAnswer FakeEss::ModifyScalingConfiguration(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"ScalingConfigurationId"}, kConfigurationParams);
  std::string id = r.String("ScalingConfigurationId", true);
  FAKE_RPC_RETURN_IF_ERROR(r);
  Configuration* c = FindConfiguration(id);
  if (c == nullptr) return ConfigurationNotFound();
  Configuration changed = *c;
  ReadConfiguration(r, &changed);
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (std::optional<RpcAnswer> bad = CheckConfiguration(changed, *FindGroup(c->group_id))) {
    return *bad;
  }
  // The instances that run keep what they were launched with; the next ones get this.
  *c = std::move(changed);
  return RpcAnswer::Ok(Json::object());
}

// ScalingConfigurationId.N lists active and inactive ones; ScalingConfigurationName.N only
// active ones (DescribeScalingConfigurations.md).
RpcAnswer FakeEss::DescribeScalingConfigurations(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"RegionId", "ScalingGroupId", "ScalingConfigurationId", "ScalingConfigurationName",
               "PageNumber", "PageSize"});
  std::string region_id = r.String("RegionId", true);
  std::string group_id = r.String("ScalingGroupId");
  std::vector<std::string> ids = r.List("ScalingConfigurationId", 10);
  std::vector<std::string> names = r.List("ScalingConfigurationName", 10);
  Page page = ReadPage(r);
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (ecs_->FindRegion(region_id) == nullptr) return RegionNotFound();
  std::vector<Json> items;
  for (const auto& c : configurations_) {
    const Group* g = FindGroup(c->group_id);
    if (g == nullptr || g->region_id != region_id) continue;
    if (!group_id.empty() && c->group_id != group_id) continue;
    const bool active = g->active_configuration_id == c->id;
    if (!ids.empty() && !Contains(ids, c->id)) continue;
    if (!names.empty() && (!active || !Contains(names, c->name))) continue;
    Json limits = Json::array();
    for (const auto& [type, price] : c->spot_price_limits) {
      limits.push_back({{"InstanceType", type}, {"PriceLimit", price}});
    }
    Json item = {{"ScalingConfigurationId", c->id},
                 {"ScalingConfigurationName", c->name},
                 {"ScalingGroupId", c->group_id},
                 {"LifecycleState", active ? "Active" : "Inactive"},
                 {"ImageId", c->image_id},
                 {"InstanceType", c->instance_types.front()},
                 {"InstanceTypes", {{"InstanceType", c->instance_types}}},
                 {"SecurityGroupId", c->security_group_id},
                 {"SpotStrategy", c->spot_strategy},
                 {"SpotPriceLimit", {{"SpotPriceModel", limits}}},
                 {"SpotDuration", c->spot_duration},
                 {"SpotInterruptionBehavior", c->spot_interruption_behavior},
                 {"UserData", c->user_data},
                 {"RamRoleName", c->ram_role},
                 {"InstanceName", c->instance_name},
                 {"HostName", c->host_name},
                 {"Tags", {{"Tag", TagList(c->tags)}}},
                 {"CreationTime", MinuteTime(c->created_ms)}};
    if (!c->system_disk_category.empty()) item["SystemDiskCategory"] = c->system_disk_category;
    if (c->system_disk_size > 0) item["SystemDiskSize"] = c->system_disk_size;
    items.push_back(std::move(item));
  }
  return RpcAnswer::Ok(Paged(items, page, "ScalingConfigurations", "ScalingConfiguration"));
}

// --- the groups' instances -----------------------------------------------------------------------

namespace {

// notes 2.2: Pending, then InService; Removing while ESS takes out a member being reclaimed
// (with SpotInstanceRemedy, the fake's reading [I]).
std::string MemberState(const FakeEcs::GroupMember& v, bool remedy) {
  if (v.recycling && remedy) return "Removing";
  return v.status == "Pending" ? "Pending" : "InService";
}

}  // namespace

RpcAnswer FakeEss::DescribeScalingInstances(const Json& params) {
  ParamReader r(params, "ESS");
  r.OnlyKnown({"RegionId", "ScalingGroupId", "ScalingConfigurationId", "HealthStatus",
               "LifecycleState", "CreationType", "InstanceId", "PageNumber", "PageSize"});
  std::string region_id = r.String("RegionId", true);
  std::string group_id = r.String("ScalingGroupId");
  std::string configuration_id = r.String("ScalingConfigurationId");
  std::string health = r.OneOf("HealthStatus", {"Healthy", "Unhealthy"}, "");
  std::string state = r.OneOf("LifecycleState",
                              {"InService", "Pending", "Pending:Wait", "Protected", "Standby",
                               "Stopped", "Removing", "Removing:Wait"},
                              "");
  std::string creation = r.OneOf("CreationType", {"AutoCreated", "Attached"}, "");
  std::vector<std::string> ids = r.List("InstanceId", 20);
  Page page = ReadPage(r);
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (ecs_->FindRegion(region_id) == nullptr) return RegionNotFound();
  std::vector<Json> items;
  int64_t spot = 0;
  for (const auto& g : groups_) {
    if (g->region_id != region_id || (!group_id.empty() && g->id != group_id)) continue;
    for (const Member& m : g->members) {
      std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m.instance_id);
      if (!v) continue;
      std::string lifecycle = MemberState(*v, g->spot_instance_remedy);
      if (!configuration_id.empty() && m.configuration_id != configuration_id) continue;
      if (!state.empty() && lifecycle != state) continue;
      if (health == "Unhealthy" || creation == "Attached")
        continue;  // all are Healthy, AutoCreated
      if (!ids.empty() && !Contains(ids, m.instance_id)) continue;
      spot += IsSpot(v->spot_strategy) ? 1 : 0;
      // notes 2.2 does not say what SpotStrategy an on-demand member shows: NoSpot here [I].
      items.push_back({{"InstanceId", m.instance_id},
                       {"ScalingGroupId", g->id},
                       {"ScalingConfigurationId", m.configuration_id},
                       {"LifecycleState", lifecycle},
                       {"HealthStatus", "Healthy"},
                       {"ZoneId", v->zone_id},
                       {"CreationTime", MinuteTime(v->created_ms)},
                       {"CreatedTime", FormatRfc3339(v->created_ms)},
                       {"CreationType", "AutoCreated"},
                       {"SpotStrategy", v->spot_strategy},
                       {"WeightedCapacity", 1},
                       {"WarmupState", "NoNeedWarmup"},
                       {"Entrusted", true}});
    }
  }
  Json answer = Paged(items, page, "ScalingInstances", "ScalingInstance");
  answer["TotalSpotCount"] = spot;
  return RpcAnswer::Ok(answer);
}

void FakeEss::Advance() {
  for (auto& g : groups_) KeepCapacity(g.get());
}

void FakeEss::Forget(Group* g, const std::string& instance_id) {
  std::erase_if(g->members, [&](const Member& m) { return m.instance_id == instance_id; });
}

std::vector<const FakeEss::Member*> FakeEss::Counted(const Group& g) {
  std::vector<const Member*> out;
  for (const Member& m : g.members) {
    std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m.instance_id);
    if (!v || (v->recycling && g.spot_instance_remedy)) continue;
    const bool being_replaced =
        std::any_of(g.members.begin(), g.members.end(), [&](const Member& o) {
          return o.replaces == m.instance_id && ecs_->FindLive(o.instance_id).has_value();
        });
    if (!being_replaced) out.push_back(&m);
  }
  return out;
}

// OnDemandBaseCapacity, then OnDemandPercentageAboveBaseCapacity of the rest (rounded up).
int64_t FakeEss::OnDemandShare(const Group& g, int64_t capacity) const {
  const int64_t base = std::min(capacity, g.on_demand_base_capacity);
  return base + ((capacity - base) * g.on_demand_percentage_above_base + 99) / 100;
}

bool FakeEss::LaunchOne(Group* g, bool spot_only, const std::string& replaces) {
  Configuration* c = FindConfiguration(g->active_configuration_id);
  if (c == nullptr) return false;
  std::vector<const Member*> counted = Counted(*g);
  int64_t on_demand = 0;
  for (const Member* m : counted) {
    std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m->instance_id);
    on_demand += v && !IsSpot(v->spot_strategy) ? 1 : 0;
  }
  std::vector<bool> billings;  // true: spot
  if (!IsSpot(c->spot_strategy)) {
    billings = {false};
  } else if (spot_only) {
    billings = {true};
  } else if (on_demand < OnDemandShare(*g, g->desired.value_or(g->min_size))) {
    billings = {false};
  } else if (g->multi_az_policy == "COST_OPTIMIZED" && g->compensate_with_on_demand) {
    billings = {true, false};
  } else {
    billings = {true};
  }
  FakeEcs::GroupLaunch l;
  l.region_id = g->region_id;
  l.image_id = c->image_id;
  l.security_group_id = c->security_group_id;
  Result<std::string> user_data = DecodeBase64(c->user_data);  // checked when configured
  l.user_data = user_data.ok() ? *user_data : "";
  l.ram_role = c->ram_role;
  l.instance_name = c->instance_name;
  l.host_name = c->host_name;
  l.tags = c->tags;
  l.scaling_group_id = g->id;
  for (bool spot : billings) {
    l.spot_strategy = spot ? c->spot_strategy : "NoSpot";
    for (const std::string& vswitch : g->vswitch_ids) {
      for (const std::string& type : c->instance_types) {
        l.vswitch_id = vswitch;
        l.instance_type = type;
        l.spot_price_limit = spot ? c->PriceLimitOf(type) : 0;
        l.params = {{"RegionId", g->region_id},
                    {"ScalingGroupId", g->id},
                    {"ScalingConfigurationId", c->id},
                    {"ImageId", c->image_id},
                    {"InstanceType", type},
                    {"SecurityGroupId", c->security_group_id},
                    {"VSwitchId", vswitch},
                    {"SpotStrategy", l.spot_strategy},
                    {"RamRoleName", c->ram_role},
                    {"InstanceName", c->instance_name},
                    {"UserData", c->user_data}};
        Result<std::string> id = ecs_->LaunchForGroup(l);
        if (id.ok()) {
          g->members.push_back(Member{*id, c->id, replaces});
          return true;
        }
      }
    }
  }
  return false;
}

const FakeEss::Member* FakeEss::ToRemove(const Group& g,
                                         const std::vector<const Member*>& counted) {
  auto key = [&](const std::string& policy, const Member* m) -> int64_t {
    if (policy == "OldestScalingConfiguration") {
      const Configuration* c = FindConfiguration(m->configuration_id);
      return c ? static_cast<int64_t>(c->sequence) : 0;  // a deleted one is the oldest
    }
    std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m->instance_id);
    const int64_t created = v ? v->created_ms : 0;
    return policy == "OldestInstance" ? created : -created;
  };
  // `counted` is in launch order; instances launched within one millisecond tie on created_ms,
  // and then launch order decides: the last one is the newest.
  std::vector<const Member*> candidates = counted;
  bool newest = false;
  for (const std::string& policy : g.removal_policies) {
    int64_t best = key(policy, candidates.front());
    for (const Member* m : candidates) best = std::min(best, key(policy, m));
    std::erase_if(candidates, [&](const Member* m) { return key(policy, m) != best; });
    newest = policy == "NewestInstance";
  }
  return newest ? candidates.back() : candidates.front();
}

void FakeEss::KeepCapacity(Group* g) {
  auto forget_gone = [&] {
    std::erase_if(g->members, [&](const Member& m) { return !ecs_->FindLive(m.instance_id); });
  };
  forget_gone();
  if (g->lifecycle != "Active") return;
  const Configuration* c = FindConfiguration(g->active_configuration_id);
  if (c == nullptr) return;
  const bool replace_on_demand = g->spot_auto_replace_on_demand && IsSpot(c->spot_strategy);
  if (replace_on_demand) {
    // A replacement that runs takes over: its on-demand member goes.
    for (Member& m : g->members) {
      std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m.instance_id);
      if (m.replaces.empty() || !v || v->status != "Running") continue;
      ecs_->ReleaseNow(m.replaces);
      m.replaces.clear();
    }
    forget_gone();
  }
  const int64_t count = static_cast<int64_t>(Counted(*g).size());
  const int64_t target = g->desired.value_or(std::clamp(count, g->min_size, g->max_size));
  for (auto counted = Counted(*g); static_cast<int64_t>(counted.size()) > target;
       counted = Counted(*g)) {
    const std::string id = ToRemove(*g, counted)->instance_id;
    ecs_->ReleaseNow(id);
    Forget(g, id);
  }
  if (replace_on_demand) {
    // On-demand members above the group's on-demand share that run get a spot replacement.
    std::vector<std::string> on_demand;
    for (const Member* m : Counted(*g)) {
      std::optional<FakeEcs::GroupMember> v = ecs_->FindLive(m->instance_id);
      if (!IsSpot(v->spot_strategy) && v->status == "Running" && !v->recycling) {
        on_demand.push_back(m->instance_id);
      }
    }
    int64_t extra = static_cast<int64_t>(on_demand.size()) - OnDemandShare(*g, target);
    for (size_t i = 0; i < on_demand.size() && extra > 0; ++i) {
      if (LaunchOne(g, /*spot_only=*/true, on_demand[i])) --extra;
    }
  }
  while (static_cast<int64_t>(Counted(*g).size()) < target && LaunchOne(g, false, "")) {
  }
}

}  // namespace baton::testing
