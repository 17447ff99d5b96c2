// The cost ledger and the run report: every instance-second billed by kind and zone, with the
// run's makespan, interruptions, work redone and overheads, against running all on-demand.
#pragma once

#include <string>
#include <vector>

#include "base/json.h"
#include "fleet/provider.h"
#include "fleet/spec.h"

namespace baton::fleet {

struct LedgerLine {  // one instance's bill
  std::string instance;
  std::string offer;  // Offer::Name()
  std::string billing;
  std::string zone;
  double seconds = 0;
  double cost = 0;
  std::string end;  // EndReasonName, or "running"
};

struct FleetReport {
  std::string policy;
  bool complete = false;
  double makespan_seconds = 0;  // launch of the first instance -> completion (or now)
  double cost = 0;
  double spot_seconds = 0, on_demand_seconds = 0;  // instance-seconds billed
  double spot_cost = 0, on_demand_cost = 0;
  int instances = 0;
  int interruptions = 0;  // preempted + killed
  int interruptions_without_notice = 0;
  double work_redone = 0;  // work units done twice (lost to interruptions)
  double work_total = 0;
  double overhead_seconds = 0;  // billed time not spent training (boot, load, stand-by, stop)
  double on_demand_baseline_cost = 0;  // the same work, all on the cheapest on-demand offer
  double saving_fraction = 0;          // 1 - cost / baseline
  std::vector<LedgerLine> ledger;
  // Added for `baton sim`: when the run completed in seconds since it began (-1: not yet; a
  // deadline counts from the beginning, the makespan from the first launch), and a label for
  // tables that compare runs ("" otherwise).
  double completed_at = -1;
  std::string scenario;
};

// Bills `instances` up to `now` and fills the report. Each instance is billed from launched_at to
// ended_at (or now) at its offer's price. Training time is the work it did over the rate (or
// its time since running_at while the rate is unknown); overhead is what was billed beyond that.
// Work redone: for instances in launch order, how far the newest work reached before one lies
// above the work it resumed from. The baseline is work_total / rate plus one boot and one load
// of spec.overheads, all at the cheapest on-demand price (0 when the rate, the total or an
// on-demand offer is missing; saving_fraction is then 0 too).
FleetReport BuildReport(const FleetSpec& spec, const std::vector<Instance>& instances,
                        const RunProgress& progress, double now);

std::string ReportTable(const FleetReport& report);  // for the terminal
Json ReportJson(const FleetReport& report);
// ReportJson's document read back (`baton run` on a completed run shows the report it kept);
// errors name `source`.
Result<FleetReport> ParseReportJson(const Json& j, const std::string& source);
std::string ReportCsv(const std::vector<FleetReport>& reports);  // a header and a row each

// Formatting shared by the reports and `baton sim`'s comparison tables.
// Simulated time or a duration as h:mm, to the nearest minute, hours neither padded nor capped
// ("1:30", "17:05", "101:00"; negative: "0:00"): the one h:mm format of every line Baton prints.
std::string FormatHours(double seconds);
std::string FormatMoney(double amount);  // two decimals ("68.00")
// rows[0] is the header; align[i] is 'l' or 'r' for column i (missing: 'l'). Columns are
// separated by two spaces; every line ends with '\n'.
std::string TextTable(const std::vector<std::vector<std::string>>& rows, const std::string& align);

}  // namespace baton::fleet
