#include "run/layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "base/strings.h"

namespace baton {
namespace {

constexpr std::string_view kPrefix = "checkpoint-";
constexpr std::string_view kStagingInfix = ".partial-";
constexpr std::string_view kAsideInfix = ".replaced-";

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What NewNonce-like generators give: lower-case hex digits (ckpt/checkpoint_manager.cc uses 16).
bool IsNonce(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// A canonical non-negative decimal: no sign, no leading zero (except "0"), fits in int64.
std::optional<int64_t> ParseStep(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int64_t step = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    step = step * 10 + (c - '0');
  }
  return step;
}

}  // namespace

std::string CheckpointDir(int64_t step) { return fmt::format("{}{}", kPrefix, step); }

std::string StagingDir(int64_t step, std::string_view nonce) {
  return fmt::format("{}{}{}", CheckpointDir(step), kStagingInfix, nonce);
}

std::optional<int64_t> ParseCheckpointDir(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  return ParseStep(name.substr(kPrefix.size()));
}

std::optional<int64_t> ParseLeftoverDir(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  size_t dot = name.find(kStagingInfix);
  if (dot == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> step = ParseStep(name.substr(0, dot));
  std::string_view nonce = name.substr(dot + kStagingInfix.size());
  // A filesystem store moves a folder it replaces aside as "<staging>.replaced-<pid>-<n>"
  // (store/file_store.cc): a leftover of the same commit.
  if (size_t aside = nonce.find(kAsideInfix); aside != std::string_view::npos) {
    std::string_view tail = nonce.substr(aside + kAsideInfix.size());
    size_t dash = tail.find('-');
    if (dash == std::string_view::npos || !IsDigits(tail.substr(0, dash)) ||
        !IsDigits(tail.substr(dash + 1))) {
      return std::nullopt;
    }
    nonce = nonce.substr(0, aside);
  }
  if (!step || !IsNonce(nonce)) return std::nullopt;
  return step;
}

std::optional<int64_t> ParseCheckpointPath(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.find_last_of('/');
  return ParseCheckpointDir(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

Status ValidateInstanceId(std::string_view instance) {
  return ValidatePathSegment(instance, "instance id");
}

std::string HeartbeatKey(std::string_view instance) {
  return fmt::format("agents/{}.json", instance);
}

std::string StopRequestKey(std::string_view instance) {
  return fmt::format("fleet/stop/{}.json", instance);
}

bool IsRunKey(std::string_view key) {
  if (key == kCompleteMarkerName || key == kLeaseName || key == kRunLogName ||
      key == kScaleToZeroKey || key == kFleetJobKey || key == kFleetLedgerKey ||
      key == kFleetEventsKey || key == kReportPageName) {
    return true;
  }
  // The plots `baton train` drew: images/<name>.png, one level (a user's images/x/ is theirs).
  if (key.starts_with(kImagesFolder) && key.ends_with(".png")) {
    return ValidatePathSegment(key.substr(std::string_view(kImagesFolder).size()), "plot").ok();
  }
  // One document per instance: agents/<id>.json, fleet/stop/<id>.json.
  for (std::string_view folder : {"agents/", "fleet/stop/", "fleet/rebalance/"}) {
    if (!key.starts_with(folder) || !key.ends_with(".json")) continue;
    std::string_view id = key.substr(folder.size(), key.size() - folder.size() - 5);
    return ValidateInstanceId(id).ok();
  }
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view dir = key.substr(0, slash);
  return ParseCheckpointDir(dir).has_value() || ParseLeftoverDir(dir).has_value();
}

Result<size_t> DeleteRunObjects(Store* store) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(""));
  size_t kept = 0;
  for (const std::string& key : keys) {
    if (!IsRunKey(key)) {
      ++kept;
      continue;
    }
    BATON_RETURN_IF_ERROR(store->Delete(key));
  }
  return kept;
}

namespace {

constexpr char kCompleteFormat[] = "baton-complete";
constexpr char kHeartbeatFormat[] = "baton-heartbeat";
constexpr char kScaleToZeroFormat[] = "baton-scale-to-zero";
constexpr char kStopFormat[] = "baton-stop";
constexpr char kLedgerFormat[] = "baton-fleet-ledger";
constexpr char kEventsFormat[] = "baton-fleet-events";

// Parses a document of `format`: a JSON object whose "format" is that and whose "version" is an
// integer >= 1 (newer versions only add fields).
Result<Json> ParseDocument(std::string_view text, const std::string& source,
                           std::string_view format) {
  BATON_ASSIGN_OR_RETURN(Json j, ParseJson(text, source));
  if (!j.is_object()) return Corruption("{}: want a JSON object", source);
  BATON_ASSIGN_OR_RETURN(std::string got, JsonString(j, "format", source));
  if (got != format) return Corruption("{}: format '{}', want '{}'", source, got, format);
  BATON_ASSIGN_OR_RETURN(int64_t version, JsonInt(j, "version", source));
  if (version < 1) return Corruption("{}: version {}, want 1 or newer", source, version);
  return j;
}

Json NewDocument(std::string_view format) { return Json{{"format", format}, {"version", 1}}; }

// Optional typed members: absent or null -> nullopt; present with the wrong type -> an error.
Status OptionalInt(const Json& j, const char* key, const std::string& source,
                   std::optional<int64_t>* out) {
  if (!j.contains(key) || j[key].is_null()) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(*out, JsonInt(j, key, source));
  return Status::Ok();
}
Status OptionalNumber(const Json& j, const char* key, const std::string& source,
                      std::optional<double>* out) {
  if (!j.contains(key) || j[key].is_null()) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(*out, JsonNumber(j, key, source));
  return Status::Ok();
}
Status OptionalString(const Json& j, const char* key, const std::string& source,
                      std::optional<std::string>* out) {
  if (!j.contains(key) || j[key].is_null()) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(*out, JsonString(j, key, source));
  return Status::Ok();
}
Json OrNull(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

// A missing object is nullopt; any other error of the store is returned.
Result<std::optional<std::string>> GetIfPresent(Store* store, const std::string& key) {
  Result<std::string> text = store->Get(key);
  if (text.ok()) return std::optional<std::string>(std::move(*text));
  if (text.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return text.status().WithContext(JoinKey(store->Url(), key));
}

Result<bool> Exists(Store* store, const std::string& key) {
  Result<uint64_t> size = store->Head(key);
  if (size.ok()) return true;
  if (size.status().code() == StatusCode::kNotFound) return false;
  return size.status().WithContext(JoinKey(store->Url(), key));
}

// Whatever is wrong with a stored document (torn, foreign, a field of the wrong type) is
// Corruption of that document, whatever the JSON helpers call it.
template <typename T, typename Parse>
Result<T> AsCorruption(Parse parse) {
  Result<T> r = parse();
  if (!r.ok() && r.status().code() != StatusCode::kCorruption) {
    return Status(StatusCode::kCorruption, r.status().message());
  }
  return r;
}

// The document of type T at `key`, nullopt when there is none.
template <typename T>
Result<std::optional<T>> ReadDocument(Store* store, const std::string& key) {
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> text, GetIfPresent(store, key));
  if (!text) return std::optional<T>();
  BATON_ASSIGN_OR_RETURN(T doc, T::Parse(*text, JoinKey(store->Url(), key)));
  return std::optional<T>(std::move(doc));
}

constexpr std::pair<AgentState, const char*> kAgentStates[] = {
    {AgentState::kLoading, "loading"},   {AgentState::kStandby, "standby"},
    {AgentState::kTraining, "training"}, {AgentState::kStopped, "stopped"},
    {AgentState::kFenced, "fenced"},     {AgentState::kFailed, "failed"},
    {AgentState::kComplete, "complete"}};

}  // namespace

// --- COMPLETE ---

std::string CompleteMarker::Serialize() const {
  Json j = NewDocument(kCompleteFormat);
  if (global_step) j["global_step"] = *global_step;
  j["last_model_checkpoint"] = OrNull(last_model_checkpoint);
  j["best_model_checkpoint"] = OrNull(best_model_checkpoint);
  if (external) j["external"] = true;
  return DumpJson(j, 2) + "\n";
}

Result<CompleteMarker> CompleteMarker::Parse(std::string_view text, const std::string& source) {
  return AsCorruption<CompleteMarker>([&]() -> Result<CompleteMarker> {
    CompleteMarker m;
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return m;
    BATON_ASSIGN_OR_RETURN(Json j, ParseDocument(text, source, kCompleteFormat));
    BATON_RETURN_IF_ERROR(OptionalInt(j, "global_step", source, &m.global_step));
    BATON_RETURN_IF_ERROR(
        OptionalString(j, "last_model_checkpoint", source, &m.last_model_checkpoint));
    BATON_RETURN_IF_ERROR(
        OptionalString(j, "best_model_checkpoint", source, &m.best_model_checkpoint));
    if (j.contains("external")) {
      BATON_ASSIGN_OR_RETURN(m.external, JsonBool(j, "external", source));
    }
    return m;
  });
}

Result<bool> IsComplete(Store* store) { return Exists(store, std::string(kCompleteMarkerName)); }

Status WriteCompleteMarker(Store* store, const CompleteMarker& marker) {
  return store->Put(std::string(kCompleteMarkerName), marker.Serialize());
}

Result<std::optional<CompleteMarker>> ReadCompleteMarker(Store* store) {
  const std::string key(kCompleteMarkerName);
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> text, GetIfPresent(store, key));
  if (!text) return std::optional<CompleteMarker>();
  BATON_ASSIGN_OR_RETURN(CompleteMarker m,
                         CompleteMarker::Parse(*text, JoinKey(store->Url(), key)));
  return std::optional<CompleteMarker>(std::move(m));
}

// --- heartbeats ---

const char* AgentStateName(AgentState state) {
  for (const auto& [s, name] : kAgentStates) {
    if (s == state) return name;
  }
  return "unknown";
}

Result<AgentState> ParseAgentState(std::string_view name) {
  for (const auto& [s, n] : kAgentStates) {
    if (name == n) return s;
  }
  return InvalidArgument(
      "agent state '{}': want loading, standby, training, stopped, fenced, "
      "failed or complete",
      name);
}

bool IsFinalAgentState(AgentState state) {
  return state == AgentState::kStopped || state == AgentState::kFenced ||
         state == AgentState::kFailed || state == AgentState::kComplete;
}

std::string Heartbeat::Serialize() const {
  Json j = NewDocument(kHeartbeatFormat);
  j["run"] = run;
  j["instance"] = instance;
  j["billing"] = billing;
  j["state"] = AgentStateName(state);
  j["pid"] = pid;
  j["started_unix_ms"] = started_unix_ms;
  j["updated_unix_ms"] = updated_unix_ms;
  if (global_step) j["global_step"] = *global_step;
  if (max_steps) j["max_steps"] = *max_steps;
  if (resumed_step) j["resumed_step"] = *resumed_step;
  if (tokens_per_second) j["tokens_per_second"] = *tokens_per_second;
  j["last_checkpoint"] = last_checkpoint;
  if (stop_to_checkpoint_seconds) j["stop_to_checkpoint_seconds"] = *stop_to_checkpoint_seconds;
  if (cold_start) {
    j["cold_start"] = {
        {"total_seconds", cold_start->total},   {"download_seconds", cold_start->download},
        {"digest_seconds", cold_start->digest}, {"load_seconds", cold_start->load},
        {"data_seconds", cold_start->data},     {"resume_seconds", cold_start->resume}};
  }
  return DumpJson(j, 2) + "\n";
}

Result<Heartbeat> Heartbeat::Parse(std::string_view text, const std::string& source) {
  return AsCorruption<Heartbeat>([&]() -> Result<Heartbeat> {
    BATON_ASSIGN_OR_RETURN(Json j, ParseDocument(text, source, kHeartbeatFormat));
    Heartbeat h;
    BATON_ASSIGN_OR_RETURN(h.instance, JsonString(j, "instance", source));
    BATON_ASSIGN_OR_RETURN(std::string state, JsonString(j, "state", source));
    Result<AgentState> s = ParseAgentState(state);
    if (!s.ok()) return Corruption("{}: {}", source, s.status().message());
    h.state = *s;
    BATON_ASSIGN_OR_RETURN(h.updated_unix_ms, JsonInt(j, "updated_unix_ms", source));
    std::optional<std::string> run, billing, last;
    BATON_RETURN_IF_ERROR(OptionalString(j, "run", source, &run));
    BATON_RETURN_IF_ERROR(OptionalString(j, "billing", source, &billing));
    BATON_RETURN_IF_ERROR(OptionalString(j, "last_checkpoint", source, &last));
    h.run = run.value_or("");
    h.billing = billing.value_or("");
    h.last_checkpoint = last.value_or("");
    std::optional<int64_t> pid, started;
    BATON_RETURN_IF_ERROR(OptionalInt(j, "pid", source, &pid));
    BATON_RETURN_IF_ERROR(OptionalInt(j, "started_unix_ms", source, &started));
    h.pid = pid.value_or(0);
    h.started_unix_ms = started.value_or(0);
    BATON_RETURN_IF_ERROR(OptionalInt(j, "global_step", source, &h.global_step));
    BATON_RETURN_IF_ERROR(OptionalInt(j, "max_steps", source, &h.max_steps));
    BATON_RETURN_IF_ERROR(OptionalInt(j, "resumed_step", source, &h.resumed_step));
    BATON_RETURN_IF_ERROR(OptionalNumber(j, "tokens_per_second", source, &h.tokens_per_second));
    BATON_RETURN_IF_ERROR(
        OptionalNumber(j, "stop_to_checkpoint_seconds", source, &h.stop_to_checkpoint_seconds));
    // Appended: heartbeats of older agents have no cold_start.
    if (j.contains("cold_start") && !j["cold_start"].is_null()) {
      const Json& c = j["cold_start"];
      const std::string where = source + ": cold_start";
      if (!c.is_object()) return Corruption("{} is not an object", where);
      ColdStart cs;
      for (auto [key, field] : {std::pair{"total_seconds", &cs.total},
                                {"download_seconds", &cs.download},
                                {"digest_seconds", &cs.digest},
                                {"load_seconds", &cs.load},
                                {"data_seconds", &cs.data},
                                {"resume_seconds", &cs.resume}}) {
        std::optional<double> v;
        BATON_RETURN_IF_ERROR(OptionalNumber(c, key, where, &v));
        if (v && *v < 0) return Corruption("{}: {} is negative ({})", where, key, *v);
        *field = v.value_or(0);
      }
      h.cold_start = cs;
    }
    return h;
  });
}

std::string ColdStart::Describe() const {
  const double rest = total - download - digest - load - data - resume;
  return fmt::format(
      "cold start {:.1f} s to the first step: download {:.1f} s, digest {:.1f} s, load {:.1f} s, "
      "data {:.1f} s, resume {:.1f} s, other {:.1f} s",
      total, download, digest, load, data, resume, std::max(0.0, rest));
}

Status WriteHeartbeat(Store* store, const Heartbeat& heartbeat) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(heartbeat.instance));
  return store->Put(HeartbeatKey(heartbeat.instance), heartbeat.Serialize());
}

Result<std::optional<Heartbeat>> ReadHeartbeat(Store* store, std::string_view instance) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(instance));
  return ReadDocument<Heartbeat>(store, HeartbeatKey(instance));
}

Result<std::vector<std::string>> ListHeartbeatInstances(Store* store) {
  constexpr std::string_view kFolder = "agents/", kSuffix = ".json";
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(std::string(kFolder)));
  std::vector<std::string> ids;
  for (std::string_view key : keys) {
    if (!key.starts_with(kFolder) || !key.ends_with(kSuffix)) continue;
    std::string_view id = key.substr(kFolder.size(), key.size() - kFolder.size() - kSuffix.size());
    if (ValidateInstanceId(id).ok() && HeartbeatKey(id) == key) ids.emplace_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// --- requests ---

namespace {

// Both requests say who (the instance), why and when; `T` is one of them.
template <typename T>
std::string SerializeRequest(const char* format, const T& r, Json j = Json::object()) {
  Json doc = NewDocument(format);
  doc.update(j);
  doc["instance"] = r.instance;
  doc["reason"] = r.reason;
  doc["unix_ms"] = r.unix_ms;
  return DumpJson(doc, 2) + "\n";
}

template <typename T>
Result<T> ParseRequest(std::string_view text, const std::string& source, const char* format) {
  return AsCorruption<T>([&]() -> Result<T> {
    BATON_ASSIGN_OR_RETURN(Json j, ParseDocument(text, source, format));
    T r;
    BATON_ASSIGN_OR_RETURN(r.instance, JsonString(j, "instance", source));
    BATON_ASSIGN_OR_RETURN(r.reason, JsonString(j, "reason", source));
    BATON_ASSIGN_OR_RETURN(r.unix_ms, JsonInt(j, "unix_ms", source));
    return r;
  });
}

}  // namespace

std::string ScaleToZeroRequest::Serialize() const {
  return SerializeRequest(kScaleToZeroFormat, *this, {{"capacity", 0}});
}

Result<ScaleToZeroRequest> ScaleToZeroRequest::Parse(std::string_view text,
                                                     const std::string& source) {
  return ParseRequest<ScaleToZeroRequest>(text, source, kScaleToZeroFormat);
}

Status WriteScaleToZeroRequest(Store* store, const ScaleToZeroRequest& request) {
  return store->Put(kScaleToZeroKey, request.Serialize());
}

Result<bool> ScaleToZeroRequested(Store* store) { return Exists(store, kScaleToZeroKey); }

Result<std::optional<ScaleToZeroRequest>> ReadScaleToZeroRequest(Store* store) {
  return ReadDocument<ScaleToZeroRequest>(store, kScaleToZeroKey);
}

Status DeleteScaleToZeroRequest(Store* store) {
  Status s = store->Delete(kScaleToZeroKey);
  return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
}

std::string StopRequest::Serialize() const { return SerializeRequest(kStopFormat, *this); }

Result<StopRequest> StopRequest::Parse(std::string_view text, const std::string& source) {
  return ParseRequest<StopRequest>(text, source, kStopFormat);
}

Status WriteStopRequest(Store* store, const StopRequest& request) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(request.instance));
  return store->Put(StopRequestKey(request.instance), request.Serialize());
}

Result<std::optional<StopRequest>> ReadStopRequest(Store* store, std::string_view instance) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(instance));
  const std::string key = StopRequestKey(instance);
  BATON_ASSIGN_OR_RETURN(std::optional<StopRequest> r, ReadDocument<StopRequest>(store, key));
  if (r && r->instance != instance) {
    return Corruption("{}: names instance '{}', want '{}'", JoinKey(store->Url(), key), r->instance,
                      instance);
  }
  return r;
}

Status DeleteStopRequest(Store* store, std::string_view instance) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(instance));
  Status s = store->Delete(StopRequestKey(instance));
  return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
}

// --- the fleet ledger ---

std::string FleetLedger::Serialize() const {
  Json j = NewDocument(kLedgerFormat);
  j["run"] = run;
  j["provider"] = provider;
  j["region"] = region;
  j["started_unix_ms"] = started_unix_ms;
  Json list = Json::array();
  for (const LedgerInstance& i : instances) {
    list.push_back(Json{{"id", i.id},
                        {"offer", i.offer},
                        {"handoff", i.handoff},
                        {"launched_unix_ms", i.launched_unix_ms},
                        {"running_unix_ms", i.running_unix_ms},
                        {"stop_unix_ms", i.stop_unix_ms},
                        {"notice_unix_ms", i.notice_unix_ms},
                        {"ended_unix_ms", i.ended_unix_ms},
                        {"end_reason", i.end_reason},
                        {"detail", i.detail},
                        {"billed_cost", i.billed_cost},
                        {"delete_unix_ms", i.delete_unix_ms}});
  }
  j["instances"] = list;
  Json res = Json::object();
  for (const auto& [k, v] : resources) res[k] = v;
  j["resources"] = res;
  j["stopped_reason"] = stopped_reason;
  if (!fleet_spec.is_null()) j["fleet_spec"] = fleet_spec;
  return DumpJson(j, 2) + "\n";
}

Result<FleetLedger> FleetLedger::Parse(std::string_view text, const std::string& source) {
  return AsCorruption<FleetLedger>([&]() -> Result<FleetLedger> {
    BATON_ASSIGN_OR_RETURN(Json j, ParseDocument(text, source, kLedgerFormat));
    FleetLedger l;
    BATON_ASSIGN_OR_RETURN(l.run, JsonString(j, "run", source));
    BATON_ASSIGN_OR_RETURN(l.provider, JsonString(j, "provider", source));
    BATON_ASSIGN_OR_RETURN(l.region, JsonString(j, "region", source));
    BATON_ASSIGN_OR_RETURN(l.started_unix_ms, JsonInt(j, "started_unix_ms", source));
    if (!j.contains("instances") || !j["instances"].is_array()) {
      return Corruption("{}: want an array 'instances'", source);
    }
    for (const Json& e : j["instances"]) {
      if (!e.is_object()) return Corruption("{}: an instance is not an object", source);
      LedgerInstance i;
      BATON_ASSIGN_OR_RETURN(i.id, JsonString(e, "id", source));
      BATON_RETURN_IF_ERROR(ValidateInstanceId(i.id).WithContext(source));
      BATON_ASSIGN_OR_RETURN(i.offer, JsonString(e, "offer", source));
      BATON_ASSIGN_OR_RETURN(i.handoff, JsonBool(e, "handoff", source));
      BATON_ASSIGN_OR_RETURN(i.launched_unix_ms, JsonInt(e, "launched_unix_ms", source));
      BATON_ASSIGN_OR_RETURN(i.running_unix_ms, JsonInt(e, "running_unix_ms", source));
      BATON_ASSIGN_OR_RETURN(i.stop_unix_ms, JsonInt(e, "stop_unix_ms", source));
      BATON_ASSIGN_OR_RETURN(i.notice_unix_ms, JsonInt(e, "notice_unix_ms", source));
      BATON_ASSIGN_OR_RETURN(i.ended_unix_ms, JsonInt(e, "ended_unix_ms", source));
      BATON_ASSIGN_OR_RETURN(i.end_reason, JsonString(e, "end_reason", source));
      BATON_ASSIGN_OR_RETURN(i.detail, JsonString(e, "detail", source));
      if (e.contains("billed_cost")) {
        BATON_ASSIGN_OR_RETURN(i.billed_cost, JsonNumber(e, "billed_cost", source));
      }
      if (e.contains("delete_unix_ms")) {  // appended to version 1
        BATON_ASSIGN_OR_RETURN(i.delete_unix_ms, JsonInt(e, "delete_unix_ms", source));
      }
      l.instances.push_back(std::move(i));
    }
    if (j.contains("resources")) {
      if (!j["resources"].is_object()) return Corruption("{}: 'resources' is no object", source);
      for (const auto& [k, v] : j["resources"].items()) {
        if (!v.is_string()) return Corruption("{}: resources.{} is no string", source, k);
        l.resources.emplace_back(k, v.get<std::string>());
      }
    }
    BATON_ASSIGN_OR_RETURN(l.stopped_reason, JsonString(j, "stopped_reason", source));
    if (j.contains("fleet_spec") && !j["fleet_spec"].is_null()) {  // appended to version 1
      if (!j["fleet_spec"].is_object()) return Corruption("{}: 'fleet_spec' is no object", source);
      l.fleet_spec = j["fleet_spec"];
    }
    return l;
  });
}

std::string FleetLedger::Resource(std::string_view name) const {
  for (const auto& [k, v] : resources) {
    if (k == name) return v;
  }
  return "";
}

void FleetLedger::SetResource(const std::string& name, const std::string& value) {
  std::erase_if(resources, [&](const auto& kv) { return kv.first == name; });
  if (!value.empty()) resources.emplace_back(name, value);
}

Status WriteFleetLedger(Store* store, const FleetLedger& ledger) {
  return store->Put(kFleetLedgerKey, ledger.Serialize());
}

Result<std::optional<FleetLedger>> ReadFleetLedger(Store* store) {
  return ReadDocument<FleetLedger>(store, kFleetLedgerKey);
}

// --- the agent's rebalance report ---

namespace {
constexpr char kRebalanceFormat[] = "baton-rebalance";
std::string RebalanceReportKey(std::string_view instance) {
  return fmt::format("fleet/rebalance/{}.json", instance);
}
}  // namespace

std::string RebalanceReport::Serialize() const { return SerializeRequest(kRebalanceFormat, *this); }

Result<RebalanceReport> RebalanceReport::Parse(std::string_view text, const std::string& source) {
  return ParseRequest<RebalanceReport>(text, source, kRebalanceFormat);
}

Status WriteRebalanceReport(Store* store, const RebalanceReport& report) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(report.instance));
  return store->Put(RebalanceReportKey(report.instance), report.Serialize());
}

Result<std::optional<RebalanceReport>> ReadRebalanceReport(Store* store,
                                                           std::string_view instance) {
  BATON_RETURN_IF_ERROR(ValidateInstanceId(instance));
  const std::string key = RebalanceReportKey(instance);
  BATON_ASSIGN_OR_RETURN(std::optional<RebalanceReport> r,
                         ReadDocument<RebalanceReport>(store, key));
  if (r && r->instance != instance) {
    return Corruption("{}: names instance '{}', want '{}'", JoinKey(store->Url(), key), r->instance,
                      instance);
  }
  return r;
}

// --- the fleet's events ---

std::string RunEvents::Serialize() const {
  Json j = NewDocument(kEventsFormat);
  Json list = Json::array();
  for (const RunEvent& e : events) list.push_back(Json{{"unix_ms", e.unix_ms}, {"text", e.text}});
  j["events"] = list;
  return DumpJson(j, 2) + "\n";
}

Result<RunEvents> RunEvents::Parse(std::string_view text, const std::string& source) {
  return AsCorruption<RunEvents>([&]() -> Result<RunEvents> {
    BATON_ASSIGN_OR_RETURN(Json j, ParseDocument(text, source, kEventsFormat));
    if (!j.contains("events") || !j["events"].is_array()) {
      return Corruption("{}: want an array 'events'", source);
    }
    RunEvents r;
    for (const Json& e : j["events"]) {
      if (!e.is_object()) return Corruption("{}: an event is not an object", source);
      RunEvent ev;
      BATON_ASSIGN_OR_RETURN(ev.unix_ms, JsonInt(e, "unix_ms", source));
      BATON_ASSIGN_OR_RETURN(ev.text, JsonString(e, "text", source));
      r.events.push_back(std::move(ev));
    }
    if (r.events.size() > kMaxEvents) {  // a foreign writer: keep the newest, as ours does
      r.events.erase(r.events.begin(), r.events.end() - kMaxEvents);
    }
    return r;
  });
}

Status WriteRunEvents(Store* store, const RunEvents& events) {
  return store->Put(kFleetEventsKey, events.Serialize());
}

Result<std::optional<RunEvents>> ReadRunEvents(Store* store) {
  return ReadDocument<RunEvents>(store, kFleetEventsKey);
}

}  // namespace baton
