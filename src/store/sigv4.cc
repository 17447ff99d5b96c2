#include "store/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>

namespace baton {
namespace {

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";
constexpr char kHexDigits[] = "0123456789ABCDEF";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLower(c);
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Decodes "%XX" escapes; a '%' not followed by two hex digits is kept literally.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && IsHex(s[i + 1]) && IsHex(s[i + 2])) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Generic services: collapse empty segments and resolve "." and ".." (as botocore's normpath
// does); a trailing slash of the original path is kept.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out += '/';
    out += segments[i];
  }
  if (!segments.empty() && !path.empty() && path.back() == '/') out += '/';
  return out;
}

// S3: encode once; bytes already escaped as "%XX" stay escaped (hex made uppercase).
std::string EncodeKeepingEscapes(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%' && i + 2 < path.size() && IsHex(path[i + 1]) && IsHex(path[i + 2])) {
      out += '%';
      out += ToUpper(path[i + 1]);
      out += ToUpper(path[i + 2]);
      i += 2;
    } else if (IsUnreserved(c) || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xF];
    }
  }
  return out;
}

std::string CanonicalUri(const HttpRequestToSign& request, const SigV4Params& params) {
  if (request.path.empty()) return "/";
  if (params.normalize_path) return UriEncode(NormalizePath(request.path), false);
  return EncodeKeepingEscapes(request.path);
}

std::string CanonicalQuery(const HttpRequestToSign& request) {
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(request.query.size());
  for (const auto& [key, value] : request.query) {
    pairs.emplace_back(UriEncode(PercentDecode(key), true), UriEncode(PercentDecode(value), true));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out += '&';
    out += pairs[i].first;
    out += '=';
    out += pairs[i].second;
  }
  return out;
}

// Trims and collapses each run of whitespace (also line folds of obsolete multi-line values)
// into one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

struct CanonicalHeaders {
  std::string block;    // "name:value\n" per distinct name, sorted
  std::string signed_;  // "name1;name2"
};

CanonicalHeaders BuildCanonicalHeaders(const HttpRequestToSign& request) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(Lowercase(name), TrimAll(value));
  }
  // Stable: values of a repeated header keep the order in which they were sent.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders out;
  for (size_t i = 0; i < headers.size(); ++i) {
    const bool same_as_previous = i > 0 && headers[i].first == headers[i - 1].first;
    if (same_as_previous) {
      out.block.back() = ',';  // replaces the previous line's '\n'
    } else {
      if (!out.signed_.empty()) out.signed_ += ';';
      out.signed_ += headers[i].first;
      out.block += headers[i].first;
      out.block += ':';
    }
    out.block += headers[i].second;
    out.block += '\n';
  }
  return out;
}

bool IsValidAmzDate(std::string_view d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == ':') return false;
  }
  return true;
}

bool IsValidScopePart(std::string_view s) {
  return !s.empty() && s.find_first_of("/ \t\r\n,") == std::string_view::npos;
}

// Never mentions secret_access_key or session_token values.
Status Validate(const HttpRequestToSign& request, const SigV4Params& params,
                const SigV4Credentials& credentials) {
  if (!IsValidAmzDate(params.amz_date)) {
    return InvalidArgument("SigV4: amz_date '{}' is not of the form YYYYMMDDTHHMMSSZ",
                           params.amz_date);
  }
  if (!IsValidScopePart(params.region)) {
    return InvalidArgument("SigV4: region '{}' is empty or has '/', ',' or spaces", params.region);
  }
  if (!IsValidScopePart(params.service)) {
    return InvalidArgument("SigV4: service '{}' is empty or has '/', ',' or spaces",
                           params.service);
  }
  if (!IsValidScopePart(credentials.access_key_id)) {
    return InvalidArgument("SigV4: access key id is empty or has '/', ',' or spaces");
  }
  if (credentials.secret_access_key.empty()) {
    return InvalidArgument("SigV4: secret access key is empty");
  }
  if (request.method.empty()) return InvalidArgument("SigV4: request method is empty");
  for (const auto& [name, value] : request.headers) {
    // The name only: a bad header's value could be a token.
    if (!IsValidHeaderName(name)) {
      return InvalidArgument("SigV4: header name '{}' is empty or has ':', spaces or control bytes",
                             name);
    }
  }
  return Status::Ok();
}

const std::pair<std::string, std::string>* FindHeader(const HttpRequestToSign& request,
                                                      std::string_view lower_name) {
  for (const auto& header : request.headers) {
    if (Lowercase(header.first) == lower_name) return &header;
  }
  return nullptr;
}

// Scrubs key material from memory once it is no longer needed.
void Cleanse(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
}

}  // namespace

std::string SigV4Credentials::ToString() const {
  return fmt::format("SigV4Credentials{{access_key_id={}, secret_access_key={}, session_token={}}}",
                     access_key_id, secret_access_key.empty() ? "<none>" : "<redacted>",
                     session_token.empty() ? "<none>" : "<redacted>");
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kLower[] = "0123456789abcdef";
  std::string out(2 * bytes.size(), '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const unsigned char b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kLower[b >> 4];
    out[2 * i + 1] = kLower[b & 0xF];
  }
  return out;
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out += ch;
    } else {
      out += '%';
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xF];
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure or a missing provider: not recoverable here.
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return std::string();
  }
  return HexLower(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &len) == nullptr) {
    return std::string();
  }
  std::string out(reinterpret_cast<const char*>(mac), len);
  OPENSSL_cleanse(mac, sizeof(mac));
  return out;
}

std::string CanonicalRequest(const HttpRequestToSign& request, const SigV4Params& params) {
  const CanonicalHeaders headers = BuildCanonicalHeaders(request);
  const std::string& payload =
      request.payload_sha256_hex.empty() ? Sha256Hex("") : request.payload_sha256_hex;
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, CanonicalUri(request, params),
                     CanonicalQuery(request), headers.block, headers.signed_, payload);
}

std::string CredentialScope(const SigV4Params& params) {
  return fmt::format("{}/{}/{}/aws4_request", params.amz_date.substr(0, 8), params.region,
                     params.service);
}

std::string StringToSign(const std::string& canonical_request, const SigV4Params& params) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, params.amz_date, CredentialScope(params),
                     Sha256Hex(canonical_request));
}

Result<std::string> AuthorizationHeader(const HttpRequestToSign& request, const SigV4Params& params,
                                        const SigV4Credentials& credentials) {
  BATON_RETURN_IF_ERROR(Validate(request, params, credentials));
  const std::string string_to_sign = StringToSign(CanonicalRequest(request, params), params);

  std::string key = "AWS4" + credentials.secret_access_key;
  for (std::string_view part :
       {std::string_view(params.amz_date).substr(0, 8), std::string_view(params.region),
        std::string_view(params.service), std::string_view("aws4_request")}) {
    std::string next = HmacSha256(key, part);
    Cleanse(&key);
    key = std::move(next);
  }
  std::string mac = HmacSha256(key, string_to_sign);
  Cleanse(&key);
  if (mac.size() != 32) return Internal("SigV4: HMAC-SHA256 failed in OpenSSL");
  const std::string signature = HexLower(mac);
  return fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                     credentials.access_key_id, CredentialScope(params),
                     BuildCanonicalHeaders(request).signed_, signature);
}

Status SignRequest(HttpRequestToSign* request, const SigV4Params& params,
                   const SigV4Credentials& credentials) {
  if (FindHeader(*request, "authorization") != nullptr) {
    return InvalidArgument("SigV4: request already has an Authorization header");
  }
  if (const auto* date = FindHeader(*request, "x-amz-date")) {
    if (TrimAll(date->second) != params.amz_date) {
      return InvalidArgument("SigV4: X-Amz-Date header '{}' differs from amz_date '{}'",
                             date->second, params.amz_date);
    }
  } else {
    request->headers.emplace_back("X-Amz-Date", params.amz_date);
  }
  if (!credentials.session_token.empty() &&
      FindHeader(*request, "x-amz-security-token") == nullptr) {
    request->headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  BATON_ASSIGN_OR_RETURN(std::string authorization,
                         AuthorizationHeader(*request, params, credentials));
  request->headers.emplace_back("Authorization", std::move(authorization));
  return Status::Ok();
}

}  // namespace baton
