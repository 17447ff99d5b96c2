#include "cloud/api_shared.h"

#include <algorithm>
#include <memory>

#include "base/strings.h"

namespace baton {

CredentialsFn CredentialsOrChain(CredentialsFn given, CredentialsProvider::Cloud cloud) {
  if (given) return given;
  auto chain = std::make_shared<CredentialsProvider>(cloud);
  return [chain]() { return chain->Get(); };
}

RetryBackoff::RetryBackoff(uint64_t base_ms, uint64_t max_ms, uint64_t seed)
    : base_us_(base_ms * 1000), max_us_(max_ms * 1000) {
  rng_.seed(seed != 0 ? seed : std::random_device{}());
}

uint64_t RetryBackoff::Micros(int attempt, uint64_t at_least_micros) {
  uint64_t step = base_us_;
  for (int i = 1; i < attempt && step < max_us_; ++i) step *= 2;
  step = std::min(step, max_us_);
  uint64_t wait = step / 2;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wait += step / 2 > 0 ? rng_() % (step / 2 + 1) : 0;
  }
  return std::max(wait, std::min(at_least_micros, max_us_));
}

std::string CloudErrorText(std::string_view service, std::string_view action, std::string_view code,
                           long http_status, std::string_view message,
                           std::string_view request_id) {
  std::string text = fmt::format("{} {}: {} (HTTP {})", service, action,
                                 code.empty() ? "no error code" : Printable(code), http_status);
  if (!message.empty()) text += ": " + Printable(message);
  if (!request_id.empty()) text += " [RequestId " + Printable(request_id) + "]";
  return text;
}

std::string ScrubSecrets(std::string text, const SigV4Credentials& keys,
                         std::string_view signature) {
  for (std::string_view secret : {std::string_view(keys.secret_access_key),
                                  std::string_view(keys.session_token), signature}) {
    if (!secret.empty()) ReplaceAll(&text, secret, "<redacted>");
  }
  return text;
}

Status ScrubSecrets(const Status& s, const SigV4Credentials& keys, std::string_view signature) {
  return Status(s.code(), ScrubSecrets(s.message(), keys, signature));
}

}  // namespace baton
