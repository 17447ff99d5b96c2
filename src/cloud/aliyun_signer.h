// Alibaba Cloud OpenAPI request signing: ACS3-HMAC-SHA256 (the "V3" signature, what AliyunClient
// sends) and the older RPC HMAC-SHA1 signature (kept for the fake servers and the docs' vectors).
// Pure functions over a request description: no IO, no clock, no randomness; the caller supplies
// the date and the nonce, so tests and retries are deterministic. The intermediate strings are
// exposed so tests check each one against the published vectors.
//
// Spec followed:
// https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature and
// the Tea SDK (aliyun/darabonba-openapi-util, golang/service/service.go GetAuthorization,
// getCanonicalHeaders; python/alibabacloud_openapi_util/client.py get_rpcsignature), as summarised
// in shared/notes/cloud-apis.md sections 1.1 and 1.2. Conformance:
// tests/data/aliyun-signature/vectors.json.
//
// Where V3 differs from AWS SigV4 (store/sigv4.h): no credential scope or key derivation (the
// HMAC key is the secret itself), query keys and values arrive unencoded and are encoded here,
// only host, content-type and x-acs-* headers are signed, and the string to sign has two lines.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/sigv4.h"

namespace baton {

// Alibaba's percentEncode: UTF-8 bytes, A-Z a-z 0-9 - _ . ~ kept, every other byte "%XY"
// (uppercase hex); so a space is "%20" (never '+'), '*' is "%2A", '/' is "%2F".
std::string AliyunPercentEncode(std::string_view s);

// Pairs joined as percentEncode(key)=percentEncode(value) with '&', sorted by key (byte order; on
// equal keys by value): the V3 canonical query string and the RPC canonicalized query string.
std::string AliyunCanonicalQuery(std::vector<std::pair<std::string, std::string>> params);

struct Acs3Request {
  std::string method = "POST";
  std::string path = "/";  // the path as sent ("/" for RPC APIs)
  // Query parameters, not encoded: {"RegionId", "cn-shanghai"}. Empty values are kept ("key=").
  std::vector<std::pair<std::string, std::string>> query;
  // Headers in any case; a repeated name is signed as "name:v1,v2" (values sorted).
  std::vector<std::pair<std::string, std::string>> headers;
  // Lowercase hex SHA-256 of the body: the value of x-acs-content-sha256.
  std::string payload_sha256_hex;
};

// Every step of one V3 signature, for tests and for a server that verifies one.
struct Acs3Signature {
  std::string canonical_request;
  std::string hashed_canonical_request;  // lowercase hex SHA-256 of canonical_request
  std::string string_to_sign;            // "ACS3-HMAC-SHA256\n" + hashed_canonical_request
  std::string signed_headers;            // "host;x-acs-action;..."
  std::string signature;                 // lowercase hex HMAC-SHA256(secret, string_to_sign)
  std::string authorization;             // the Authorization header's value
};

inline constexpr char kAcs3Algorithm[] = "ACS3-HMAC-SHA256";

// Whether a header takes part in the V3 signature: host, content-type and x-acs-* (any case).
bool IsAcs3SignedHeader(std::string_view name);

// Computes the signature of `request` as it stands (it adds nothing). Fails with
// InvalidArgument on an empty key id or secret; messages never contain the secret or token.
Result<Acs3Signature> ComputeAcs3Signature(const Acs3Request& request,
                                           const SigV4Credentials& credentials);

// Fills in what a V3 request needs, then signs it: x-acs-date (`date`, "yyyy-MM-ddTHH:mm:ssZ"),
// x-acs-signature-nonce, x-acs-content-sha256 (from payload_sha256_hex), and with STS
// credentials x-acs-security-token and x-acs-accesskey-id (signed, as the Tea SDK does); then
// appends Authorization. `host`, x-acs-action and x-acs-version are the caller's to add.
Result<Acs3Signature> SignAcs3Request(Acs3Request* request, const SigV4Credentials& credentials,
                                      std::string_view date, std::string_view nonce);

// --- RPC signature (HMAC-SHA1, "SignatureVersion=1.0") ---------------------------------------
// StringToSign = method + "&%2F&" + percentEncode(canonicalized query of every parameter except
// Signature); signature = Base64(HMAC-SHA1(secret + "&", StringToSign)).
std::string RpcStringToSign(std::string_view method,
                            const std::vector<std::pair<std::string, std::string>>& params);
std::string RpcSignature(std::string_view string_to_sign, std::string_view secret);

// Standard base64 (RFC 4648, with padding): ECS RunInstances' UserData, HMAC-SHA1 signatures.
std::string Base64Encode(std::string_view data);

}  // namespace baton
