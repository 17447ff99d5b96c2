// AWS Signature Version 4 request signing (header-based), as used by S3 and S3-compatible stores
// (OSS, MinIO). Pure functions over a request description: no IO, no clock. The caller supplies
// the request time so tests and retries are deterministic.
//
// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// Conformance: every vector of the AWS SigV4 test suite (tests/data/aws4_testsuite).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace baton {

// Secrets are never printed: use ToString() (which redacts them) in logs and messages.
struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term credentials

  // "SigV4Credentials{access_key_id=AKID, secret_access_key=<redacted>, session_token=<none>}".
  std::string ToString() const;
};

struct HttpRequestToSign {
  std::string method;  // "GET", "PUT", ...
  // The path exactly as on the request line, without the query: "/bucket/a%20b".
  std::string path;
  // Query pairs as they appear in the URL (still percent-encoded); a key without '=' has "".
  std::vector<std::pair<std::string, std::string>> query;
  // Headers in the order sent; names in any case; repeated names allowed.
  std::vector<std::pair<std::string, std::string>> headers;
  // Lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256_hex;
};

struct SigV4Params {
  std::string region;    // "us-east-1"
  std::string service;   // "s3"
  std::string amz_date;  // request time, UTC, "YYYYMMDDTHHMMSSZ"
  // true (generic AWS services): remove "." / ".." / empty segments, then URI-encode the path as
  // sent (so "%" becomes "%25": the spec's double encoding). false (S3): the path is used as is,
  // encoded once; existing "%XX" escapes are kept.
  bool normalize_path = true;
};

// RFC 3986 encoding as SigV4 wants it: unreserved bytes (A-Z a-z 0-9 - _ . ~) stay, every other
// byte becomes "%XX" (uppercase hex); '/' stays unless `encode_slash`.
std::string UriEncode(std::string_view s, bool encode_slash);

// Lowercase hex of raw bytes (a digest, a MAC).
std::string HexLower(std::string_view bytes);
// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Raw (32-byte, binary) HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// The spec's canonical request: method, URI, query, headers, signed header list, payload hash.
std::string CanonicalRequest(const HttpRequestToSign& request, const SigV4Params& params);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical_request>".
std::string StringToSign(const std::string& canonical_request, const SigV4Params& params);
// "<yyyymmdd>/<region>/<service>/aws4_request".
std::string CredentialScope(const SigV4Params& params);

// The value of the Authorization header for `request` as it stands (every header in it is
// signed). Fails with InvalidArgument on a malformed date, empty key or bad header name; the
// message never contains the secret key or the session token.
Result<std::string> AuthorizationHeader(const HttpRequestToSign& request, const SigV4Params& params,
                                        const SigV4Credentials& credentials);

// Adds what a signed request needs and signs it: X-Amz-Date (when absent; a present one must equal
// params.amz_date), X-Amz-Security-Token (when the credentials have a token and the request has
// none), then Authorization. Services that want the token added after signing should sign with
// a token-less copy of the credentials and add the header themselves.
Status SignRequest(HttpRequestToSign* request, const SigV4Params& params,
                   const SigV4Credentials& credentials);

}  // namespace baton
