// Completion webhooks (job hooks.webhooks): posted once the final checkpoint and the COMPLETE
// marker are safe, retried with backoff; a failure only warns (the run is done either way).
#pragma once

#include <functional>
#include <string>

#include "base/env.h"
#include "base/json.h"
#include "job/job_spec.h"

namespace baton {

// The JSON body posted to a webhook of `format` (generic, dingtalk, slack) for `text`, with the
// run's facts in the generic shape.
std::string WebhookBody(const std::string& format, const std::string& text, const Json& facts);

// Posts every webhook of `job`. Messages name only the URL's host: a URL may carry a token.
void PostWebhooks(const JobSpec& job, const std::string& store_url, const std::string& instance,
                  const std::function<void(const std::string&)>& print, Env* env);

}  // namespace baton
