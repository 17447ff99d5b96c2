#include "fleet/aliyun_provider.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>

#include "base/json.h"
#include "cloud/agent_service.h"
#include "cloud/aliyun_signer.h"
#include "cloud/metadata_time.h"
#include "fleet/report.h"

namespace baton::fleet {
namespace {

// Alibaba releases a spot instance 5 minutes after its reclaim notice (shared/notes/cloud-apis.md).
constexpr double kReclaimNoticeSeconds = 5 * 60;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// ECS writes CreationTime to the minute: "2017-12-10T04:04Z".
Result<int64_t> ParseEcsTime(std::string text) {
  Result<int64_t> t = ParseRfc3339Ms(text);
  if (!t.ok() && text.size() == 17 && text.back() == 'Z') {
    text.insert(16, ":00");
    t = ParseRfc3339Ms(text);
  }
  return t;
}

std::string TagValue(const Json& instance, std::string_view key) {
  for (const Json& tag : AliyunList(instance, "Tags", "Tag")) {
    if (JsonStringOr(tag, "TagKey") == key) return JsonStringOr(tag, "TagValue");
  }
  return "";
}

bool HasRecyclingLock(const Json& instance) {
  for (const Json& lock : AliyunList(instance, "OperationLocks", "LockReason")) {
    if (EqualsIgnoreCase(JsonStringOr(lock, "LockReason"), "recycling")) return true;
  }
  return false;
}

}  // namespace

// ECS InstanceName: 2-128 characters, a letter first, then letters, digits, '.', '_', '-', ':';
// ESS group and configuration names: 2-64, letters, digits, '_', '-', '.'.
std::string AliyunName(const std::string& run, size_t max) {
  std::string name = "baton-";
  for (char c : run) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    name += ok ? c : '-';
  }
  return name.substr(0, max);
}

Result<std::string> AliyunUserData(const AliyunFleetSpec& aliyun, const std::string& job_url,
                                   const std::string& baton_path, bool handoff) {
  CloudProviderOptions where;
  where.job_url = job_url;
  where.baton_path = baton_path;
  BATON_ASSIGN_OR_RETURN(std::string user_data, AgentUserData(where, aliyun.binary_url, handoff));
  return Base64Encode(user_data);
}

bool IsNoCapacity(const AliyunError& error) {
  return ClassifyAliyunError(error.code, error.http_status) == AliyunErrorKind::kNoCapacity;
}

AliyunProvider::AliyunProvider(const FleetSpec& spec, AliyunClient* client, Store* store,
                               AliyunProviderOptions options)
    : CloudProvider(spec, store, std::move(options), CloudTimingsOf(spec, kReclaimNoticeSeconds)),
      client_(client) {}

Result<std::unique_ptr<AliyunProvider>> AliyunProvider::Open(const FleetSpec& spec,
                                                             AliyunClient* client, Store* store,
                                                             AliyunProviderOptions options) {
  std::unique_ptr<AliyunProvider> p(new AliyunProvider(spec, client, store, std::move(options)));
  BATON_RETURN_IF_ERROR(p->CloudProvider::Open());
  return p;
}

bool AliyunProvider::InStock(int offer) const {
  auto stock = in_stock_.find(offer);
  return stock == in_stock_.end() || stock->second;
}

void AliyunProvider::RefreshStock() {
  if (Status s = LookUpStock(); !s.ok()) {
    in_stock_.clear();
    if (!stock_warned_) {
      stock_warned_ = true;
      Print("warning: no stock information (" + s.ToString() +
            "); offers count as in stock until RunInstances says otherwise");
    }
  }
}

Status AliyunProvider::LookUpStock() {
  std::map<int, bool> stock;
  std::map<std::pair<std::string, bool>, Json> answers;  // (type, spot) -> answer
  for (size_t i = 0; i < spec().offers.size(); ++i) {
    const Offer& o = spec().offers[i];
    const bool spot = o.billing == Billing::kSpot;
    auto key = std::make_pair(o.instance_type, spot);
    if (!answers.count(key)) {
      RpcParams q;
      q.Set("RegionId", spec().aliyun.region)
          .Set("DestinationResource", "InstanceType")
          .Set("InstanceChargeType", "PostPaid")
          .Set("SpotStrategy", spot ? "SpotAsPriceGo" : "NoSpot")
          .Set("InstanceType", o.instance_type);
      BATON_ASSIGN_OR_RETURN(answers[key],
                             client_->Call(AliyunService::kEcs, "DescribeAvailableResource", q));
    }
    // notes 2.3: AvailableZones.AvailableZone[].AvailableResources.AvailableResource[]
    //   .SupportedResources.SupportedResource[].{Value, Status, StatusCategory}; a zone that is
    //   not listed has none.
    bool has = false;
    for (const Json& z : AliyunList(answers[key], "AvailableZones", "AvailableZone")) {
      if (JsonStringOr(z, "ZoneId") != o.zone) continue;
      for (const Json& r : AliyunList(z, "AvailableResources", "AvailableResource")) {
        for (const Json& t : AliyunList(r, "SupportedResources", "SupportedResource")) {
          if (JsonStringOr(t, "Value") != o.instance_type) continue;
          std::string category = JsonStringOr(t, "StatusCategory");
          has = has || (JsonStringOr(t, "Status") == "Available" && category != "WithoutStock" &&
                        category != "ClosedWithoutStock");
        }
      }
    }
    stock[static_cast<int>(i)] = has;
  }
  in_stock_ = std::move(stock);
  return Status::Ok();
}

Result<std::string> AliyunProvider::LaunchOne(int offer, bool handoff) {
  const Offer& o = spec().offers[offer];
  const AliyunFleetSpec& a = spec().aliyun;
  BATON_ASSIGN_OR_RETURN(std::string user_data,
                         AliyunUserData(a, options().job_url, options().baton_path, handoff));
  RpcParams p;
  p.Set("RegionId", a.region)
      .Set("ZoneId", o.zone)
      .Set("VSwitchId", a.VSwitchOf(o.zone))
      .Set("ImageId", a.image_id)
      .Set("InstanceType", o.instance_type)
      .Set("SecurityGroupId", a.security_group_id)
      .Set("InstanceChargeType", "PostPaid")
      .Set("Amount", 1)
      .Set("InstanceName", AliyunName(options().run, 128))
      .Set("UserData", user_data)
      .Set("ClientToken", NewClientToken());
  if (o.billing == Billing::kSpot) {
    if (o.spot_price_limit > 0) {
      p.Set("SpotStrategy", "SpotWithPriceLimit")
          .Set("SpotPriceLimit", fmt::format("{:.3f}", o.spot_price_limit));
    } else {
      p.Set("SpotStrategy", "SpotAsPriceGo");
    }
    p.Set("SpotInterruptionBehavior", "Terminate");
  } else {
    p.Set("SpotStrategy", "NoSpot");
  }
  if (!a.ram_role.empty()) p.Set("RamRoleName", a.ram_role);
  if (a.system_disk_gb > 0) p.Set("SystemDisk.Size", a.system_disk_gb);
  if (!a.system_disk_category.empty()) p.Set("SystemDisk.Category", a.system_disk_category);
  std::vector<RpcParams> tags;
  auto tag = [&](const std::string& k, const std::string& v) {
    RpcParams t;
    t.Set("Key", k).Set("Value", v);
    tags.push_back(std::move(t));
  };
  tag(kCloudRunTag, options().run);
  tag(kCloudOfferTag, o.Name());
  for (const auto& [k, v] : a.tags) tag(k, v);
  p.SetStructList("Tag", tags);

  AliyunError error;
  Result<Json> answer = client_->Call(AliyunService::kEcs, "RunInstances", p, &error);
  if (!answer.ok()) {
    if (IsNoCapacity(error)) {
      MarkNoCapacity(offer);
      return Unavailable("no capacity ({}: {}); tried again after {}", error.code, error.message,
                         FormatHours(a.no_stock_backoff_seconds));
    }
    return answer.status();
  }
  Json ids = AliyunList(*answer, "InstanceIdSets", "InstanceIdSet");
  if (ids.size() != 1 || !ids[0].is_string()) {
    return Internal("ECS RunInstances answered {} instance ids, want 1: {}", ids.size(),
                    DumpJson(*answer));
  }
  std::string id = ids[0].get<std::string>();
  BATON_RETURN_IF_ERROR(ValidateInstanceId(id));
  return id;
}

Status AliyunProvider::DeleteOne(const std::string& id) {
  RpcParams p;
  p.Set("InstanceId", id).Set("Force", true);
  AliyunError error;
  Result<Json> r = client_->Call(AliyunService::kEcs, "DeleteInstance", p, &error);
  if (!r.ok() && ClassifyAliyunError(error.code, error.http_status) != AliyunErrorKind::kNotFound) {
    return r.status();
  }
  return Status::Ok();
}

Status AliyunProvider::ListRun(std::map<std::string, CloudListing>* out) {
  RpcParams q;
  q.Set("RegionId", spec().aliyun.region)
      .Set("Tag.1.Key", kCloudRunTag)
      .Set("Tag.1.Value", options().run);
  return PaginateNextToken(
      client_, AliyunService::kEcs, "DescribeInstances", q, 100, [&](const Json& page) {
        for (const Json& i : AliyunList(page, "Instances", "Instance")) {
          CloudListing l;
          l.offer = TagValue(i, kCloudOfferTag);
          Result<int64_t> created = ParseEcsTime(JsonStringOr(i, "CreationTime"));
          if (created.ok()) l.created_unix_ms = *created;
          l.notice = HasRecyclingLock(i);
          l.notice_detail = "reclaim notice (Recycling)";
          (*out)[JsonStringOr(i, "InstanceId")] = std::move(l);
        }
        return Status::Ok();
      });
}

// DescribeSpotPriceHistory (notes 2.3): RegionId, NetworkType vpc, InstanceType, ZoneId,
// StartTime / EndTime (UTC yyyy-MM-ddTHH:mm:ssZ), Offset -> NextOffset; SpotPrices.SpotPriceType[]
// {SpotPrice, Timestamp}. A price holds from its timestamp to the next one; the one in force at
// the launch is the last before it, so the look starts an hour earlier.
Result<double> AliyunProvider::SpotCostFromHistory(const Offer& offer, double from, double to) {
  const int64_t from_ms = UnixMs(from), to_ms = UnixMs(to);
  std::vector<std::pair<int64_t, double>> points;
  RpcParams q;
  q.Set("RegionId", spec().aliyun.region)
      .Set("NetworkType", "vpc")
      .Set("InstanceType", offer.instance_type)
      .Set("ZoneId", offer.zone)
      .Set("StartTime", FormatRfc3339(from_ms - 3600 * 1000))
      .Set("EndTime", FormatRfc3339(to_ms + 1000));
  for (int page = 0; page < 1000; ++page) {
    BATON_ASSIGN_OR_RETURN(Json answer,
                           client_->Call(AliyunService::kEcs, "DescribeSpotPriceHistory", q));
    for (const Json& p : AliyunList(answer, "SpotPrices", "SpotPriceType")) {
      Result<int64_t> at = ParseRfc3339Ms(JsonStringOr(p, "Timestamp"));
      auto price = p.find("SpotPrice");
      if (!at.ok() || price == p.end() || !price->is_number()) {
        return Corruption(
            "ECS DescribeSpotPriceHistory: a price point without Timestamp or "
            "SpotPrice: {}",
            DumpJson(p));
      }
      points.emplace_back(*at, price->get<double>());
    }
    int64_t next = 0;
    if (answer.contains("NextOffset")) {
      Result<int64_t> offset = JsonAsInt(answer["NextOffset"]);
      if (!offset.ok()) {
        return Corruption("ECS DescribeSpotPriceHistory: NextOffset: {}",
                          offset.status().message());
      }
      next = *offset;
    }
    if (next <= 0 || AliyunList(answer, "SpotPrices", "SpotPriceType").empty()) break;
    q.Set("Offset", next);
  }
  if (points.empty()) {
    return NotFound("ECS DescribeSpotPriceHistory has no price of {} in {}", offer.instance_type,
                    offer.zone);
  }
  std::sort(points.begin(), points.end());
  double cost = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    int64_t start = i == 0 ? std::min(points[i].first, from_ms) : points[i].first;
    int64_t end = i + 1 < points.size() ? points[i + 1].first : to_ms;
    int64_t a = std::max(start, from_ms), b = std::min(end, to_ms);
    if (b > a) cost += static_cast<double>(b - a) / 3.6e6 * points[i].second;
  }
  return cost;
}

void AliyunProvider::RefreshBills() {
  if (!spec().aliyun.spot_bill_from_history) return;
  const double now = Now();
  for (Tracked& t : tracked()) {
    const Offer& offer = spec().offers[t.info.offer];
    if (offer.billing != Billing::kSpot) continue;
    const bool ended = t.info.state == InstanceState::kEnded;
    if (ended && t.info.billed_cost >= 0 && t.billed_at >= t.info.ended_at) continue;
    if (!ended && t.billed_at >= 0 && now - t.billed_at < 60) continue;
    Result<double> cost =
        SpotCostFromHistory(offer, t.info.launched_at, ended ? t.info.ended_at : now);
    if (!cost.ok()) {
      if (!bill_warned_) {
        bill_warned_ = true;
        Print("warning: spot prices from the history: " + cost.status().ToString() +
              "; billing at the offer's price meanwhile");
      }
      continue;
    }
    t.info.billed_cost = *cost;
    t.billed_at = ended ? t.info.ended_at : now;
    if (ended) MarkChanged();
  }
}

}  // namespace baton::fleet
