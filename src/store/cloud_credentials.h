// Where the keys for s3:// and oss:// come from, tried in this order:
//   1. the environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; for oss://
//      first OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN and
//      ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET /
//      ALIBABA_CLOUD_SECURITY_TOKEN;
//   2. for oss:// and Alibaba's OpenAPI, the aliyun CLI's ~/.aliyun/config.json: the profile
//      ALIBABA_CLOUD_PROFILE, else the file's "current" one, in mode AK or StsToken (a profile in
//      mode EcsRamRole defers to step 3; other modes are refused);
//   then a shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
//      AWS_PROFILE (default "default"), keys aws_access_key_id, aws_secret_access_key,
//      aws_session_token;
//   3. the instance's role through the metadata service (net/metadata_client.h: session
//      tokens, and requests without one where the token PUT is refused or unanswered, as from
//      inside a container): on AWS the IAM role by IMDSv2 (http://169.254.169.254, or
//      AWS_EC2_METADATA_SERVICE_ENDPOINT; off with AWS_EC2_METADATA_DISABLED=true); for oss://
//      the ECS RAM role (http://100.100.100.200, or ALIBABA_CLOUD_ECS_METADATA_ENDPOINT; the role
//      name from ALIBABA_CLOUD_ECS_METADATA, else the one the service lists; in security
//      hardening mode where the service hands out tokens). These are temporary STS
//      credentials: they are fetched again when less than 5 minutes from their expiration; if
//      that fails while the keys held have not yet expired, those are used meanwhile.
// Secrets never appear in messages: errors name the source and the key id at most.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "store/sigv4.h"

namespace baton {

struct MetadataTokenScheme;

class CredentialsProvider {
 public:
  enum class Cloud { kAws, kAlibaba };
  explicit CredentialsProvider(Cloud cloud);
  ~CredentialsProvider();

  // The current credentials (thread-safe), refreshed when temporary ones near expiry.
  Result<SigV4Credentials> Get();
  // Drops cached credentials, so the next Get looks again (after a 403 with expired keys).
  void Invalidate();
  // Where the current credentials came from ("environment", "~/.aws/credentials [default]",
  // "instance role 'r'"), for messages.
  std::string source();

 public:
  struct Loaded {
    SigV4Credentials keys;
    int64_t expires_unix = 0;  // 0: long-term
    std::string source;
  };

 private:
  Result<Loaded> Load();
  Result<Loaded> FromEnvironment(bool* found);
  Result<Loaded> FromFile(bool* found);
  Result<Loaded> FromAliyunCliConfig(bool* found);
  Result<Loaded> FromAwsMetadata();
  Result<Loaded> FromAlibabaMetadata();
  // An instance role's temporary keys from a metadata service: AWS IMDS and Alibaba ECS differ
  // only in these names.
  struct RoleService {
    const char* endpoint_env;      // the variable that overrides the service's address
    const char* default_endpoint;  // the link-local address
    const MetadataTokenScheme* tokens;
    const char* roles_path;  // lists the roles; the role's keys are at roles_path + name
    const char* role_env;    // names the role (no listing), or null
    const char* kind;        // "IAM role", for messages
    const char* source;      // "instance role '{}' (IMDSv2)", the role's name for {}
    const char* secret_key;  // JSON names of the secret and the session token
    const char* token_key;
  };
  Result<Loaded> FromRoleService(const RoleService& service);

  Cloud cloud_;
  std::mutex mu_;
  bool have_ = false;
  Loaded current_;
};

// Parses an ISO-8601 UTC time ("2026-11-23T10:00:00Z") into Unix seconds.
Result<int64_t> ParseUtcTime(std::string_view text);

// Reads `profile` from an INI-style credentials file; NotFound if the profile is absent.
// Malformed lines are errors naming path:line.
Result<SigV4Credentials> ReadCredentialsFile(const std::string& path, const std::string& text,
                                             const std::string& profile);

// Reads a profile of the aliyun CLI's config.json ({"current": "p", "profiles": [{"name": "p",
// "mode": "AK"|"StsToken", "access_key_id", "access_key_secret", "sts_token"}]}); `profile` ""
// takes "current". NotFound if the profile is absent or in mode EcsRamRole (the metadata service
// has its keys); InvalidArgument for malformed files, Unimplemented for other modes. Messages
// name the path and profile, never a secret. Format: aliyun CLI `aliyun configure` (e.g. the
// config.json quoted in leonrodenburg/ali-cli README.md); ALIBABA_CLOUD_PROFILE as in
// aliyun/credentials-nodejs CLIProfileCredentialsProvider.
Result<SigV4Credentials> ReadAliyunCliConfig(const std::string& path, const std::string& text,
                                             const std::string& profile);

}  // namespace baton
