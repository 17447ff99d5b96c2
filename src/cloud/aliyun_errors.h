// Errors of Alibaba's OpenAPI (ECS, ESS): the JSON error body {"Code", "Message", "RequestId",
// "HostId"} (also the Tea SDK's lowercase spellings), and the one table that says which codes are
// worth a retry and which Status code each becomes. Sources: shared/notes/cloud-apis.md 2.1
// (ESS "Client errors.md"/"Server errors.md", ECS "Response results.md", Terraform's NeedRetry).
//
// Retried: Throttling* (and Rejected.Throttling), ServiceUnavailable*, InternalError,
// OperationConflict, LastTokenProcessing, IdempotentProcessing, any 5xx, HTTP 429, and transport
// failures. Never retried: parameter, permission, signature and not-found errors, and stock
// shortages (OperationDenied.NoStock: the fleet picks another offer instead).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace baton {

struct AliyunError {
  long http_status = 0;  // 0: no HTTP answer (a transport failure)
  std::string code;      // "Throttling.User"; "" when the body had none
  std::string message;
  std::string request_id;
};

enum class AliyunErrorKind {
  kThrottled,    // retry after a backoff
  kServerError,  // retry (5xx, InternalError, ServiceUnavailable)
  kBusy,         // retry: a conflicting operation is still running
  kInvalid,      // a parameter or request error: never retried
  kPermission,   // Forbidden*, bad keys or signature: never retried
  kNotFound,     // *.NotFound, InvalidXxxId.NotFound: never retried
  kNoCapacity,   // out of stock, zone not on sale, quota: never retried
  kUnknown,      // a 4xx code not in the table: never retried
};

// The table lookup: by exact code, then by prefix, then by HTTP status.
AliyunErrorKind ClassifyAliyunError(std::string_view code, long http_status);
bool IsRetryable(AliyunErrorKind kind);
const char* AliyunErrorKindName(AliyunErrorKind kind);

// Reads the error body of a 4xx/5xx answer; a body that is not JSON leaves code/message empty.
AliyunError ParseAliyunError(long http_status, std::string_view body);

// The Status for a failed `action` of `service` ("ecs"):
//   "ecs DescribeInstances: Throttling.User (HTTP 400): <message> [RequestId 5E0...]".
// Retryable kinds become Unavailable; kInvalid InvalidArgument; kNotFound NotFound;
// kPermission, kNoCapacity and kUnknown FailedPrecondition.
Status AliyunErrorStatus(std::string_view service, std::string_view action,
                         const AliyunError& error);

}  // namespace baton
