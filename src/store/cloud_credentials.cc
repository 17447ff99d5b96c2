#include "store/cloud_credentials.h"

#include <ctime>

#include "base/env.h"
#include "base/json.h"
#include "net/metadata_client.h"

namespace baton {
namespace {

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

constexpr int64_t kRefreshMarginSeconds = 300;

// Temporary credentials in a metadata service's JSON, under the given key names. Errors never
// quote the text: a parser's excerpt of it could hold part of the secret.
Result<CredentialsProvider::Loaded> ParseRoleCredentials(const std::string& body,
                                                         const std::string& where,
                                                         const char* secret_key,
                                                         const char* token_key) {
  // allow_exceptions=false: no exception of any kind (a number out of range included) escapes.
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("{}: the metadata service's answer ({} bytes) is not a JSON object",
                           where, body.size());
  }
  CredentialsProvider::Loaded l;
  BATON_ASSIGN_OR_RETURN(l.keys.access_key_id, JsonString(j, "AccessKeyId", where));
  BATON_ASSIGN_OR_RETURN(l.keys.secret_access_key, JsonString(j, secret_key, where));
  BATON_ASSIGN_OR_RETURN(l.keys.session_token, JsonString(j, token_key, where));
  BATON_ASSIGN_OR_RETURN(std::string exp, JsonString(j, "Expiration", where));
  Result<int64_t> expires = ParseUtcTime(exp);
  if (!expires.ok()) return expires.status().WithContext(where + ": Expiration");
  l.expires_unix = *expires;
  l.source = where;
  return l;
}

}  // namespace

Result<int64_t> ParseUtcTime(std::string_view text) {
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (std::sscanf(std::string(text).c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6) {
    return InvalidArgument("'{}' is not an ISO-8601 UTC time", text);
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

Result<SigV4Credentials> ReadCredentialsFile(const std::string& path, const std::string& text,
                                             const std::string& profile) {
  SigV4Credentials out;
  bool in_profile = false, seen = false;
  int line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = Trim(std::string_view(text).substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return InvalidArgument("{}:{}: section header without ']'", path, line_no);
      std::string name = Trim(std::string_view(line).substr(1, line.size() - 2));
      if (name.starts_with("profile ")) name = Trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      seen |= in_profile;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("{}:{}: expected 'key = value' (or a [profile] header)", path,
                             line_no);
    }
    if (!in_profile) continue;
    std::string key = Trim(std::string_view(line).substr(0, eq));
    std::string value = Trim(std::string_view(line).substr(eq + 1));
    if (key == "aws_access_key_id") out.access_key_id = value;
    if (key == "aws_secret_access_key") out.secret_access_key = value;
    if (key == "aws_session_token") out.session_token = value;
  }
  if (!seen) return NotFound("{}: no profile [{}]", path, profile);
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return InvalidArgument("{}: profile [{}] lacks aws_access_key_id or aws_secret_access_key",
                           path, profile);
  }
  return out;
}

CredentialsProvider::CredentialsProvider(Cloud cloud) : cloud_(cloud) {}
CredentialsProvider::~CredentialsProvider() = default;

Result<SigV4Credentials> CredentialsProvider::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (!have_ ||
      (current_.expires_unix != 0 && current_.expires_unix - now < kRefreshMarginSeconds)) {
    Result<Loaded> fresh = Load();
    if (!fresh.ok()) {
      // A metadata hiccup must not fail an upload while the keys held are still good.
      if (have_ && current_.expires_unix > now) return current_.keys;
      return fresh.status();
    }
    current_ = std::move(*fresh);
    have_ = true;
  }
  return current_.keys;
}

void CredentialsProvider::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  have_ = false;
}

std::string CredentialsProvider::source() {
  std::lock_guard<std::mutex> lock(mu_);
  return have_ ? current_.source : "none yet";
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromEnvironment(bool* found) {
  struct Names {
    const char *id, *secret, *token;
  };
  std::vector<Names> sets;
  if (cloud_ == Cloud::kAlibaba) {
    sets.push_back({"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"});
    sets.push_back({"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                    "ALIBABA_CLOUD_SECURITY_TOKEN"});
  }
  sets.push_back({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"});
  for (const Names& n : sets) {
    std::string id = GetEnv(n.id), secret = GetEnv(n.secret);
    if (id.empty() && secret.empty()) continue;
    if (id.empty() || secret.empty()) {
      return InvalidArgument("{} and {} must be set together", n.id, n.secret);
    }
    *found = true;
    Loaded l;
    l.keys = {id, secret, GetEnv(n.token)};
    l.source = fmt::format("environment ({})", n.id);
    return l;
  }
  *found = false;
  return Loaded{};
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromFile(bool* found) {
  *found = false;
  std::string path = GetEnv("AWS_SHARED_CREDENTIALS_FILE");
  bool explicit_path = !path.empty();
  if (path.empty()) {
    std::string home = GetEnv("HOME");
    if (home.empty()) return Loaded{};
    path = home + "/.aws/credentials";
  }
  Env* env = Env::Default();
  if (!env->FileExists(path)) {
    if (explicit_path) return NotFound("AWS_SHARED_CREDENTIALS_FILE={}: no such file", path);
    return Loaded{};
  }
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  std::string profile = GetEnv("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  Result<SigV4Credentials> keys = ReadCredentialsFile(path, text, profile);
  if (keys.status().code() == StatusCode::kNotFound && GetEnv("AWS_PROFILE").empty()) {
    return Loaded{};
  }
  if (!keys.ok()) return keys.status();
  *found = true;
  Loaded l;
  l.keys = *keys;
  l.source = fmt::format("{} [{}]", path, profile);
  return l;
}

// A string member, or "" when it is absent or not a string (json::value throws on a null).
static std::string StringMember(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

Result<SigV4Credentials> ReadAliyunCliConfig(const std::string& path, const std::string& text,
                                             const std::string& profile) {
  BATON_ASSIGN_OR_RETURN(Json config, ParseJson(text, path));
  if (!config.is_object()) return InvalidArgument("{}: expected a JSON object", path);
  std::string name = profile;
  if (name.empty()) name = StringMember(config, "current");
  if (name.empty()) name = "default";
  auto profiles = config.find("profiles");
  if (profiles == config.end() || !profiles->is_array()) {
    return InvalidArgument("{}: no 'profiles' list", path);
  }
  for (const Json& p : *profiles) {
    if (!p.is_object() || StringMember(p, "name") != name) continue;
    std::string mode = StringMember(p, "mode");
    if (mode.empty()) mode = "AK";
    if (mode == "EcsRamRole") return NotFound("{} [{}]: mode EcsRamRole", path, name);
    if (mode != "AK" && mode != "StsToken") {
      return Unimplemented("{} [{}]: mode {} is not supported (use AK or StsToken)", path, name,
                           mode);
    }
    SigV4Credentials keys{StringMember(p, "access_key_id"), StringMember(p, "access_key_secret"),
                          mode == "StsToken" ? StringMember(p, "sts_token") : ""};
    if (keys.access_key_id.empty() || keys.secret_access_key.empty()) {
      return InvalidArgument("{} [{}]: access_key_id and access_key_secret must both be set", path,
                             name);
    }
    if (mode == "StsToken" && keys.session_token.empty()) {
      return InvalidArgument("{} [{}]: mode StsToken without sts_token", path, name);
    }
    return keys;
  }
  return NotFound("{}: no profile '{}'", path, name);
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromAliyunCliConfig(bool* found) {
  *found = false;
  std::string home = GetEnv("HOME");
  if (home.empty()) return Loaded{};
  std::string path = home + "/.aliyun/config.json";
  Env* env = Env::Default();
  if (!env->FileExists(path)) return Loaded{};
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  std::string profile = GetEnv("ALIBABA_CLOUD_PROFILE");
  Result<SigV4Credentials> keys = ReadAliyunCliConfig(path, text, profile);
  // An absent default profile (or one in mode EcsRamRole) lets the chain go on; a profile named
  // in the environment must be there.
  if (keys.status().code() == StatusCode::kNotFound &&
      (profile.empty() || keys.status().message().find("EcsRamRole") != std::string::npos)) {
    return Loaded{};
  }
  if (!keys.ok()) return keys.status();
  *found = true;
  Loaded l;
  l.keys = *keys;
  l.source = fmt::format("{} [{}]", path, profile.empty() ? "current" : profile);
  return l;
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromAwsMetadata() {
  return FromRoleService({.endpoint_env = "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                          .default_endpoint = "http://169.254.169.254",
                          .tokens = &kAwsMetadataTokens,
                          .roles_path = "/latest/meta-data/iam/security-credentials/",
                          .role_env = nullptr,
                          .kind = "IAM role",
                          .source = "instance role '{}' (IMDSv2)",
                          .secret_key = "SecretAccessKey",
                          .token_key = "Token"});
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromAlibabaMetadata() {
  // Security hardening mode: with a session token where the service hands one out (required
  // where the instance enforces the mode), else without, as its normal mode allows.
  return FromRoleService({.endpoint_env = "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT",
                          .default_endpoint = "http://100.100.100.200",
                          .tokens = &kAlibabaMetadataTokens,
                          .roles_path = "/latest/meta-data/ram/security-credentials/",
                          .role_env = "ALIBABA_CLOUD_ECS_METADATA",
                          .kind = "RAM role",
                          .source = "ECS RAM role '{}'",
                          .secret_key = "AccessKeySecret",
                          .token_key = "SecurityToken"});
}

Result<CredentialsProvider::Loaded> CredentialsProvider::FromRoleService(const RoleService& r) {
  std::string base = GetEnv(r.endpoint_env);
  if (base.empty()) base = r.default_endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // A fresh client, so a fresh token, per fetch: temporary keys last hours, and a provider need
  // not hold a connection to a service it may never ask again.
  MetadataClient service(base, r.tokens);
  std::string role = r.role_env ? GetEnv(r.role_env) : "";
  if (role.empty()) {
    BATON_ASSIGN_OR_RETURN(HttpResponse roles, service.Get(r.roles_path));
    if (roles.status != 200) {
      return NotFound("{}: no {} attached (HTTP {})", base, r.kind, roles.status);
    }
    role = Trim(roles.body.substr(0, roles.body.find('\n')));
    if (role.empty()) return NotFound("{}: no {} attached", base, r.kind);
  }
  BATON_ASSIGN_OR_RETURN(HttpResponse cred, service.Get(std::string(r.roles_path) + role));
  if (cred.status != 200) {
    return NotFound("{}: {} '{}' credentials: HTTP {}", base, r.kind, role, cred.status);
  }
  return ParseRoleCredentials(cred.body, fmt::format(fmt::runtime(r.source), role), r.secret_key,
                              r.token_key);
}

Result<CredentialsProvider::Loaded> CredentialsProvider::Load() {
  bool found = false;
  BATON_ASSIGN_OR_RETURN(Loaded env, FromEnvironment(&found));
  if (found) return env;
  if (cloud_ == Cloud::kAlibaba) {
    BATON_ASSIGN_OR_RETURN(Loaded cli, FromAliyunCliConfig(&found));
    if (found) return cli;
  }
  BATON_ASSIGN_OR_RETURN(Loaded file, FromFile(&found));
  if (found) return file;
  std::string tried = "the environment, the shared credentials file";
  if (cloud_ == Cloud::kAlibaba) {
    Result<Loaded> m = FromAlibabaMetadata();
    if (m.ok()) return m;
    tried += ", the ECS RAM role (" + m.status().message() + ")";
  } else if (GetEnv("AWS_EC2_METADATA_DISABLED") != "true") {
    Result<Loaded> m = FromAwsMetadata();
    if (m.ok()) return m;
    tried += ", the instance metadata service (" + m.status().message() + ")";
  }
  return NotFound("no credentials for the object store: tried {}", tried);
}

}  // namespace baton
