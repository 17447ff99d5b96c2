// AwsClient: calls actions of AWS's XML (Query-protocol) APIs: EC2 (protocol ec2, 2016-11-15),
// EC2 Auto Scaling (protocol query, 2011-01-01) and IAM (query, 2010-05-08). Each call is a POST
// to "<endpoint>/" with a form-encoded body "Action=..&Version=..&<params>" (Content-Type
// application/x-www-form-urlencoded; charset=utf-8), signed with SigV4 (store/sigv4.h) over the
// body's hash under the signing names ec2 / autoscaling / iam; the answer is XML (net/xml.h).
// Source: shared/notes/cloud-apis.md section 3 (botocore 1.43's models and serialize.py, wire
// captures of botocore against moto).
//
// Parameters are flat name/value pairs (AwsParams). The two protocols spell lists differently:
//   EC2:   Name.N, the member's locationName capitalised: InstanceId.1, Filter.1.Name,
//          Filter.1.Value.1, TagSpecification.1.Tag.1.Key (SetList("InstanceId", ids)).
//   query: Name.member.N: Tags.member.1.Key, AutoScalingGroupNames.member.1
//          (SetList(AwsMemberList("AutoScalingGroupNames"), names)).
//
// Region: AwsClientOptions::region, else AWS_REGION, else AWS_DEFAULT_REGION (as the AWS SDKs);
// IAM is global: https://iam.amazonaws.com, signed for us-east-1.
// Endpoints, as the AWS SDKs resolve them ("Service-specific endpoints", AWS SDKs and Tools
// Reference Guide, docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html and its
// table ss-endpoints-table.html; botocore configprovider.py: AWS_ENDPOINT_URL_ + the serviceId
// upper-cased with spaces as underscores): AwsClientOptions::endpoint, else
// AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_AUTO_SCALING / AWS_ENDPOINT_URL_IAM, else
// AWS_ENDPOINT_URL, else https://ec2.<region>.amazonaws.com and
// https://autoscaling.<region>.amazonaws.com; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the
// environment. Only the `aws` partition's host names are known; others take an endpoint.
//
// Errors (cloud/aws_errors.h) name the service, action, code, HTTP status, message and request
// id; the secret key, the session token and the signature never appear in one, even when the
// server echoes them. Throttling, 5xx (but capacity codes) and transport failures are retried up
// to max_attempts with exponential backoff and jitter, slept through the Env; the credentials
// are asked before every attempt.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "cloud/aliyun_params.h"
#include "cloud/api_shared.h"
#include "cloud/aws_errors.h"
#include "net/http_client.h"
#include "net/xml.h"
#include "store/sigv4.h"

namespace baton {

// The flat parameters of an action: the same map and setters as Alibaba's RPC parameters
// (Set, SetList -> Name.1, SetStruct -> Name.Field, SetStructList -> Name.1.Field).
using AwsParams = RpcParams;

// "Tags" -> "Tags.member": the query protocol's list prefix, for SetList / SetStructList.
std::string AwsMemberList(std::string_view list);

enum class AwsService { kEc2, kAutoScaling, kIam };

// The SigV4 signing name and host prefix: "ec2", "autoscaling", "iam".
const char* AwsServiceName(AwsService service);
// The pinned API versions: "2016-11-15", "2011-01-01", "2010-05-08".
const char* AwsServiceVersion(AwsService service);
// The service-specific endpoint variable: "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_AUTO_SCALING",
// "AWS_ENDPOINT_URL_IAM".
const char* AwsServiceEndpointEnv(AwsService service);

// The request body: "Action=<action>&Version=<version>&<name>=<value>..." with names and values
// percent-encoded as RFC 3986 wants (unreserved bytes kept), parameters sorted by name.
std::string AwsQueryBody(AwsService service, std::string_view action, const AwsParams& params);

struct AwsClientOptions {
  std::string region;    // "us-east-1"; "": AWS_REGION, else AWS_DEFAULT_REGION
  std::string endpoint;  // one base URL for every service ("http://127.0.0.1:5000"); "": see above
  // The keys to sign with, asked before every attempt; null: the AWS credentials chain of
  // store/cloud_credentials.h (environment, shared credentials file, instance role).
  std::function<Result<SigV4Credentials>()> credentials;
  Env* env = nullptr;  // clock and sleep; null: Env::Default()
  int max_attempts = 5;
  uint64_t base_backoff_ms = 200;   // before the 2nd attempt; doubles each time
  uint64_t max_backoff_ms = 20000;  // cap of one wait
  uint64_t jitter_seed = 0;         // 0: random
  int timeout_ms = 60000;           // whole exchange of one attempt
};

class AwsClient {
 public:
  explicit AwsClient(AwsClientOptions options);
  ~AwsClient();

  // Calls `action` and returns the root of its XML answer. On failure, `error` (when given)
  // holds the last answer's code, message, HTTP status and request id, so callers branch on codes
  // (IsAwsCapacityError). InvalidArgument, before any request, when EC2 or Auto Scaling has no
  // region.
  Result<XmlElement> Call(AwsService service, std::string_view action, const AwsParams& params,
                          AwsError* error = nullptr);

  // The base URL a service's calls go to: "https://ec2.us-east-1.amazonaws.com".
  std::string EndpointOf(AwsService service) const;
  // The region calls are signed for ("" when none was found; IAM signs for us-east-1).
  const std::string& region() const { return region_; }
  std::string SigningRegion(AwsService service) const;
  // How many HTTP attempts were made (retries included), since construction.
  uint64_t attempts() const { return attempts_; }

 private:
  Result<HttpResponse> SendOnce(AwsService service, const std::string& body,
                                const SigV4Credentials& keys, std::string* signature);

  AwsClientOptions o_;
  std::string region_;
  HttpClient http_;
  RetryBackoff backoff_;
  std::function<Result<SigV4Credentials>()> credentials_;
  uint64_t attempts_ = 0;
};

// The answer's list items: EC2's <item> children of `set` (<instancesSet>), the query protocol's
// <member> children of `list`; empty when `set` is null.
std::vector<const XmlElement*> AwsItems(const XmlElement* set);
std::vector<const XmlElement*> AwsMembers(const XmlElement* list);
// The query protocol's <ActionResult> under the root (null when absent: actions with no output).
const XmlElement* AwsQueryResult(const XmlElement& root, std::string_view action);

// EC2 pagination: calls `action` with MaxResults (unset when 0) until the answer's <nextToken> is
// absent or empty, handing each page's root to `on_page`. A token that does not advance is
// Corruption (a server that would loop forever).
Status PaginateEc2(AwsClient* client, std::string_view action, AwsParams params, int max_results,
                   const std::function<Status(const XmlElement& page)>& on_page);
// Auto Scaling pagination: MaxRecords and <ActionResult><NextToken>.
Status PaginateAutoScaling(AwsClient* client, std::string_view action, AwsParams params,
                           int max_records,
                           const std::function<Status(const XmlElement& page)>& on_page);

}  // namespace baton
