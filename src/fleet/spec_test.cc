#include "fleet/spec.h"

#include <gtest/gtest.h>

#include <regex>

#include "fleet/market.h"
#include "fleet/provider.h"
#include "job/job_spec.h"

namespace baton::fleet {
namespace {

// A fleet section given alone (JSON is YAML).
SpecNode Parse(const std::string& text, const std::string& source = "demo.yaml") {
  Result<SpecNode> node = SpecNode::Parse(text, source, "fleet");
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return node.ok() ? *node : SpecNode();
}

// `message` is "<source>:<line>:<col>: <want>...".
void ExpectPlaced(const std::string& message, const std::string& source, const std::string& want) {
  std::smatch m;
  ASSERT_TRUE(message.starts_with(source + ":") &&
              std::regex_search(message.begin() + source.size(), message.end(), m,
                                std::regex(R"(^:\d+:\d+: )")))
      << "no " << source << ":line:col in: " << message;
  EXPECT_EQ(message.substr(source.size() + m.length(), want.size()), want) << "got: " << message;
}

TEST(FleetSpec, ExpandsOffersAndSortsSpotFirstByPrice) {
  Result<FleetSpec> spec = ParseFleetSpec(Parse(R"({
    "policy": "spot-first",
    "offers": [
      {"instance_type": "big", "zones": ["z1", "z2"], "spot": 4, "on_demand": 10},
      {"instance_type": "small", "zone": "z3", "spot": 3.5, "on_demand": 9},
      {"instance_type": "od-only", "zone": "z1", "on_demand": 12}
    ]})"));
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
    "time_scale": 60, "sim_start_hours": [0, 1.5], "sim_tune_start_minutes": [30],
    "offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3}],
    "overheads": {"boot_minutes": 2, "load_seconds": 30, "checkpoint_hours": 0.01,
                  "checkpoint_interval_minutes": 30, "notice_seconds": 0}})"));
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
  EXPECT_EQ(spec->sim_tune_start_seconds, (std::vector<double>{1800}));
  EXPECT_TRUE(spec->market.IsNull());
}

// Each bad spec must fail with the file, line, column, the key path and what is wrong.
TEST(FleetSpec, ErrorsNameTheKey) {
  const std::string od =
      R"("offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3}])";
  const std::string spot = R"("offers": [{"instance_type": "t", "zone": "z", "spot": 1}])";
  struct Case {
    std::string json;
    std::string want;
  } cases[] = {
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 0}]})",
       "fleet.offers[0].spot: must be a positive price"},
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 1, "on_demand": 3},
                      {"instance_type": "t", "zone": "z", "on_demand": "x"}]})",
       "fleet.offers[1].on_demand: expected a number"},
      {R"({"offers": [{"instance_type": "t", "zone": "z", "spot": 1, "price": 2}]})",
       "fleet.offers[0].price: unknown key"},
      {R"({"offers": [{"zone": "z", "spot": 1}]})",
       "fleet.offers[0].instance_type: required key is missing"},
      {R"({"offers": [{"instance_type": "t", "spot": 1}]})",
       "fleet.offers[0]: give the offer's zone"},
      {R"({"offers": [{"instance_type": "t", "zones": ["a", "a"], "spot": 1}]})",
       "fleet.offers[0].zones[1]: zone 'a' is listed twice"},
      {R"({"offers": [{"instance_type": "t", "zone": "z"}]})",
       "fleet.offers[0]: give a price per hour"},
      {R"({"offers": []})", "fleet.offers: expected a non-empty list"},
      {R"({"policy": "spot-first"})", "fleet.offers: required key is missing"},
      {"{" + od + R"(, "polcy": "spot-only"})", "fleet.polcy: unknown key"},
      {"{" + od + R"(, "policy": "cheapest"})", "fleet.policy: unknown policy 'cheapest'"},
      {"{" + od + R"(, "capacity": 2})", "fleet.capacity: multi-instance runs are not supported"},
      {"{" + od + R"(, "provider": "gcp"})", "fleet.provider: unknown provider 'gcp'"},
      {"{" + od + R"(, "provider": "sim"})", "fleet.work_hours: the sim provider"},
      {"{" + od + R"(, "work_minutes": 0})", "fleet.work_minutes: must be positive"},
      {"{" + od + R"(, "work_hours": 1, "work_minutes": 60})",
       "fleet.work_minutes: give the duration once"},
      {"{" + od + R"(, "policy": "deadline"})",
       "fleet.policy: deadline needs the time to finish in"},
      {"{" + spot + R"(, "policy": "spot-first"})",
       "fleet.policy: spot-first falls back to on-demand and no offer has an "
       "on_demand price; use policy spot-only"},
      {"{" + spot + R"(, "policy": "on-demand"})", "fleet.policy: on-demand needs"},
      {R"({"policy": "spot-only", "offers": [{"instance_type": "t", "zone": "z", "on_demand": 3}]})",
       "fleet.policy: spot-only needs an offer with a spot price"},
      {"{" + od + R"(, "overheads": {"boot_minutes": -1}})",
       "fleet.overheads.boot_minutes: must not be negative"},
      {"{" + od + R"(, "overheads": {"boot": 1}})", "fleet.overheads.boot: unknown key"},
      {"{" + od + R"(, "time_scale": 0})", "fleet.time_scale: must be positive"},
      {"{" + od + R"(, "market": [1]})", "fleet.market: expected a mapping"},
      {"{" + od + R"(, "sim_start_hours": [0, -1]})",
       "fleet.sim_start_hours[1]: expected a non-negative number"},
      {"{" + od + R"(, "sim_tune_start_hours": [-1]})",
       "fleet.sim_tune_start_hours[0]: expected a non-negative number"},
      {"{" + od + R"(, "policy": "adaptive"})",
       "fleet.policy: adaptive needs the time to finish in: set fleet.deadline_hours"},
      {R"([1, 2])", "fleet: expected a mapping of keys"},
  };
  for (const Case& c : cases) {
    Result<FleetSpec> spec = ParseFleetSpec(Parse(c.json));
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    ExpectPlaced(spec.status().message(), "demo.yaml", c.want);
  }
}

// A job file as `baton run` reads it (ParseJobSpec, ParseFleetSpec of its fleet section, then
// MakeMarket): an error deep in the fleet section names the line and column of the bad key or
// value and its key path.
TEST(FleetSpec, JobFileErrorsNameLineColumnAndKeyPath) {
  const std::string job =
      "store: s\n"
      "command: c\n"
      "fleet:\n"
      "  offers:\n"
      "    - {instance_type: t, zones: [z1, z2], spot: 1, on_demand: 3}\n";
  struct Case {
    std::string more;  // lines 6.. of the file
    std::string want;  // the message starts so
  } cases[] = {
      {"    - {instance_type: u, zone: z3, spot: -2}\n",
       "jobs/demo.yaml:6:42: fleet.offers[1].spot: must be a positive price"},
      {"    - {instance_type: u, zone: z3, spot: 2, price: 1}\n",
       "jobs/demo.yaml:6:45: fleet.offers[1].price: unknown key (known: instance_type, "},
      {"    - {instance_type: u, zones: [z3, z3], spot: 2}\n",
       "jobs/demo.yaml:6:38: fleet.offers[1].zones[1]: zone 'z3' is listed twice"},
      {"  overheads:\n    boot_minutes: 2\n    load_minutes: ten\n",
       "jobs/demo.yaml:8:19: fleet.overheads.load_minutes: expected a number, got 'ten'"},
      {"  overheads:\n    boot_minutes: 2\n    boot_mins: 3\n",
       "jobs/demo.yaml:8:5: fleet.overheads.boot_mins: unknown key (known: boot_hours, "},
      {"  market:\n    kind: scripted\n    events:\n"
       "      - {at_minutes: 60, zone: z1, event: outage, minutes: 30}\n"
       "      - {at_minutes: 90, zone: nope, event: reclaim}\n",
       "jobs/demo.yaml:10:32: fleet.market.events[1].zone: no spot offer in zone 'nope'"},
      {"  market:\n    kind: scripted\n    events:\n"
       "      - at_minutes: 60\n        zone: z1\n        event: reclaim\n        when: 3\n",
       "jobs/demo.yaml:12:9: fleet.market.events[0].when: unknown key"},
      {"  market:\n    kind: trace\n    zones:\n      z9: b.json\n      z1: a.json\n",
       "jobs/demo.yaml:9:11: fleet.market.zones.z9: no spot offer in zone 'z9'"},
      {"  market:\n    kind: random\n    mean_up_hours: 4\n    mean_down_hours: -1\n",
       "jobs/demo.yaml:9:22: fleet.market.mean_down_hours: must not be negative"},
  };
  for (const Case& c : cases) {
    Result<JobSpec> parsed = ParseJobSpec(job + c.more, "jobs/demo.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    Result<FleetSpec> spec = ParseFleetSpec(parsed->fleet);
    Status error = spec.status();
    if (spec.ok()) error = MakeMarket(*spec, "").status();
    ASSERT_FALSE(error.ok()) << c.more;
    EXPECT_EQ(error.message().substr(0, c.want.size()), c.want) << "got: " << error.message();
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
  Result<FleetSpec> spec = ParseFleetSpec(Parse(
      R"({"policy": "spot-only", "offers": [{"instance_type": "t", "zone": "z", "spot": 1}]})",
      "s.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(CheckPolicyFits(*spec, PolicyKind::kSpotOnly, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kSpotFirst, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kOnDemand, "s.yaml").ok());
  EXPECT_FALSE(CheckPolicyFits(*spec, PolicyKind::kDeadline, "s.yaml").ok());
}

constexpr char kAliyunFleet[] = R"({
  "provider": "aliyun", "max_cost": 80,
  "offers": [{"instance_type": "ecs.gn7i-c8g1.2xlarge", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"],
              "spot": 3.5, "on_demand": 10, "spot_price_limit": 5}],
  "aliyun": {"region": "cn-hangzhou", "image_id": "m-1", "security_group_id": "sg-1",
             "vswitches": {"cn-hangzhou-h": "vsw-h", "cn-hangzhou-i": "vsw-i"},
             "ram_role": "BatonRole", "tags": {"team": "ml"}, "system_disk_gb": 100,
             "poll_seconds": 2, "stop_grace_minutes": 3}})";

TEST(FleetSpec, AliyunSection) {
  Result<FleetSpec> spec = ParseFleetSpec(Parse(kAliyunFleet));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->provider, "aliyun");
  EXPECT_EQ(spec->max_cost, 80);
  const AliyunFleetSpec& a = spec->aliyun;
  EXPECT_EQ(a.region, "cn-hangzhou");
  EXPECT_EQ(a.VSwitchOf("cn-hangzhou-i"), "vsw-i");
  EXPECT_EQ(a.VSwitchOf("cn-beijing-a"), "");
  EXPECT_EQ(a.tags, (std::vector<std::pair<std::string, std::string>>{{"team", "ml"}}));
  EXPECT_EQ(a.system_disk_gb, 100);
  EXPECT_EQ(a.poll_seconds, 2);
  EXPECT_EQ(a.stop_grace_seconds, 180);
  EXPECT_EQ(a.no_stock_backoff_seconds, 300);  // the default
  for (const Offer& o : spec->offers) {
    EXPECT_EQ(o.spot_price_limit, o.billing == Billing::kSpot ? 5 : 0) << o.Name();
  }
}

// The error of `text` with `from` replaced by `to` (which must make it wrong).
std::string ErrorOf(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  Result<FleetSpec> spec = ParseFleetSpec(Parse(text));
  EXPECT_FALSE(spec.ok()) << "accepted: " << to;
  return spec.ok() ? std::string() : spec.status().message();
}

TEST(FleetSpec, AliyunSectionErrorsArePlaced) {
  ExpectPlaced(ErrorOf(kAliyunFleet, R"(, "cn-hangzhou-i": "vsw-i")", ""), "demo.yaml",
               "fleet.aliyun.vswitches: no vSwitch for zone cn-hangzhou-i");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("image_id": "m-1", )", ""), "demo.yaml",
               "fleet.aliyun.image_id: required key is missing");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("region": "cn-hangzhou")", R"("region": "Hangzhou!")"),
               "demo.yaml", "fleet.aliyun.region: 'Hangzhou!' is not a region id");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("max_cost": 80)", R"("max_cost": -1)"), "demo.yaml",
               "fleet.max_cost: must be positive");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("tags": {"team": "ml"})", R"("tags": {"baton:run": "x"})"),
               "demo.yaml", "fleet.aliyun.tags.baton:run: tag keys baton:*");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("poll_seconds": 2)", R"("pol_seconds": 2)"), "demo.yaml",
               "fleet.aliyun");
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("spot": 3.5, )", ""), "demo.yaml",
               "fleet.offers[0].spot_price_limit: is for a spot offer");
  // The section is the cloud providers' alone, and they need it.
  ExpectPlaced(ErrorOf(kAliyunFleet, R"("provider": "aliyun")", R"("provider": "local")"),
               "demo.yaml", "fleet.aliyun: is for the aliyun providers");
  std::string no_section = kAliyunFleet;
  no_section = no_section.substr(0, no_section.find(R"(,
  "aliyun")")) +
               "}";
  Result<FleetSpec> spec = ParseFleetSpec(Parse(no_section));
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("fleet.aliyun: required for the aliyun providers"),
            std::string::npos)
      << spec.status().message();
}

constexpr char kAwsFleet[] = R"({
  "provider": "aws",
  "offers": [{"instance_type": "g5.xlarge", "zones": ["us-east-1a", "us-east-1b"],
              "spot": 0.4, "on_demand": 1.0, "spot_price_limit": 0.6}],
  "aws": {"region": "us-east-1", "image_id": "ami-0abc1234",
          "subnets": {"us-east-1a": "subnet-0a", "us-east-1b": "subnet-0b"},
          "security_group_ids": ["sg-01"], "instance_profile": "BatonProfile",
          "key_name": "me", "tags": {"team": "ml"}, "poll_seconds": 2,
          "stop_grace_minutes": 3, "no_capacity_backoff_seconds": 30}})";

TEST(FleetSpec, AwsSection) {
  Result<FleetSpec> spec = ParseFleetSpec(Parse(kAwsFleet));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(IsCloudProvider(spec->provider));
  EXPECT_FALSE(IsAliyunProvider(spec->provider));
  const AwsFleetSpec& a = spec->aws;
  EXPECT_EQ(a.region, "us-east-1");
  EXPECT_EQ(a.SubnetOf("us-east-1b"), "subnet-0b");
  EXPECT_EQ(a.security_group_ids, std::vector<std::string>{"sg-01"});
  EXPECT_EQ(a.instance_profile, "BatonProfile");
  EXPECT_EQ(a.key_name, "me");
  EXPECT_EQ(a.stop_grace_seconds, 180);
  EXPECT_EQ(a.no_capacity_backoff_seconds, 30);
  EXPECT_EQ(a.poll_seconds, 2);
  EXPECT_EQ(spec->offers[0].spot_price_limit, 0.6);

  ExpectPlaced(ErrorOf(kAwsFleet, R"(, "us-east-1b": "subnet-0b")", ""), "demo.yaml",
               "fleet.aws.subnets: no subnet for zone us-east-1b");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("subnet-0b")", R"("vpc-0b")"), "demo.yaml",
               "fleet.aws.subnets.us-east-1b: 'vpc-0b' is not a subnet id");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("ami-0abc1234")", R"("m-1")"), "demo.yaml",
               "fleet.aws.image_id: 'm-1' is not an AMI id");
  ExpectPlaced(ErrorOf(kAwsFleet, R"(["sg-01"])", R"(["default"])"), "demo.yaml",
               "fleet.aws.security_group_ids[0]: expected a security group id");
  ExpectPlaced(ErrorOf(kAwsFleet, R"(["sg-01"])", "[]"), "demo.yaml",
               "fleet.aws.security_group_ids: expected a non-empty list");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("region": "us-east-1")", R"("region": "US East")"),
               "demo.yaml", "fleet.aws.region: 'US East' is not a region id (like us-east-1)");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("tags": {"team": "ml"})", R"("tags": {"aws:x": "y"})"),
               "demo.yaml", "fleet.aws.tags.aws:x: tag keys baton:*, aws:* are reserved");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("poll_seconds": 2)", R"("poll_seconds": 0)"), "demo.yaml",
               "fleet.aws.poll_seconds: must be in (0, 3600]");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("no_capacity_backoff_seconds": 30)",
                       R"("no_capacity_backoff_seconds": 30, "no_capacity_backoff_minutes": 1)"),
               "demo.yaml", "fleet.aws.no_capacity_backoff");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("key_name": "me")", R"("key": "me")"), "demo.yaml",
               "fleet.aws");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("provider": "aws")", R"("provider": "aliyun")"), "demo.yaml",
               "fleet.aliyun: required for the aliyun providers");
  ExpectPlaced(ErrorOf(kAwsFleet, R"("provider": "aws")", R"("provider": "local")"), "demo.yaml",
               "fleet.aws: is for provider aws, not 'local'");
  std::string no_section = kAwsFleet;
  no_section = no_section.substr(0, no_section.find(R"(,
  "aws")")) + "}";
  ExpectPlaced(ParseFleetSpec(Parse(no_section)).status().message(), "demo.yaml",
               "fleet.aws: required for provider aws");
}

}  // namespace
}  // namespace baton::fleet
