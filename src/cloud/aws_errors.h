// Errors of AWS's XML APIs: EC2 (protocol ec2) answers
//   <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
// and Auto Scaling and IAM (protocol query) answer
//   <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
// (moto also mixes the two: <ErrorResponse><Errors><Error>...). Sources: botocore's
// parsers.py (QueryParser, EC2QueryParser._do_error_parse) and moto 5.2.1's answers,
// shared/notes/cloud-apis.md section 3.
//
// The one table of codes: what is retried and what each becomes.
//   Retried (throttling, botocore's standard retry mode): Throttling, ThrottlingException,
//     ThrottledException, RequestThrottledException, TooManyRequestsException,
//     RequestLimitExceeded (EC2), EC2ThrottledException, RequestThrottled, SlowDown,
//     BandwidthLimitExceeded, PriorRequestNotComplete; and (transient) InternalError,
//     InternalFailure, ServiceUnavailable, Unavailable, RequestTimeout, RequestTimeoutException,
//     any other 5xx, HTTP 429, and transport failures.
//   Not retried: every other 4xx, and the capacity codes below even where EC2 sends them with
//     HTTP 500 (InsufficientInstanceCapacity is a "server error" in EC2's error list): asking the
//     same offer again does not make capacity; the fleet picks another offer.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace baton {

struct AwsError {
  long http_status = 0;  // 0: no HTTP answer (a transport failure)
  std::string code;      // "InvalidParameterValue"; "" when the body had none
  std::string message;
  std::string type;  // query protocol's "Sender" / "Receiver"; "" for EC2
  std::string request_id;
};

enum class AwsErrorKind {
  kThrottled,    // retry after a backoff
  kServerError,  // retry (5xx, InternalError, ServiceUnavailable, transport)
  kInvalid,      // a parameter or request error: never retried
  kPermission,   // AuthFailure, SignatureDoesNotMatch, UnauthorizedOperation...: never retried
  kNotFound,     // *.NotFound, NoSuchEntity: never retried
  kNoCapacity,   // IsAwsCapacityError: never retried
  kUnknown,      // a 4xx code not in the table: never retried
};

// Whether an error code says "this offer (instance type x zone x market) cannot launch now",
// so the fleet should try another one:
//   InsufficientInstanceCapacity, InsufficientHostCapacity, InsufficientReservedInstanceCapacity,
//   InsufficientCapacity, InsufficientCapacityOnHost, UnfulfillableCapacity (no spot capacity),
//   SpotMaxPriceTooLow (the max price is under the spot price), MaxSpotInstanceCountExceeded,
//   InstanceLimitExceeded, VcpuLimitExceeded (account quotas, per instance family or market),
//   Unsupported (the type is not offered in that zone).
// Sources: EC2 API reference, "Error codes for the Amazon EC2 API"
// (docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html); the same set is
// aws-parallelcluster-node's fast fail-over list (PR #673, src/slurm_plugin/slurm_resources.py).
bool IsAwsCapacityError(std::string_view code);

// The table lookup: by exact code, then by suffix (.NotFound), then by HTTP status.
AwsErrorKind ClassifyAwsError(std::string_view code, long http_status);
bool IsRetryable(AwsErrorKind kind);
const char* AwsErrorKindName(AwsErrorKind kind);

// Reads the error body of a 4xx/5xx answer (either protocol). A body that is not XML (moto's
// HTML 500 pages, a proxy's text) leaves the code empty and keeps its first 200 printable
// characters as the message.
AwsError ParseAwsError(long http_status, std::string_view body);

// The Status for a failed `action` of `service` ("ec2"):
//   "ec2 RunInstances: InsufficientInstanceCapacity (HTTP 500): <message> [RequestId 5e0...]".
// Retryable kinds become Unavailable; kInvalid InvalidArgument; kNotFound NotFound;
// kPermission, kNoCapacity and kUnknown FailedPrecondition.
Status AwsErrorStatus(std::string_view service, std::string_view action, const AwsError& error);

}  // namespace baton
