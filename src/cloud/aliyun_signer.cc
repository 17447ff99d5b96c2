#include "cloud/aliyun_signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>

namespace baton {
namespace {

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()),
                            static_cast<int>(data.size()));
  out.resize(len);
  return out;
}

std::string AliyunPercentEncode(std::string_view s) {
  // The same rule as SigV4's: unreserved bytes stay, every other byte is "%XX" in uppercase hex.
  return UriEncode(s, /*encode_slash=*/true);
}

std::string AliyunCanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += AliyunPercentEncode(key);
    out.push_back('=');
    out += AliyunPercentEncode(value);
  }
  return out;
}

bool IsAcs3SignedHeader(std::string_view name) {
  std::string n = Lowercase(name);
  return n == "host" || n == "content-type" || n.rfind("x-acs-", 0) == 0;
}

Result<Acs3Signature> ComputeAcs3Signature(const Acs3Request& request,
                                           const SigV4Credentials& credentials) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return InvalidArgument("ACS3 signature: empty access key id or secret");
  }
  // Lowercase name -> trimmed values; the map keeps names sorted.
  std::map<std::string, std::vector<std::string>> signed_headers;
  for (const auto& [name, value] : request.headers) {
    if (IsAcs3SignedHeader(name)) signed_headers[Lowercase(name)].push_back(Trim(value));
  }
  std::string canonical_headers, names;
  for (auto& [name, values] : signed_headers) {
    std::sort(values.begin(), values.end());
    canonical_headers += name + ":";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers.push_back(',');
      canonical_headers += values[i];
    }
    canonical_headers.push_back('\n');
    if (!names.empty()) names.push_back(';');
    names += name;
  }
  // The path keeps its '/' separators; every other reserved byte is encoded.
  const std::string path = UriEncode(request.path, /*encode_slash=*/false);

  Acs3Signature s;
  s.signed_headers = names;
  s.canonical_request = request.method + "\n" + path + "\n" + AliyunCanonicalQuery(request.query) +
                        "\n" + canonical_headers + "\n" + names + "\n" + request.payload_sha256_hex;
  s.hashed_canonical_request = Sha256Hex(s.canonical_request);
  s.string_to_sign = std::string(kAcs3Algorithm) + "\n" + s.hashed_canonical_request;
  s.signature = HexLower(HmacSha256(credentials.secret_access_key, s.string_to_sign));
  s.authorization = std::string(kAcs3Algorithm) + " Credential=" + credentials.access_key_id +
                    ",SignedHeaders=" + names + ",Signature=" + s.signature;
  return s;
}

Result<Acs3Signature> SignAcs3Request(Acs3Request* request, const SigV4Credentials& credentials,
                                      std::string_view date, std::string_view nonce) {
  auto& h = request->headers;
  h.emplace_back("x-acs-date", std::string(date));
  h.emplace_back("x-acs-signature-nonce", std::string(nonce));
  h.emplace_back("x-acs-content-sha256", request->payload_sha256_hex);
  if (!credentials.session_token.empty()) {
    h.emplace_back("x-acs-security-token", credentials.session_token);
    h.emplace_back("x-acs-accesskey-id", credentials.access_key_id);
  }
  BATON_ASSIGN_OR_RETURN(Acs3Signature s, ComputeAcs3Signature(*request, credentials));
  h.emplace_back("Authorization", s.authorization);
  return s;
}

std::string RpcStringToSign(std::string_view method,
                            const std::vector<std::pair<std::string, std::string>>& params) {
  std::vector<std::pair<std::string, std::string>> signed_params;
  for (const auto& p : params) {
    if (p.first != "Signature") signed_params.push_back(p);
  }
  return std::string(method) + "&" + AliyunPercentEncode("/") + "&" +
         AliyunPercentEncode(AliyunCanonicalQuery(std::move(signed_params)));
}

std::string RpcSignature(std::string_view string_to_sign, std::string_view secret) {
  std::string key = std::string(secret) + "&";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), mac,
       &len);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace baton
