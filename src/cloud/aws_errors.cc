#include "cloud/aws_errors.h"

#include "base/strings.h"
#include "cloud/api_shared.h"
#include "net/xml.h"

namespace baton {
namespace {

struct CodeRule {
  std::string_view code;
  AwsErrorKind kind;
};

// The one table of codes (see the header for sources).
constexpr CodeRule kCodeRules[] = {
    {"Throttling", AwsErrorKind::kThrottled},
    {"ThrottlingException", AwsErrorKind::kThrottled},
    {"ThrottledException", AwsErrorKind::kThrottled},
    {"RequestThrottledException", AwsErrorKind::kThrottled},
    {"TooManyRequestsException", AwsErrorKind::kThrottled},
    {"RequestLimitExceeded", AwsErrorKind::kThrottled},
    {"EC2ThrottledException", AwsErrorKind::kThrottled},
    {"RequestThrottled", AwsErrorKind::kThrottled},
    {"SlowDown", AwsErrorKind::kThrottled},
    {"BandwidthLimitExceeded", AwsErrorKind::kThrottled},
    {"PriorRequestNotComplete", AwsErrorKind::kThrottled},
    {"InternalError", AwsErrorKind::kServerError},
    {"InternalFailure", AwsErrorKind::kServerError},
    {"ServiceUnavailable", AwsErrorKind::kServerError},
    {"Unavailable", AwsErrorKind::kServerError},
    {"RequestTimeout", AwsErrorKind::kServerError},
    {"RequestTimeoutException", AwsErrorKind::kServerError},
    {"AuthFailure", AwsErrorKind::kPermission},
    {"SignatureDoesNotMatch", AwsErrorKind::kPermission},
    {"IncompleteSignature", AwsErrorKind::kPermission},
    {"InvalidClientTokenId", AwsErrorKind::kPermission},
    {"UnrecognizedClientException", AwsErrorKind::kPermission},
    {"UnauthorizedOperation", AwsErrorKind::kPermission},
    {"AccessDenied", AwsErrorKind::kPermission},
    {"AccessDeniedException", AwsErrorKind::kPermission},
    {"OptInRequired", AwsErrorKind::kPermission},
    {"ExpiredToken", AwsErrorKind::kPermission},
    {"RequestExpired", AwsErrorKind::kPermission},
    {"NoSuchEntity", AwsErrorKind::kNotFound},
};

constexpr std::string_view kCapacityCodes[] = {
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientCapacityOnHost",
    "UnfulfillableCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "Unsupported",
};

// The request id of an error document: EC2's <RequestID>, query's <RequestId>, either at the
// root or in <ResponseMetadata>.
std::string RequestIdOf(const XmlElement& root) {
  for (const XmlElement* at : {&root, root.Child("ResponseMetadata")}) {
    if (at == nullptr) continue;
    for (const char* name : {"RequestID", "RequestId", "requestId"}) {
      if (const XmlElement* id = at->Child(name)) return id->text;
    }
  }
  return "";
}

}  // namespace

bool IsAwsCapacityError(std::string_view code) {
  for (std::string_view c : kCapacityCodes) {
    if (code == c) return true;
  }
  return false;
}

AwsErrorKind ClassifyAwsError(std::string_view code, long http_status) {
  if (IsAwsCapacityError(code)) return AwsErrorKind::kNoCapacity;
  for (const CodeRule& r : kCodeRules) {
    if (code == r.code) return r.kind;
  }
  constexpr std::string_view kNotFound = "NotFound";
  if (code.size() >= kNotFound.size() && code.substr(code.size() - kNotFound.size()) == kNotFound) {
    return AwsErrorKind::kNotFound;  // InvalidInstanceID.NotFound, InvalidGroup.NotFound
  }
  if (code.rfind("Invalid", 0) == 0 || code.rfind("Missing", 0) == 0 || code == "ValidationError" ||
      code == "UnknownParameter") {
    return AwsErrorKind::kInvalid;
  }
  if (http_status == 429) return AwsErrorKind::kThrottled;
  if (http_status >= 500 || http_status == 0) return AwsErrorKind::kServerError;
  if (http_status == 401 || http_status == 403) return AwsErrorKind::kPermission;
  if (http_status == 404) return AwsErrorKind::kNotFound;
  return AwsErrorKind::kUnknown;
}

bool IsRetryable(AwsErrorKind kind) {
  return kind == AwsErrorKind::kThrottled || kind == AwsErrorKind::kServerError;
}

const char* AwsErrorKindName(AwsErrorKind kind) {
  switch (kind) {
    case AwsErrorKind::kThrottled:
      return "throttled";
    case AwsErrorKind::kServerError:
      return "server error";
    case AwsErrorKind::kInvalid:
      return "invalid request";
    case AwsErrorKind::kPermission:
      return "permission";
    case AwsErrorKind::kNotFound:
      return "not found";
    case AwsErrorKind::kNoCapacity:
      return "no capacity";
    case AwsErrorKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

AwsError ParseAwsError(long http_status, std::string_view body) {
  AwsError e;
  e.http_status = http_status;
  Result<XmlElement> root = ParseXml(body, "error answer");
  if (!root.ok()) {
    std::string text = Printable(body.substr(0, 200));
    if (body.size() > 200) text += "...";
    e.message = text;
    return e;
  }
  const XmlElement* error = root->Child("Error");
  if (error == nullptr) error = root->Find({"Errors", "Error"});
  if (error != nullptr) {
    e.code = error->ChildText("Code");
    e.message = error->ChildText("Message");
    e.type = error->ChildText("Type");
  }
  e.request_id = RequestIdOf(*root);
  return e;
}

Status AwsErrorStatus(std::string_view service, std::string_view action, const AwsError& error) {
  AwsErrorKind kind = ClassifyAwsError(error.code, error.http_status);
  std::string text = CloudErrorText(service, action, error.code, error.http_status, error.message,
                                    error.request_id);
  StatusCode code = StatusCode::kFailedPrecondition;
  if (IsRetryable(kind)) code = StatusCode::kUnavailable;
  if (kind == AwsErrorKind::kInvalid) code = StatusCode::kInvalidArgument;
  if (kind == AwsErrorKind::kNotFound) code = StatusCode::kNotFound;
  return Status(code, std::move(text));
}

}  // namespace baton
