#include "fleet/report.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace baton::fleet {
namespace {

FleetSpec Spec() {
  Result<SpecNode> node = SpecNode::Parse(R"({
    "offers": [{"instance_type": "t", "zone": "z1", "spot": 3.5, "on_demand": 10}],
    "overheads": {"boot_minutes": 3, "load_minutes": 2}})",
                                          "r.yaml", "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  Result<FleetSpec> spec = ParseFleetSpec(*node);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

Instance Make(const char* id, int offer, double launched, double running, double ended,
              EndReason end, double start_work, double last_work) {
  Instance i;
  i.id = id;
  i.offer = offer;
  i.launched_at = launched;
  i.running_at = running;
  i.ended_at = ended;
  i.end_reason = end;
  i.state = ended < 0 ? InstanceState::kRunning : InstanceState::kEnded;
  i.start_work = start_work;
  i.last_work = last_work;
  return i;
}

// Spot (preempted with notice), on-demand (killed: back to checkpoint 3000 after the first
// reached 3300, then reached 6300), spot again from 6000 and still running at 9000.
std::vector<Instance> History() {
  return {Make("i1", 0, 0, 300, 3600, EndReason::kPreempted, 0, 3300),
          Make("i2", 1, 3600, 3900, 7200, EndReason::kKilled, 3000, 6300),
          Make("i3", 0, 7200, 7500, -1, EndReason::kNone, 6000, 7500)};
}

RunProgress Progress(bool complete) {
  RunProgress p;
  p.total = 36000;
  p.rate = 1;
  p.done = 7500;
  p.complete = complete;
  return p;
}

TEST(FleetReport, BillsEveryInstanceAndCountsWhatWasLost) {
  FleetReport r = BuildReport(Spec(), History(), Progress(false), 9000);
  EXPECT_EQ(r.policy, "spot-first");
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.completed_at, -1);
  ASSERT_EQ(r.ledger.size(), 3u);
  EXPECT_EQ(r.ledger[0].offer, "t@z1/spot");
  EXPECT_EQ(r.ledger[0].end, "preempted");
  EXPECT_EQ(r.ledger[1].billing, "on-demand");
  EXPECT_EQ(r.ledger[1].end, "killed");
  EXPECT_EQ(r.ledger[2].end, "running");
  EXPECT_EQ(r.ledger[2].seconds, 1800);  // billed up to now
  EXPECT_DOUBLE_EQ(r.cost, 3.5 + 10 + 1.75);
  EXPECT_DOUBLE_EQ(r.spot_cost, 5.25);
  EXPECT_DOUBLE_EQ(r.on_demand_cost, 10);
  EXPECT_EQ(r.spot_seconds, 5400);
  EXPECT_EQ(r.on_demand_seconds, 3600);
  EXPECT_EQ(r.instances, 3);
  EXPECT_EQ(r.interruptions, 2);
  EXPECT_EQ(r.interruptions_without_notice, 1);
  EXPECT_EQ(r.work_redone, 300 + 300);
  EXPECT_EQ(r.overhead_seconds, 9000 - (3300 + 3300 + 1500));
  EXPECT_EQ(r.makespan_seconds, 9000);
  EXPECT_DOUBLE_EQ(r.on_demand_baseline_cost, (36000 + 300) / 3600.0 * 10);
  EXPECT_DOUBLE_EQ(r.saving_fraction, 1 - r.cost / r.on_demand_baseline_cost);
}

TEST(FleetReport, CompletionEndsTheMakespan) {
  std::vector<Instance> h = History();
  h[2].ended_at = 8000;
  h[2].end_reason = EndReason::kCompleted;
  h[2].state = InstanceState::kEnded;
  FleetReport r = BuildReport(Spec(), h, Progress(true), 9999);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.completed_at, 8000);
  EXPECT_EQ(r.makespan_seconds, 8000);
  EXPECT_EQ(r.ledger[2].end, "completed");
}

TEST(FleetReport, NoBaselineWithoutRateOrOnDemand) {
  RunProgress p = Progress(false);
  p.rate = 0;
  FleetReport r = BuildReport(Spec(), History(), p, 9000);
  EXPECT_EQ(r.on_demand_baseline_cost, 0);
  EXPECT_EQ(r.saving_fraction, 0);
  // Without a rate, training is the time since running_at.
  EXPECT_EQ(r.overhead_seconds, 300 + 300 + 300);
}

TEST(FleetReport, Formats) {
  EXPECT_EQ(FormatHours(17.5 * 3600), "17:30");
  EXPECT_EQ(FormatHours(59.6), "0:01");
  EXPECT_EQ(FormatHours(0), "0:00");
  EXPECT_EQ(FormatHours(100 * 3600 + 29), "100:00");
  EXPECT_EQ(FormatHours(90 * 60), "1:30");  // hours are not padded
  EXPECT_EQ(FormatHours(17 * 3600 + 5 * 60), "17:05");
  EXPECT_EQ(FormatHours(101 * 3600), "101:00");
  EXPECT_EQ(FormatHours(3599.99), "1:00");      // to the nearest minute, carried into the hour
  EXPECT_EQ(FormatHours(5400 - 1e-7), "1:30");  // no float dust turns 1:30 into 1:29
  EXPECT_EQ(FormatHours(-30), "0:00");
  EXPECT_EQ(FormatMoney(68), "68.00");
  EXPECT_EQ(FormatMoney(0.126), "0.13");
  EXPECT_EQ(TextTable({{"a", "bb"}, {"ccc", "d"}}, "lr"), "a    bb\nccc   d\n");

  FleetReport r = BuildReport(Spec(), History(), Progress(false), 9000);
  std::string table = ReportTable(r);
  std::string line = table.substr(table.find("i2"));
  line = line.substr(0, line.find('\n'));
  EXPECT_NE(line.find("t@z1/on-demand"), std::string::npos) << table;
  EXPECT_NE(line.find(" 1:00 "), std::string::npos) << table;
  EXPECT_NE(line.find(" 10.00 "), std::string::npos) << table;
  EXPECT_NE(line.find(" killed"), std::string::npos) << table;
  EXPECT_NE(table.find("15.25"), std::string::npos) << table;
  EXPECT_NE(table.find("interruptions 2 (1 without notice)"), std::string::npos) << table;

  Json j = ReportJson(r);
  EXPECT_EQ(j["cost"].get<double>(), r.cost);
  EXPECT_EQ(j["ledger"].size(), 3u);
  EXPECT_EQ(j["ledger"][1]["end"], "killed");

  r.scenario = "a, quoted \"one\"";
  std::string csv = ReportCsv({r, r});
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "scenario,policy,complete,completed_at,makespan_seconds,cost,spot_seconds,"
            "on_demand_seconds,spot_cost,on_demand_cost,instances,interruptions,"
            "interruptions_without_notice,work_redone,work_total,overhead_seconds,"
            "on_demand_baseline_cost,saving_fraction");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("\"a, quoted \"\"one\"\"\",spot-first,false,-1,9000,15.25,"),
            std::string::npos)
      << csv;
}

}  // namespace
}  // namespace baton::fleet
