#include "fleet/simulate.h"

#include <algorithm>
#include <cmath>

#include "base/spec_node.h"
#include "fleet/controller.h"
#include "fleet/sim_data.h"
#include "fleet/sim_provider.h"

namespace baton::fleet {
namespace {

constexpr PolicyKind kAllPolicies[] = {PolicyKind::kSpotOnly, PolicyKind::kSpotFirst,
                                       PolicyKind::kOnDemand, PolicyKind::kDeadline};

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

Result<std::vector<SimResult>> RunScenario(const SimScenario& scenario, const SimOptions& options) {
  std::vector<SimResult> results;
  SimScenario shared = scenario;  // every run of every row parses each trace once
  if (!shared.market.trace_cache) shared.market.trace_cache = NewTraceCache();
  for (const SimRow& row : scenario.rows) {
    SimResult r;
    r.label = row.label;
    r.policy = row.spec.policy;
    std::vector<double> starts = row.spec.sim_start_seconds;
    if (starts.empty()) starts.push_back(0);
    for (double start : starts) {
      SimOptions o = options;
      std::string tag =
          starts.size() > 1 ? fmt::format("{} @{:g} h", row.label, start / 3600) : row.label;
      // The controller's lines name the policy; say which row and start they belong to when
      // that is not all of it.
      if (options.print && tag != PolicyName(row.spec.policy)) {
        o.print = [&](const std::string& line) { options.print(tag + ": " + line); };
      }
      BATON_ASSIGN_OR_RETURN(FleetReport report, SimulateOnce(row.spec, shared, start, o));
      report.scenario = fmt::format("{} | {}", scenario.source, tag);
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
    for (double* v : {&r.cost, &r.makespan_seconds, &r.completed_at, &r.interruptions,
                      &r.work_redone, &r.overhead_seconds, &r.baseline_cost}) {
      *v /= n;
    }
    r.saving_fraction = r.baseline_cost > 0 ? 1 - r.cost / r.baseline_cost : 0;
    results.push_back(std::move(r));
  }
  return results;
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
      {"examples/sim-traces.yaml", "(c) public spot traces (Can't Be Late, AWS us-east-1)"}};
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
