// The EC2 actions a fleet provider needs, typed: RunInstances (spot or on-demand, tags on the
// instance and its volumes, UserData, ClientToken), DescribeInstances (by ids, filters, tags;
// paged), TerminateInstances and DescribeSpotPriceHistory, over AwsClient (cloud/aws_api.h).
// Request members and answer shapes: botocore's ec2 2016-11-15 model and moto 5.2.1's answers
// (shared/notes/cloud-apis.md section 3). An answer without what every item must have (an
// instance id, a spot price that is a number) is Corruption naming the action and the field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "cloud/aws_api.h"

namespace baton {

struct Ec2RunRequest {
  std::string image_id;           // ImageId (or from the launch template)
  std::string instance_type;      // InstanceType
  int count = 1;                  // MinCount = MaxCount
  std::string subnet_id;          // SubnetId: also picks the zone
  std::string availability_zone;  // Placement.AvailabilityZone, "" to let EC2 (or the subnet) pick
  std::vector<std::string> security_group_ids;  // SecurityGroupId.N
  std::string iam_instance_profile;  // IamInstanceProfile.Name (or an ARN: IamInstanceProfile.Arn)
  std::string key_name;              // KeyName
  std::string launch_template_id;    // LaunchTemplate.LaunchTemplateId
  std::string launch_template_version;  // LaunchTemplate.Version ("$Latest" when "")
  // Spot: InstanceMarketOptions.MarketType=spot with a one-time request that terminates on
  // interruption; max_price "" caps at the on-demand price (EC2's default).
  bool spot = false;
  std::string spot_max_price;               // "1.50" (USD per hour)
  std::string user_data;                    // the raw script; sent base64-encoded, as EC2 wants it
  std::string client_token;                 // idempotency (at most 64 ASCII characters)
  std::map<std::string, std::string> tags;  // on the instance and on its volumes
};

// The request parameters of RunInstances for `request`; InvalidArgument (naming the field) for a
// count under 1, no image and no launch template, or a client token over 64 characters.
Result<AwsParams> Ec2RunInstancesParams(const Ec2RunRequest& request);

struct Ec2Instance {
  std::string id;                           // instanceId
  std::string state;                        // instanceState/name: pending|running|shutting-down|
                                            // terminated|stopping|stopped
  int state_code = -1;                      // instanceState/code (low byte: 0 16 32 48 64 80)
  std::string zone;                         // placement/availabilityZone
  std::string instance_type;                // instanceType
  bool spot = false;                        // instanceLifecycle == "spot" (absent: on-demand)
  std::string lifecycle;                    // instanceLifecycle as sent, "" for on-demand
  std::string spot_request_id;              // spotInstanceRequestId ("" in moto)
  std::string launch_time;                  // launchTime as sent
  int64_t launch_unix_ms = 0;               // launchTime parsed (0 when absent)
  std::string private_ip;                   // privateIpAddress
  std::map<std::string, std::string> tags;  // tagSet/item/{key,value}
};

// Every instance of a RunInstances answer (instancesSet/item) or of a DescribeInstances page
// (reservationSet/item/instancesSet/item).
Result<std::vector<Ec2Instance>> ParseEc2Instances(const XmlElement& answer,
                                                   std::string_view action);

// Launches; the instances as the answer lists them. `error` as AwsClient::Call (the provider
// branches on IsAwsCapacityError(error->code)).
Result<std::vector<Ec2Instance>> Ec2RunInstances(AwsClient* client, const Ec2RunRequest& request,
                                                 AwsError* error = nullptr);

struct Ec2InstanceQuery {
  std::vector<std::string> instance_ids;    // InstanceId.N (EC2 refuses MaxResults with ids)
  std::map<std::string, std::string> tags;  // each a filter "tag:<key>" = value
  // Other filters: name -> values ("instance-state-name" -> {"pending", "running"}).
  std::map<std::string, std::vector<std::string>> filters;
  int page_size = 0;  // MaxResults (5..1000); 0: unset, the server's default; ignored with ids
};

// The filter parameters of a query: Filter.N.Name / Filter.N.Value.M, tags first.
AwsParams Ec2InstanceQueryParams(const Ec2InstanceQuery& query);

// Every instance that matches, over all pages.
Result<std::vector<Ec2Instance>> Ec2DescribeInstances(AwsClient* client,
                                                      const Ec2InstanceQuery& query);

struct Ec2StateChange {
  std::string id;
  std::string previous_state;
  std::string current_state;
};

Result<std::vector<Ec2StateChange>> Ec2TerminateInstances(AwsClient* client,
                                                          const std::vector<std::string>& ids,
                                                          AwsError* error = nullptr);

// One spot request's state (DescribeSpotInstanceRequests, spotInstanceRequestSet/item): status
// code "marked-for-termination" is the interruption notice as the API shows it (EC2 User Guide,
// "Spot request status": the two minutes between the notice and the interruption).
struct Ec2SpotRequest {
  std::string id;           // spotInstanceRequestId
  std::string state;        // state: open|active|closed|cancelled|failed
  std::string status_code;  // status/code
  std::string instance_id;  // instanceId
};

// The spot requests of `ids` (SpotInstanceRequestId.N; empty: none asked, nothing returned).
Result<std::vector<Ec2SpotRequest>> Ec2DescribeSpotRequests(AwsClient* client,
                                                            const std::vector<std::string>& ids);

struct Ec2SpotPrice {
  std::string zone;                 // availabilityZone
  std::string instance_type;        // instanceType
  std::string product_description;  // productDescription: "Linux/UNIX"
  double price = 0;                 // spotPrice, USD per hour
  std::string timestamp;            // as sent
  int64_t unix_ms = 0;
};

struct Ec2SpotPriceQuery {
  std::vector<std::string> instance_types;        // InstanceType.N
  std::vector<std::string> product_descriptions;  // ProductDescription.N ("Linux/UNIX")
  std::string availability_zone;                  // AvailabilityZone
  int64_t start_unix_ms = 0;                      // StartTime (0: unset, EC2's "now")
  int page_size = 0;                              // MaxResults
};

Result<std::vector<Ec2SpotPrice>> ParseEc2SpotPrices(const XmlElement& answer);
// Every price point that matches, over all pages.
Result<std::vector<Ec2SpotPrice>> Ec2DescribeSpotPriceHistory(AwsClient* client,
                                                              const Ec2SpotPriceQuery& query);

}  // namespace baton
