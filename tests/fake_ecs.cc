// FakeEcs: the ECS 2014-05-26 actions of the fake Alibaba Cloud (see fake_aliyun.h).
// Shapes, parameters and codes follow shared/notes/cloud-apis.md: 2.1 (wrapped lists, error
// bodies, MissingParameter / InvalidParameter / IdempotentParameterMismatch 400, paging both
// ways) and 2.3 (RunInstances, DescribeInstances, DescribeAvailableResource, OperationLocks with
// "Recycling", OperationDenied.NoStock 403). DescribeRegions / DescribeZones follow
// AlibabaCloudDocs/ecs "intl.en-US/API Reference/Regions/DescribeRegions.md" and
// ".../DescribeZones.md". Where the notes name a code without its HTTP status the fake says
// which it chose [I]: DryRunOperation 400, IncorrectInstanceStatus 403,
// InvalidInstanceId.NotFound and InvalidRegionId.NotFound 404.
//
// A parameter the fake does not know is refused (InvalidParameter naming it) rather than
// ignored, so that a typo in a client fails here instead of on the real service.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>

#include "cloud/metadata_time.h"
#include "fake_aliyun.h"
#include "fake_rpc_params.h"

namespace baton::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

struct FakeEcs::Instance {
  uint64_t sequence = 0;  // creation order; NextToken points at one
  std::string id, region_id, zone_id, vswitch_id, instance_type, image_id, security_group_id;
  std::string name, host_name, charge_type, spot_strategy;
  double spot_price_limit = 0;
  int64_t spot_duration = 0;
  std::string ram_role, user_data;
  std::vector<std::pair<std::string, std::string>> tags;
  std::string scaling_group_id;  // "" unless ESS launched it
  Json params;
  std::string status = "Pending";  // Pending | Running | Deleted | Reclaimed
  int64_t created_ms = 0, boot_at_ms = 0, started_ms = 0, released_ms = 0;
  int64_t reclaim_at_ms = 0;   // 0: no reclaim
  std::shared_ptr<FakeVm> vm;  // shared only so that RunInstances can copy a template

  bool live() const { return status == "Pending" || status == "Running"; }
};

FakeEcs::FakeEcs(Config config) : config_(std::move(config)), id_salt_(std::random_device{}()) {}

FakeEcs::~FakeEcs() { PowerOffAll(); }

std::optional<RpcAnswer> FakeEcs::Handle(const std::string& action, const Json& params) {
  Advance();
  if (action == "DescribeRegions") return DescribeRegions(params);
  if (action == "DescribeZones") return DescribeZones(params);
  if (action == "RunInstances") return RunInstances(params);
  if (action == "DescribeInstances") return DescribeInstances(params);
  if (action == "DeleteInstance") return DeleteInstance(params);
  if (action == "DescribeAvailableResource") return DescribeAvailableResource(params);
  if (action == "DescribeSpotPriceHistory") return DescribeSpotPriceHistory(params);
  return std::nullopt;
}

// --- regions and zones ------------------------------------------------------------------------

const FakeAliyunRegion* FakeEcs::FindRegion(const std::string& region_id) const {
  for (const auto& r : config_.regions) {
    if (r.region_id == region_id) return &r;
  }
  return nullptr;
}

std::optional<FakeEcs::Zone> FakeEcs::ZoneOfVSwitch(const std::string& vswitch_id) const {
  for (const auto& r : config_.regions) {
    for (const auto& z : r.zones) {
      if (Contains(z.vswitch_ids, vswitch_id)) return Zone{&r, &z};
    }
  }
  return std::nullopt;
}

RpcAnswer FakeEcs::DescribeRegions(const Json&) const {
  Json list = Json::array();
  for (const auto& r : config_.regions) {
    list.push_back({{"RegionId", r.region_id},
                    {"RegionEndpoint", endpoint_host_},
                    {"LocalName", r.local_name},
                    {"Status", "available"}});
  }
  return RpcAnswer::Ok({{"Regions", {{"Region", list}}}});
}

RpcAnswer FakeEcs::DescribeZones(const Json& params) const {
  ParamReader r(params, "ECS");
  std::string region_id = r.String("RegionId", /*required=*/true);
  FAKE_RPC_RETURN_IF_ERROR(r);
  const FakeAliyunRegion* region = FindRegion(region_id);
  if (region == nullptr) return RegionNotFound();
  Json zones = Json::array();
  for (const auto& z : region->zones) {
    zones.push_back(
        {{"ZoneId", z.zone_id},
         {"LocalName", z.local_name},
         {"AvailableInstanceTypes", {{"InstanceTypes", z.instance_types}}},
         {"AvailableResourceCreation", {{"ResourceTypes", Json::array({"Instance", "Disk"})}}}});
  }
  return RpcAnswer::Ok({{"Zones", {{"Zone", zones}}}});
}

// --- stock -------------------------------------------------------------------------------------

void FakeEcs::SetStock(const std::string& zone_id, bool spot, bool available) {
  stock_[{zone_id, spot}] = available;
}

bool FakeEcs::InStock(const std::string& zone_id, bool spot) const {
  auto it = stock_.find({zone_id, spot});
  return it == stock_.end() || it->second;
}

// notes 2.3 DescribeAvailableResource: DestinationResource InstanceType only (what a
// spot-first provider asks), Status Available | SoldOut with StatusCategory WithStock |
// WithoutStock, per zone and per instance type.
RpcAnswer FakeEcs::DescribeAvailableResource(const Json& params) const {
  ParamReader r(params, "ECS");
  r.OnlyKnown({"RegionId", "DestinationResource", "ZoneId", "InstanceChargeType", "SpotStrategy",
               "InstanceType", "IoOptimized", "NetworkCategory", "ResourceType"});
  std::string region_id = r.String("RegionId", true);
  r.OneOf("DestinationResource", {"InstanceType"}, "");
  if (!r.Has("DestinationResource")) r.Fail(Missing("DestinationResource"));
  std::string zone_id = r.String("ZoneId");
  r.OneOf("InstanceChargeType", {"PostPaid"}, "PostPaid");
  std::string strategy =
      r.OneOf("SpotStrategy", {"NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"}, "NoSpot");
  std::string type = r.String("InstanceType");
  FAKE_RPC_RETURN_IF_ERROR(r);
  const FakeAliyunRegion* region = FindRegion(region_id);
  if (region == nullptr) return RegionNotFound();
  bool spot = strategy != "NoSpot";
  Json zones = Json::array();
  for (const auto& z : region->zones) {
    if (!zone_id.empty() && z.zone_id != zone_id) continue;
    bool stock = InStock(z.zone_id, spot);
    const char* status = stock ? "Available" : "SoldOut";
    const char* category = stock ? "WithStock" : "WithoutStock";
    Json supported = Json::array();
    for (const auto& t : z.instance_types) {
      if (!type.empty() && t != type) continue;
      supported.push_back({{"Value", t}, {"Status", status}, {"StatusCategory", category}});
    }
    if (supported.empty()) continue;
    zones.push_back(
        {{"ZoneId", z.zone_id},
         {"RegionId", region->region_id},
         {"Status", status},
         {"StatusCategory", category},
         {"AvailableResources",
          {{"AvailableResource",
            Json::array({{{"Type", "InstanceType"},
                          {"SupportedResources", {{"SupportedResource", supported}}}}})}}}});
  }
  return RpcAnswer::Ok({{"AvailableZones", {{"AvailableZone", zones}}}});
}

void FakeEcs::SetSpotPrice(const std::string& zone_id, const std::string& instance_type,
                           int64_t unix_ms, double price) {
  auto& points = spot_prices_[{zone_id, instance_type}];
  points.emplace_back(unix_ms, price);
  std::sort(points.begin(), points.end());
}

// notes 2.3 DescribeSpotPriceHistory: RegionId, NetworkType and InstanceType required; ZoneId,
// IoOptimized, OSType, SpotDuration, StartTime / EndTime (UTC yyyy-MM-ddTHH:mm:ssZ; the start
// defaults to 3 h before the end, at most 30 days back), Offset. The points inside the window,
// two a page (so that clients page), NextOffset 0 on the last page.
RpcAnswer FakeEcs::DescribeSpotPriceHistory(const Json& params) const {
  ParamReader r(params, "ECS");
  r.OnlyKnown({"RegionId", "NetworkType", "InstanceType", "ZoneId", "IoOptimized", "OSType",
               "SpotDuration", "StartTime", "EndTime", "Offset"});
  std::string region_id = r.String("RegionId", true);
  r.OneOf("NetworkType", {"vpc", "classic"}, "");
  if (!r.Has("NetworkType")) r.Fail(Missing("NetworkType"));
  std::string type = r.String("InstanceType", true);
  std::string zone_id = r.String("ZoneId");
  int64_t offset = r.Int("Offset", 0, 1000000, 0);
  std::string start_text = r.String("StartTime"), end_text = r.String("EndTime");
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (FindRegion(region_id) == nullptr) return RegionNotFound();
  int64_t end = FakeNowMs();
  if (!end_text.empty()) {
    Result<int64_t> t = ParseRfc3339Ms(end_text);
    if (!t.ok()) return Invalid("EndTime", "expected yyyy-MM-ddTHH:mm:ssZ");
    end = *t;
  }
  int64_t start = end - 3 * 3600 * 1000;
  if (!start_text.empty()) {
    Result<int64_t> t = ParseRfc3339Ms(start_text);
    if (!t.ok()) return Invalid("StartTime", "expected yyyy-MM-ddTHH:mm:ssZ");
    start = *t;
  }
  if (start > end) return Invalid("StartTime", "is after EndTime");
  if (end - start > int64_t{30} * 24 * 3600 * 1000) {
    return Invalid("StartTime", "looks back more than 30 days");
  }
  Json points = Json::array();
  for (const auto& [key, series] : spot_prices_) {
    if (key.second != type || (!zone_id.empty() && key.first != zone_id)) continue;
    for (const auto& [at, price] : series) {
      if (at < start || at > end) continue;
      points.push_back({{"ZoneId", key.first},
                        {"InstanceType", type},
                        {"SpotPrice", price},
                        {"OriginPrice", price * 4},
                        {"Timestamp", FormatRfc3339(at)},
                        {"NetworkType", "vpc"},
                        {"IoOptimized", "optimized"}});
    }
  }
  constexpr int64_t kPage = 2;
  Json page = Json::array();
  for (int64_t i = offset; i < static_cast<int64_t>(points.size()) && i < offset + kPage; ++i) {
    page.push_back(points[i]);
  }
  int64_t next = offset + kPage < static_cast<int64_t>(points.size()) ? offset + kPage : 0;
  return RpcAnswer::Ok(
      {{"Currency", "CNY"}, {"NextOffset", next}, {"SpotPrices", {{"SpotPriceType", page}}}});
}

// --- RunInstances ------------------------------------------------------------------------------

RpcAnswer FakeEcs::RunInstances(const Json& params) {
  ParamReader r(params, "ECS");
  r.OnlyKnown({"RegionId",
               "ImageId",
               "InstanceType",
               "SecurityGroupId",
               "VSwitchId",
               "ZoneId",
               "InstanceChargeType",
               "SpotStrategy",
               "SpotPriceLimit",
               "SpotDuration",
               "SpotInterruptionBehavior",
               "Amount",
               "MinAmount",
               "UserData",
               "RamRoleName",
               "InstanceName",
               "HostName",
               "Description",
               "SystemDisk",  // SystemDisk.Size / .Category (notes 2.3 "Other")
               "Tag",
               "ClientToken",
               "DryRun"});
  std::string region_id = r.String("RegionId", true);
  FAKE_RPC_RETURN_IF_ERROR(r);
  const FakeAliyunRegion* region = FindRegion(region_id);
  if (region == nullptr) return RegionNotFound();

  auto inst = std::make_unique<Instance>();
  inst->region_id = region_id;
  inst->image_id = r.String("ImageId", true);
  inst->instance_type = r.String("InstanceType", true);
  inst->security_group_id = r.String("SecurityGroupId", true);
  inst->vswitch_id = r.String("VSwitchId", true);
  std::string zone_param = r.String("ZoneId");
  inst->charge_type = r.OneOf("InstanceChargeType", {"PostPaid"}, "PostPaid");
  inst->spot_strategy =
      r.OneOf("SpotStrategy", {"NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"}, "NoSpot");
  bool spot = inst->spot_strategy != "NoSpot";
  if (inst->spot_strategy == "SpotWithPriceLimit") {
    std::string limit = r.String("SpotPriceLimit", true);
    if (!limit.empty()) {
      char* end = nullptr;
      inst->spot_price_limit = std::strtod(limit.c_str(), &end);
      if (*end != '\0' || !(inst->spot_price_limit > 0)) {
        r.Fail(Invalid("SpotPriceLimit", "'" + limit + "' is not a price above 0"));
      }
    }
  }
  inst->spot_duration = r.Int("SpotDuration", 0, 6, spot ? 1 : 0);
  r.OneOf("SpotInterruptionBehavior", {"Terminate"}, "Terminate");
  int64_t amount = r.Int("Amount", 1, 100, 1);
  r.Int("MinAmount", 1, amount, amount);
  std::string user_data = r.String("UserData");
  inst->ram_role = r.String("RamRoleName");
  inst->name = r.String("InstanceName");
  inst->host_name = r.String("HostName");
  r.String("Description");
  inst->tags = r.Tags();
  std::string token = r.String("ClientToken");
  bool dry_run = r.Bool("DryRun", false);
  FAKE_RPC_RETURN_IF_ERROR(r);

  if (!user_data.empty()) {
    Result<std::string> raw = DecodeBase64(user_data);
    if (!raw.ok()) return Invalid("UserData", "not base64: " + raw.status().message());
    if (raw->size() > kMaxUserDataBytes) {
      return Invalid("UserData",
                     fmt::format("{} bytes decoded, at most {}", raw->size(), kMaxUserDataBytes));
    }
    inst->user_data = *raw;
  }
  if (!ValidClientToken(token)) {
    return Invalid("ClientToken", "at most 64 printable ASCII characters");
  }
  if (!Contains(config_.image_ids, inst->image_id)) {
    return Invalid("ImageId", "no image '" + inst->image_id + "' in " + region_id);
  }
  if (!Contains(config_.security_group_ids, inst->security_group_id)) {
    return Invalid("SecurityGroupId", "no security group '" + inst->security_group_id + "'");
  }
  std::optional<Zone> zone = ZoneOfVSwitch(inst->vswitch_id);
  if (!zone || zone->region != region) {
    return Invalid("VSwitchId", "no vSwitch '" + inst->vswitch_id + "' in " + region_id);
  }
  inst->zone_id = zone->zone->zone_id;
  if (!zone_param.empty() && zone_param != inst->zone_id) {
    return Invalid("ZoneId", "the vSwitch '" + inst->vswitch_id + "' is in zone " + inst->zone_id +
                                 ", not " + zone_param);
  }
  if (!Contains(zone->zone->instance_types, inst->instance_type)) {
    return Invalid("InstanceType",
                   "'" + inst->instance_type + "' is not offered in zone " + inst->zone_id);
  }

  if (std::optional<RpcAnswer> again = client_tokens_.Replay(token, params)) return *again;
  if (!InStock(inst->zone_id, spot)) {
    return RpcAnswer::Error(403, "OperationDenied.NoStock",
                            "The resource is out of stock in the specified zone. Please try "
                            "other types, or choose other regions and zones.");
  }
  // [I] A dry run checks the stock too: Alibaba's RunInstances page counts unavailable
  // resources among a dry run's checks (from memory of that page; the notes do not say).
  if (dry_run) {
    return RpcAnswer::Error(400, "DryRunOperation",
                            "Request validation has been passed with DryRun flag set.");
  }

  inst->params = params;
  Json ids = Json::array();
  for (int64_t i = 0; i < amount; ++i) ids.push_back(AddInstance(*inst)->id);
  // The fake has no prices (see fake_aliyun.h): TradePrice is 0.
  Json answer = {{"InstanceIdSets", {{"InstanceIdSet", ids}}}, {"TradePrice", 0.0}};
  client_tokens_.Remember(token, params, answer);
  return RpcAnswer::Ok(answer);
}

FakeEcs::Instance* FakeEcs::AddInstance(const Instance& prototype) {
  auto one = std::make_unique<Instance>(prototype);
  one->created_ms = FakeNowMs();
  one->boot_at_ms = one->created_ms + static_cast<int64_t>(config_.host.boot_seconds * 1000);
  one->sequence = next_sequence_++;
  one->id = fmt::format("i-{:04x}{:016x}", one->sequence, id_salt_ ^ (one->sequence * 0x9e37));
  if (one->name.empty()) one->name = one->id;
  if (one->host_name.empty()) one->host_name = "iZ" + one->id.substr(2) + "Z";
  instances_.push_back(std::move(one));
  return instances_.back().get();
}

// --- DescribeInstances -------------------------------------------------------------------------

Json FakeEcs::Describe(const Instance& i) const {
  Json locks = Json::array();
  if (i.reclaim_at_ms > 0) {
    // notes 2.3: the reason is "recycling" in the list, "Recycling" in the example and samples.
    locks.push_back({{"LockReason", "Recycling"},
                     {"LockMsg", "The preemptible instance is locked and pending for release."}});
  }
  Json tags = Json::array();
  for (const auto& [k, v] : i.tags) tags.push_back({{"TagKey", k}, {"TagValue", v}});
  return {{"InstanceId", i.id},
          {"InstanceName", i.name},
          {"HostName", i.host_name},
          {"Status", i.status},
          {"RegionId", i.region_id},
          {"ZoneId", i.zone_id},
          {"InstanceType", i.instance_type},
          {"ImageId", i.image_id},
          {"InstanceChargeType", i.charge_type},
          {"SpotStrategy", i.spot_strategy},
          {"SpotPriceLimit", i.spot_price_limit},
          {"SpotDuration", i.spot_duration},
          {"CreationTime", MinuteTime(i.created_ms)},
          {"StartTime", MinuteTime(i.started_ms)},
          {"OperationLocks", {{"LockReason", locks}}},
          {"Tags", {{"Tag", tags}}},
          {"VpcAttributes", {{"VSwitchId", i.vswitch_id}}},
          {"SecurityGroupIds", {{"SecurityGroupId", Json::array({i.security_group_id})}}}};
}

RpcAnswer FakeEcs::DescribeInstances(const Json& params) {
  ParamReader r(params, "ECS");
  r.OnlyKnown({"RegionId", "InstanceIds", "ZoneId", "Status", "InstanceChargeType", "LockReason",
               "VSwitchId", "Tag", "PageNumber", "PageSize", "NextToken", "MaxResults"});
  std::string region_id = r.String("RegionId", true);
  std::string ids_text = r.String("InstanceIds");
  std::string zone_id = r.String("ZoneId");
  std::string status =
      r.OneOf("Status", {"Pending", "Running", "Starting", "Stopping", "Stopped"}, "");
  std::string charge = r.OneOf("InstanceChargeType", {"PrePaid", "PostPaid"}, "");
  std::string lock = r.String("LockReason");
  std::string vswitch = r.String("VSwitchId");
  auto tags = r.Tags();
  int64_t page_number = r.Int("PageNumber", 1, 1 << 30, 1);
  int64_t page_size = r.Int("PageSize", 1, 100, 10);
  int64_t max_results = r.Int("MaxResults", 1, 100, 10);
  std::string next_token = r.String("NextToken");
  FAKE_RPC_RETURN_IF_ERROR(r);
  if (FindRegion(region_id) == nullptr) return RegionNotFound();

  // notes 2.1: InstanceIds is a JSON array string, at most 100.
  std::optional<std::vector<std::string>> ids;
  if (!ids_text.empty()) {
    Json list = Json::parse(ids_text, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array() || list.size() > 100 ||
        !std::all_of(list.begin(), list.end(), [](const Json& j) { return j.is_string(); })) {
      return Invalid("InstanceIds", "expected a JSON array of at most 100 ids, as [\"i-a\"]");
    }
    ids = list.get<std::vector<std::string>>();
  }
  uint64_t from_sequence = 0;
  if (!next_token.empty()) {
    auto [end, ec] = std::from_chars(next_token.data(), next_token.data() + next_token.size(),
                                     from_sequence, 16);
    if (ec != std::errc() || end != next_token.data() + next_token.size()) {
      return Invalid("NextToken", "not a token this service handed out");
    }
  }

  std::vector<const Instance*> matching;
  for (const auto& i : instances_) {
    if (!i->live() || i->region_id != region_id) continue;
    if (ids && !Contains(*ids, i->id)) continue;
    if (!zone_id.empty() && i->zone_id != zone_id) continue;
    if (!status.empty() && i->status != status) continue;
    if (!charge.empty() && i->charge_type != charge) continue;
    if (!vswitch.empty() && i->vswitch_id != vswitch) continue;
    if (!lock.empty() && (i->reclaim_at_ms == 0 || Lower(lock) != "recycling")) continue;
    bool tagged = std::all_of(tags.begin(), tags.end(), [&](const auto& want) {
      return std::any_of(i->tags.begin(), i->tags.end(), [&](const auto& have) {
        return have.first == want.first && (want.second.empty() || have.second == want.second);
      });
    });
    if (tagged) matching.push_back(i.get());
  }

  // notes 2.1: NextToken (or MaxResults) selects token paging, and PageNumber / PageSize are
  // then ignored. Both ways the answer carries the token of the next page ("" at the end): a
  // token is the creation sequence of the page's first instance, so deletions between pages skip
  // nothing.
  bool by_token = !next_token.empty() || r.Has("MaxResults");
  size_t start = 0, count = 0;
  if (by_token) {
    while (start < matching.size() && matching[start]->sequence < from_sequence) ++start;
    count = static_cast<size_t>(max_results);
  } else {
    start = std::min(matching.size(), static_cast<size_t>((page_number - 1) * page_size));
    count = static_cast<size_t>(page_size);
  }
  size_t end = std::min(matching.size(), start + count);
  Json list = Json::array();
  for (size_t k = start; k < end; ++k) list.push_back(Describe(*matching[k]));
  Json answer = {{"Instances", {{"Instance", list}}},
                 {"TotalCount", matching.size()},
                 {"NextToken", end < matching.size() ? fmt::format("{:x}", matching[end]->sequence)
                                                     : std::string()}};
  if (!by_token) {
    answer["PageNumber"] = page_number;
    answer["PageSize"] = page_size;
  }
  return RpcAnswer::Ok(answer);
}

// --- DeleteInstance and the instances' lives ---------------------------------------------------

FakeEcs::Instance* FakeEcs::Live(const std::string& instance_id) {
  for (auto& i : instances_) {
    if (i->id == instance_id && i->live()) return i.get();
  }
  return nullptr;
}

void FakeEcs::Release(Instance* instance, const std::string& status) {
  if (instance->vm) instance->vm->PowerOff();
  instance->status = status;
  instance->released_ms = FakeNowMs();
}

RpcAnswer FakeEcs::DeleteInstance(const Json& params) {
  ParamReader r(params, "ECS");
  r.OnlyKnown({"InstanceId", "Force", "DryRun"});
  std::string id = r.String("InstanceId", true);
  bool force = r.Bool("Force", false);
  bool dry_run = r.Bool("DryRun", false);
  FAKE_RPC_RETURN_IF_ERROR(r);
  Instance* instance = Live(id);
  if (instance == nullptr) {
    return RpcAnswer::Error(404, "InvalidInstanceId.NotFound",
                            "The specified InstanceId does not exist.");
  }
  // Only a Stopped instance is released without Force; the fake has no Stopped ones.
  if (!force) {
    return RpcAnswer::Error(403, "IncorrectInstanceStatus",
                            "The current status of the resource does not support this "
                            "operation: " +
                                instance->status + " needs Force=true.");
  }
  if (dry_run) {
    return RpcAnswer::Error(400, "DryRunOperation",
                            "Request validation has been passed with DryRun flag set.");
  }
  Release(instance, "Deleted");
  return RpcAnswer::Ok(Json::object());
}

void FakeEcs::Advance() {
  int64_t now = FakeNowMs();
  for (auto& i : instances_) {
    if (i->live() && i->reclaim_at_ms > 0 && now >= i->reclaim_at_ms) Release(i.get(), "Reclaimed");
    if (i->status == "Pending" && now >= i->boot_at_ms && !powered_off_) {
      FakeVmSpec spec{i->id, i->user_data, i->ram_role, "http://" + endpoint_host_};
      Result<std::unique_ptr<FakeVm>> vm = FakeVm::Boot(config_.host, spec);
      if (vm.ok()) {
        i->vm = std::move(*vm);
        if (i->reclaim_at_ms > 0) i->vm->ScheduleTermination(i->reclaim_at_ms);
      } else {
        std::fprintf(stderr, "fake ECS: %s boots without its machine: %s\n", i->id.c_str(),
                     vm.status().ToString().c_str());
      }
      i->status = "Running";
      i->started_ms = now;
    }
    if (i->vm) i->vm->Reap();
  }
}

void FakeEcs::PowerOffAll() {
  powered_off_ = true;
  for (auto& i : instances_) {
    if (i->vm) i->vm->PowerOff();
  }
}

Status FakeEcs::Reclaim(const std::string& instance_id) {
  Advance();
  Instance* i = Live(instance_id);
  if (i == nullptr) return NotFound("no instance {}", instance_id);
  if (i->spot_strategy == "NoSpot") {
    return FailedPrecondition("{} is an on-demand instance: only spot ones are reclaimed",
                              instance_id);
  }
  if (i->reclaim_at_ms > 0) return FailedPrecondition("{} is already being reclaimed", instance_id);
  int64_t now = FakeNowMs();
  int64_t notice_ms = static_cast<int64_t>(config_.host.notice_seconds * 1000);
  if (notice_ms <= 0) {
    Release(i, "Reclaimed");
    return Status::Ok();
  }
  i->reclaim_at_ms = now + notice_ms;
  if (i->vm) i->vm->ScheduleTermination(i->reclaim_at_ms);
  return Status::Ok();
}

Status FakeEcs::Signal(const std::string& instance_id, bool pause) {
  Advance();
  Instance* i = Live(instance_id);
  if (i == nullptr) return NotFound("no instance {}", instance_id);
  if (!i->vm) return FailedPrecondition("{} has not booted", instance_id);
  return pause ? i->vm->Pause() : i->vm->Resume();
}

std::vector<FakeInstanceSnapshot> FakeEcs::Snapshot() {
  Advance();
  std::vector<FakeInstanceSnapshot> out;
  for (const auto& i : instances_) {
    FakeInstanceSnapshot s;
    s.instance_id = i->id;
    s.zone_id = i->zone_id;
    s.instance_type = i->instance_type;
    s.spot_strategy = i->spot_strategy;
    s.status = i->status;
    s.recycling = i->live() && i->reclaim_at_ms > 0;
    s.created_unix_ms = i->created_ms;
    s.released_unix_ms = i->released_ms;
    s.run_params = i->params;
    s.scaling_group_id = i->scaling_group_id;
    if (i->vm) {
      s.process_alive = i->vm->process_alive();
      s.pid = i->vm->pid();
      s.exit_code = i->vm->exit_code();
      s.agent_argv = i->vm->argv();
      s.agent_log = i->vm->log_path();
      if (i->live()) s.metadata_url = i->vm->metadata_url();
    }
    out.push_back(std::move(s));
  }
  return out;
}

// --- the instances of ESS's scaling groups ------------------------------------------------------

Result<std::string> FakeEcs::LaunchForGroup(const GroupLaunch& launch) {
  if (powered_off_) return FailedPrecondition("the fake cloud is stopping");
  std::optional<Zone> zone = ZoneOfVSwitch(launch.vswitch_id);
  if (!zone || zone->region->region_id != launch.region_id) {
    return InvalidArgument("no vSwitch '{}' in {}", launch.vswitch_id, launch.region_id);
  }
  const bool spot = launch.spot_strategy != "NoSpot";
  if (!Contains(zone->zone->instance_types, launch.instance_type)) {
    return Unavailable("zone {} does not offer {}", zone->zone->zone_id, launch.instance_type);
  }
  if (!InStock(zone->zone->zone_id, spot)) {
    return Unavailable("zone {} has no {} stock", zone->zone->zone_id, spot ? "spot" : "on-demand");
  }
  Instance inst;
  inst.region_id = launch.region_id;
  inst.zone_id = zone->zone->zone_id;
  inst.vswitch_id = launch.vswitch_id;
  inst.instance_type = launch.instance_type;
  inst.image_id = launch.image_id;
  inst.security_group_id = launch.security_group_id;
  inst.name = launch.instance_name;
  inst.host_name = launch.host_name;
  inst.charge_type = "PostPaid";
  inst.spot_strategy = launch.spot_strategy;
  inst.spot_price_limit = launch.spot_price_limit;
  inst.spot_duration = spot ? 1 : 0;
  inst.ram_role = launch.ram_role;
  inst.user_data = launch.user_data;
  inst.tags = launch.tags;
  inst.scaling_group_id = launch.scaling_group_id;
  inst.params = launch.params;
  return AddInstance(inst)->id;
}

std::optional<FakeEcs::GroupMember> FakeEcs::FindLive(const std::string& instance_id) {
  Instance* i = Live(instance_id);
  if (i == nullptr) return std::nullopt;
  return GroupMember{i->status, i->zone_id, i->spot_strategy, i->reclaim_at_ms > 0, i->created_ms};
}

void FakeEcs::ReleaseNow(const std::string& instance_id) {
  if (Instance* i = Live(instance_id)) Release(i, "Deleted");
}

}  // namespace baton::testing
