// The server side of AWS Signature Version 4, for the fake EC2 (tests/fake_ec2.h): it recomputes
// a request's signature from the bytes on the wire, written from AWS's specification ("Create a
// signed AWS API request", IAM User Guide: canonical request, string to sign, signing key) apart
// from the client's signer (store/sigv4.h), so that a bug there is not repeated here.
//
// Checked, in order (the first failure is the answer's reason):
//   Authorization is "AWS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/<service>/aws4_request,
//     SignedHeaders=<a;b;c>, Signature=<64 hex>"; the key id is known; the scope's date is
//     X-Amz-Date's, its region and service are the server's;
//   SignedHeaders is sorted, lowercase, and covers host and x-amz-date (and
//     x-amz-security-token when the key has a session token, which must match);
//   X-Amz-Date is yyyymmddThhmmssZ within 15 minutes of now; X-Amz-Content-Sha256, when sent,
//     is the body's hash;
//   the signature recomputed over method, path, canonical query, the signed headers' values
//     (trimmed, inner spaces collapsed) and the body's SHA-256 is the one sent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/http_server.h"

namespace baton::testing {

struct SigV4Key {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" for long-term keys
};

class SigV4Verifier {
 public:
  SigV4Verifier(std::vector<SigV4Key> keys, std::string region, std::string service)
      : keys_(std::move(keys)), region_(std::move(region)), service_(std::move(service)) {}

  // Checks X-Amz-Date against this Unix time instead of the clock (known-answer tests).
  void set_now_unix_s(int64_t now) { now_unix_s_ = now; }
  // "" when the request is signed right; else why not (one line, no secret in it).
  std::string Check(const HttpServerRequest& request) const;
  // The key id of the request's Credential ("" when there is none).
  static std::string KeyIdOf(const HttpServerRequest& request);

 private:
  std::vector<SigV4Key> keys_;
  std::string region_;
  std::string service_;
  int64_t now_unix_s_ = 0;  // 0: the clock
};

// HMAC-SHA256 (raw bytes): the steps of the signing key.
std::string HmacSha256Of(std::string_view key, std::string_view data);

}  // namespace baton::testing
