#include "view/run_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "base/spec_node.h"
#include "base/strings.h"
#include "ckpt/checkpoint_manager.h"
#include "ckpt/manifest.h"
#include "fleet/provider.h"
#include "fleet/report.h"
#include "job/job_spec.h"
#include "run/layout.h"

namespace baton::view {
namespace {

constexpr char kStepKey[] = "global_step/max_steps";

int64_t ClockUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json OrNull(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

// "10/80" -> (10, 80).
std::optional<std::pair<int64_t, int64_t>> ParseStepOfMax(const std::string& text) {
  long long step = 0, max = 0;
  if (std::sscanf(text.c_str(), "%lld/%lld", &step, &max) != 2 || step < 0 || max < 0) {
    return std::nullopt;
  }
  return std::make_pair(static_cast<int64_t>(step), static_cast<int64_t>(max));
}

// What the last lines of logging.jsonl say about the run's pace.
struct LogPace {
  std::optional<int64_t> step, max_steps;
  std::optional<double> steps_per_second;  // ms-swift's train_speed(iter/s)
  std::string remaining_time;
};

struct ParsedLog {
  LogSeries series;
  LogPace pace;
};

Result<ParsedLog> ParseLog(std::string_view text, const std::string& source) {
  ParsedLog out;
  std::map<std::string, std::map<int64_t, double>> by_step;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a line being written: read it next time
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    BATON_ASSIGN_OR_RETURN(Json j, ParseJson(line, source, line_no));
    if (!j.is_object())
      return Corruption("{}:{}: a log line is not a JSON object", source, line_no);
    if (!j.contains(kStepKey) || !j[kStepKey].is_string()) continue;
    std::optional<std::pair<int64_t, int64_t>> sm = ParseStepOfMax(j[kStepKey].get<std::string>());
    if (!sm) {
      return Corruption("{}:{}: {} is '{}', want '<step>/<max_steps>'", source, line_no, kStepKey,
                        j[kStepKey].get<std::string>());
    }
    out.pace.step = sm->first;
    out.pace.max_steps = sm->second;
    for (const auto& [key, value] : j.items()) {
      if (value.is_number()) by_step[key][sm->first] = value.get<double>();
    }
    if (j.contains("train_speed(iter/s)") && j["train_speed(iter/s)"].is_number()) {
      out.pace.steps_per_second = j["train_speed(iter/s)"].get<double>();
    }
    if (j.contains("remaining_time") && j["remaining_time"].is_string()) {
      out.pace.remaining_time = j["remaining_time"].get<std::string>();
    }
  }
  for (const auto& [key, points] : by_step) {
    std::vector<LogPoint>& series = out.series[key];
    for (const auto& [step, value] : points) series.push_back({step, value});
  }
  return out;
}

Result<std::optional<std::string>> GetIfPresent(Store* store, const std::string& key) {
  Result<std::string> text = store->Get(key);
  if (text.ok()) return std::optional<std::string>(std::move(*text));
  if (text.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return text.status().WithContext(JoinKey(RedactUrl(store->Url()), key));
}

Result<ParsedLog> ReadLog(Store* store) {
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> text, GetIfPresent(store, kRunLogName));
  if (!text) return ParsedLog{};
  return ParseLog(*text, JoinKey(RedactUrl(store->Url()), kRunLogName));
}

// The fleet section that bills the run: given, the ledger's, or the bucket's fleet/job.yaml.
Result<std::optional<fleet::FleetSpec>> FindSpec(Store* store, const RunViewOptions& options,
                                                 const std::optional<FleetLedger>& ledger) {
  if (options.spec) return options.spec;
  const std::string url = RedactUrl(store->Url());
  if (ledger && ledger->fleet_spec.is_object()) {
    BATON_ASSIGN_OR_RETURN(SpecNode node, SpecNode::Parse(DumpJson(ledger->fleet_spec),
                                                          JoinKey(url, kFleetLedgerKey), "fleet"));
    BATON_ASSIGN_OR_RETURN(fleet::FleetSpec spec, fleet::ParseFleetSpec(node));
    return std::optional<fleet::FleetSpec>(std::move(spec));
  }
  BATON_ASSIGN_OR_RETURN(std::optional<std::string> job, GetIfPresent(store, kFleetJobKey));
  if (!job) return std::optional<fleet::FleetSpec>();
  BATON_ASSIGN_OR_RETURN(JobSpec parsed, ParseJobSpec(*job, JoinKey(url, kFleetJobKey)));
  if (parsed.fleet.IsNull()) return std::optional<fleet::FleetSpec>();
  BATON_ASSIGN_OR_RETURN(fleet::FleetSpec spec, fleet::ParseFleetSpec(parsed.fleet));
  return std::optional<fleet::FleetSpec>(std::move(spec));
}

// Where the instance's minutes went before its first step (the agent's heartbeat, issue 21),
// in seconds; null before the agent reports it.
Json ColdStartJson(const std::optional<Heartbeat>& hb) {
  if (!hb || !hb->cold_start) return Json(nullptr);
  const ColdStart& c = *hb->cold_start;
  return Json{{"total", c.total}, {"download", c.download}, {"digest", c.digest},
              {"load", c.load},   {"data", c.data},         {"resume", c.resume}};
}

// One row of the instance timeline: the ledger's facts, the heartbeat's, or both.
struct Row {
  std::optional<LedgerInstance> ledger;
  std::optional<Heartbeat> heartbeat;
  std::string id() const { return ledger ? ledger->id : heartbeat->instance; }
};

// "type@zone/billing" -> its parts (Offer::Name()); anything else: the whole as the type.
Json OfferParts(const std::string& offer) {
  size_t at = offer.rfind('@'), slash = offer.rfind('/');
  if (at == std::string::npos || slash == std::string::npos || slash < at) {
    return Json{{"instance_type", offer}, {"zone", ""}, {"billing", ""}};
  }
  return Json{{"instance_type", offer.substr(0, at)},
              {"zone", offer.substr(at + 1, slash - at - 1)},
              {"billing", offer.substr(slash + 1)}};
}

// Seconds of the fleet's time since the run began.
struct Clock {
  int64_t started_ms = 0;
  double time_scale = 1;
  double At(int64_t unix_ms) const {
    return static_cast<double>(unix_ms - started_ms) / 1000.0 * time_scale;
  }
};

// booting (launch -> the agent's first heartbeat), loading or standby (-> training), training
// (-> a stop or a notice), stopping (-> the end); whatever is not known yet is left out.
Json Segments(const Row& row, const Clock& clock, int64_t now_ms) {
  Json out = Json::array();
  auto add = [&](const char* state, int64_t from, int64_t to) {
    if (from <= 0 || to <= from) return;
    out.push_back(Json{{"state", state}, {"from_s", clock.At(from)}, {"to_s", clock.At(to)}});
  };
  const Heartbeat* hb = row.heartbeat ? &*row.heartbeat : nullptr;
  if (!row.ledger) {  // an agent without a fleet: what its heartbeat says
    if (hb == nullptr) return out;
    int64_t end = IsFinalAgentState(hb->state) ? hb->updated_unix_ms : now_ms;
    add(AgentStateName(hb->state), hb->started_unix_ms, end);
    return out;
  }
  const LedgerInstance& l = *row.ledger;
  const int64_t end = l.ended_unix_ms > 0 ? l.ended_unix_ms : now_ms;
  int64_t stop = 0;
  for (int64_t t : {l.stop_unix_ms, l.notice_unix_ms}) {
    if (t > 0 && (stop == 0 || t < stop)) stop = t;
  }
  const int64_t after_training = stop > 0 ? stop : end;
  int64_t agent_up = hb != nullptr && hb->started_unix_ms >= l.launched_unix_ms
                         ? hb->started_unix_ms
                         : (l.running_unix_ms > 0 ? l.running_unix_ms : 0);
  add("booting", l.launched_unix_ms, std::min(agent_up > 0 ? agent_up : after_training, end));
  if (agent_up > 0) {
    int64_t loaded = l.running_unix_ms > 0 ? l.running_unix_ms : after_training;
    add(l.handoff ? "standby" : "loading", agent_up, std::min(loaded, end));
  }
  if (l.running_unix_ms > 0) add("training", l.running_unix_ms, std::min(after_training, end));
  if (stop > 0) add("stopping", stop, end);
  return out;
}

// Real steps per second of training alone, from the newest heartbeat of an instance the fleet saw
// training: the steps it did since it began over the time since. (ms-swift's train_speed in the
// log counts from the trainer's start, loading included: the fallback.)
std::optional<double> TrainingPace(const std::vector<Row>& rows) {
  std::optional<double> pace;
  int64_t newest = 0;
  for (const Row& r : rows) {
    if (!r.heartbeat || !r.ledger || r.ledger->running_unix_ms <= 0) continue;
    const Heartbeat& hb = *r.heartbeat;
    if (!hb.global_step || !hb.resumed_step || *hb.global_step <= *hb.resumed_step) continue;
    if (hb.updated_unix_ms <= r.ledger->running_unix_ms || hb.updated_unix_ms < newest) continue;
    newest = hb.updated_unix_ms;
    double real_seconds =
        static_cast<double>(hb.updated_unix_ms - r.ledger->running_unix_ms) / 1000;
    pace = static_cast<double>(*hb.global_step - *hb.resumed_step) / real_seconds;
  }
  return pace;
}

// The row's state now: ended (with its reason), else what its heartbeat says, else booting.
std::string RowState(const Row& row) {
  if (row.ledger && row.ledger->ended_unix_ms > 0) return "ended";
  if (row.ledger && (row.ledger->stop_unix_ms > 0 || row.ledger->notice_unix_ms > 0)) {
    return "stopping";
  }
  if (row.heartbeat) return AgentStateName(row.heartbeat->state);
  return "booting";
}

Result<fleet::EndReason> EndReasonOf(const std::string& name) {
  for (fleet::EndReason r :
       {fleet::EndReason::kNone, fleet::EndReason::kCompleted, fleet::EndReason::kStopped,
        fleet::EndReason::kPreempted, fleet::EndReason::kKilled, fleet::EndReason::kFailed}) {
    if (name == fleet::EndReasonName(r)) return r;
  }
  return Corruption("end reason '{}' is none of Baton's", name);
}

// The bill so far against all on-demand, as `baton run`'s report computes it (fleet/report.h).
Result<Json> Cost(const fleet::FleetSpec& spec, const FleetLedger& ledger, const Clock& clock,
                  int64_t now_ms, const fleet::RunProgress& progress) {
  std::vector<fleet::Instance> instances;
  for (const LedgerInstance& l : ledger.instances) {
    fleet::Instance i;
    i.id = l.id;
    for (size_t k = 0; k < spec.offers.size(); ++k) {
      if (spec.offers[k].Name() == l.offer) i.offer = static_cast<int>(k);
    }
    if (i.offer < 0) {
      return NotFound("instance {}: its offer {} is not in the fleet section", l.id, l.offer);
    }
    i.handoff = l.handoff;
    i.launched_at = clock.At(l.launched_unix_ms);
    i.running_at = l.running_unix_ms > 0 ? clock.At(l.running_unix_ms) : -1;
    if (l.ended_unix_ms > 0) {
      i.state = fleet::InstanceState::kEnded;
      i.ended_at = clock.At(l.ended_unix_ms);
      BATON_ASSIGN_OR_RETURN(i.end_reason, EndReasonOf(l.end_reason));
    } else {
      i.state =
          l.running_unix_ms > 0 ? fleet::InstanceState::kRunning : fleet::InstanceState::kBooting;
    }
    i.billed_cost = l.billed_cost;
    instances.push_back(std::move(i));
  }
  double now = clock.At(now_ms);
  bool all_ended = !instances.empty();
  double last_end = 0;
  for (const fleet::Instance& i : instances) {
    all_ended &= i.state == fleet::InstanceState::kEnded;
    last_end = std::max(last_end, i.ended_at);
  }
  if (all_ended) now = last_end;  // a finished fleet costs no more
  fleet::FleetReport r = fleet::BuildReport(spec, instances, progress, now);
  Json per = Json::object();
  for (const fleet::LedgerLine& line : r.ledger) per[line.instance] = line.cost;
  // The baseline needs the run's pace: until a log line gave it, it is unknown (null), not 0.
  const bool known = r.on_demand_baseline_cost > 0;
  return Json{{"so_far", r.cost},
              {"on_demand_baseline", known ? Json(r.on_demand_baseline_cost) : Json(nullptr)},
              {"saving_fraction", known ? Json(r.saving_fraction) : Json(nullptr)},
              {"spot_cost", r.spot_cost},
              {"on_demand_cost", r.on_demand_cost},
              {"interruptions", r.interruptions},
              {"policy", fleet::PolicyName(spec.policy)},
              {"per_instance", per}};
}

Json Checkpoints(Store* store, Json* warnings) {
  Json out = Json::array();
  CheckpointManager manager(store, "");
  Result<std::vector<CheckpointInfo>> list = manager.List(Verify::kSizes);
  if (!list.ok()) {
    warnings->push_back("checkpoints: " + list.status().ToString());
    return out;
  }
  for (const CheckpointInfo& c : *list) {
    Json created = nullptr;
    if (c.state != CheckpointState::kIncomplete) {
      std::string key = JoinKey(CheckpointDir(c.step), std::string(kManifestName));
      Result<std::string> text = store->Get(key);
      Result<Manifest> m = text.ok() ? ParseManifest(*text, key) : Result<Manifest>(text.status());
      if (m.ok() && m->created_unix_ms > 0) created = m->created_unix_ms;
    }
    out.push_back(Json{{"step", c.step},
                       {"state", CheckpointStateName(c.state)},
                       {"reason", c.reason},
                       {"bytes", c.total_bytes},
                       {"files", c.num_files},
                       {"created_unix_ms", created}});
  }
  return out;
}

}  // namespace

Result<LogSeries> ParseLogSeries(std::string_view text, const std::string& source) {
  BATON_ASSIGN_OR_RETURN(ParsedLog log, ParseLog(text, source));
  return std::move(log.series);
}

Result<LogSeries> ReadLogSeries(Store* store) {
  BATON_ASSIGN_OR_RETURN(ParsedLog log, ReadLog(store));
  return std::move(log.series);
}

Json BuildRunView(Store* store, const RunViewOptions& options) {
  const int64_t now_ms = options.now_unix_ms > 0 ? options.now_unix_ms : ClockUnixMs();
  Json warnings = Json::array();
  auto warn = [&](const Status& s) { warnings.push_back(s.ToString()); };

  Result<bool> complete = IsComplete(store);
  if (!complete.ok()) warn(complete.status());
  Result<ParsedLog> log = ReadLog(store);
  if (!log.ok()) warn(log.status());
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store);
  if (!ledger.ok()) warn(ledger.status());
  std::optional<FleetLedger> fleet_ledger = ledger.ok() ? *ledger : std::nullopt;

  // The rows: the ledger's instances in launch order, then agents it does not list.
  std::vector<Row> rows;
  if (fleet_ledger) {
    for (const LedgerInstance& l : fleet_ledger->instances) rows.push_back(Row{l, std::nullopt});
  }
  Result<std::vector<std::string>> agents = ListHeartbeatInstances(store);
  if (!agents.ok()) warn(agents.status());
  for (const std::string& id : agents.ok() ? *agents : std::vector<std::string>{}) {
    Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, id);
    if (!hb.ok()) {
      warn(hb.status());
      continue;
    }
    if (!*hb) continue;
    auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.id() == id; });
    if (it != rows.end()) {
      it->heartbeat = **hb;
    } else {
      rows.push_back(Row{std::nullopt, **hb});
    }
  }

  Result<std::optional<fleet::FleetSpec>> spec = FindSpec(store, options, fleet_ledger);
  if (!spec.ok()) warn(spec.status());
  Clock clock;
  clock.started_ms = fleet_ledger ? fleet_ledger->started_unix_ms : 0;
  if (spec.ok() && *spec && (*spec)->provider == "local") clock.time_scale = (*spec)->time_scale;
  if (clock.started_ms == 0) {  // no fleet: the first agent's start
    for (const Row& r : rows) {
      int64_t t = r.heartbeat ? r.heartbeat->started_unix_ms : 0;
      if (t > 0 && (clock.started_ms == 0 || t < clock.started_ms)) clock.started_ms = t;
    }
  }

  // Progress: the newest step any heartbeat or the log shows.
  LogPace pace = log.ok() ? log->pace : LogPace{};
  int64_t step = pace.step.value_or(0), max_steps = pace.max_steps.value_or(0);
  // tokens/s: the newest heartbeat that gives it; "training on": an instance the fleet has not
  // seen end (a killed agent's last heartbeat says "training" for ever).
  std::optional<double> tokens_per_second;
  int64_t newest_tokens = 0, newest_training = 0;
  std::string state = "waiting";
  for (const Row& r : rows) {
    if (!r.heartbeat) continue;
    const Heartbeat& hb = *r.heartbeat;
    step = std::max(step, hb.global_step.value_or(0));
    if (hb.max_steps) max_steps = std::max(max_steps, *hb.max_steps);
    if (hb.tokens_per_second && hb.updated_unix_ms >= newest_tokens) {
      newest_tokens = hb.updated_unix_ms;
      tokens_per_second = hb.tokens_per_second;
    }
    const bool ended = r.ledger && r.ledger->ended_unix_ms > 0;
    if (hb.state == AgentState::kTraining && !ended && hb.updated_unix_ms >= newest_training) {
      newest_training = hb.updated_unix_ms;
      state = "training on " + hb.instance;
    }
  }
  const bool done = complete.ok() && *complete;
  if (done) state = "complete";
  std::optional<double> steps_per_second = TrainingPace(rows);
  if (!steps_per_second) steps_per_second = pace.steps_per_second;
  std::optional<double> eta;
  if (done) {
    eta = 0;
  } else if (steps_per_second && *steps_per_second > 0 && max_steps > 0) {
    eta = static_cast<double>(std::max<int64_t>(0, max_steps - step)) / *steps_per_second;
  }
  Json progress = {{"step", step},
                   {"max_steps", max_steps},
                   {"fraction", max_steps > 0 ? static_cast<double>(step) / max_steps : 0.0},
                   {"tokens_per_second", OrNull(tokens_per_second)},
                   {"steps_per_second", OrNull(steps_per_second)},
                   {"eta_seconds", OrNull(eta)},
                   {"remaining_time", pace.remaining_time},
                   {"state", state}};

  Json curves = Json::object();
  if (log.ok()) {
    for (const auto& [name, points] : log->series) {
      Json list = Json::array();
      for (const LogPoint& p : points) list.push_back(Json::array({p.step, p.value}));
      curves[name] = list;
    }
  }

  Json instances = Json::array();
  for (const Row& r : rows) {
    std::string offer = r.ledger ? r.ledger->offer : "";
    Json parts = OfferParts(offer);
    if (!r.ledger && r.heartbeat) parts["billing"] = r.heartbeat->billing;
    Json row = {
        {"id", r.id()},
        {"offer", offer},
        {"instance_type", parts["instance_type"]},
        {"zone", parts["zone"]},
        {"billing", parts["billing"]},
        {"handoff", r.ledger && r.ledger->handoff},
        {"state", RowState(r)},
        {"end_reason", r.ledger ? r.ledger->end_reason : ""},
        {"detail", r.ledger ? r.ledger->detail : ""},
        {"launched_unix_ms", r.ledger ? r.ledger->launched_unix_ms : r.heartbeat->started_unix_ms},
        {"ended_unix_ms", r.ledger ? r.ledger->ended_unix_ms : 0},
        {"step",
         r.heartbeat && r.heartbeat->global_step ? Json(*r.heartbeat->global_step) : Json(nullptr)},
        {"segments", Segments(r, clock, now_ms)},
        {"cold_start", ColdStartJson(r.heartbeat)}};
    if (!r.ledger && r.heartbeat && IsFinalAgentState(r.heartbeat->state)) {
      row["end_reason"] = AgentStateName(r.heartbeat->state);
    }
    instances.push_back(std::move(row));
  }

  Json cost = nullptr;
  if (spec.ok() && *spec && fleet_ledger) {
    fleet::RunProgress p;
    p.done = static_cast<double>(step);
    p.total = static_cast<double>(max_steps);
    p.complete = done;
    // Work units of the report: steps per second of the fleet's time.
    if (steps_per_second) p.rate = *steps_per_second / clock.time_scale;
    Result<Json> c = Cost(**spec, *fleet_ledger, clock, now_ms, p);
    if (c.ok()) {
      cost = std::move(*c);
    } else {
      warn(c.status().WithContext("cost"));
    }
  }

  Json events = Json::array();
  Result<std::optional<RunEvents>> ev = ReadRunEvents(store);
  if (!ev.ok()) warn(ev.status());
  if (ev.ok() && *ev) {
    const std::vector<RunEvent>& all = (*ev)->events;
    size_t from = all.size() > options.max_events ? all.size() - options.max_events : 0;
    for (size_t i = from; i < all.size(); ++i) {
      events.push_back(Json{{"unix_ms", all[i].unix_ms}, {"text", all[i].text}});
    }
  }

  Json view = {{"format", "baton-run-view"},
               {"version", 1},
               {"run", RedactUrl(store->Url())},
               {"name", fleet_ledger ? fleet_ledger->run : ""},
               {"complete", done},
               {"now_unix_ms", now_ms},
               {"started_unix_ms", clock.started_ms},
               {"time_scale", clock.time_scale},
               {"progress", progress},
               {"curves", curves},
               {"instances", instances},
               {"cost", cost},
               {"checkpoints", Checkpoints(store, &warnings)},
               {"events", events},
               {"warnings", warnings}};
  return view;
}

}  // namespace baton::view
