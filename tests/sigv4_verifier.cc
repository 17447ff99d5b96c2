// The server side of SigV4; see sigv4_verifier.h for what is checked.
#include "sigv4_verifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

#include "aliyun_verifier.h"

namespace baton::testing {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// "k1=v1, k2=v2" after the algorithm, split on commas with spaces around them.
std::map<std::string, std::string> AuthFields(std::string_view rest) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find(',', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view part = rest.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos) {
      out[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// A header value as SigV4 canonicalises it: trimmed, runs of spaces as one.
std::string CanonicalValue(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// name=value pairs of the query, each part re-encoded as RFC 3986 wants, sorted.
std::string CanonicalQueryOf(const std::string& raw) {
  if (raw.empty()) return "";
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& part : Split(raw, '&')) {
    size_t eq = part.find('=');
    std::string name = AcsPercentDecode(part.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : AcsPercentDecode(part.substr(eq + 1));
    pairs.emplace_back(AcsPercentEncode(name), AcsPercentEncode(value));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [n, v] : pairs) out += (out.empty() ? "" : "&") + n + "=" + v;
  return out;
}

// Seconds between X-Amz-Date and now; false when it does not parse.
bool SkewSeconds(const std::string& amz_date, int64_t now_unix_s, int64_t* skew) {
  std::tm tm{};
  if (amz_date.size() != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z' ||
      std::sscanf(amz_date.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const int64_t then = static_cast<int64_t>(timegm(&tm));
  const int64_t now = now_unix_s > 0 ? now_unix_s
                                     : std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count();
  *skew = now > then ? now - then : then - now;
  return true;
}

}  // namespace

std::string HmacSha256Of(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &n);
  return std::string(reinterpret_cast<const char*>(mac), n);
}

std::string SigV4Verifier::KeyIdOf(const HttpServerRequest& request) {
  std::string auth = request.Header("authorization");
  if (!auth.starts_with(kAlgorithm)) return "";
  std::string credential =
      AuthFields(std::string_view(auth).substr(kAlgorithm.size()))["Credential"];
  return credential.substr(0, credential.find('/'));
}

std::string SigV4Verifier::Check(const HttpServerRequest& r) const {
  const std::string auth = r.Header("authorization");
  if (auth.empty()) return "MissingAuthenticationToken: no Authorization header";
  if (!auth.starts_with(std::string(kAlgorithm) + " ")) {
    return "IncompleteSignature: Authorization does not use AWS4-HMAC-SHA256";
  }
  std::map<std::string, std::string> fields =
      AuthFields(std::string_view(auth).substr(kAlgorithm.size() + 1));
  for (const char* f : {"Credential", "SignedHeaders", "Signature"}) {
    if (!fields.count(f)) return std::string("IncompleteSignature: no ") + f;
  }
  std::vector<std::string> scope = Split(fields["Credential"], '/');
  if (scope.size() != 5 || scope[4] != "aws4_request") {
    return "IncompleteSignature: Credential is not <id>/<date>/<region>/<service>/aws4_request";
  }
  const SigV4Key* key = nullptr;
  for (const SigV4Key& k : keys_) {
    if (k.access_key_id == scope[0]) key = &k;
  }
  if (!key) return "AuthFailure: unknown access key " + scope[0];
  const std::string amz_date = r.Header("x-amz-date");
  int64_t skew = 0;
  if (!SkewSeconds(amz_date, now_unix_s_, &skew))
    return "IncompleteSignature: X-Amz-Date is missing or malformed";
  if (skew > 15 * 60) return "RequestExpired: X-Amz-Date is more than 15 minutes off";
  if (scope[1] != amz_date.substr(0, 8))
    return "SignatureDoesNotMatch: scope date is not X-Amz-Date's";
  if (scope[2] != region_)
    return "SignatureDoesNotMatch: scope region " + scope[2] + ", want " + region_;
  if (scope[3] != service_) {
    return "SignatureDoesNotMatch: scope service " + scope[3] + ", want " + service_;
  }
  std::vector<std::string> signed_headers = Split(fields["SignedHeaders"], ';');
  if (!std::is_sorted(signed_headers.begin(), signed_headers.end())) {
    return "SignatureDoesNotMatch: SignedHeaders is not sorted";
  }
  for (const std::string& h : signed_headers) {
    for (char c : h) {
      if (c >= 'A' && c <= 'Z') return "SignatureDoesNotMatch: SignedHeaders is not lowercase";
    }
  }
  auto covers = [&](const char* h) {
    return std::find(signed_headers.begin(), signed_headers.end(), h) != signed_headers.end();
  };
  if (!covers("host") || !covers("x-amz-date")) {
    return "SignatureDoesNotMatch: SignedHeaders must cover host and x-amz-date";
  }
  if (!key->session_token.empty() &&
      (!covers("x-amz-security-token") || r.Header("x-amz-security-token") != key->session_token)) {
    return "InvalidClientTokenId: the session token is missing, unsigned or wrong";
  }
  const std::string body_hash = AcsSha256Hex(r.body);
  if (r.HasHeader("x-amz-content-sha256") && r.Header("x-amz-content-sha256") != body_hash) {
    return "SignatureDoesNotMatch: X-Amz-Content-Sha256 is not the body's hash";
  }
  std::string canonical_headers;
  for (const std::string& h : signed_headers) {
    if (!r.HasHeader(h)) return "SignatureDoesNotMatch: signed header " + h + " was not sent";
    canonical_headers += h + ":" + CanonicalValue(r.Header(h)) + "\n";
  }
  std::string path = r.target.substr(0, r.target.find('?'));
  if (path.empty()) path = "/";
  const std::string canonical_request = r.method + "\n" + path + "\n" +
                                        CanonicalQueryOf(r.raw_query) + "\n" + canonical_headers +
                                        "\n" + fields["SignedHeaders"] + "\n" + body_hash;
  const std::string scope_text = scope[1] + "/" + scope[2] + "/" + scope[3] + "/aws4_request";
  const std::string string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope_text +
                                     "\n" + AcsSha256Hex(canonical_request);
  std::string k = HmacSha256Of("AWS4" + key->secret_access_key, scope[1]);
  k = HmacSha256Of(k, scope[2]);
  k = HmacSha256Of(k, scope[3]);
  k = HmacSha256Of(k, "aws4_request");
  const std::string want = AcsSignature(k, string_to_sign);  // hex of HMAC-SHA256
  if (want != fields["Signature"]) {
    return "SignatureDoesNotMatch: the signature we calculated does not match the one sent";
  }
  return "";
}

}  // namespace baton::testing
