#include "cloud/aliyun_errors.h"

#include "base/json.h"
#include "cloud/api_shared.h"

namespace baton {
namespace {

struct CodeRule {
  std::string_view code;
  bool prefix;  // matches every code that starts with `code`
  AliyunErrorKind kind;
};

// The one table of codes. Exact rules are listed before the prefixes that would also match them.
constexpr CodeRule kCodeRules[] = {
    {"Throttling", true, AliyunErrorKind::kThrottled},
    {"Rejected.Throttling", false, AliyunErrorKind::kThrottled},
    {"ServiceUnavailable", true, AliyunErrorKind::kServerError},
    {"InternalError", true, AliyunErrorKind::kServerError},
    {"UnknownError", false, AliyunErrorKind::kServerError},
    {"OperationConflict", false, AliyunErrorKind::kBusy},
    {"LastTokenProcessing", false, AliyunErrorKind::kBusy},
    {"IdempotentProcessing", false, AliyunErrorKind::kBusy},
    {"OperationDenied.NoStock", false, AliyunErrorKind::kNoCapacity},
    {"Zone.NotOnSale", false, AliyunErrorKind::kNoCapacity},
    {"QuotaExceed", true, AliyunErrorKind::kNoCapacity},
    {"InsufficientBalance", false, AliyunErrorKind::kNoCapacity},
    {"InvalidAccessKeyId", true, AliyunErrorKind::kPermission},
    {"SignatureDoesNotMatch", false, AliyunErrorKind::kPermission},
    {"IncompleteSignature", false, AliyunErrorKind::kPermission},
    {"Forbidden", true, AliyunErrorKind::kPermission},
    {"NoPermission", true, AliyunErrorKind::kPermission},
    {"InvalidSecurityToken", true, AliyunErrorKind::kPermission},
    {"MissingParameter", true, AliyunErrorKind::kInvalid},
    {"InvalidParameter", true, AliyunErrorKind::kInvalid},
    {"UnsupportedOperation", true, AliyunErrorKind::kInvalid},
    {"NoSuchVersion", false, AliyunErrorKind::kInvalid},
    {"IdempotentParameterMismatch", false, AliyunErrorKind::kInvalid},
    {"SignatureNonceUsed", false, AliyunErrorKind::kInvalid},
    {"IllegalTimestamp", false, AliyunErrorKind::kInvalid},
    {"InvalidSpotPriceLimit", true, AliyunErrorKind::kInvalid},
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Field(const Json& body, const char* upper, const char* lower) {
  for (const char* key : {upper, lower}) {
    auto it = body.find(key);
    if (it != body.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

}  // namespace

AliyunErrorKind ClassifyAliyunError(std::string_view code, long http_status) {
  for (const CodeRule& r : kCodeRules) {
    if (code == r.code) return r.kind;
  }
  for (const CodeRule& r : kCodeRules) {
    if (r.prefix && code.substr(0, r.code.size()) == r.code) return r.kind;
  }
  if (EndsWith(code, ".NotFound") || EndsWith(code, "NotFound")) return AliyunErrorKind::kNotFound;
  if (code.rfind("Invalid", 0) == 0) return AliyunErrorKind::kInvalid;
  if (http_status == 429) return AliyunErrorKind::kThrottled;
  if (http_status >= 500 || http_status == 0) return AliyunErrorKind::kServerError;
  if (http_status == 403) return AliyunErrorKind::kPermission;
  if (http_status == 404) return AliyunErrorKind::kNotFound;
  return AliyunErrorKind::kUnknown;
}

bool IsRetryable(AliyunErrorKind kind) {
  return kind == AliyunErrorKind::kThrottled || kind == AliyunErrorKind::kServerError ||
         kind == AliyunErrorKind::kBusy;
}

const char* AliyunErrorKindName(AliyunErrorKind kind) {
  switch (kind) {
    case AliyunErrorKind::kThrottled:
      return "throttled";
    case AliyunErrorKind::kServerError:
      return "server error";
    case AliyunErrorKind::kBusy:
      return "busy";
    case AliyunErrorKind::kInvalid:
      return "invalid request";
    case AliyunErrorKind::kPermission:
      return "permission";
    case AliyunErrorKind::kNotFound:
      return "not found";
    case AliyunErrorKind::kNoCapacity:
      return "no capacity";
    case AliyunErrorKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

AliyunError ParseAliyunError(long http_status, std::string_view body) {
  AliyunError e;
  e.http_status = http_status;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    e.code = Field(j, "Code", "code");
    e.message = Field(j, "Message", "message");
    e.request_id = Field(j, "RequestId", "requestId");
  }
  return e;
}

Status AliyunErrorStatus(std::string_view service, std::string_view action,
                         const AliyunError& error) {
  AliyunErrorKind kind = ClassifyAliyunError(error.code, error.http_status);
  std::string text = CloudErrorText(service, action, error.code, error.http_status, error.message,
                                    error.request_id);
  StatusCode code = StatusCode::kFailedPrecondition;
  if (IsRetryable(kind)) code = StatusCode::kUnavailable;
  if (kind == AliyunErrorKind::kInvalid) code = StatusCode::kInvalidArgument;
  if (kind == AliyunErrorKind::kNotFound) code = StatusCode::kNotFound;
  return Status(code, std::move(text));
}

}  // namespace baton
