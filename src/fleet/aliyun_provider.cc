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

constexpr char kRunTag[] = "baton:run";
static_assert(std::string_view(kRunTag) == kAliyunRunTag);
constexpr char kOfferTag[] = "baton:offer";
// DescribeInstances may not list an instance for a moment after RunInstances answered.
constexpr double kListingLagSeconds = 120;
// An instance whose agent never heartbeats, or falls silent, is broken: delete and relaunch.
constexpr double kNoHeartbeatSeconds = 30 * 60;
constexpr double kSilentSeconds = 10 * 60;
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

Result<EndReason> ParseEndReason(const std::string& name) {
  for (EndReason r : {EndReason::kNone, EndReason::kCompleted, EndReason::kStopped,
                      EndReason::kPreempted, EndReason::kKilled, EndReason::kFailed}) {
    if (name == EndReasonName(r)) return r;
  }
  return Corruption("unknown end reason '{}'", name);
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

std::string NewClientToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("baton-{:016x}{:016x}", rng(), rng());
}

Result<std::string> AliyunUserData(const AliyunFleetSpec& aliyun, const std::string& job_url,
                                   const std::string& baton_path, bool handoff) {
  ServiceOptions service;
  service.baton_path = baton_path;
  service.job = job_url;
  service.handoff = handoff;
  BATON_ASSIGN_OR_RETURN(std::string user_data, CloudInitUserData(service, aliyun.binary_url));
  return Base64Encode(user_data);
}

bool IsNoCapacity(const AliyunError& error) {
  return ClassifyAliyunError(error.code, error.http_status) == AliyunErrorKind::kNoCapacity;
}

AliyunProvider::AliyunProvider(FleetSpec spec, AliyunClient* client, Store* store,
                               AliyunProviderOptions options)
    : spec_(std::move(spec)),
      client_(client),
      store_(store),
      options_(std::move(options)),
      env_(options_.env ? options_.env : Env::Default()) {}

Result<std::unique_ptr<AliyunProvider>> AliyunProvider::Open(const FleetSpec& spec,
                                                             AliyunClient* client, Store* store,
                                                             AliyunProviderOptions options) {
  std::unique_ptr<AliyunProvider> p(new AliyunProvider(spec, client, store, std::move(options)));
  BATON_RETURN_IF_ERROR(p->Load());
  BATON_RETURN_IF_ERROR(p->Refresh());
  return p;
}

int64_t AliyunProvider::UnixMs(double t) const {
  return ledger_.started_unix_ms + static_cast<int64_t>(std::llround(t * 1000));
}

double AliyunProvider::Now() {
  return static_cast<double>(static_cast<int64_t>(env_->NowMicros() / 1000) -
                             ledger_.started_unix_ms) /
         1000.0;
}

void AliyunProvider::Print(const std::string& line) const {
  if (options_.print) options_.print(line);
}

int AliyunProvider::OfferIndex(const std::string& name) const {
  for (size_t i = 0; i < spec_.offers.size(); ++i) {
    if (spec_.offers[i].Name() == name) return static_cast<int>(i);
  }
  return -1;
}

AliyunProvider::Tracked* AliyunProvider::Find(const std::string& id) {
  for (Tracked& t : instances_) {
    if (t.info.id == id) return &t;
  }
  return nullptr;
}

Status AliyunProvider::Load() {
  BATON_ASSIGN_OR_RETURN(std::optional<FleetLedger> ledger, ReadFleetLedger(store_));
  if (!ledger) {
    ledger_.run = options_.run;
    ledger_.provider = spec_.provider;
    ledger_.region = spec_.aliyun.region;
    ledger_.started_unix_ms = static_cast<int64_t>(env_->NowMicros() / 1000);
    return Status::Ok();
  }
  const std::string where = JoinKey(store_->Url(), kFleetLedgerKey);
  if (ledger->run != options_.run) {
    return FailedPrecondition("{}: the fleet of run '{}' is kept here, not of '{}'", where,
                              ledger->run, options_.run);
  }
  if (ledger->region != spec_.aliyun.region || ledger->provider != spec_.provider) {
    return FailedPrecondition(
        "{}: this run's fleet is on {} in {}; the job says {} in {}. Run `baton fleet down` with "
        "the old job first",
        where, ledger->provider, ledger->region, spec_.provider, spec_.aliyun.region);
  }
  ledger_ = std::move(*ledger);
  for (const LedgerInstance& l : ledger_.instances) {
    Tracked t;
    t.info.id = l.id;
    t.info.offer = OfferIndex(l.offer);
    if (t.info.offer < 0) {
      return FailedPrecondition(
          "{}: instance {} ran on {}, which the job does not offer any more; put the offer back "
          "(its price bills the run)",
          where, l.id, l.offer);
    }
    auto at = [&](int64_t ms) {
      return ms > 0 ? static_cast<double>(ms - ledger_.started_unix_ms) / 1000.0 : -1.0;
    };
    t.info.handoff = l.handoff;
    t.info.launched_at = at(l.launched_unix_ms);
    t.info.running_at = at(l.running_unix_ms);
    t.info.ended_at = at(l.ended_unix_ms);
    t.info.detail = l.detail;
    t.info.billed_cost = l.billed_cost;
    if (l.billed_cost >= 0) t.billed_at = at(l.ended_unix_ms);  // final: not asked again
    t.stop_at = at(l.stop_unix_ms);
    t.noticed = l.notice_unix_ms > 0;
    t.notice_at = at(l.notice_unix_ms);
    t.delete_at = at(l.delete_unix_ms);
    if (l.ended_unix_ms > 0) {
      t.info.state = InstanceState::kEnded;
      Result<EndReason> reason = ParseEndReason(l.end_reason);
      if (!reason.ok()) return reason.status().WithContext(where);
      t.info.end_reason = *reason;
    } else if (t.stop_at >= 0 || t.noticed || t.delete_at >= 0) {
      t.info.state = InstanceState::kStopping;
    }
    instances_.push_back(std::move(t));
  }
  if (options_.read_only) return Status::Ok();
  // A stop the last controller saved may not have reached the bucket: ask again (the request is
  // the same document; an agent that already obeyed it has exited). Deletions are asked again by
  // the first Refresh, for the instances the cloud still lists.
  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded || t.stop_at < 0 || t.delete_at >= 0) continue;
    BATON_RETURN_IF_ERROR(WriteStop(t, "the fleet asked it to stop (again, after a restart)"));
  }
  return Status::Ok();
}

Status AliyunProvider::WriteStop(const Tracked& t, const std::string& reason) {
  StopRequest request;
  request.instance = t.info.id;
  request.reason = reason;
  request.unix_ms = UnixMs(t.stop_at);
  return WriteStopRequest(store_, request);
}

double AliyunProvider::EndTime(const Tracked& t, double now) const {
  double end = now;
  // Deleted by a controller: released then, also when it is only seen gone after a restart.
  if (t.delete_at >= 0) end = std::min(end, t.delete_at);
  // Gone while no controller watched (this one never saw it listed): a reclaim releases it at
  // the end of its notice.
  if (!t.seen && t.noticed && t.notice_at >= 0) {
    end = std::min(end, t.notice_at + kReclaimNoticeSeconds);
  }
  return std::max(end, t.info.launched_at);
}

Status AliyunProvider::SaveLedger() {
  if (options_.read_only) return Status::Ok();
  ledger_.instances.clear();
  for (const Tracked& t : instances_) {
    auto ms = [&](double at) { return at >= 0 ? UnixMs(at) : 0; };
    LedgerInstance l;
    l.id = t.info.id;
    l.offer = spec_.offers[t.info.offer].Name();
    l.handoff = t.info.handoff;
    l.launched_unix_ms = ms(t.info.launched_at);
    l.running_unix_ms = ms(t.info.running_at);
    l.stop_unix_ms = ms(t.stop_at);
    l.notice_unix_ms = !t.noticed         ? 0
                       : t.notice_at >= 0 ? ms(t.notice_at)
                                          : std::max<int64_t>(1, l.launched_unix_ms);
    l.delete_unix_ms = ms(t.delete_at);
    l.ended_unix_ms = t.info.state == InstanceState::kEnded ? ms(t.info.ended_at) : 0;
    l.end_reason = t.info.state == InstanceState::kEnded ? EndReasonName(t.info.end_reason) : "";
    l.detail = t.info.detail;
    l.billed_cost = t.info.state == InstanceState::kEnded ? t.info.billed_cost : -1;
    ledger_.instances.push_back(std::move(l));
  }
  Status s = WriteFleetLedger(store_, ledger_);
  if (!s.ok()) return s.WithContext("writing the fleet ledger");
  return s;
}

Status AliyunProvider::SetStoppedReason(const std::string& reason) {
  ledger_.stopped_reason = reason;
  return SaveLedger();
}

bool AliyunProvider::HasCapacity(int offer) {
  auto stock = in_stock_.find(offer);
  if (stock != in_stock_.end() && !stock->second) return false;
  auto it = no_capacity_until_.find(offer);
  return it == no_capacity_until_.end() || Now() >= it->second;
}

Status AliyunProvider::RefreshStock() {
  std::map<int, bool> stock;
  std::map<std::pair<std::string, bool>, Json> answers;  // (type, spot) -> answer
  for (size_t i = 0; i < spec_.offers.size(); ++i) {
    const Offer& o = spec_.offers[i];
    const bool spot = o.billing == Billing::kSpot;
    auto key = std::make_pair(o.instance_type, spot);
    if (!answers.count(key)) {
      RpcParams q;
      q.Set("RegionId", spec_.aliyun.region)
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

Result<std::string> AliyunProvider::RunInstance(int offer, bool handoff) {
  const Offer& o = spec_.offers[offer];
  const AliyunFleetSpec& a = spec_.aliyun;
  BATON_ASSIGN_OR_RETURN(std::string user_data,
                         AliyunUserData(a, options_.job_url, options_.baton_path, handoff));
  RpcParams p;
  p.Set("RegionId", a.region)
      .Set("ZoneId", o.zone)
      .Set("VSwitchId", a.VSwitchOf(o.zone))
      .Set("ImageId", a.image_id)
      .Set("InstanceType", o.instance_type)
      .Set("SecurityGroupId", a.security_group_id)
      .Set("InstanceChargeType", "PostPaid")
      .Set("Amount", 1)
      .Set("InstanceName", AliyunName(options_.run, 128))
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
  tag(kRunTag, options_.run);
  tag(kOfferTag, o.Name());
  for (const auto& [k, v] : a.tags) tag(k, v);
  p.SetStructList("Tag", tags);

  AliyunError error;
  Result<Json> answer = client_->Call(AliyunService::kEcs, "RunInstances", p, &error);
  if (!answer.ok()) {
    if (IsNoCapacity(error)) {
      no_capacity_until_[offer] = Now() + a.no_stock_backoff_seconds;
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

Result<std::string> AliyunProvider::Launch(int offer, bool handoff) {
  if (options_.read_only) return FailedPrecondition("the fleet is open read-only");
  if (scale_to_zero_) return FailedPrecondition("the fleet is scaling to zero");
  if (!HasCapacity(offer)) return Unavailable("no capacity (backing off)");
  BATON_ASSIGN_OR_RETURN(std::string id, RunInstance(offer, handoff));
  Tracked t;
  t.info.id = id;
  t.info.offer = offer;
  t.info.handoff = handoff;
  t.info.launched_at = Now();
  instances_.push_back(std::move(t));
  if (Status s = SaveLedger(); !s.ok()) {
    // The instance is tagged with the run: a later look adopts it even without the ledger.
    Print(fmt::format("aliyun fleet: warning: launched {} but {}", id, s.ToString()));
  }
  return id;
}

Status AliyunProvider::DeleteInstance(Tracked& t, const std::string& why) {
  if (options_.read_only) return Status::Ok();
  if (t.delete_at < 0) {
    // Saved before it is asked: a controller that dies in between asks again after a restart,
    // and bills the instance to here, never counts it as gone without notice.
    t.delete_at = Now();
    BATON_RETURN_IF_ERROR(SaveLedger());
  }
  RpcParams p;
  p.Set("InstanceId", t.info.id).Set("Force", true);
  AliyunError error;
  Result<Json> r = client_->Call(AliyunService::kEcs, "DeleteInstance", p, &error);
  if (!r.ok() && ClassifyAliyunError(error.code, error.http_status) != AliyunErrorKind::kNotFound) {
    return r.status();
  }
  t.deleted = true;
  Print(fmt::format("aliyun fleet: deleted {} ({})", t.info.id, why));
  return Status::Ok();
}

void AliyunProvider::End(Tracked& t, EndReason reason, const std::string& detail) {
  t.info.state = InstanceState::kEnded;
  t.info.end_reason = reason;
  t.info.ended_at = EndTime(t, Now());
  if (!detail.empty()) t.info.detail = detail;
  changed_ = true;
  if (!options_.read_only) {
    if (Status s = DeleteStopRequest(store_, t.info.id); !s.ok()) {
      Print("aliyun fleet: warning: " + s.ToString());
    }
  }
}

Status AliyunProvider::Stop(const std::string& id) {
  Tracked* t = Find(id);
  if (!t || t->info.state == InstanceState::kEnded || t->stop_at >= 0) return Status::Ok();
  if (options_.read_only) return FailedPrecondition("the fleet is open read-only");
  const double now = Now();
  if (!t->track.state) {
    // No agent runs yet, and one that starts later ignores an older request: delete it.
    BATON_RETURN_IF_ERROR(DeleteInstance(*t, "stopped before its agent started"));
    End(*t, EndReason::kStopped, "stopped while booting");
    return SaveLedger();
  }
  // Saved before the request is written: a restarted controller writes it again (Load).
  t->stop_at = now;
  t->info.state = InstanceState::kStopping;
  changed_ = true;
  BATON_RETURN_IF_ERROR(SaveLedger());
  return WriteStop(*t, scale_to_zero_ ? "the fleet scales to zero" : "the fleet moves the run");
}

Status AliyunProvider::SetDesiredCapacity(int n) {
  if (n > 0) {
    scale_to_zero_ = false;
    return Status::Ok();
  }
  scale_to_zero_ = true;
  for (Tracked& t : instances_) {
    if (t.info.state != InstanceState::kEnded) BATON_RETURN_IF_ERROR(Stop(t.info.id));
  }
  return Status::Ok();
}

Status AliyunProvider::DeleteAll(const std::string& why) {
  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded) continue;
    BATON_RETURN_IF_ERROR(DeleteInstance(t, why));
    End(t, EndReason::kStopped, why);
  }
  return SaveLedger();
}

Status AliyunProvider::Refresh() {
  const double now = Now();
  changed_ = false;
  if (Status s = RefreshStock(); !s.ok()) {
    in_stock_.clear();
    if (!stock_warned_) {
      stock_warned_ = true;
      Print("aliyun fleet: warning: no stock information (" + s.ToString() +
            "); offers count as in stock until RunInstances says otherwise");
    }
  }
  std::map<std::string, Json> listed;
  RpcParams q;
  q.Set("RegionId", spec_.aliyun.region).Set("Tag.1.Key", kRunTag).Set("Tag.1.Value", options_.run);
  BATON_RETURN_IF_ERROR(PaginateNextToken(
      client_, AliyunService::kEcs, "DescribeInstances", q, 100, [&](const Json& page) {
        for (const Json& i : AliyunList(page, "Instances", "Instance")) {
          listed[JsonStringOr(i, "InstanceId")] = i;
        }
        return Status::Ok();
      }));

  // Instances of this run that the ledger does not know: launched just before a crash.
  for (const auto& [id, inst] : listed) {
    if (id.empty() || Find(id)) continue;
    BATON_RETURN_IF_ERROR(ValidateInstanceId(id));
    int offer = OfferIndex(TagValue(inst, kOfferTag));
    if (offer < 0) {
      return FailedPrecondition(
          "ECS instance {} is tagged {}={} but not with an offer of this job ({}={}); delete it "
          "or put its offer back into the job",
          id, kRunTag, options_.run, kOfferTag, TagValue(inst, kOfferTag));
    }
    Tracked t;
    t.info.id = id;
    t.info.offer = offer;
    Result<int64_t> created = ParseEcsTime(JsonStringOr(inst, "CreationTime"));
    t.info.launched_at =
        created.ok() ? static_cast<double>(*created - ledger_.started_unix_ms) / 1000.0 : now;
    t.info.launched_at = std::min(t.info.launched_at, now);
    Print(fmt::format("aliyun fleet: found {} on {} (not in the ledger): adopting it", id,
                      spec_.offers[offer].Name()));
    instances_.push_back(std::move(t));
    changed_ = true;
  }

  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded) continue;
    auto it = listed.find(t.info.id);
    const bool found = it != listed.end();
    if (found && t.delete_at >= 0 && !t.deleted && !options_.read_only) {
      // The last controller asked for the deletion and may have died before the cloud heard.
      BATON_RETURN_IF_ERROR(DeleteInstance(t, "asked again after a controller restart"));
    }
    if (found) {
      t.seen = true;
      if (HasRecyclingLock(it->second) && !t.noticed) {
        t.noticed = true;
        t.notice_at = now;
        t.info.state = InstanceState::kStopping;
        t.info.detail = "reclaim notice (Recycling)";
        changed_ = true;
      }
    }
    if (t.track.Poll(store_, now, &t.info, &changed_)) {
      Print(fmt::format("aliyun fleet: {} training from step {}", t.info.id,
                        static_cast<int64_t>(std::max(0.0, t.info.start_work))));
    }
    if (t.track.Final()) {
      AgentState s = *t.track.state;
      EndReason reason = s == AgentState::kComplete ? EndReason::kCompleted
                         : s == AgentState::kFailed ? EndReason::kFailed
                         : t.noticed                ? EndReason::kPreempted
                                                    : EndReason::kStopped;
      std::string detail = fmt::format("agent {}", AgentStateName(s));
      if (t.track.last && t.track.last->stop_to_checkpoint_seconds) {
        detail +=
            fmt::format(", checkpoint in {:.1f} s", *t.track.last->stop_to_checkpoint_seconds);
      }
      if (t.noticed) detail = "reclaim notice, " + detail;
      if (found && !t.deleted) {
        if (options_.read_only) continue;
        BATON_RETURN_IF_ERROR(DeleteInstance(t, detail));
      }
      End(t, reason, detail);
      continue;
    }
    if (!found) {
      if (!t.seen && now - t.info.launched_at < kListingLagSeconds) continue;
      if (t.deleted || t.delete_at >= 0) {
        End(t, EndReason::kStopped, "");
      } else if (t.noticed) {
        End(t, EndReason::kKilled, "released after the reclaim notice, before it checkpointed");
      } else {
        End(t, EndReason::kKilled, "gone without notice");
      }
      continue;
    }
    if (options_.read_only) continue;
    const int64_t now_ms = UnixMs(now);
    std::string broken;
    if (t.stop_at >= 0 && now - t.stop_at > spec_.aliyun.stop_grace_seconds) {
      broken = fmt::format("no checkpoint within the stop grace ({})",
                           FormatHours(spec_.aliyun.stop_grace_seconds));
    } else if (!t.track.last && now - t.info.launched_at > kNoHeartbeatSeconds) {
      broken = fmt::format("no heartbeat {} after launch", FormatHours(kNoHeartbeatSeconds));
    } else if (t.track.last && static_cast<double>(now_ms - t.track.last->updated_unix_ms) / 1000 >
                                   kSilentSeconds) {
      broken = fmt::format("its agent has been silent for {}", FormatHours(kSilentSeconds));
    }
    if (!broken.empty()) {
      BATON_RETURN_IF_ERROR(DeleteInstance(t, broken));
      End(t, t.stop_at >= 0 ? EndReason::kStopped : EndReason::kFailed, broken);
    }
  }
  if (spec_.aliyun.spot_bill_from_history) RefreshBills();
  if (changed_) BATON_RETURN_IF_ERROR(SaveLedger());
  return Status::Ok();
}

// DescribeSpotPriceHistory (notes 2.3): RegionId, NetworkType vpc, InstanceType, ZoneId,
// StartTime / EndTime (UTC yyyy-MM-ddTHH:mm:ssZ), Offset -> NextOffset; SpotPrices.SpotPriceType[]
// {SpotPrice, Timestamp}. A price holds from its timestamp to the next one; the one in force at
// the launch is the last before it, so the look starts an hour earlier.
Result<double> AliyunProvider::SpotCostFromHistory(const Offer& offer, double from, double to) {
  const int64_t from_ms = UnixMs(from), to_ms = UnixMs(to);
  std::vector<std::pair<int64_t, double>> points;
  RpcParams q;
  q.Set("RegionId", spec_.aliyun.region)
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
  const double now = Now();
  for (Tracked& t : instances_) {
    const Offer& offer = spec_.offers[t.info.offer];
    if (offer.billing != Billing::kSpot) continue;
    const bool ended = t.info.state == InstanceState::kEnded;
    if (ended && t.info.billed_cost >= 0 && t.billed_at >= t.info.ended_at) continue;
    if (!ended && t.billed_at >= 0 && now - t.billed_at < 60) continue;
    Result<double> cost =
        SpotCostFromHistory(offer, t.info.launched_at, ended ? t.info.ended_at : now);
    if (!cost.ok()) {
      if (!bill_warned_) {
        bill_warned_ = true;
        Print("aliyun fleet: warning: spot prices from the history: " + cost.status().ToString() +
              "; billing at the offer's price meanwhile");
      }
      continue;
    }
    t.info.billed_cost = *cost;
    t.billed_at = ended ? t.info.ended_at : now;
    changed_ = changed_ || ended;
  }
}

std::optional<Heartbeat> AliyunProvider::HeartbeatOf(const std::string& id) const {
  for (const Tracked& t : instances_) {
    if (t.info.id == id) return t.track.last;
  }
  return std::nullopt;
}

std::vector<Instance> AliyunProvider::Instances() {
  std::vector<Instance> out;
  for (const Tracked& t : instances_) out.push_back(t.info);
  return out;
}

RunProgress AliyunProvider::Progress() {
  std::vector<const AgentTrack*> tracks;
  std::vector<const Instance*> infos;
  for (const Tracked& t : instances_) {
    tracks.push_back(&t.track);
    infos.push_back(&t.info);
  }
  RunProgress r = ProgressOf(tracks, infos);
  end_watch_.Read(
      store_, [this](const std::string& s) { Print("aliyun fleet: " + s); }, &r);
  return r;
}

double AliyunProvider::Advance(double until) {
  double now = Now();
  double wait = std::min(until - now, spec_.aliyun.poll_seconds);
  if (wait > 0) env_->SleepMicros(static_cast<uint64_t>(wait * 1e6));
  if (Status s = Refresh(); !s.ok()) {
    Print("aliyun fleet: warning: " + s.ToString() + " (tried again next poll)");
  }
  return Now();
}

}  // namespace baton::fleet
