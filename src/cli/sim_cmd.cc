// baton sim [JOB.yaml]: what each fleet policy would cost and how long it would take, on the
// job's spot market, with the discrete-event sim provider (src/fleet/simulate.h). Only the
// job's `name` and `fleet` sections are read; fleet.work_hours says how much compute it needs.
// Without a job it runs the built-in scenarios (examples/sim-*.yaml, compiled in): the recipe's
// own assumptions, the same with real overheads, and the public spot traces (4 and 9 zones).
// Each table ends with the hindsight optimum (src/fleet/optimum.h) and gives every row's cost
// as a multiple of it (`x optimum`).
//   --policy a,b        only these policies (default: every one that fits the offers)
//   --format table|json|csv
//   --verbose           the controller's decisions and events, on stderr
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/env.h"
#include "cli/commands.h"
#include "fleet/report.h"
#include "fleet/simulate.h"

namespace baton::cli {
namespace {

struct SimFlags {
  std::string job;
  std::string policies;
  std::string format = "table";
  bool verbose = false;
};

Result<std::vector<fleet::PolicyKind>> ParsePolicies(const std::string& list) {
  std::vector<fleet::PolicyKind> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name.empty()) continue;
    Result<fleet::PolicyKind> p = fleet::ParsePolicyName(name);
    if (!p.ok()) return InvalidArgument("--policy: {}", p.status().message());
    out.push_back(*p);
  }
  return out;
}

std::string Percent(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

std::string Ratio(double cost, const fleet::SimOptimum& opt) {
  if (!opt.unavailable.empty() || opt.cost.empty() || !(opt.mean > 0) || std::isinf(opt.mean)) {
    return "-";
  }
  return fmt::format("{:.3f}", cost / opt.mean);
}

std::string ScenarioTable(const fleet::SimScenario& s, const std::vector<fleet::SimResult>& rs,
                          const fleet::SimOptimum& opt) {
  const fleet::FleetSpec& spec = s.rows.front().spec;
  const size_t runs = rs.empty() ? 0 : rs.front().runs.size();
  const bool deadline = spec.deadline_seconds > 0;
  std::string out = fmt::format("{}  [{}]\n{}\n", s.title, s.source, fleet::DescribeSpec(spec));
  if (runs > 1) {
    std::string starts;
    for (double t : spec.sim_start_seconds) {
      starts += fmt::format("{}{:g}", starts.empty() ? "" : ", ", t / 3600);
    }
    out += fmt::format("mean of {} runs, started {} h into the market's timeline\n", runs, starts);
  }
  std::vector<std::vector<std::string>> rows = {
      {"policy", "cost", "makespan", "interruptions", "redone", "overhead", "saving"}};
  if (deadline) {
    rows[0].push_back("finished");
    rows[0].push_back("late");
  }
  rows[0].push_back("x optimum");
  for (const fleet::SimResult& r : rs) {
    std::vector<std::string> row = {
        r.label,
        fleet::FormatMoney(r.cost),
        fleet::FormatHours(r.makespan_seconds),
        runs > 1 ? fmt::format("{:.1f}", r.interruptions) : fmt::format("{:.0f}", r.interruptions),
        fleet::FormatHours(r.work_redone),  // sim work units are seconds
        fleet::FormatHours(r.overhead_seconds),
        Percent(r.saving_fraction)};
    if (deadline) {
      row.push_back(fleet::FormatHours(r.completed_at));
      row.push_back(fmt::format("{}/{}", r.deadline_missed, r.runs.size()));
    }
    row.push_back(Ratio(r.cost, opt));
    if (r.incomplete > 0) row[0] += fmt::format(" ({} not complete)", r.incomplete);
    rows.push_back(std::move(row));
  }
  std::string note;
  if (!opt.unavailable.empty()) {
    note = fmt::format("hindsight optimum: not computed: {}\n", opt.unavailable);
  } else if (!opt.cost.empty()) {
    const double baseline = rs.empty() ? 0 : rs.front().baseline_cost;
    std::vector<std::string> row(rows[0].size(), "");
    row[0] = "hindsight optimum";
    row[1] = std::isinf(opt.mean) ? "none" : fleet::FormatMoney(opt.mean);
    row[6] = baseline > 0 && !std::isinf(opt.mean) ? Percent(1 - opt.mean / baseline) : "";
    row.back() = Ratio(opt.mean, opt);
    rows.push_back(std::move(row));
    note = fmt::format(
        "hindsight optimum: the cheapest schedule {} knowing the market in advance "
        "(src/fleet/optimum.h), exact on a {:g} s grid; {} run{} in {:.1f} s\n",
        deadline ? "that meets the deadline" : "that finishes when the slowest row did", opt.step,
        opt.cost.size(), opt.cost.size() == 1 ? "" : "s", opt.seconds);
  }
  return out + fleet::TextTable(rows, "lrrrrrrrrr") + note;
}

Json ScenarioJson(const fleet::SimScenario& s, const std::vector<fleet::SimResult>& rs,
                  const fleet::SimOptimum& opt) {
  Json rows = Json::array();
  for (const fleet::SimResult& r : rs) {
    Json runs = Json::array();
    for (const fleet::FleetReport& report : r.runs) runs.push_back(fleet::ReportJson(report));
    rows.push_back(
        {{"label", r.label},
         {"policy", fleet::PolicyName(r.policy)},
         {"mean",
          {{"cost", r.cost},
           {"makespan_seconds", r.makespan_seconds},
           {"completed_at", r.completed_at},
           {"interruptions", r.interruptions},
           {"work_redone", r.work_redone},
           {"overhead_seconds", r.overhead_seconds},
           {"on_demand_baseline_cost", r.baseline_cost},
           {"saving_fraction", r.saving_fraction}}},
         {"incomplete", r.incomplete},
         {"cost_over_optimum", Ratio(r.cost, opt) == "-" ? Json(nullptr) : Json(r.cost / opt.mean)},
         {"deadline_missed", r.deadline_missed},
         {"runs", runs}});
  }
  Json optimum = Json::object();
  if (!opt.unavailable.empty()) {
    optimum["unavailable"] = opt.unavailable;
  } else if (!opt.cost.empty()) {
    Json runs = Json::array();
    for (double c : opt.cost) runs.push_back(std::isinf(c) ? Json(nullptr) : Json(c));
    optimum["mean_cost"] = std::isinf(opt.mean) ? Json(nullptr) : Json(opt.mean);
    optimum["runs"] = runs;
    optimum["grid_seconds"] = opt.step;
  }
  return Json{{"title", s.title},
              {"source", s.source},
              {"spec", fleet::DescribeSpec(s.rows.front().spec)},
              {"rows", rows},
              {"optimum", optimum}};
}

int RunSim(const SimFlags& flags) {
  if (flags.format != "table" && flags.format != "json" && flags.format != "csv") {
    return ReportError(
        InvalidArgument("--format: expected table, json or csv, got '{}'", flags.format));
  }
  Result<std::vector<fleet::PolicyKind>> policies = ParsePolicies(flags.policies);
  if (!policies.ok()) return ReportError(policies.status());
  std::vector<fleet::SimScenario> scenarios;
  if (flags.job.empty()) {
    Result<std::vector<fleet::SimScenario>> builtin = fleet::BuiltinScenarios(*policies);
    if (!builtin.ok()) return ReportError(builtin.status());
    scenarios = std::move(*builtin);
  } else {
    Result<std::string> text = Env::Default()->ReadFile(flags.job);
    if (!text.ok()) return ReportError(text.status());
    Result<fleet::SimScenario> s = fleet::ScenarioFromJob(*text, flags.job, *policies);
    if (!s.ok()) return ReportError(s.status());
    scenarios.push_back(std::move(*s));
  }
  if (scenarios.empty()) {
    return ReportError(InvalidArgument("--policy: none of these fits the built-in scenarios"));
  }
  fleet::SimOptions options;
  if (flags.verbose) {
    options.print = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  }
  std::string table;
  Json json = Json::array();
  std::vector<fleet::FleetReport> all_runs;
  for (const fleet::SimScenario& s : scenarios) {
    Result<std::vector<fleet::SimResult>> results = fleet::RunScenario(s, options);
    if (!results.ok()) return ReportError(results.status());
    Result<fleet::SimOptimum> opt = fleet::ScenarioOptimum(s, *results);
    if (!opt.ok()) return ReportError(opt.status());
    table += (table.empty() ? "" : "\n") + ScenarioTable(s, *results, *opt);
    json.push_back(ScenarioJson(s, *results, *opt));
    for (const fleet::SimResult& r : *results) {
      all_runs.insert(all_runs.end(), r.runs.begin(), r.runs.end());
    }
  }
  if (flags.format == "table") {
    std::fputs(table.c_str(), stdout);
  } else if (flags.format == "json") {
    std::fputs((DumpJson(Json{{"scenarios", json}}, 2) + "\n").c_str(), stdout);
  } else {
    std::fputs(fleet::ReportCsv(all_runs).c_str(), stdout);
  }
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& root, Action& action) {
  auto flags = std::make_shared<SimFlags>();
  CLI::App* cmd = root.add_subcommand(
      "sim",
      "compare the fleet policies' cost and time on a job's spot market (discrete-event "
      "simulation); without a job: the built-in recipe and trace scenarios");
  cmd->add_option("job", flags->job, "job spec (YAML) with a fleet section and work_hours");
  cmd->add_option("--policy", flags->policies,
                  "comma-separated policies to compare: spot-first, spot-only, on-demand, "
                  "deadline, adaptive (default: every one that fits the offers)");
  cmd->add_option("--format", flags->format, "table, json or csv")->capture_default_str();
  cmd->add_flag("--verbose", flags->verbose, "print the controller's decisions and events");
  cmd->callback([&action, flags] { action = [flags] { return RunSim(*flags); }; });
}

}  // namespace baton::cli
