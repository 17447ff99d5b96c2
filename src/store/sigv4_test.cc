#include "store/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace baton {
namespace {

namespace fs = std::filesystem;

// The AWS SigV4 test suite (Apache-2.0, see its LICENSE and NOTICE), copied into tests/data.
const std::string kSuiteDir = std::string(BATON_TEST_DATA_DIR) + "/aws4_testsuite";
constexpr char kSuiteSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every case folder: one that holds "<folder name>.req" (some are nested, e.g. normalize-path/).
std::vector<std::string> SuiteCases() {
  std::vector<std::string> cases;
  if (!fs::is_directory(kSuiteDir)) return cases;
  for (const auto& entry : fs::recursive_directory_iterator(kSuiteDir)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (fs::exists(entry.path() / (name + ".req"))) {
      cases.push_back(fs::relative(entry.path(), kSuiteDir).string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

struct ParsedRequest {
  HttpRequestToSign request;
  std::string body;
};

// Parses the suite's HTTP request text: "METHOD target HTTP/1.1", header lines (a line starting
// with whitespace continues the previous value), a blank line, the body. The target may contain
// raw spaces (get-space), so the method ends at the first space and the version starts at the last.
ParsedRequest ParseRequest(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (true) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  ParsedRequest out;
  const std::string& first = lines.at(0);
  const size_t method_end = first.find(' ');
  const size_t version_start = first.rfind(' ');
  out.request.method = first.substr(0, method_end);
  const std::string target = first.substr(method_end + 1, version_start - method_end - 1);
  const size_t qmark = target.find('?');
  out.request.path = target.substr(0, qmark);
  if (qmark != std::string::npos) {
    std::string_view query = std::string_view(target).substr(qmark + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        out.request.query.emplace_back(std::string(pair), "");
      } else {
        out.request.query.emplace_back(std::string(pair.substr(0, eq)),
                                       std::string(pair.substr(eq + 1)));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  size_t i = 1;
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    const std::string& line = lines[i];
    if ((line[0] == ' ' || line[0] == '\t') && !out.request.headers.empty()) {
      out.request.headers.back().second += "\n" + line;  // obsolete line folding
      continue;
    }
    const size_t colon = line.find(':');
    out.request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  for (size_t j = i + 1; j < lines.size(); ++j) {
    if (j > i + 1) out.body += '\n';
    out.body += lines[j];
  }
  out.request.payload_sha256_hex = Sha256Hex(out.body);
  return out;
}

std::string HeaderValue(const HttpRequestToSign& request, std::string_view lower_name) {
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == lower_name) return value;
  }
  return "";
}

TEST(SigV4Suite, FindsEveryCase) {
  // 24 top-level cases, 8 under normalize-path/, 2 under post-sts-token/: a vector that vanishes
  // from the copy must fail here rather than be skipped.
  EXPECT_EQ(SuiteCases().size(), 34u) << kSuiteDir;
  EXPECT_TRUE(fs::exists(kSuiteDir + "/LICENSE"));
  EXPECT_TRUE(fs::exists(kSuiteDir + "/NOTICE"));
}

class SigV4SuiteTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4SuiteTest, MatchesCanonicalRequestStringToSignAndAuthorization) {
  const fs::path dir = fs::path(kSuiteDir) / GetParam();
  const std::string name = dir.filename().string();
  const auto read = [&](const std::string& ext) { return ReadAll(dir / (name + ext)); };
  ParsedRequest parsed = ParseRequest(read(".req"));

  SigV4Params params;
  params.region = "us-east-1";
  params.service = "service";
  params.amz_date = HeaderValue(parsed.request, "x-amz-date");
  SigV4Credentials credentials{"AKIDEXAMPLE", kSuiteSecret, ""};
  // The session token comes from the X-Amz-Security-Token header: in the .req where it is signed
  // as sent (post-sts-header-before), else in the .sreq, where SignRequest must add it
  // (get-vanilla-with-session-token). post-sts-header-after adds the token only after signing,
  // so it is signed with long-term credentials, as its readme says.
  credentials.session_token = HeaderValue(parsed.request, "x-amz-security-token");
  if (credentials.session_token.empty() && name != "post-sts-header-after") {
    ParsedRequest signed_request = ParseRequest(read(".sreq"));
    credentials.session_token = HeaderValue(signed_request.request, "x-amz-security-token");
  }

  HttpRequestToSign request = parsed.request;
  ASSERT_TRUE(SignRequest(&request, params, credentials).ok());
  ASSERT_EQ(request.headers.back().first, "Authorization");
  const std::string authorization = request.headers.back().second;
  request.headers.pop_back();

  const std::string canonical = CanonicalRequest(request, params);
  EXPECT_EQ(canonical, read(".creq"));
  EXPECT_EQ(StringToSign(canonical, params), read(".sts"));
  EXPECT_EQ(authorization, read(".authz"));
  Result<std::string> direct = AuthorizationHeader(request, params, credentials);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  EXPECT_EQ(*direct, authorization);
}

INSTANTIATE_TEST_SUITE_P(SigV4, SigV4SuiteTest, ::testing::ValuesIn(SuiteCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(SigV4Crypto, Sha256AndHmacKnownAnswers) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  const std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  ASSERT_EQ(mac.size(), 32u);
  std::string hex;
  for (unsigned char c : mac) hex += fmt::format("{:02x}", c);
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SigV4Encoding, UriEncode) {
  EXPECT_EQ(UriEncode("a b/c~d_e.f-g", false), "a%20b/c~d_e.f-g");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("+*%\xE1\x88\xB4", true), "%2B%2A%25%E1%88%B4");
}

HttpRequestToSign S3GetObject(std::string path) {
  HttpRequestToSign r;
  r.method = "GET";
  r.path = std::move(path);
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", Sha256Hex("")},
               {"x-amz-date", "20130524T000000Z"}};
  r.payload_sha256_hex = Sha256Hex("");
  return r;
}

SigV4Params S3Params() {
  SigV4Params p;
  p.region = "us-east-1";
  p.service = "s3";
  p.amz_date = "20130524T000000Z";
  p.normalize_path = false;
  return p;
}

// The "GET Object" example of the S3 API reference (sig-v4-header-based-auth).
TEST(SigV4S3, GetObjectExampleFromS3Docs) {
  const SigV4Credentials credentials{"AKIAIOSFODNN7EXAMPLE",
                                     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  Result<std::string> authz =
      AuthorizationHeader(S3GetObject("/test.txt"), S3Params(), credentials);
  ASSERT_TRUE(authz.ok()) << authz.status().ToString();
  EXPECT_EQ(*authz,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3, PathIsNotNormalizedAndEncodedOnce) {
  const auto uri = [](const std::string& path) {
    const std::string creq = CanonicalRequest(S3GetObject(path), S3Params());
    return creq.substr(4, creq.find('\n', 4) - 4);  // second line
  };
  EXPECT_EQ(uri("/my-object//example//photo.user"), "/my-object//example//photo.user");
  EXPECT_EQ(uri("/a/./b/../c"), "/a/./b/../c");
  EXPECT_EQ(uri("/a%2fb%20c"), "/a%2Fb%20c");  // already escaped: kept, not re-escaped
  EXPECT_EQ(uri("/a b$"), "/a%20b%24");
  EXPECT_EQ(uri(""), "/");
}

TEST(SigV4Generic, PathIsNormalizedAndEscapesAreEncodedAgain) {
  HttpRequestToSign r = S3GetObject("/a//b/./c/../d%20e/");
  SigV4Params p = S3Params();
  p.normalize_path = true;
  const std::string creq = CanonicalRequest(r, p);
  EXPECT_EQ(creq.substr(4, creq.find('\n', 4) - 4), "/a/b/d%2520e/");
}

TEST(SigV4Secrets, ToStringRedactsSecretAndToken) {
  const SigV4Credentials credentials{"AKIDEXAMPLE", kSuiteSecret, "TOKEN-SECRET-123"};
  const std::string s = credentials.ToString();
  EXPECT_NE(s.find("AKIDEXAMPLE"), std::string::npos);
  EXPECT_EQ(s.find(kSuiteSecret), std::string::npos);
  EXPECT_EQ(s.find("TOKEN-SECRET-123"), std::string::npos);
  EXPECT_NE(s.find("<redacted>"), std::string::npos);
}

TEST(SigV4Secrets, ErrorsNeverContainSecretOrToken) {
  const SigV4Credentials good{"AKIDEXAMPLE", kSuiteSecret, "TOKEN-SECRET-123"};
  HttpRequestToSign request = S3GetObject("/k");
  // Each case breaks one thing; none may echo a secret.
  struct Case {
    std::string what;
    HttpRequestToSign request;
    SigV4Params params;
    SigV4Credentials credentials;
  };
  std::vector<Case> cases;
  cases.push_back({"bad date", request, S3Params(), good});
  cases.back().params.amz_date = "2013-05-24";
  cases.push_back({"empty region", request, S3Params(), good});
  cases.back().params.region = "";
  cases.push_back({"empty service", request, S3Params(), good});
  cases.back().params.service = "";
  cases.push_back({"empty access key", request, S3Params(), good});
  cases.back().credentials.access_key_id = "";
  cases.push_back({"empty secret", request, S3Params(), good});
  cases.back().credentials.secret_access_key = "";
  cases.push_back({"bad header name", request, S3Params(), good});
  cases.back().request.headers.emplace_back("Bad Name", good.session_token);
  cases.push_back({"empty method", request, S3Params(), good});
  cases.back().request.method = "";
  for (const Case& c : cases) {
    Result<std::string> authz = AuthorizationHeader(c.request, c.params, c.credentials);
    ASSERT_FALSE(authz.ok()) << c.what;
    EXPECT_EQ(authz.status().code(), StatusCode::kInvalidArgument) << c.what;
    const std::string message = authz.status().ToString();
    EXPECT_EQ(message.find(kSuiteSecret), std::string::npos) << c.what << ": " << message;
    EXPECT_EQ(message.find("TOKEN-SECRET-123"), std::string::npos) << c.what << ": " << message;
    HttpRequestToSign copy = c.request;
    const Status st = SignRequest(&copy, c.params, c.credentials);
    ASSERT_FALSE(st.ok()) << c.what;
    EXPECT_EQ(st.ToString().find(kSuiteSecret), std::string::npos) << st.ToString();
    EXPECT_EQ(st.ToString().find("TOKEN-SECRET-123"), std::string::npos) << st.ToString();
  }
  // A signed request carries the token (it must) but never the secret.
  HttpRequestToSign signed_request = request;
  ASSERT_TRUE(SignRequest(&signed_request, S3Params(), good).ok());
  for (const auto& [name, value] : signed_request.headers) {
    EXPECT_EQ(value.find(kSuiteSecret), std::string::npos) << name;
  }
  EXPECT_EQ(HeaderValue(signed_request, "x-amz-security-token"), good.session_token);
}

TEST(SigV4SignRequest, RejectsMismatchedDateAndDoubleSigning) {
  const SigV4Credentials credentials{"AKIDEXAMPLE", kSuiteSecret, ""};
  HttpRequestToSign request = S3GetObject("/k");
  SigV4Params params = S3Params();
  params.amz_date = "20130525T000000Z";
  EXPECT_FALSE(SignRequest(&request, params, credentials).ok());
  request = S3GetObject("/k");
  ASSERT_TRUE(SignRequest(&request, S3Params(), credentials).ok());
  EXPECT_FALSE(SignRequest(&request, S3Params(), credentials).ok());
}

}  // namespace
}  // namespace baton
