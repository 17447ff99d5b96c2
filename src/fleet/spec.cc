#include "fleet/spec.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>

#include "fleet/provider.h"

namespace baton::fleet {
namespace {

// Bounds far above any real fleet, so that costs and simulated times stay finite numbers.
constexpr double kMaxPricePerHour = 1e6;
constexpr double kMaxTimeScale = 1e6;

constexpr PolicyKind kPolicies[] = {PolicyKind::kSpotFirst, PolicyKind::kSpotOnly,
                                    PolicyKind::kOnDemand, PolicyKind::kDeadline,
                                    PolicyKind::kAdaptive};

Status ParseZones(const SpecNode& offer, std::vector<std::string>* zones) {
  if (offer.Has("zone") == offer.Has("zones")) {
    return offer.Error("give the offer's zone (zone: z) or zones (zones: [z1, z2]), not both");
  }
  if (offer.Has("zone")) {
    BATON_ASSIGN_OR_RETURN(std::string z, offer.String("zone", ""));
    if (z.empty()) return offer.Error("zone", "must not be empty");
    zones->push_back(z);
    return Status::Ok();
  }
  SpecNode list = offer.Get("zones");
  if (list.size() == 0) return list.Error("expected a non-empty list");
  for (size_t i = 0; i < list.size(); ++i) {
    SpecNode item = list.Item(i);
    Result<std::string> z = item.AsString();
    if (!z.ok() || z->empty()) return item.Error("expected a zone name");
    if (std::find(zones->begin(), zones->end(), *z) != zones->end()) {
      return item.Error(fmt::format("zone '{}' is listed twice", *z));
    }
    zones->push_back(*z);
  }
  return Status::Ok();
}

// One `offers` item: instance type x zones x the billings it has a price for.
Status ParseOffer(const SpecNode& f, std::vector<Offer>* out) {
  BATON_RETURN_IF_ERROR(
      f.CheckKeys({"instance_type", "zone", "zones", "spot", "on_demand", "spot_price_limit"}));
  if (!f.Has("instance_type")) return f.Error("instance_type", "required key is missing");
  BATON_ASSIGN_OR_RETURN(std::string type, f.String("instance_type", ""));
  if (type.empty()) return f.Error("instance_type", "must not be empty");
  std::vector<std::string> zones;
  BATON_RETURN_IF_ERROR(ParseZones(f, &zones));
  if (!f.Has("spot") && !f.Has("on_demand")) {
    return f.Error("give a price per hour for spot, on_demand or both");
  }
  for (const char* key : {"spot", "on_demand"}) {
    if (!f.Has(key)) continue;
    BATON_ASSIGN_OR_RETURN(double price, f.Number(key, 0));
    if (price <= 0 || price > kMaxPricePerHour) {
      return f.Error(
          key, fmt::format("must be a positive price per hour (at most {:g})", kMaxPricePerHour));
    }
    Billing billing = std::string(key) == "spot" ? Billing::kSpot : Billing::kOnDemand;
    for (const std::string& zone : zones) out->push_back(Offer{type, zone, billing, price});
  }
  if (f.Has("spot_price_limit")) {
    if (!f.Has("spot")) return f.Error("spot_price_limit", "is for a spot offer: give `spot` too");
    BATON_ASSIGN_OR_RETURN(double limit, f.Number("spot_price_limit", 0));
    if (limit <= 0 || limit > kMaxPricePerHour) {
      return f.Error("spot_price_limit", fmt::format("must be a positive price per hour (at most "
                                                     "{:g})",
                                                     kMaxPricePerHour));
    }
    for (Offer& o : *out) {
      if (o.instance_type == type && o.billing == Billing::kSpot) o.spot_price_limit = limit;
    }
  }
  return Status::Ok();
}

Status ParseOffers(const SpecNode& fleet, std::vector<Offer>* offers) {
  if (!fleet.Has("offers")) return fleet.Error("offers", "required key is missing");
  SpecNode list = fleet.Get("offers");
  if (list.size() == 0) return list.Error("expected a non-empty list of offers");
  for (size_t i = 0; i < list.size(); ++i) {
    SpecNode item = list.Item(i);
    size_t before = offers->size();
    BATON_RETURN_IF_ERROR(ParseOffer(item, offers));
    for (size_t j = before; j < offers->size(); ++j) {
      for (size_t k = 0; k < before; ++k) {
        if ((*offers)[k].Name() == (*offers)[j].Name()) {
          return item.Error(fmt::format("{} is offered twice", (*offers)[j].Name()));
        }
      }
    }
  }
  // The order the policies rely on: spot first, cheapest first; ties keep the spec's order.
  std::stable_sort(offers->begin(), offers->end(), [](const Offer& a, const Offer& b) {
    if (a.billing != b.billing) return a.billing == Billing::kSpot;
    return a.price_per_hour < b.price_per_hour;
  });
  return Status::Ok();
}

Status ParseOverheads(const SpecNode& fleet, Overheads* o) {
  SpecNode f = fleet.Get("overheads");
  if (!f.present()) return Status::Ok();
  struct Field {
    const char* stem;
    double* out;
  };
  const Field fields[] = {{"boot", &o->boot},
                          {"load", &o->load},
                          {"checkpoint", &o->checkpoint},
                          {"checkpoint_interval", &o->checkpoint_interval},
                          {"notice", &o->notice}};
  std::set<std::string> known;
  for (const Field& field : fields) SpecNode::AddDurationKeys(field.stem, &known);
  BATON_RETURN_IF_ERROR(f.CheckKeys(known));
  for (const Field& field : fields) {
    BATON_ASSIGN_OR_RETURN(std::optional<double> d, f.Duration(field.stem));
    if (d) *field.out = *d;
  }
  return Status::Ok();
}

Status ParseSimStarts(const SpecNode& f, const std::string& stem, std::vector<double>* out) {
  int given = 0;
  for (const auto& [suffix, unit] :
       {std::pair<const char*, double>{"_hours", 3600}, {"_minutes", 60}, {"_seconds", 1}}) {
    SpecNode list = f.Get(stem + suffix);
    if (!list.present()) continue;
    if (++given > 1) return list.Error("give the start points once");
    if (list.size() == 0) return list.Error("expected a non-empty list");
    for (size_t i = 0; i < list.size(); ++i) {
      Result<double> v = list.Item(i).AsNumber();
      if (!v.ok() || *v < 0 || *v * unit > SpecNode::kMaxDurationSeconds) {
        return list.Item(i).Error("expected a non-negative number of at most 100 years");
      }
      out->push_back(*v * unit);
    }
  }
  return Status::Ok();
}

Status ReadPairs(const SpecNode& map, std::vector<std::pair<std::string, std::string>>* out) {
  if (!map.present()) return Status::Ok();
  BATON_RETURN_IF_ERROR(map.ExpectMap());
  for (const std::string& key : map.Keys()) {
    Result<std::string> v = map.Get(key).AsString();
    if (!v.ok() || v->empty()) return map.Error(key, "expected a non-empty string");
    out->emplace_back(key, *v);
  }
  return Status::Ok();
}

// What the cloud sections share: a region id, an optional endpoint, the agent's binary_url, tags
// (none under `reserved` prefixes), the controller's period and its two durations.
struct CloudCommonFields {
  std::string* region;
  std::string* endpoint;
  std::string* binary_url;
  std::vector<std::pair<std::string, std::string>>* tags;
  double* poll_seconds;
  double* stop_grace_seconds;
  const char* backoff_stem;  // "no_stock_backoff" | "no_capacity_backoff"
  double* backoff_seconds;
};

Status ParseCloudCommon(const SpecNode& f, const char* region_example,
                        std::initializer_list<const char*> reserved, const CloudCommonFields& c) {
  if (!f.Has("region")) return f.Error("region", "required key is missing");
  BATON_ASSIGN_OR_RETURN(*c.region, f.String("region", ""));
  if (c.region->empty()) return f.Error("region", "must not be empty");
  for (char ch : *c.region) {
    if (!std::islower(static_cast<unsigned char>(ch)) &&
        !std::isdigit(static_cast<unsigned char>(ch)) && ch != '-') {
      return f.Error("region",
                     fmt::format("'{}' is not a region id (like {})", *c.region, region_example));
    }
  }
  BATON_ASSIGN_OR_RETURN(*c.endpoint, f.String("endpoint", ""));
  if (!c.endpoint->empty() && !c.endpoint->starts_with("http://") &&
      !c.endpoint->starts_with("https://")) {
    return f.Error("endpoint", "must start with http:// or https://");
  }
  BATON_ASSIGN_OR_RETURN(*c.binary_url, f.String("binary_url", ""));
  BATON_RETURN_IF_ERROR(ReadPairs(f.Get("tags"), c.tags));
  for (const auto& [key, value] : *c.tags) {
    for (const char* prefix : reserved) {
      if (key.starts_with(prefix)) {
        return f.Get("tags").Error(
            key, fmt::format("tag keys {}* are reserved", fmt::join(reserved, "*, ")));
      }
    }
  }
  BATON_ASSIGN_OR_RETURN(*c.poll_seconds, f.Number("poll_seconds", 15));
  if (*c.poll_seconds <= 0 || *c.poll_seconds > 3600) {
    return f.Error("poll_seconds", "must be in (0, 3600]");
  }
  for (auto [stem, out] : {std::pair<const char*, double*>{"stop_grace", c.stop_grace_seconds},
                           {c.backoff_stem, c.backoff_seconds}}) {
    BATON_ASSIGN_OR_RETURN(std::optional<double> d, f.Duration(stem));
    if (!d) continue;
    if (*d <= 0) return f.Error(f.DurationKey(stem), "must be positive");
    *out = *d;
  }
  return Status::Ok();
}

// Every offer's zone needs a network of the section's `key` (vswitches, subnets).
Status CheckZonesCovered(const SpecNode& f, const char* key, const char* what,
                         const std::vector<Offer>& offers,
                         const std::function<std::string(const std::string&)>& of) {
  for (const Offer& o : offers) {
    if (of(o.zone).empty()) {
      return f.Error(
          key, fmt::format("no {} for zone {} (offered as {}); add `{}: {}-...`", what, o.zone,
                           o.Name(), o.zone, std::string(key) == "subnets" ? "subnet" : "vsw"));
    }
  }
  return Status::Ok();
}

// The `aliyun` section; `offers` are parsed already (every zone needs a vSwitch).
Status ParseAliyun(const SpecNode& fleet, const std::vector<Offer>& offers, AliyunFleetSpec* a) {
  SpecNode f = fleet.Get("aliyun");
  if (!f.present()) {
    return fleet.Error("aliyun",
                       "required for the aliyun providers: region, image_id, vswitches, "
                       "security_group_id (see docs/aliyun.md)");
  }
  std::set<std::string> known = {"region",       "endpoint",
                                 "image_id",     "vswitches",
                                 "ram_role",     "security_group_id",
                                 "tags",         "system_disk_gb",
                                 "binary_url",   "system_disk_category",
                                 "poll_seconds", "spot_bill"};
  SpecNode::AddDurationKeys("stop_grace", &known);
  SpecNode::AddDurationKeys("no_stock_backoff", &known);
  BATON_RETURN_IF_ERROR(f.CheckKeys(known));
  BATON_RETURN_IF_ERROR(
      ParseCloudCommon(f, "cn-hangzhou", {"baton:", "acs:", "aliyun"},
                       {&a->region, &a->endpoint, &a->binary_url, &a->tags, &a->poll_seconds,
                        &a->stop_grace_seconds, "no_stock_backoff", &a->no_stock_backoff_seconds}));
  for (auto [key, out] : {std::pair<const char*, std::string*>{"image_id", &a->image_id},
                          {"security_group_id", &a->security_group_id}}) {
    if (!f.Has(key)) return f.Error(key, "required key is missing");
    BATON_ASSIGN_OR_RETURN(*out, f.String(key, ""));
    if (out->empty()) return f.Error(key, "must not be empty");
  }
  BATON_ASSIGN_OR_RETURN(a->ram_role, f.String("ram_role", ""));
  BATON_ASSIGN_OR_RETURN(a->system_disk_category, f.String("system_disk_category", ""));
  BATON_ASSIGN_OR_RETURN(int64_t disk, f.Int("system_disk_gb", 0));
  if (disk < 0 || disk > 65536) return f.Error("system_disk_gb", "must be 20..65536 (GiB)");
  a->system_disk_gb = static_cast<int>(disk);
  if (!f.Has("vswitches")) return f.Error("vswitches", "required key is missing");
  BATON_RETURN_IF_ERROR(ReadPairs(f.Get("vswitches"), &a->vswitches));
  BATON_ASSIGN_OR_RETURN(std::string bill, f.String("spot_bill", "offer"));
  if (bill != "offer" && bill != "price_history") {
    return f.Error("spot_bill", fmt::format("'{}': expected offer or price_history", bill));
  }
  a->spot_bill_from_history = bill == "price_history";
  return CheckZonesCovered(f, "vswitches", "vSwitch", offers,
                           [&](const std::string& z) { return a->VSwitchOf(z); });
}

// An EC2 resource id: "<prefix>-" and 8 or 17 lowercase hex digits (subnet-0abc..., sg-...);
// what EC2 would refuse is refused here, naming the key.
bool IsEc2Id(const std::string& id, std::string_view prefix) {
  if (!id.starts_with(prefix) || id.size() <= prefix.size() + 1 || id[prefix.size()] != '-') {
    return false;
  }
  return std::all_of(id.begin() + static_cast<long>(prefix.size()) + 1, id.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

// The `aws` section; `offers` are parsed already (every zone needs a subnet).
Status ParseAws(const SpecNode& fleet, const std::vector<Offer>& offers, AwsFleetSpec* a) {
  SpecNode f = fleet.Get("aws");
  if (!f.present()) {
    return fleet.Error("aws",
                       "required for provider aws: region, image_id, subnets, "
                       "security_group_ids (see docs/aws.md)");
  }
  std::set<std::string> known = {
      "region",           "endpoint", "image_id", "subnets",    "security_group_ids",
      "instance_profile", "key_name", "tags",     "binary_url", "poll_seconds"};
  SpecNode::AddDurationKeys("stop_grace", &known);
  SpecNode::AddDurationKeys("no_capacity_backoff", &known);
  BATON_RETURN_IF_ERROR(f.CheckKeys(known));
  BATON_RETURN_IF_ERROR(ParseCloudCommon(
      f, "us-east-1", {"baton:", "aws:"},
      {&a->region, &a->endpoint, &a->binary_url, &a->tags, &a->poll_seconds, &a->stop_grace_seconds,
       "no_capacity_backoff", &a->no_capacity_backoff_seconds}));
  if (!f.Has("image_id")) return f.Error("image_id", "required key is missing");
  BATON_ASSIGN_OR_RETURN(a->image_id, f.String("image_id", ""));
  if (!IsEc2Id(a->image_id, "ami")) {
    return f.Error("image_id", fmt::format("'{}' is not an AMI id (ami-0abc...)", a->image_id));
  }
  BATON_ASSIGN_OR_RETURN(a->instance_profile, f.String("instance_profile", ""));
  BATON_ASSIGN_OR_RETURN(a->key_name, f.String("key_name", ""));
  if (!f.Has("security_group_ids")) {
    return f.Error("security_group_ids", "required key is missing");
  }
  SpecNode groups = f.Get("security_group_ids");
  if (groups.size() == 0) return groups.Error("expected a non-empty list of sg-... ids");
  for (size_t i = 0; i < groups.size(); ++i) {
    Result<std::string> g = groups.Item(i).AsString();
    if (!g.ok() || !IsEc2Id(*g, "sg")) {
      return groups.Item(i).Error("expected a security group id (sg-0abc...)");
    }
    a->security_group_ids.push_back(*g);
  }
  if (!f.Has("subnets")) return f.Error("subnets", "required key is missing");
  BATON_RETURN_IF_ERROR(ReadPairs(f.Get("subnets"), &a->subnets));
  for (const auto& [zone, subnet] : a->subnets) {
    if (!IsEc2Id(subnet, "subnet")) {
      return f.Get("subnets").Error(
          zone, fmt::format("'{}' is not a subnet id (subnet-0abc...)", subnet));
    }
  }
  return CheckZonesCovered(f, "subnets", "subnet", offers,
                           [&](const std::string& z) { return a->SubnetOf(z); });
}

// The value of `key` in a section's map, "" when it has none.
std::string ValueOf(const std::vector<std::pair<std::string, std::string>>& pairs,
                    const std::string& key) {
  for (const auto& [k, v] : pairs) {
    if (k == key) return v;
  }
  return "";
}

bool HasBilling(const FleetSpec& spec, Billing billing) {
  return std::any_of(spec.offers.begin(), spec.offers.end(),
                     [&](const Offer& o) { return o.billing == billing; });
}

// Why `policy` cannot run on the spec's offers, or nullopt when it can.
std::optional<std::string> PolicyMisfit(const FleetSpec& spec, PolicyKind policy) {
  bool spot = HasBilling(spec, Billing::kSpot), on_demand = HasBilling(spec, Billing::kOnDemand);
  switch (policy) {
    case PolicyKind::kSpotOnly:
      if (!spot) return "spot-only needs an offer with a spot price";
      break;
    case PolicyKind::kOnDemand:
      if (!on_demand) return "on-demand needs an offer with an on_demand price";
      break;
    case PolicyKind::kSpotFirst:
      if (!on_demand) {
        return "spot-first falls back to on-demand and no offer has an on_demand price; use "
               "policy spot-only to wait for spot capacity instead";
      }
      break;
    case PolicyKind::kDeadline:
    case PolicyKind::kAdaptive:
      if (!on_demand) {
        return fmt::format("{} needs an offer with an on_demand price to meet the deadline with",
                           PolicyName(policy));
      }
      if (spec.deadline_seconds <= 0) {
        return fmt::format("{} needs the time to finish in: set fleet.deadline_hours",
                           PolicyName(policy));
      }
      break;
  }
  return std::nullopt;
}

}  // namespace

const char* BillingName(Billing billing) {
  return billing == Billing::kSpot ? "spot" : "on-demand";
}

std::string AliyunFleetSpec::VSwitchOf(const std::string& zone) const {
  return ValueOf(vswitches, zone);
}

std::string AwsFleetSpec::SubnetOf(const std::string& zone) const { return ValueOf(subnets, zone); }

bool IsAliyunProvider(const std::string& provider) {
  return provider == "aliyun" || provider == "aliyun-ess";
}

bool IsCloudProvider(const std::string& provider) {
  return IsAliyunProvider(provider) || provider == "aws";
}

std::string Offer::Name() const {
  return fmt::format("{}@{}/{}", instance_type, zone, BillingName(billing));
}

const char* PolicyName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kSpotFirst:
      return "spot-first";
    case PolicyKind::kSpotOnly:
      return "spot-only";
    case PolicyKind::kOnDemand:
      return "on-demand";
    case PolicyKind::kDeadline:
      return "deadline";
    case PolicyKind::kAdaptive:
      return "adaptive";
  }
  return "?";
}

Result<PolicyKind> ParsePolicyName(const std::string& name) {
  for (PolicyKind k : kPolicies) {
    if (name == PolicyName(k)) return k;
  }
  return InvalidArgument(
      "unknown policy '{}' (known: spot-first, spot-only, on-demand, deadline, adaptive)", name);
}

const char* InstanceStateName(InstanceState state) {
  switch (state) {
    case InstanceState::kBooting:
      return "booting";
    case InstanceState::kLoading:
      return "loading";
    case InstanceState::kStandby:
      return "standby";
    case InstanceState::kRunning:
      return "running";
    case InstanceState::kStopping:
      return "stopping";
    case InstanceState::kEnded:
      return "ended";
  }
  return "?";
}

const char* EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kNone:
      return "none";
    case EndReason::kCompleted:
      return "completed";
    case EndReason::kStopped:
      return "stopped";
    case EndReason::kPreempted:
      return "preempted";
    case EndReason::kKilled:
      return "killed";
    case EndReason::kFailed:
      return "failed";
  }
  return "?";
}

Status CheckPolicyFits(const FleetSpec& spec, PolicyKind policy, const std::string& source) {
  std::optional<std::string> misfit = PolicyMisfit(spec, policy);
  if (misfit) return InvalidArgument("{}: fleet.policy: {}", source, *misfit);
  return Status::Ok();
}

Result<FleetSpec> ParseFleetSpec(const SpecNode& f) {
  std::set<std::string> known = {"capacity",  "policy", "provider", "time_scale", "offers",
                                 "overheads", "market", "max_cost", "aliyun",     "aws"};
  for (const char* stem : {"deadline", "work", "sim_start", "sim_tune_start"}) {
    SpecNode::AddDurationKeys(stem, &known);
  }
  BATON_RETURN_IF_ERROR(f.CheckKeys(known));

  FleetSpec spec;
  BATON_ASSIGN_OR_RETURN(int64_t capacity, f.Int("capacity", 1));
  if (capacity != 1) {
    return f.Error("capacity",
                   "multi-instance runs are not supported: one run keeps one instance, so "
                   "capacity must be 1");
  }
  BATON_ASSIGN_OR_RETURN(std::string policy, f.String("policy", "spot-first"));
  Result<PolicyKind> kind = ParsePolicyName(policy);
  if (!kind.ok()) return f.Error("policy", kind.status().message());
  spec.policy = *kind;
  BATON_ASSIGN_OR_RETURN(spec.provider, f.String("provider", "local"));
  if (spec.provider != "local" && spec.provider != "sim" && !IsCloudProvider(spec.provider)) {
    return f.Error("provider", fmt::format("unknown provider '{}' (known: local, sim, aliyun, "
                                           "aliyun-ess, aws)",
                                           spec.provider));
  }
  BATON_ASSIGN_OR_RETURN(std::optional<double> deadline, f.Duration("deadline"));
  if (deadline) {
    if (*deadline <= 0) return f.Error(f.DurationKey("deadline"), "must be positive");
    spec.deadline_seconds = *deadline;
  }
  BATON_ASSIGN_OR_RETURN(std::optional<double> work, f.Duration("work"));
  if (work) {
    if (*work <= 0) return f.Error(f.DurationKey("work"), "must be positive");
    spec.work_seconds = *work;
  }
  if (spec.provider == "sim" && spec.work_seconds <= 0) {
    return f.Error("work_hours",
                   "the sim provider needs the compute the job takes on one instance");
  }
  BATON_ASSIGN_OR_RETURN(spec.time_scale, f.Number("time_scale", 1));
  if (spec.time_scale <= 0 || spec.time_scale > kMaxTimeScale) {
    return f.Error("time_scale", fmt::format("must be positive and at most {:g}", kMaxTimeScale));
  }
  BATON_RETURN_IF_ERROR(ParseOffers(f, &spec.offers));
  BATON_RETURN_IF_ERROR(ParseOverheads(f, &spec.overheads));
  spec.market = f.Get("market");
  if (!spec.market.IsNull() && !spec.market.IsMap()) {
    return spec.market.Error(fmt::format("expected a mapping, got {}", spec.market.TypeName()));
  }
  BATON_RETURN_IF_ERROR(ParseSimStarts(f, "sim_start", &spec.sim_start_seconds));
  BATON_RETURN_IF_ERROR(ParseSimStarts(f, "sim_tune_start", &spec.sim_tune_start_seconds));
  BATON_ASSIGN_OR_RETURN(spec.max_cost, f.Number("max_cost", 0));
  if (spec.max_cost < 0) return f.Error("max_cost", "must be positive (or 0: no cap)");
  if (f.Has("max_cost") && spec.max_cost == 0) {
    return f.Error("max_cost", "must be positive; leave it out for no cap");
  }
  if (IsAliyunProvider(spec.provider)) {
    BATON_RETURN_IF_ERROR(ParseAliyun(f, spec.offers, &spec.aliyun));
  } else if (f.Has("aliyun")) {
    return f.Error("aliyun", fmt::format("is for the aliyun providers, not '{}'", spec.provider));
  }
  if (spec.provider == "aws") {
    BATON_RETURN_IF_ERROR(ParseAws(f, spec.offers, &spec.aws));
  } else if (f.Has("aws")) {
    return f.Error("aws", fmt::format("is for provider aws, not '{}'", spec.provider));
  }
  if (std::optional<std::string> misfit = PolicyMisfit(spec, spec.policy)) {
    return f.Error("policy", *misfit);
  }
  return spec;
}

}  // namespace baton::fleet
