// The server side of ACS3-HMAC-SHA256; see aliyun_verifier.h for the specification followed.
#include "aliyun_verifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace baton::testing {
namespace {

constexpr std::string_view kAlgorithm = "ACS3-HMAC-SHA256";

std::string Hex(const unsigned char* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

// Every value of header `name` (lower-case), in the order sent.
std::vector<std::string> HeaderValues(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [k, v] : headers) {
    if (Lower(k) == name) values.emplace_back(Trim(v));
  }
  return values;
}

std::string FirstHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string_view name) {
  auto values = HeaderValues(headers, name);
  return values.empty() ? "" : values.front();
}

bool HasHeader(const std::vector<std::pair<std::string, std::string>>& headers,
               std::string_view name) {
  return !HeaderValues(headers, name).empty();
}

AliyunVerdict Fail(AliyunAuthFailure failure, int status, std::string code, std::string message) {
  AliyunVerdict v;
  v.failure = failure;
  v.http_status = status;
  v.code = std::move(code);
  v.message = std::move(message);
  return v;
}

// "2023-10-26T10:22:32Z" -> Unix seconds; false when it is not exactly that shape.
bool ParseAcsDate(const std::string& s, int64_t* out) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  std::tm tm{};
  tm.tm_year = std::stoi(s.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(s.substr(5, 2)) - 1;
  tm.tm_mday = std::stoi(s.substr(8, 2));
  tm.tm_hour = std::stoi(s.substr(11, 2));
  tm.tm_min = std::stoi(s.substr(14, 2));
  tm.tm_sec = std::stoi(s.substr(17, 2));
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return false;
  }
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

struct Authorization {
  std::string access_key_id, signed_headers, signature;
};

// "ACS3-HMAC-SHA256 Credential=id,SignedHeaders=a;b,Signature=hex"; false with *why set.
bool ParseAuthorization(const std::string& value, Authorization* out, std::string* why) {
  if (value.empty()) {
    *why = "the request carries no Authorization header";
    return false;
  }
  size_t space = value.find(' ');
  std::string_view algorithm = std::string_view(value).substr(0, space);
  if (algorithm != kAlgorithm) {
    *why = "Authorization uses algorithm '" + std::string(algorithm) + "', not ACS3-HMAC-SHA256";
    return false;
  }
  if (space == std::string::npos) {
    *why = "Authorization has no Credential, SignedHeaders and Signature";
    return false;
  }
  std::map<std::string, std::string> fields;
  for (std::string_view part : Split(std::string_view(value).substr(space + 1), ',')) {
    part = Trim(part);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    fields[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  for (const char* name : {"Credential", "SignedHeaders", "Signature"}) {
    if (fields[name].empty()) {
      *why = std::string("Authorization has no ") + name;
      return false;
    }
  }
  out->access_key_id = fields["Credential"];
  out->signed_headers = fields["SignedHeaders"];
  out->signature = fields["Signature"];
  return true;
}

}  // namespace

AliyunWireRequest AliyunWireRequest::FromHead(std::string_view head, std::string body) {
  AliyunWireRequest r;
  r.body = std::move(body);
  bool first = true;
  for (std::string_view line : Split(head, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      auto parts = Split(line, ' ');
      if (!parts.empty()) r.method = std::string(parts[0]);
      if (parts.size() > 1) r.target = std::string(parts[1]);
      continue;
    }
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    r.headers.emplace_back(std::string(line.substr(0, colon)),
                           std::string(Trim(line.substr(colon + 1))));
  }
  // An absolute-form target ("http://host/path?q") is reduced to its path and query.
  if (r.target.rfind("http://", 0) == 0 || r.target.rfind("https://", 0) == 0) {
    size_t slash = r.target.find('/', r.target.find("//") + 2);
    r.target = slash == std::string::npos ? "/" : r.target.substr(slash);
  }
  return r;
}

AliyunWireRequest AliyunWireRequest::FromHttp(const HttpServerRequest& request) {
  return FromHead(request.head, request.body);
}

std::string AcsPercentEncode(std::string_view s, bool keep_slash) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

std::string AcsPercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string AcsCanonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!raw_query.empty()) {
    for (std::string_view item : Split(raw_query, '&')) {
      if (item.empty()) continue;
      size_t eq = item.find('=');
      std::string key = AcsPercentDecode(item.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : AcsPercentDecode(item.substr(eq + 1));
      pairs.emplace_back(AcsPercentEncode(key), AcsPercentEncode(value));
    }
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string AcsCanonicalRequest(std::string_view method, std::string_view raw_path,
                                std::string_view raw_query,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                std::string_view signed_headers, std::string_view hashed_payload) {
  std::string path = AcsPercentEncode(AcsPercentDecode(raw_path), /*keep_slash=*/true);
  if (path.empty()) path = "/";
  std::string canonical_headers;
  for (std::string_view name : Split(signed_headers, ';')) {
    // Duplicate headers: values trimmed, sorted and joined with ',' (notes 1.2, SDK vector 2).
    auto values = HeaderValues(headers, Lower(name));
    std::sort(values.begin(), values.end());
    std::string joined;
    for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
    canonical_headers += Lower(name) + ":" + joined + "\n";
  }
  std::string out;
  out += method;
  out += '\n';
  out += path + "\n";
  out += AcsCanonicalQuery(raw_query) + "\n";
  out += canonical_headers + "\n";
  out += signed_headers;
  out += '\n';
  out += hashed_payload;
  return out;
}

std::string AcsSha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return Hex(digest, n);
}

std::string AcsStringToSign(std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + AcsSha256Hex(canonical_request);
}

std::string AcsSignature(std::string_view secret, std::string_view string_to_sign) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), mac,
       &n);
  return Hex(mac, n);
}

AliyunVerifier::AliyunVerifier(std::function<int64_t()> now_seconds)
    : now_seconds_(std::move(now_seconds)) {
  if (!now_seconds_) {
    now_seconds_ = [] {
      return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    };
  }
}

void AliyunVerifier::AddCredential(AliyunCredential credential) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = credential.access_key_id;
  credentials_[id] = std::move(credential);
}

void AliyunVerifier::ForgetNonces() {
  std::lock_guard<std::mutex> lock(mu_);
  nonces_.clear();
}

AliyunVerdict AliyunVerifier::Verify(const AliyunWireRequest& request) {
  using F = AliyunAuthFailure;
  const auto& headers = request.headers;

  // 1. The Authorization header, and that it covers host and every x-acs-* header sent.
  Authorization auth;
  std::string why;
  if (!ParseAuthorization(FirstHeader(headers, "authorization"), &auth, &why)) {
    return Fail(F::kIncompleteSignature, 400, "IncompleteSignature", why);
  }
  std::set<std::string> signed_names;
  for (std::string_view name : Split(auth.signed_headers, ';')) {
    signed_names.insert(std::string(name));
  }
  std::vector<std::string> must_sign = {"host"};
  for (const auto& [k, v] : headers) {
    if (Lower(k).rfind("x-acs-", 0) == 0) must_sign.push_back(Lower(k));
  }
  for (const auto& name : must_sign) {
    if (!signed_names.count(name)) {
      return Fail(F::kIncompleteSignature, 400, "IncompleteSignature",
                  "header '" + name + "' is sent but not in SignedHeaders");
    }
  }

  // 2, 3. The credential, and the STS token that goes with it.
  AliyunCredential credential;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = credentials_.find(auth.access_key_id);
    if (it == credentials_.end()) {
      return Fail(F::kUnknownAccessKey, 400, "InvalidAccessKeyId.NotFound",
                  "Specified access key is not found: '" + auth.access_key_id + "'");
    }
    credential = it->second;
  }
  std::string token = FirstHeader(headers, "x-acs-security-token");
  if (!credential.security_token.empty() && token.empty()) {
    return Fail(F::kMissingSecurityToken, 400, "MissingSecurityToken",
                "AccessKeyId '" + auth.access_key_id +
                    "' is an STS credential and the request has no x-acs-security-token");
  }
  if (token != credential.security_token) {
    return Fail(F::kSecurityTokenMismatch, 400, "InvalidSecurityToken.MismatchWithAccessKey",
                "x-acs-security-token does not belong to AccessKeyId '" + auth.access_key_id + "'");
  }

  // 4. The date, within 15 minutes of now.
  std::string date = FirstHeader(headers, "x-acs-date");
  if (date.empty()) {
    return Fail(F::kMissingDate, 400, "MissingParameter", "the x-acs-date header is missing");
  }
  int64_t when = 0;
  if (!ParseAcsDate(date, &when)) {
    return Fail(F::kBadDate, 400, "IllegalTimestamp",
                "x-acs-date '" + date + "' is not yyyy-MM-ddTHH:mm:ssZ");
  }
  int64_t now = now_seconds_();
  if (when < now - kMaxClockSkewSeconds || when > now + kMaxClockSkewSeconds) {
    return Fail(F::kExpiredDate, 400, "InvalidTimeStamp.Expired",
                "x-acs-date '" + date + "' is more than 15 minutes away from the server's time");
  }

  // 5. The nonce is there (its reuse is checked last).
  std::string nonce = FirstHeader(headers, "x-acs-signature-nonce");
  if (nonce.empty()) {
    return Fail(F::kMissingNonce, 400, "MissingParameter",
                "the x-acs-signature-nonce header is missing");
  }

  // 6. The payload hash is the body's.
  std::string content_sha256 = FirstHeader(headers, "x-acs-content-sha256");
  if (content_sha256.empty()) {
    return Fail(F::kMissingContentSha256, 400, "MissingParameter",
                "the x-acs-content-sha256 header is missing");
  }
  std::string body_sha256 = AcsSha256Hex(request.body);
  if (content_sha256 != body_sha256) {
    return Fail(F::kContentSha256Mismatch, 400, "ContentSha256Mismatch",
                "x-acs-content-sha256 is " + content_sha256 + " but the body received hashes to " +
                    body_sha256);
  }

  // 7. The signature.
  size_t q = request.target.find('?');
  std::string_view target = request.target;
  std::string canonical =
      AcsCanonicalRequest(request.method, target.substr(0, q),
                          q == std::string::npos ? std::string_view() : target.substr(q + 1),
                          headers, auth.signed_headers, content_sha256);
  std::string string_to_sign = AcsStringToSign(canonical);
  std::string expected = AcsSignature(credential.access_key_secret, string_to_sign);
  if (auth.signature != expected) {
    // Alibaba's message carries the server's string to sign; the canonical request helps more.
    return Fail(F::kSignatureMismatch, 403, "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. server StringToSign is [" +
                    string_to_sign + "], canonical request [" + canonical + "]");
  }

  // 8. A replay of an accepted request.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!nonces_.insert(nonce).second) {
      return Fail(F::kNonceUsed, 400, "SignatureNonceUsed",
                  "x-acs-signature-nonce '" + nonce + "' was already used");
    }
  }
  AliyunVerdict ok;
  ok.access_key_id = auth.access_key_id;
  return ok;
}

}  // namespace baton::testing
