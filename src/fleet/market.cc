// MakeMarket: reads the market section into one Timeline per zone (market_timeline.h) and
// answers for the spot offers of each zone from it. A scripted zone keyed to progress keeps its
// ZoneScript (market_script.h) and gets a new timeline whenever a progress report pins an event.
#include "fleet/market.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "base/env.h"
#include "base/json.h"
#include "base/spec_node.h"
#include "fleet/market_script.h"
#include "fleet/market_timeline.h"

namespace baton::fleet {

struct Trace {
  std::vector<bool> up;  // per tick: capacity
  double gap = 0;        // seconds per tick
};

class TraceCache {
 public:
  std::map<std::string, Trace> traces;
};

std::shared_ptr<TraceCache> NewTraceCache() { return std::make_shared<TraceCache>(); }

namespace {

class ZoneMarket : public Market {
 public:
  // zone_of[offer]: index into `zones`, or -1 for offers that always have capacity.
  // scripts[zone]: the zone's script when it is keyed to progress (its timeline is rebuilt
  // whenever a report pins an event), else null. `offset`: the timelines' (MarketOptions).
  ZoneMarket(std::vector<int> zone_of, std::vector<std::unique_ptr<Timeline>> zones,
             std::vector<std::unique_ptr<ZoneScript>> scripts, double offset)
      : zone_of_(std::move(zone_of)),
        zones_(std::move(zones)),
        scripts_(std::move(scripts)),
        offset_(offset) {}

  bool ReportProgress(double t, double done) override {
    bool changed = false;
    for (size_t z = 0; z < scripts_.size(); ++z) {
      // The pins land at t or later, after everything the timeline has reported: a new timeline
      // answers as the old one did up to t.
      if (!scripts_[z] || !scripts_[z]->ReportProgress(t + offset_, done)) continue;
      zones_[z] = std::make_unique<Timeline>(
          MakeScriptedSource(scripts_[z]->Raw(), std::numeric_limits<double>::infinity()), offset_);
      changed = true;
    }
    return changed;
  }

  bool Available(int offer, double t) const override {
    if (offer < 0 || offer >= static_cast<int>(zone_of_.size())) return false;
    return zone_of_[offer] < 0 || zones_[zone_of_[offer]]->Available(t);
  }

  std::vector<MarketEvent> Events(double from, double to) const override {
    std::vector<MarketEvent> out;
    std::vector<ZoneEvent> zone_events;
    for (int offer = 0; offer < static_cast<int>(zone_of_.size()); ++offer) {
      if (zone_of_[offer] < 0) continue;
      zone_events.clear();
      zones_[zone_of_[offer]]->Collect(from, to, &zone_events);
      for (const ZoneEvent& e : zone_events) out.push_back({e.at, offer, e.kind, e.notice});
    }
    std::stable_sort(out.begin(), out.end(), [](const MarketEvent& a, const MarketEvent& b) {
      return a.at != b.at ? a.at < b.at : a.offer < b.offer;
    });
    return out;
  }

  double NextEventAfter(double t) const override {
    double next = std::numeric_limits<double>::infinity();
    for (const auto& zone : zones_) next = std::min(next, zone->NextAfter(t));
    return next;
  }

 private:
  std::vector<int> zone_of_;
  std::vector<std::unique_ptr<Timeline>> zones_;
  std::vector<std::unique_ptr<ZoneScript>> scripts_;
  double offset_;
};

// Lexical normalisation: "examples/../data/x.json" -> "data/x.json".
std::string NormalizePath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(pos, slash - pos);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else {
        parts.push_back(part);
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = slash + 1;
  }
  std::string out = !path.empty() && path[0] == '/' ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "/" : "") + parts[i];
  return out.empty() ? "." : out;
}

// Everything the kinds share while they are read.
struct Builder {
  const FleetSpec& spec;
  const std::string& base_dir;
  const MarketOptions& options;
  std::vector<std::string> zones;  // zones with a timeline, by index
  std::vector<std::unique_ptr<EventSource>> sources;
  std::vector<std::unique_ptr<ZoneScript>> scripts;  // by zone: keyed to progress, else null

  // Spot zones of the spec's offers.
  bool HasSpotZone(const std::string& zone) const {
    return std::any_of(spec.offers.begin(), spec.offers.end(), [&](const Offer& o) {
      return o.billing == Billing::kSpot && o.zone == zone;
    });
  }
  std::unique_ptr<Market> Finish() {
    std::vector<std::unique_ptr<Timeline>> timelines;
    for (auto& s : sources) {
      timelines.push_back(std::make_unique<Timeline>(std::move(s), options.start_offset));
    }
    std::vector<int> zone_of(spec.offers.size(), -1);
    for (size_t i = 0; i < spec.offers.size(); ++i) {
      if (spec.offers[i].billing != Billing::kSpot) continue;
      auto it = std::find(zones.begin(), zones.end(), spec.offers[i].zone);
      if (it != zones.end()) zone_of[i] = static_cast<int>(it - zones.begin());
    }
    scripts.resize(timelines.size());
    return std::make_unique<ZoneMarket>(std::move(zone_of), std::move(timelines),
                                        std::move(scripts), options.start_offset);
  }
};

// One entry of a script: when it begins (at_* or at_step) and, for an outage, how long it lasts
// (hours, minutes, seconds or steps). `period`: repeat_*, or infinity.
Result<ScriptEntry> ReadScriptEntry(const SpecNode& e, double period, const Builder& b) {
  std::set<std::string> known = {"zone", "event", "notice", "at_step", "steps"};
  SpecNode::AddDurationKeys("at", &known);
  for (const char* unit : {"hours", "minutes", "seconds"}) known.insert(unit);
  BATON_RETURN_IF_ERROR(e.CheckKeys(known));
  ScriptEntry entry;
  BATON_ASSIGN_OR_RETURN(entry.at, e.Duration("at"));
  if (e.Has("at_step")) {
    if (entry.at) return e.Error("at_step", "give the event's time or its step, not both");
    BATON_ASSIGN_OR_RETURN(double step, e.Number("at_step", 0));
    if (step <= 0) return e.Error("at_step", "must be a positive step");
    entry.at_step = step;
  }
  if (!entry.at && !entry.at_step) {
    return e.Error("at_minutes", "required key is missing (or at_hours, at_seconds, at_step)");
  }
  if (entry.at && *entry.at >= period) {
    return e.Error(e.DurationKey("at"), "must be inside one period of repeat_minutes");
  }
  BATON_ASSIGN_OR_RETURN(entry.notice, e.Bool("notice", true));
  BATON_ASSIGN_OR_RETURN(std::string kind, e.String("event", ""));
  // The outage's length: `hours`, `minutes`, `seconds` or `steps` (one of them).
  std::string length_key;  // the key the length was given as
  for (const auto& [key, unit] : {std::pair<const char*, double>{"hours", 3600},
                                  {"minutes", 60},
                                  {"seconds", 1},
                                  {"steps", 0}}) {
    if (!e.Has(key)) continue;
    if (!length_key.empty()) return e.Error(key, "give the outage's length once");
    BATON_ASSIGN_OR_RETURN(double v, e.Number(key, 0));
    if (v <= 0) return e.Error(key, "must be positive");
    if (unit > 0) {
      entry.seconds = v * unit;
    } else {
      entry.steps = v;
    }
    length_key = key;
  }
  if (kind == "outage") {
    entry.kind = ScriptEntry::Kind::kOutage;
    if (length_key.empty()) {
      return e.Error("minutes", "an outage needs its length (minutes, hours, steps)");
    }
    if (entry.at && entry.seconds && *entry.at + *entry.seconds > period) {
      return e.Error(length_key, "the outage must end inside one period of repeat_minutes");
    }
  } else if (kind == "reclaim") {
    entry.kind = ScriptEntry::Kind::kReclaim;
    if (!length_key.empty()) {
      return e.Error(length_key, "a reclaim takes an instance at once: no length");
    }
  } else {
    return e.Error("event", fmt::format("expected outage or reclaim, got '{}'", kind));
  }
  const char* step_key = entry.at_step ? "at_step" : entry.steps ? "steps" : nullptr;
  if (step_key && !b.options.step_keys) {
    return e.Error(step_key,
                   "the sim provider counts work in seconds, not training steps: key the event "
                   "to time (at_minutes, minutes)");
  }
  if (step_key && !std::isinf(period)) {
    return e.Error(step_key, "a run reaches a step once: not with repeat_minutes");
  }
  return entry;
}

Status ReadScripted(const SpecNode& m, Builder* b) {
  std::set<std::string> known = {"kind", "events"};
  SpecNode::AddDurationKeys("repeat", &known);
  BATON_RETURN_IF_ERROR(m.CheckKeys(known));
  BATON_ASSIGN_OR_RETURN(std::optional<double> repeat, m.Duration("repeat"));
  if (repeat && *repeat < 60) return m.Error(m.DurationKey("repeat"), "must be at least 1 minute");
  const double period = repeat ? *repeat : std::numeric_limits<double>::infinity();
  SpecNode list = m.Get("events");
  if (!list.IsList()) return list.Error("expected a list of events");
  std::map<std::string, std::vector<ScriptEntry>> by_zone;
  for (size_t i = 0; i < list.size(); ++i) {
    SpecNode e = list.Item(i);
    BATON_ASSIGN_OR_RETURN(ScriptEntry entry, ReadScriptEntry(e, period, *b));
    if (!e.Has("zone")) return e.Error("zone", "required key is missing");
    BATON_ASSIGN_OR_RETURN(std::string zone, e.String("zone", ""));
    if (!b->HasSpotZone(zone)) {
      return e.Error("zone", fmt::format("no spot offer in zone '{}'", zone));
    }
    by_zone[zone].push_back(entry);
  }
  for (auto& [zone, entries] : by_zone) {
    auto script = std::make_unique<ZoneScript>(entries);
    b->zones.push_back(zone);
    b->sources.push_back(MakeScriptedSource(script->Raw(), period));
    b->scripts.resize(b->zones.size());
    if (script->KeyedToProgress()) b->scripts.back() = std::move(script);
  }
  return Status::Ok();
}

// FNV-1a: a zone's random stream depends on its name only, not on which other zones exist.
uint64_t HashName(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

Status ReadRandom(const SpecNode& m, Builder* b) {
  std::set<std::string> known = {"kind", "seed", "reclaims_per_hour", "no_notice_fraction"};
  SpecNode::AddDurationKeys("mean_up", &known);
  SpecNode::AddDurationKeys("mean_down", &known);
  BATON_RETURN_IF_ERROR(m.CheckKeys(known));
  RandomMarketParams p;
  BATON_ASSIGN_OR_RETURN(int64_t seed, m.Int("seed", 1));
  BATON_ASSIGN_OR_RETURN(std::optional<double> up, m.Duration("mean_up"));
  BATON_ASSIGN_OR_RETURN(std::optional<double> down, m.Duration("mean_down"));
  if (!up || *up <= 0) return m.Error(m.DurationKey("mean_up"), "expected a positive duration");
  if (!down || *down <= 0) {
    return m.Error(m.DurationKey("mean_down"), "expected a positive duration");
  }
  p.mean_up = *up;
  p.mean_down = *down;
  BATON_ASSIGN_OR_RETURN(double per_hour, m.Number("reclaims_per_hour", 0));
  if (per_hour < 0) return m.Error("reclaims_per_hour", "must not be negative");
  p.reclaims_per_second = per_hour / 3600;
  BATON_ASSIGN_OR_RETURN(p.no_notice_fraction, m.Number("no_notice_fraction", 0));
  if (p.no_notice_fraction < 0 || p.no_notice_fraction > 1) {
    return m.Error("no_notice_fraction", "must be between 0 and 1");
  }
  for (const Offer& o : b->spec.offers) {
    if (o.billing != Billing::kSpot ||
        std::find(b->zones.begin(), b->zones.end(), o.zone) != b->zones.end()) {
      continue;
    }
    b->zones.push_back(o.zone);
    b->sources.push_back(MakeRandomSource(p, static_cast<uint64_t>(seed) ^ HashName(o.zone)));
  }
  return Status::Ok();
}

Result<Trace> ReadTrace(const std::string& text, const std::string& path) {
  BATON_ASSIGN_OR_RETURN(Json j, ParseJson(text, path));
  // Through the checked reader: 1e999 parses as inf, which a `> 0` check lets through.
  Result<double> gap = j.is_object() && j.contains("metadata") && j["metadata"].is_object()
                           ? JsonNumber(j["metadata"], "gap_seconds", path)
                           : Result<double>(InvalidArgument("no metadata"));
  if (!gap.ok() || *gap <= 0 || *gap > SpecNode::kMaxDurationSeconds) {
    return InvalidArgument("{}: expected metadata.gap_seconds, a positive number of seconds", path);
  }
  Trace trace;
  trace.gap = *gap;
  if (!j.contains("data") || !j["data"].is_array() || j["data"].empty()) {
    return InvalidArgument("{}: expected data, a non-empty list of counts per tick", path);
  }
  const Json& data = j["data"];
  trace.up.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& v = data[i];
    if (!JsonAsNumber(v).ok() || v.get<double>() < 0) {
      return InvalidArgument("{}: data[{}]: expected a count, got {}", path, i, DumpJson(v));
    }
    trace.up.push_back(v.get<double>() > 0);
  }
  return trace;
}

Result<Trace> LoadTrace(const std::string& path, const MarketOptions& options) {
  if (options.trace_cache) {
    auto it = options.trace_cache->traces.find(path);
    if (it != options.trace_cache->traces.end()) return it->second;
  }
  BATON_ASSIGN_OR_RETURN(std::string text, options.read_file ? options.read_file(path)
                                                             : Env::Default()->ReadFile(path));
  BATON_ASSIGN_OR_RETURN(Trace trace, ReadTrace(text, path));
  if (options.trace_cache) options.trace_cache->traces[path] = trace;
  return trace;
}

Status ReadTraces(const SpecNode& m, Builder* b) {
  std::set<std::string> known = {"kind", "zones", "notice"};
  SpecNode::AddDurationKeys("start", &known);
  BATON_RETURN_IF_ERROR(m.CheckKeys(known));
  BATON_ASSIGN_OR_RETURN(std::optional<double> start, m.Duration("start"));
  BATON_ASSIGN_OR_RETURN(bool notice, m.Bool("notice", true));
  SpecNode zones = m.Get("zones");
  if (!zones.present()) return zones.Error("required key is missing");
  BATON_RETURN_IF_ERROR(zones.ExpectMap());
  for (const std::string& zone : zones.Keys()) {
    SpecNode value = zones.Get(zone);
    if (!b->HasSpotZone(zone)) return value.Error(fmt::format("no spot offer in zone '{}'", zone));
    if (!value.IsScalar()) return value.Error("expected the path of a trace file");
    std::string rel = *value.AsString();
    std::string path = NormalizePath(rel.starts_with("/") ? rel : JoinPath(b->base_dir, rel));
    Result<Trace> trace = LoadTrace(path, b->options);
    if (!trace.ok()) return value.Error(trace.status().ToString());
    b->zones.push_back(zone);
    b->sources.push_back(
        MakeTraceSource(std::move(trace->up), trace->gap, start.value_or(0), notice));
  }
  for (const Offer& o : b->spec.offers) {
    if (o.billing == Billing::kSpot &&
        std::find(b->zones.begin(), b->zones.end(), o.zone) == b->zones.end()) {
      return zones.Error(fmt::format("no trace for zone '{}' of spot offer {}", o.zone, o.Name()));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Market>> MakeMarket(const FleetSpec& spec, const std::string& base_dir) {
  return MakeMarket(spec, base_dir, MarketOptions{});
}

Result<std::unique_ptr<Market>> MakeMarket(const FleetSpec& spec, const std::string& base_dir,
                                           const MarketOptions& options) {
  Builder b{spec, base_dir, options, {}, {}, {}};
  const SpecNode& m = spec.market;
  if (m.IsNull()) return b.Finish();
  BATON_RETURN_IF_ERROR(m.ExpectMap());
  BATON_ASSIGN_OR_RETURN(std::string kind, m.String("kind", ""));
  if (kind == "always") {
    BATON_RETURN_IF_ERROR(m.CheckKeys({"kind"}));
  } else if (kind == "scripted") {
    BATON_RETURN_IF_ERROR(ReadScripted(m, &b));
  } else if (kind == "random") {
    BATON_RETURN_IF_ERROR(ReadRandom(m, &b));
  } else if (kind == "trace") {
    BATON_RETURN_IF_ERROR(ReadTraces(m, &b));
  } else {
    return m.Error("kind",
                   fmt::format("expected always, scripted, random or trace, got '{}'", kind));
  }
  return b.Finish();
}

}  // namespace baton::fleet
