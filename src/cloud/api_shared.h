// What the cloud API clients (Alibaba's OpenAPI, cloud/aliyun_api.h; AWS's XML APIs,
// cloud/aws_api.h) share: the retry loop itself, the default credentials, the backoff with
// jitter between attempts, the one wording of a failed call, and the scrubbing of secrets from
// whatever a server sent back.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "store/cloud_credentials.h"
#include "store/sigv4.h"

namespace baton {

// Keys asked for before every attempt: a client's own function, else `cloud`'s credentials chain
// (store/cloud_credentials.h), which the returned function owns.
using CredentialsFn = std::function<Result<SigV4Credentials>()>;
CredentialsFn CredentialsOrChain(CredentialsFn given, CredentialsProvider::Cloud cloud);

// Exponential backoff with "equal jitter": the wait before attempt k+1 is a random point in
// [step/2, step], step = base * 2^(k-1) capped at `max`, so waits still grow with the attempt.
// Thread-safe. A seed of 0 draws a random one.
class RetryBackoff {
 public:
  RetryBackoff(uint64_t base_ms, uint64_t max_ms, uint64_t seed);
  // The wait after failed attempt `attempt` (1-based), at least `at_least_micros` (a server's
  // retry-after) but never over the cap.
  uint64_t Micros(int attempt, uint64_t at_least_micros = 0);

 private:
  uint64_t base_us_;
  uint64_t max_us_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

// "<service> <action>: <code> (HTTP <status>): <message> [RequestId <id>]": the code "no error
// code" when empty, the message and request id only when given, every part on one line.
std::string CloudErrorText(std::string_view service, std::string_view action, std::string_view code,
                           long http_status, std::string_view message, std::string_view request_id);

// `text` with the secret key, the session token and the signature (each when not empty) as
// "<redacted>": a server may echo what it got, none of it leaves in a message.
std::string ScrubSecrets(std::string text, const SigV4Credentials& keys,
                         std::string_view signature);
Status ScrubSecrets(const Status& s, const SigV4Credentials& keys, std::string_view signature);

// What one failed attempt of a call tells the retry loop.
struct CallAttempt {
  Status failure;                 // what the call reports if it ends here
  bool retry = false;             // whether another attempt may help
  uint64_t wait_at_least_us = 0;  // a server's retry-after, if it gave one
  // No answer came (connection refused, reset, timed out): `failure` is the transport's error,
  // named `what` and scrubbed; only Unavailable ones are retried.
  void TransportFailed(const Status& s, std::string_view what, const SigV4Credentials& keys,
                       std::string_view signature) {
    failure = ScrubSecrets(s.WithContext(std::string(what)), keys, signature);
    retry = s.code() == StatusCode::kUnavailable;
  }
};

// The retry loop of a cloud API call named `what` ("ec2 RunInstances"): the keys are asked
// before every attempt (an error ends the call); `once` sends one attempt and returns its
// result, or nullopt after filling `CallAttempt` for a failed one. A failure that is not to be
// retried ends the call; a retryable one is tried again after the backoff, up to
// `max_attempts`, and then reported with "(gave up after N attempts)".
template <typename T>
Result<T> CallWithRetries(
    std::string_view what, int max_attempts, Env* env, RetryBackoff* backoff,
    const CredentialsFn& credentials,
    const std::function<std::optional<Result<T>>(const SigV4Credentials&, CallAttempt*)>& once) {
  Status failure;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    Result<SigV4Credentials> keys = credentials();
    if (!keys.ok()) return keys.status().WithContext(std::string(what));
    CallAttempt a;
    std::optional<Result<T>> done = once(*keys, &a);
    if (done) return std::move(*done);
    failure = a.failure;
    if (!a.retry) return failure;
    if (attempt == max_attempts) break;
    env->SleepMicros(backoff->Micros(attempt, a.wait_at_least_us));
  }
  return Status(failure.code(),
                fmt::format("{} (gave up after {} attempts)", failure.message(), max_attempts));
}

}  // namespace baton
