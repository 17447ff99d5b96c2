#include "fleet/simulate.h"

#include <algorithm>
#include <cmath>

#include "base/env.h"
#include "base/spec_node.h"
#include "fleet/controller.h"
#include "fleet/optimum.h"
#include "fleet/sim_data.h"
#include "fleet/sim_provider.h"

namespace baton::fleet {
namespace {

constexpr PolicyKind kAllPolicies[] = {PolicyKind::kSpotOnly, PolicyKind::kSpotFirst,
                                       PolicyKind::kOnDemand, PolicyKind::kDeadline,
                                       PolicyKind::kAdaptive};

// The built-in scenarios' row names, in the recipe's words.
std::string RecipeLabel(PolicyKind p) {
  switch (p) {
    case PolicyKind::kSpotOnly:
      return "all-spot (spot-only)";
    case PolicyKind::kSpotFirst:
      return "hybrid (spot-first)";
    case PolicyKind::kOnDemand:
      return "all on-demand (on-demand)";
    case PolicyKind::kDeadline:
      return "Uniform Progress (deadline)";
    case PolicyKind::kAdaptive:
      return "Baton's own (adaptive)";
  }
  return PolicyName(p);
}

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

double MinPrice(const FleetSpec& spec, Billing billing) {
  double best = 0;
  for (const Offer& o : spec.offers) {
    if (o.billing == billing && (best == 0 || o.price_per_hour < best)) best = o.price_per_hour;
  }
  return best;
}

// Rows for `policies` (empty: every one that fits), labelled by `label`. A policy that does not
// fit the spec is an error when it was asked for, unless `skip_unfit`.
Result<std::vector<SimRow>> Rows(const FleetSpec& spec, const std::string& source,
                                 const std::vector<PolicyKind>& policies,
                                 std::string (*label)(PolicyKind), bool skip_unfit) {
  std::vector<SimRow> rows;
  const bool all = policies.empty();
  for (PolicyKind p :
       all ? std::vector<PolicyKind>(std::begin(kAllPolicies), std::end(kAllPolicies)) : policies) {
    Status fits = CheckPolicyFits(spec, p, source);
    if (!fits.ok()) {
      if (all || skip_unfit) continue;  // e.g. deadline without deadline_hours
      return fits;
    }
    SimRow row{label(p), spec};
    row.spec.policy = p;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string NameLabel(PolicyKind p) { return PolicyName(p); }

// The fleet section of a job file, checked for what a simulation needs. Only `name` and `fleet`
// are read: a sim job needs no model, datasets or store.
Result<FleetSpec> SimFleet(const SpecNode& job) {
  if (!job.IsMap()) return job.Error("a job spec is a YAML mapping of keys");
  SpecNode fleet = job.Get("fleet");
  if (fleet.IsNull()) return fleet.Error("`baton sim` needs a fleet section");
  BATON_ASSIGN_OR_RETURN(FleetSpec spec, ParseFleetSpec(fleet));
  if (spec.work_seconds <= 0) {
    return fleet.Error(fleet.DurationKey("work"),
                       "`baton sim` needs the compute the job takes on one instance");
  }
  return spec;
}

}  // namespace

std::string DescribeSpec(const FleetSpec& spec) {
  const Overheads& o = spec.overheads;
  std::string s = fmt::format("{:g} h of work", spec.work_seconds / 3600);
  if (double p = MinPrice(spec, Billing::kSpot); p > 0) s += fmt::format("; spot {:.2f}/h", p);
  if (double p = MinPrice(spec, Billing::kOnDemand); p > 0) {
    s += fmt::format(", on-demand {:.2f}/h", p);
  }
  s += fmt::format("; boot {}, load {}, checkpoint {}", FormatHours(o.boot), FormatHours(o.load),
                   fmt::format("{:g} s", o.checkpoint));
  if (o.checkpoint_interval > 0) {
    s += fmt::format(" every {} of training", FormatHours(o.checkpoint_interval));
  }
  s += o.notice > 0 ? fmt::format(", notice {}", FormatHours(o.notice)) : ", no notice";
  if (spec.deadline_seconds > 0)
    s += fmt::format("; deadline {:g} h", spec.deadline_seconds / 3600);
  return s;
}

Result<FleetReport> SimulateOnce(const FleetSpec& spec, const SimScenario& where, double start,
                                 const SimOptions& options) {
  MarketOptions mo = where.market;
  mo.start_offset = start;
  mo.step_keys = false;  // the sim's work is seconds of compute, not steps
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Market> market, MakeMarket(spec, where.base_dir, mo));
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<SimProvider> provider,
                         SimProvider::Create(spec, std::move(market)));
  ControllerOptions co;
  co.tick_seconds = options.tick_seconds;
  co.max_seconds = std::max(30 * 86400.0, 20 * spec.work_seconds);
  co.print = options.print;
  Controller controller(spec, provider.get(), co);
  Result<FleetReport> report = controller.Run();
  if (!report.ok() && report.status().code() == StatusCode::kFailedPrecondition) {
    return controller.Report();  // gave up at max_seconds: the report says not complete
  }
  return report;
}

namespace {

Result<SimResult> RunRow(const SimRow& row, const SimScenario& where,
                         const std::vector<double>& starts, const SimOptions& options) {
  SimResult r;
  r.label = row.label;
  r.policy = row.spec.policy;
  for (double start : starts) {
    SimOptions o = options;
    std::string tag =
        starts.size() > 1 ? fmt::format("{} @{:g} h", row.label, start / 3600) : row.label;
    // The controller's lines name the policy; say which row and start they belong to when
    // that is not all of it.
    if (options.print && tag != PolicyName(row.spec.policy)) {
      o.print = [&](const std::string& line) { options.print(tag + ": " + line); };
    }
    BATON_ASSIGN_OR_RETURN(FleetReport report, SimulateOnce(row.spec, where, start, o));
    report.scenario = fmt::format("{} | {}", where.source, tag);
    r.cost += report.cost;
    r.makespan_seconds += report.makespan_seconds;
    r.completed_at += report.complete ? report.completed_at : report.makespan_seconds;
    r.interruptions += report.interruptions;
    r.work_redone += report.work_redone;
    r.overhead_seconds += report.overhead_seconds;
    r.baseline_cost += report.on_demand_baseline_cost;
    if (!report.complete) ++r.incomplete;
    if (row.spec.deadline_seconds > 0 &&
        (!report.complete || report.completed_at > row.spec.deadline_seconds)) {
      ++r.deadline_missed;
    }
    r.runs.push_back(std::move(report));
  }
  const double n = static_cast<double>(r.runs.size());
  for (double* v : {&r.cost, &r.makespan_seconds, &r.completed_at, &r.interruptions, &r.work_redone,
                    &r.overhead_seconds, &r.baseline_cost}) {
    *v /= n;
  }
  r.saving_fraction = r.baseline_cost > 0 ? 1 - r.cost / r.baseline_cost : 0;
  return r;
}

}  // namespace

Result<AdaptiveParams> TuneAdaptive(const SimRow& row, const SimScenario& where) {
  const std::vector<double>& starts = row.spec.sim_tune_start_seconds;
  if (starts.empty()) return row.spec.adaptive;
  AdaptiveParams best = row.spec.adaptive;
  int best_late = -1;
  double best_cost = 0;
  for (bool line : {false, true}) {
    for (double wait_hours : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0}) {
      for (double back_hours : {0.0, 1.0, 2.0, 4.0}) {
        SimRow candidate = row;
        candidate.spec.adaptive.line = line;
        candidate.spec.adaptive.wait_slack = wait_hours * 3600;
        candidate.spec.adaptive.return_slack = (wait_hours + back_hours) * 3600;
        BATON_ASSIGN_OR_RETURN(SimResult r, RunRow(candidate, where, starts, {}));
        const int late = r.deadline_missed + r.incomplete;
        if (best_late < 0 || late < best_late || (late == best_late && r.cost < best_cost)) {
          best = candidate.spec.adaptive;
          best_late = late;
          best_cost = r.cost;
        }
      }
    }
  }
  return best;
}

Result<std::vector<SimResult>> RunScenario(const SimScenario& scenario, const SimOptions& options) {
  std::vector<SimResult> results;
  SimScenario shared = scenario;  // every run of every row parses each trace once
  if (!shared.market.trace_cache) shared.market.trace_cache = NewTraceCache();
  for (SimRow row : scenario.rows) {
    if (row.spec.policy == PolicyKind::kAdaptive && !row.spec.sim_tune_start_seconds.empty()) {
      BATON_ASSIGN_OR_RETURN(row.spec.adaptive, TuneAdaptive(row, shared));
      row.label += fmt::format(
          " [tuned on {} other starts: wait {:g} h{}, back {:g} h]",
          row.spec.sim_tune_start_seconds.size(), row.spec.adaptive.wait_slack / 3600,
          row.spec.adaptive.line ? " or the line" : "", row.spec.adaptive.return_slack / 3600);
    }
    std::vector<double> starts = row.spec.sim_start_seconds;
    if (starts.empty()) starts.push_back(0);
    BATON_ASSIGN_OR_RETURN(SimResult r, RunRow(row, shared, starts, options));
    results.push_back(std::move(r));
  }
  return results;
}

Result<SimOptimum> ScenarioOptimum(const SimScenario& scenario,
                                   const std::vector<SimResult>& results) {
  SimOptimum out;
  if (scenario.rows.empty()) return out;
  const FleetSpec& spec = scenario.rows.front().spec;
  std::vector<double> starts = spec.sim_start_seconds;
  if (starts.empty()) starts.push_back(0);
  SimScenario shared = scenario;
  if (!shared.market.trace_cache) shared.market.trace_cache = NewTraceCache();
  const uint64_t began = Env::Default()->NowMicros();
  double sum = 0;
  for (size_t k = 0; k < starts.size(); ++k) {
    double deadline = spec.deadline_seconds;
    if (deadline <= 0) {
      // No deadline: by the time the slowest row finished from this start (rounded up to a
      // minute), so every row's run is one of the schedules the optimum is the cheapest of.
      for (const SimResult& r : results) {
        if (k < r.runs.size() && r.runs[k].complete) {
          deadline = std::max(deadline, std::ceil(r.runs[k].completed_at / 60 - 1e-9) * 60);
        }
      }
      if (deadline <= 0) {
        out.unavailable = "no row completed, so there is no time to finish by";
        return out;
      }
    }
    MarketOptions mo = shared.market;
    mo.start_offset = starts[k];
    mo.step_keys = false;
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<Market> market, MakeMarket(spec, shared.base_dir, mo));
    Result<HindsightOptimum> o = ComputeOptimum(spec, *market, deadline);
    if (!o.ok()) {
      out.unavailable = o.status().message();
      out.cost.clear();
      return out;
    }
    out.cost.push_back(o->cost);
    out.step = o->step;
    sum += o->cost;
  }
  out.mean = sum / static_cast<double>(starts.size());
  out.seconds = static_cast<double>(Env::Default()->NowMicros() - began) / 1e6;
  return out;
}

Result<SimScenario> ScenarioFromJob(std::string_view text, const std::string& source,
                                    const std::vector<PolicyKind>& policies) {
  BATON_ASSIGN_OR_RETURN(SpecNode job, SpecNode::Parse(text, source));
  BATON_ASSIGN_OR_RETURN(FleetSpec spec, SimFleet(job));
  SimScenario s;
  s.source = source;
  s.base_dir = Dirname(source);
  BATON_ASSIGN_OR_RETURN(s.title, job.String("name", source));
  BATON_ASSIGN_OR_RETURN(s.rows, Rows(spec, source, policies, &NameLabel, false));
  if (s.rows.empty()) return InvalidArgument("{}: fleet: no policy fits these offers", source);
  return s;
}

Result<std::vector<SimScenario>> BuiltinScenarios(const std::vector<PolicyKind>& policies) {
  struct Builtin {
    const char* path;
    const char* title;
  };
  const Builtin builtins[] = {
      {"examples/sim-recipe.yaml", "(a) the recipe's own assumptions"},
      {"examples/sim-overheads.yaml", "(b) the same market with real overheads"},
      {"examples/sim-traces.yaml", "(c) public spot traces (Can't Be Late, AWS us-east-1)"},
      {"examples/sim-traces-9zones.yaml",
       "(d) the same job on all nine zones of the traces, on days the tuning never saw"}};
  MarketOptions embedded;
  embedded.read_file = [](const std::string& path) -> Result<std::string> {
    std::optional<std::string_view> bytes = EmbeddedSimFile(path);
    if (!bytes) return NotFound("{}: not compiled into this binary", path);
    return std::string(*bytes);
  };
  std::vector<SimScenario> out;
  for (const Builtin& b : builtins) {
    std::optional<std::string_view> text = EmbeddedSimFile(b.path);
    if (!text) return Internal("{}: not compiled into this binary", b.path);
    BATON_ASSIGN_OR_RETURN(SpecNode job, SpecNode::Parse(*text, b.path));
    BATON_ASSIGN_OR_RETURN(FleetSpec spec, SimFleet(job));
    SimScenario s;
    s.title = b.title;
    s.source = b.path;
    s.base_dir = Dirname(b.path);
    s.market = embedded;
    // A scenario may get no rows (--policy deadline: (a) and (b) have no deadline).
    BATON_ASSIGN_OR_RETURN(std::vector<SimRow> rows,
                           Rows(spec, b.path, policies, &RecipeLabel, true));
    for (SimRow& row : rows) {
      s.rows.push_back(row);
      // The recipe's ossfs setup: the same hybrid, but the trainer ignores notices, so each
      // interruption is a kill and loses the work since the last periodic checkpoint.
      if (row.spec.policy == PolicyKind::kSpotFirst &&
          std::string(b.path) == "examples/sim-overheads.yaml") {
        row.label = "hybrid, notices ignored (ossfs recipe)";
        row.spec.overheads.notice = 0;
        s.rows.push_back(row);
      }
    }
    if (!s.rows.empty()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace baton::fleet
