#include "view/run_plots.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/json.h"
#include "base/strings.h"
#include "train/run_log.h"

namespace baton::view {

std::vector<LogScalarSeries> ReadLogScalarSeries(const std::string& log_text) {
  std::vector<LogScalarSeries> out;
  std::map<std::string, size_t> index;  // tag -> out[i]
  for (const LogLine& line : LogHistory(log_text)) {
    const double step = line.at("step").get<double>();
    for (const auto& [key, value] : line.items()) {
      if (key == "step" || !value.is_number()) continue;
      const double v = value.get<double>();
      if (!std::isfinite(v)) continue;
      // HF's rewrite_logs: eval_x -> eval/x, anything else -> train/x.
      std::string tag = key.starts_with("eval_") ? "eval/" + key.substr(5) : "train/" + key;
      auto [it, fresh] = index.try_emplace(tag, out.size());
      if (fresh) {
        std::string file = tag;
        for (char& c : file) c = c == '/' ? '_' : c;
        out.push_back({tag, file + ".png", {}});
      }
      std::vector<PlotPoint>& points = out[it->second].points;
      if (!points.empty() && points.back().x == step) {
        points.back().y = v;
      } else {
        points.push_back({step, v});
      }
    }
  }
  return out;
}

Result<std::vector<std::string>> WriteLogPlots(
    const std::vector<LogScalarSeries>& series, const PutFile& put,
    const std::function<void(const std::string&)>& warn) {
  std::vector<std::string> written;
  for (const LogScalarSeries& s : series) {
    if (written.size() == kMaxLogPlots) {
      warn(fmt::format("the log has more than {} scalars; plotted the first {}", kMaxLogPlots,
                       kMaxLogPlots));
      break;
    }
    if (Status ok = ValidatePathSegment(s.file_name, "plot file name"); !ok.ok()) {
      warn(fmt::format("not plotting a key of the log: {}", ok.message()));
      continue;
    }
    LinePlotOptions options;
    options.title = s.tag;
    options.smooth = s.tag == "train/loss";  // ms-swift's smooth_key
    Result<std::string> png = RenderLinePlotPng(s.points, options);
    if (!png.ok()) {
      warn(fmt::format("not plotting {}: {}", s.tag, png.status().message()));
      continue;
    }
    BATON_RETURN_IF_ERROR(put(s.file_name, *png));
    written.push_back(s.file_name);
  }
  return written;
}

CostTimeline CostTimelineFromFleet(const fleet::FleetSpec& spec,
                                   const std::vector<fleet::Instance>& instances,
                                   const fleet::FleetReport& report, double now) {
  CostTimeline t;
  t.title = fmt::format("instances and cost (policy {})", report.policy);
  t.end = now;
  std::map<std::string, const fleet::LedgerLine*> lines;
  for (const fleet::LedgerLine& l : report.ledger) lines[l.instance] = &l;
  for (const fleet::Instance& in : instances) {
    if (in.offer < 0 || in.offer >= static_cast<int>(spec.offers.size())) continue;
    const fleet::Offer& offer = spec.offers[in.offer];
    TimelineBar b;
    b.instance = in.id;
    b.offer = offer.Name();
    b.spot = offer.billing == fleet::Billing::kSpot;
    b.launched = in.launched_at;
    b.running = in.running_at;
    b.ended = in.ended_at;
    if (in.ended_at >= 0) b.end = fleet::EndReasonName(in.end_reason);
    auto it = lines.find(in.id);
    b.cost = it != lines.end() ? it->second->cost : -1;
    t.bars.push_back(std::move(b));
  }
  t.total_cost = report.cost;
  t.on_demand_cost = report.on_demand_baseline_cost > 0 ? report.on_demand_baseline_cost : -1;
  return t;
}

Result<CostTimeline> CostTimelineFromLedger(const FleetLedger& ledger, const fleet::FleetSpec* spec,
                                            const fleet::RunProgress& progress,
                                            int64_t now_unix_ms) {
  // Seconds since the run began; -1 for "never" (0 ms). A time the ledger puts before the run's
  // start is drawn at it.
  auto at = [&](int64_t ms) {
    return ms > 0
               ? std::max(0.0,
                          (static_cast<double>(ms) - static_cast<double>(ledger.started_unix_ms)) /
                              1000.0)
               : -1.0;
  };
  // The picture reaches now while an instance lives, else the last end.
  double now = 0;
  for (const LedgerInstance& l : ledger.instances) {
    now = std::max(now, l.ended_unix_ms > 0 ? at(l.ended_unix_ms) : at(now_unix_ms));
  }
  if (spec != nullptr) {
    std::vector<fleet::Instance> instances;
    for (const LedgerInstance& l : ledger.instances) {
      fleet::Instance in;
      in.id = l.id;
      for (size_t i = 0; i < spec->offers.size(); ++i) {
        if (spec->offers[i].Name() == l.offer) in.offer = static_cast<int>(i);
      }
      if (in.offer < 0) {
        return FailedPrecondition(
            "the fleet ledger's instance {} ran on {}, which the job's fleet does not offer; put "
            "the offer back (its price bills the run)",
            l.id, l.offer);
      }
      in.launched_at = at(l.launched_unix_ms);
      in.running_at = at(l.running_unix_ms);
      in.ended_at = at(l.ended_unix_ms);
      in.billed_cost = l.billed_cost;
      if (l.ended_unix_ms > 0) in.state = fleet::InstanceState::kEnded;
      instances.push_back(std::move(in));
    }
    CostTimeline t = CostTimelineFromFleet(
        *spec, instances, fleet::BuildReport(*spec, instances, progress, now), now);
    // The ledger says how each ended and when notice came, in its own words.
    for (size_t i = 0; i < t.bars.size(); ++i) {
      t.bars[i].end = ledger.instances[i].end_reason;
      t.bars[i].notice =
          at(ledger.instances[i].notice_unix_ms > 0 ? ledger.instances[i].notice_unix_ms
                                                    : ledger.instances[i].stop_unix_ms);
    }
    t.title = fmt::format("run '{}' on {}: instances and cost", ledger.run, ledger.provider);
    return t;
  }
  CostTimeline t;
  t.title = fmt::format("run '{}' on {}: instances and cost", ledger.run, ledger.provider);
  t.end = now;
  t.total_cost = 0;
  for (const LedgerInstance& l : ledger.instances) {
    TimelineBar b;
    b.instance = l.id;
    b.offer = l.offer;
    b.spot = l.offer.ends_with("/spot");
    b.launched = at(l.launched_unix_ms);
    b.running = at(l.running_unix_ms);
    b.notice = at(l.notice_unix_ms > 0 ? l.notice_unix_ms : l.stop_unix_ms);
    b.ended = at(l.ended_unix_ms);
    b.end = l.end_reason;
    b.cost = l.billed_cost >= 0 ? l.billed_cost : -1;
    t.total_cost = b.cost >= 0 && t.total_cost >= 0 ? t.total_cost + b.cost : -1;
    t.bars.push_back(std::move(b));
  }
  return t;
}

Result<std::string> ReadRunLogText(Store* store) {
  Result<std::string> text = store->Get(kRunLogName);
  if (text.status().code() == StatusCode::kNotFound) {
    return NotFound("no {} in {}: not a run's folder, or the run has not logged a step yet",
                    kRunLogName, RedactUrl(store->Url()));
  }
  if (!text.ok()) return text.status().WithContext(fmt::format("reading {}", kRunLogName));
  return text;
}

Result<std::vector<std::string>> WriteRunImages(
    Env* env, Store* store, const std::string& out_dir, const CostTimeline* cost,
    const std::function<void(const std::string&)>& warn) {
  Result<std::string> log = ReadRunLogText(store);
  // A fleet that never trained still cost money: its timeline is drawn without a log.
  if (!log.ok() && (cost == nullptr || log.status().code() != StatusCode::kNotFound)) {
    return log.status();
  }
  if (!log.ok()) warn(log.status().message());
  const std::string dir = JoinPath(out_dir, kImagesDir);
  BATON_RETURN_IF_ERROR(env->CreateDirs(dir));
  std::vector<std::string> paths;
  auto put = [&](const std::string& name, const std::string& png) -> Status {
    std::string path = JoinPath(dir, name);
    BATON_RETURN_IF_ERROR(env->WriteFileAtomic(path, png));
    paths.push_back(path);
    return Status::Ok();
  };
  if (log.ok()) {
    BATON_RETURN_IF_ERROR(WriteLogPlots(ReadLogScalarSeries(*log), put, warn).status());
  }
  if (cost != nullptr) {
    Result<std::string> png = RenderCostTimelinePng(*cost);
    if (png.ok()) {
      BATON_RETURN_IF_ERROR(put(kCostPlotName, *png));
    } else {
      warn(fmt::format("not drawing {}: {}", kCostPlotName, png.status().message()));
    }
  }
  return paths;
}

fleet::RunProgress ProgressFromLog(const std::string& log_text) {
  fleet::RunProgress p;
  size_t start = 0;
  while (start < log_text.size()) {
    size_t end = log_text.find('\n', start);
    if (end == std::string::npos) end = log_text.size();
    Result<Json> parsed = ParseJson(std::string_view(log_text).substr(start, end - start), "");
    start = end + 1;
    if (!parsed.ok() || !parsed->is_object()) continue;  // a torn last line
    const Json& j = *parsed;
    auto steps = j.find("global_step/max_steps");
    if (steps != j.end() && steps->is_string()) {
      long long done = 0, total = 0;
      if (std::sscanf(steps->get<std::string>().c_str(), "%lld/%lld", &done, &total) == 2 &&
          total > 0) {
        p.done = static_cast<double>(done);
        p.total = static_cast<double>(total);
      }
    }
    auto speed = j.find("train_speed(iter/s)");
    if (speed != j.end() && speed->is_number() && speed->get<double>() > 0 &&
        std::isfinite(speed->get<double>())) {
      p.rate = speed->get<double>();
    }
    if (j.contains("last_model_checkpoint")) p.complete = true;
  }
  return p;
}

}  // namespace baton::view
