// AliyunVerifier: the server side of Alibaba Cloud's V3 request signature (ACS3-HMAC-SHA256),
// for the fake Alibaba Cloud that Baton's tests run against (tests/fake_aliyun.h). It is written
// apart from the client's signer (src/cloud/) and shares no code with it: it rebuilds the
// canonical request from the bytes on the wire (request line, header lines, body), so that a
// client that signs one thing and sends another is caught.
//
// Followed:
// https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature as
// summarised, with its SDK sources, in shared/notes/cloud-apis.md section 1.2:
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
//                      SignedHeaders \n HashedRequestPayload(= x-acs-content-sha256)
//   StringToSign     = "ACS3-HMAC-SHA256\n" + hex(SHA256(CanonicalRequest))
//   Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
//
// Checks, in this order (the first failing one is the answer):
//   1. an Authorization header "ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=.."
//      (IncompleteSignature; also when host or an x-acs-* header that was sent is not signed)
//   2. the AccessKeyId is known (InvalidAccessKeyId.NotFound)
//   3. STS credentials: x-acs-security-token present and equal to the credential's token
//      (MissingSecurityToken / InvalidSecurityToken.MismatchWithAccessKey)
//   4. x-acs-date present (MissingParameter), "yyyy-MM-ddTHH:mm:ssZ" (IllegalTimestamp), within
//      15 minutes of the clock either way (InvalidTimeStamp.Expired)
//   5. x-acs-signature-nonce present (MissingParameter)
//   6. x-acs-content-sha256 present and equal to SHA-256 of the body received
//   7. the signature (SignatureDoesNotMatch)
//   8. the nonce was not used before by an accepted request (SignatureNonceUsed); only requests
//      that passed 1-7 record their nonce, so a forged request cannot burn a real one.
// Codes and HTTP statuses from the notes' section 2.1 tables where they are listed there
// (SignatureDoesNotMatch 403; IncompleteSignature, SignatureNonceUsed, IllegalTimestamp,
// InvalidAccessKeyId.NotFound, MissingParameter 400). Not in the notes, chosen here [I]:
// InvalidTimeStamp.Expired (400), MissingSecurityToken (400, seen in an Alibaba answer quoted in
// denverdino/aliyungo#204), InvalidSecurityToken.MismatchWithAccessKey (400), and for a payload
// hash that does not match the body ContentSha256Mismatch (400). Tests assert the `failure` kind,
// which does not depend on these spellings.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_server.h"

namespace baton::testing {

struct AliyunCredential {
  std::string access_key_id;
  std::string access_key_secret;
  std::string security_token;  // non-empty: STS credentials, x-acs-security-token must match
};

// A request as it came over the wire: the request line's method and target (not decoded), the
// header lines with their names as sent, and the body.
struct AliyunWireRequest {
  std::string method;
  std::string target;  // "/?ImageId=a&RegionId=cn-shanghai"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // From the embedded server's view: its `head` (request line + header lines) and body; the
  // server's own parsed fields are not used.
  static AliyunWireRequest FromHttp(const HttpServerRequest& request);
  // From the head text alone ("POST / HTTP/1.1\r\nhost: x\r\n..."; "\n" line ends accepted).
  static AliyunWireRequest FromHead(std::string_view head, std::string body);
};

enum class AliyunAuthFailure {
  kNone,
  kIncompleteSignature,  // no/malformed Authorization, other algorithm, host/x-acs-* unsigned
  kUnknownAccessKey,
  kMissingSecurityToken,
  kSecurityTokenMismatch,
  kMissingDate,
  kBadDate,
  kExpiredDate,
  kMissingNonce,
  kMissingContentSha256,
  kContentSha256Mismatch,
  kSignatureMismatch,
  kNonceUsed,
};

struct AliyunVerdict {
  AliyunAuthFailure failure = AliyunAuthFailure::kNone;
  int http_status = 200;
  std::string code;     // Alibaba's error code, "" when ok
  std::string message;  // names what is wrong (for a signature mismatch: the string to sign)
  std::string access_key_id;

  bool ok() const { return failure == AliyunAuthFailure::kNone; }
};

class AliyunVerifier {
 public:
  static constexpr int64_t kMaxClockSkewSeconds = 15 * 60;

  // `now_seconds` gives Unix time; the default is the system clock. Tests of recorded requests
  // (the documentation's example of 2023) set it to the request's time.
  explicit AliyunVerifier(std::function<int64_t()> now_seconds = {});

  void AddCredential(AliyunCredential credential);
  // Checks `request` (see the header comment) and, when it is accepted, records its nonce.
  AliyunVerdict Verify(const AliyunWireRequest& request);
  // Forgets the nonces seen (a test that replays the same recorded request on purpose).
  void ForgetNonces();

 private:
  std::function<int64_t()> now_seconds_;
  std::mutex mu_;
  std::map<std::string, AliyunCredential> credentials_;  // by AccessKeyId
  std::set<std::string> nonces_;
};

// The pieces, exposed for tests against the published vectors.

// RFC 3986 percent-encoding as ACS3 uses it: A-Z a-z 0-9 - _ . ~ kept, every other byte %XX
// (upper-case hex); with `keep_slash`, '/' is kept too (the canonical URI).
std::string AcsPercentEncode(std::string_view s, bool keep_slash = false);
// Percent-decoding of a URL part; '+' stays '+' (ACS3 clients encode a space as %20).
std::string AcsPercentDecode(std::string_view s);
// The canonical query string of a raw query (without '?'): each pair decoded, re-encoded, sorted
// by key then value; a key without '=' or with an empty value gives "key=".
std::string AcsCanonicalQuery(std::string_view raw_query);
// The canonical request. `headers` are as sent (any case, duplicates allowed); only the names
// in `signed_headers` (lower-case, ';'-separated, sorted by the client) are used.
std::string AcsCanonicalRequest(std::string_view method, std::string_view raw_path,
                                std::string_view raw_query,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                std::string_view signed_headers, std::string_view hashed_payload);
// "ACS3-HMAC-SHA256\n" + hex(SHA-256(canonical_request)).
std::string AcsStringToSign(std::string_view canonical_request);
// hex(HMAC-SHA256(secret, string_to_sign)).
std::string AcsSignature(std::string_view secret, std::string_view string_to_sign);
std::string AcsSha256Hex(std::string_view data);

}  // namespace baton::testing
