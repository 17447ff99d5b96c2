#include "fleet/spec.h"

#include <gtest/gtest.h>

#include "fleet/provider.h"

namespace baton::fleet {
namespace {

Json Parse(const std::string& text) { return Json::parse(text); }

TEST(FleetSpec, ExpandsOffersAndSortsSpotFirstByPrice) {
  Result<FleetSpec> spec = ParseFleetSpec(Parse(R"({
    "policy": "spot-first",
    "offers": [
      {"instance_type": "big", "zones": ["z1", "z2"], "spot": 4, "on_demand": 10},
      {"instance_type": "small", "zone": "z3", "spot": 3.5, "on_demand": 9},
      {"instance_type": "od-only", "zone": "z1", "on_demand": 12}
    ]})"),
                                          "demo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  std::vector<std::string> names;
  for (const Offer& o : spec->offers) names.push_back(o.Name());
  EXPECT_EQ(names, (std::vector<std::string>{"small@z3/spot", "big@z1/spot", "big@z2/spot",
                                             "small@z3/on-demand", "big@z1/on-demand",
                                             "big@z2/on-demand", "od-only@z1/on-demand"}));
  EXPECT_EQ(spec->offers[0].price_per_hour, 3.5);
  EXPECT_EQ(spec->offers[0].billing, Billing::kSpot);
  EXPECT_EQ(spec->offers[6].billing, Billing::kOnDemand);
  EXPECT_EQ(spec->capacity, 1);
  EXPECT_EQ(spec->provider, "local");
  EXPECT_EQ(spec->overheads.notice, 120);  // the default window
}

TEST(FleetSpec, DurationsInAnyUnit) {
  Result<FleetSpec> spec = ParseFleetSpec(Parse(R"({
    "policy": "deadline", "provider": "sim", "deadline_minutes": 90, "work_seconds": 3600,
    "time_scale": 60, "sim_start_hours": [0, 1.5],
    "offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3}],
    "overheads": {"boot_minutes": 2, "load_seconds": 30, "checkpoint_hours": 0.01,
                  "checkpoint_interval_minutes": 30, "notice_seconds": 0}})"),
                                          "demo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->deadline_seconds, 5400);
  EXPECT_EQ(spec->work_seconds, 3600);
  EXPECT_EQ(spec->time_scale, 60);
  EXPECT_EQ(spec->overheads.boot, 120);
  EXPECT_EQ(spec->overheads.load, 30);
  EXPECT_DOUBLE_EQ(spec->overheads.checkpoint, 36);
  EXPECT_EQ(spec->overheads.checkpoint_interval, 1800);
  EXPECT_EQ(spec->overheads.notice, 0);
  EXPECT_EQ(spec->sim_start_seconds, (std::vector<double>{0, 5400}));
  EXPECT_TRUE(spec->market.is_null());
}

// Each bad spec must fail with the file, the key path and what is wrong.
TEST(FleetSpec, ErrorsNameTheKey) {
  const std::string od =
      R"("offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3}])";
  const std::string spot = R"("offers": [{"instance_type": "t", "zone": "z", "spot": 1}])";
  struct Case {
    std::string json;
    std::string want;
  } cases[] = {
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 0}]})",
       "demo.yaml: fleet.offers[0].spot: must be a positive price"},
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3},
                      {"instance_type": "t", "zone": "z", "on_demand": "x"}]})",
       "demo.yaml: fleet.offers[1].on_demand: expected a number"},
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 1, "price": 2}]})",
       "demo.yaml: fleet.offers[0].price: unknown key"},
      {R"({"offers": [{"zone": "z", "spot": 1}]})",
       "demo.yaml: fleet.offers[0].instance_type: required key is missing"},
      {R"({"offers": [{"instance_type": "t", "spot": 1}]})",
       "demo.yaml: fleet.offers[0]: give the offer's zone"},
      {R"({"offers": [{"instance_type": "t", "zones": ["a", "a"], "spot": 1}]})",
       "demo.yaml: fleet.offers[0].zones[1]: zone 'a' is listed twice"},
      {R"({"offers": [{"instance_type": "t", "zone": "z"}]})",
       "demo.yaml: fleet.offers[0]: give a price per hour"},
      {R"({"offers": []})", "demo.yaml: fleet.offers: expected a non-empty list"},
      {R"({"policy": "spot-first"})", "demo.yaml: fleet.offers: required key is missing"},
      {"{" + od + R"(, "polcy": "spot-only"})", "demo.yaml: fleet.polcy: unknown key"},
      {"{" + od + R"(, "policy": "cheapest"})",
       "demo.yaml: fleet.policy: unknown policy 'cheapest'"},
      {"{" + od + R"(, "capacity": 2})",
       "demo.yaml: fleet.capacity: multi-instance runs are not supported"},
      {"{" + od + R"(, "provider": "aws"})", "demo.yaml: fleet.provider: unknown provider 'aws'"},
      {"{" + od + R"(, "provider": "sim"})", "demo.yaml: fleet.work_hours: the sim provider"},
      {"{" + od + R"(, "work_minutes": 0})", "demo.yaml: fleet.work_minutes: must be positive"},
      {"{" + od + R"(, "work_hours": 1, "work_minutes": 60})",
       "demo.yaml: fleet.work_minutes: give the duration once"},
      {"{" + od + R"(, "policy": "deadline"})",
       "demo.yaml: fleet.policy: deadline needs the time to finish in"},
      {"{" + spot + R"(, "policy": "spot-first"})",
       "demo.yaml: fleet.policy: spot-first falls back to on-demand and no offer has an "
       "on_demand price; use policy spot-only"},
      {"{" + spot + R"(, "policy": "on-demand"})", "demo.yaml: fleet.policy: on-demand needs"},
      {R"({"policy": "spot-only", "offers": [{"instance_type": "t", "zone": "z", "on_demand": 3}]})",
       "demo.yaml: fleet.policy: spot-only needs an offer with a spot price"},
      {"{" + od + R"(, "overheads": {"boot_minutes": -1}})",
       "demo.yaml: fleet.overheads.boot_minutes: must not be negative"},
      {"{" + od + R"(, "overheads": {"boot": 1}})", "demo.yaml: fleet.overheads.boot: unknown key"},
      {"{" + od + R"(, "time_scale": 0})", "demo.yaml: fleet.time_scale: must be positive"},
      {"{" + od + R"(, "market": [1]})", "demo.yaml: fleet.market: expected a mapping"},
      {"{" + od + R"(, "sim_start_hours": [0, -1]})",
       "demo.yaml: fleet.sim_start_hours[1]: expected a non-negative number"},
      {R"([1, 2])", "demo.yaml: fleet: expected a mapping of keys"},
  };
  for (const Case& c : cases) {
    Result<FleetSpec> spec = ParseFleetSpec(Parse(c.json), "demo.yaml");
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.want;
  }
}

TEST(FleetSpec, NamesRoundTrip) {
  for (PolicyKind k : {PolicyKind::kSpotFirst, PolicyKind::kSpotOnly, PolicyKind::kOnDemand,
                       PolicyKind::kDeadline}) {
    Result<PolicyKind> back = ParsePolicyName(PolicyName(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  EXPECT_STREQ(BillingName(Billing::kOnDemand), "on-demand");
  EXPECT_STREQ(InstanceStateName(InstanceState::kStandby), "standby");
  EXPECT_STREQ(EndReasonName(EndReason::kKilled), "killed");
  Offer o{"ecs.gn7i-c8g1.2xlarge", "cn-hangzhou-h", Billing::kSpot, 3.5};
  EXPECT_EQ(o.Name(), "ecs.gn7i-c8g1.2xlarge@cn-hangzhou-h/spot");
}

TEST(FleetSpec, CheckPolicyFitsEachPolicy) {
  Result<FleetSpec> spec = ParseFleetSpec(
      Parse(
          R"({"policy": "spot-only", "offers": [{"instance_type": "t", "zone": "z", "spot": 1}]})"),
      "s.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(CheckPolicyFits(*spec, PolicyKind::kSpotOnly, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kSpotFirst, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kOnDemand, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kDeadline, "s.yaml").ok());
}

}  // namespace
}  // namespace baton::fleet
