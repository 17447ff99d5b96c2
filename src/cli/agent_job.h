// The job as the fleet's agents get it: `baton run` (local instances in their own folders) and
// `baton fleet up` (cloud instances) hand the agents a copy of the user's job with every local
// path made absolute and the store given as one URL.
#pragma once

#include <string>

#include "base/json.h"
#include "base/status.h"
#include "job/job_spec.h"

namespace baton::cli {

// `path` from the folder baton runs in; absolute paths and store URLs stay as they are.
std::string Absolute(const std::string& path);
// The path of the running `baton` executable.
std::string SelfExe();

// The job document (`text` read from `source`, parsed as `job`) for the agents: name, store (as
// `store_url`), model and datasets with absolute paths (built-in datasets stay names), and
// agent.cloud set to `cloud`.
Result<Json> AgentJobDocument(const std::string& text, const std::string& source,
                              const JobSpec& job, const std::string& store_url,
                              const std::string& cloud);

}  // namespace baton::cli
