// The typed EC2 layer (cloud/aws_ec2.h): RunInstances' parameters (spot options, tags on the
// instance and its volumes, UserData in base64, the launch template), the filters of a query, and
// the parsing of instances and spot prices, including answers that lack what they must have.
#include "cloud/aws_ec2.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(AwsEc2Test, SpotRunInstancesParams) {
  Ec2RunRequest r;
  r.image_id = "ami-1";
  r.instance_type = "g5.xlarge";
  r.subnet_id = "subnet-1";
  r.spot = true;
  r.spot_max_price = "1.50";
  r.user_data = "#!/bin/sh\necho hi";
  r.client_token = "baton-run-1";
  r.security_group_ids = {"sg-1", "sg-2"};
  r.iam_instance_profile = "baton-agent";
  r.tags = {{"baton:run", "r1"}, {"Name", "baton"}};
  Result<AwsParams> p = Ec2RunInstancesParams(r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::map<std::string, std::string> want = {
      {"ImageId", "ami-1"},
      {"InstanceType", "g5.xlarge"},
      {"MinCount", "1"},
      {"MaxCount", "1"},
      {"SubnetId", "subnet-1"},
      {"SecurityGroupId.1", "sg-1"},
      {"SecurityGroupId.2", "sg-2"},
      {"IamInstanceProfile.Name", "baton-agent"},
      {"InstanceMarketOptions.MarketType", "spot"},
      {"InstanceMarketOptions.SpotOptions.SpotInstanceType", "one-time"},
      {"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior", "terminate"},
      {"InstanceMarketOptions.SpotOptions.MaxPrice", "1.50"},
      {"UserData", "IyEvYmluL3NoCmVjaG8gaGk="},
      {"ClientToken", "baton-run-1"},
      {"TagSpecification.1.ResourceType", "instance"},
      {"TagSpecification.1.Tag.1.Key", "Name"},
      {"TagSpecification.1.Tag.1.Value", "baton"},
      {"TagSpecification.1.Tag.2.Key", "baton:run"},
      {"TagSpecification.1.Tag.2.Value", "r1"},
      {"TagSpecification.2.ResourceType", "volume"},
      {"TagSpecification.2.Tag.1.Key", "Name"},
      {"TagSpecification.2.Tag.1.Value", "baton"},
      {"TagSpecification.2.Tag.2.Key", "baton:run"},
      {"TagSpecification.2.Tag.2.Value", "r1"},
  };
  EXPECT_EQ(p->values(), want);
}

TEST(AwsEc2Test, OnDemandFromALaunchTemplateAndBadRequests) {
  Ec2RunRequest r;
  r.launch_template_id = "lt-1";
  r.count = 2;
  r.iam_instance_profile = "arn:aws:iam::123:instance-profile/p";
  Result<AwsParams> p = Ec2RunInstancesParams(r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Get("LaunchTemplate.Version"), "$Latest");
  EXPECT_EQ(p->Get("MaxCount"), "2");
  EXPECT_EQ(p->Get("IamInstanceProfile.Arn"), r.iam_instance_profile);
  EXPECT_FALSE(p->Has("InstanceMarketOptions.MarketType"));
  EXPECT_FALSE(p->Has("TagSpecification.1.ResourceType"));

  r.count = 0;
  EXPECT_EQ(Ec2RunInstancesParams(r).status().message(), "ec2 RunInstances: count 0 is under 1");
  r.count = 1;
  r.launch_template_id.clear();
  EXPECT_EQ(Ec2RunInstancesParams(r).status().code(), StatusCode::kInvalidArgument);
  r.image_id = "ami-1";
  r.client_token = std::string(65, 't');
  EXPECT_EQ(Ec2RunInstancesParams(r).status().message(),
            "ec2 RunInstances: client token of 65 characters (at most 64)");
}

TEST(AwsEc2Test, QueryFilters) {
  Ec2InstanceQuery q;
  q.tags = {{"baton:run", "r1"}};
  q.filters = {{"instance-state-name", {"pending", "running"}}};
  q.instance_ids = {"i-1"};
  AwsParams p = Ec2InstanceQueryParams(q);
  std::map<std::string, std::string> want = {
      {"InstanceId.1", "i-1"},         {"Filter.1.Name", "tag:baton:run"},
      {"Filter.1.Value.1", "r1"},      {"Filter.2.Name", "instance-state-name"},
      {"Filter.2.Value.1", "pending"}, {"Filter.2.Value.2", "running"},
  };
  EXPECT_EQ(p.values(), want);
}

XmlElement Parse(const std::string& text) {
  Result<XmlElement> r = ParseXml(text, "test");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : XmlElement{};
}

TEST(AwsEc2Test, ParsesInstancesOfDescribeAndRunAnswers) {
  XmlElement describe = Parse(
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\">"
      "<requestId>request-id</requestId><reservationSet>"
      "<item><reservationId>r-1</reservationId><instancesSet><item>"
      "<instanceId>i-1</instanceId><instanceType>g5.xlarge</instanceType>"
      "<instanceState><code>16</code><name>running</name></instanceState>"
      "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
      "<instanceLifecycle>spot</instanceLifecycle><launchTime>2026-12-06T04:26:09.000Z</launchTime>"
      "<privateIpAddress>10.0.0.5</privateIpAddress>"
      "<tagSet><item><key>baton:run</key><value>r1</value></item></tagSet>"
      "</item></instancesSet></item>"
      "<item><instancesSet><item><instanceId>i-2</instanceId>"
      "<instanceState><code>48</code><name>terminated</name></instanceState>"
      "</item></instancesSet></item>"
      "</reservationSet></DescribeInstancesResponse>");
  Result<std::vector<Ec2Instance>> got = ParseEc2Instances(describe, "DescribeInstances");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  const Ec2Instance& a = (*got)[0];
  EXPECT_EQ(a.id, "i-1");
  EXPECT_EQ(a.state, "running");
  EXPECT_EQ(a.state_code, 16);
  EXPECT_EQ(a.zone, "us-east-1a");
  EXPECT_EQ(a.instance_type, "g5.xlarge");
  EXPECT_TRUE(a.spot);
  EXPECT_EQ(a.launch_unix_ms, 1796531169000);
  EXPECT_EQ(a.private_ip, "10.0.0.5");
  EXPECT_EQ(a.tags.at("baton:run"), "r1");
  const Ec2Instance& b = (*got)[1];
  EXPECT_FALSE(b.spot);  // no instanceLifecycle: on-demand
  EXPECT_EQ(b.lifecycle, "");
  EXPECT_EQ(b.state, "terminated");
  EXPECT_EQ(b.launch_unix_ms, 0);

  XmlElement run = Parse(
      "<RunInstancesResponse><instancesSet><item><instanceId>i-3</instanceId></item>"
      "</instancesSet></RunInstancesResponse>");
  got = ParseEc2Instances(run, "RunInstances");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, "i-3");

  XmlElement no_id = Parse(
      "<R><instancesSet>\n<item><instanceType>t3</instanceType></item>"
      "</instancesSet></R>");
  EXPECT_EQ(ParseEc2Instances(no_id, "RunInstances").status().message(),
            "ec2 RunInstances answer line 2: an instance has no instanceId");
  XmlElement bad_time = Parse(
      "<R><instancesSet><item><instanceId>i</instanceId><launchTime>yesterday</launchTime>"
      "</item></instancesSet></R>");
  EXPECT_EQ(ParseEc2Instances(bad_time, "RunInstances").status().code(), StatusCode::kCorruption);
}

TEST(AwsEc2Test, ParsesSpotPricesAndRefusesNonPrices) {
  XmlElement ok = Parse(
      "<DescribeSpotPriceHistoryResponse><spotPriceHistorySet><item>"
      "<instanceType>g5.xlarge</instanceType><productDescription>Linux/UNIX</productDescription>"
      "<spotPrice>0.452100</spotPrice><timestamp>2026-12-06T04:00:00.000Z</timestamp>"
      "<availabilityZone>us-east-1b</availabilityZone></item></spotPriceHistorySet>"
      "</DescribeSpotPriceHistoryResponse>");
  Result<std::vector<Ec2SpotPrice>> prices = ParseEc2SpotPrices(ok);
  ASSERT_TRUE(prices.ok()) << prices.status().ToString();
  ASSERT_EQ(prices->size(), 1u);
  EXPECT_EQ((*prices)[0].zone, "us-east-1b");
  EXPECT_EQ((*prices)[0].instance_type, "g5.xlarge");
  EXPECT_DOUBLE_EQ((*prices)[0].price, 0.4521);
  EXPECT_EQ((*prices)[0].unix_ms, 1796529600000);
  for (const char* bad : {"", "nan", "-1", "0.5x", "inf"}) {
    XmlElement e = Parse(std::string("<R><spotPriceHistorySet>\n<item><spotPrice>") + bad +
                         "</spotPrice></item></spotPriceHistorySet></R>");
    Result<std::vector<Ec2SpotPrice>> r = ParseEc2SpotPrices(e);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(), std::string("ec2 DescribeSpotPriceHistory answer line 2: "
                                                "spotPrice '") +
                                        bad + "' is not a price");
  }
}

}  // namespace
}  // namespace baton
