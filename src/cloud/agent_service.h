// Boot-time service for the agent: a systemd unit (`baton agent install`) and cloud-init
// user-data (`baton agent cloud-init`, and what a cloud fleet hands its instances: hence cloud/)
// that installs and starts the agent on a fresh image, so no custom image is needed. The unit
// starts after the network is online, restarts the agent when it fails (not when it exits 0: the
// run is complete or this instance was told to stop), gives it the SIGTERM-to-SIGKILL grace a
// checkpoint needs, and logs to the journal.
//
// Every value is checked before it is written (no control characters anywhere: a newline would
// be a line of the unit of its own; absolute paths where systemd wants them) and quoted for where
// it goes: ExecStart= words and Environment= in double quotes with C escapes, '%' as "%%" and
// '$' as "$$" (systemd.service "Command lines", systemd.unit "Specifiers"); the cloud-init
// commands as YAML double-quoted scalars.
#pragma once

#include <string>

#include "base/status.h"

namespace baton {

struct ServiceOptions {
  std::string baton_path = "/usr/local/bin/baton";
  std::string job;               // the job spec: a store URL or a local path
  std::string environment_file;  // optional EnvironmentFile= (credentials, BATON_* settings)
  std::string user = "root";
  std::string work_dir = "/var/lib/baton";  // the cache lives under it
  int stop_timeout_seconds = 100;           // SIGTERM -> checkpoint -> exit before SIGKILL
  // `--handoff`: the instance was launched to take over from a running one (make-before-break).
  bool handoff = false;
};

// InvalidArgument naming the option when one cannot be written safely.
Status ValidateServiceOptions(const ServiceOptions& options);

// The text of baton-agent.service.
Result<std::string> SystemdUnit(const ServiceOptions& options);

// #cloud-config user-data: installs the runtime packages, fetches the baton binary from
// `binary_url` (https or a presigned URL; "" when the image has it at options.baton_path
// already), writes the unit and starts it.
Result<std::string> CloudInitUserData(const ServiceOptions& options, const std::string& binary_url);

// One word of a systemd command line: "..." with C escapes, '%' as "%%" and '$' as "$$".
std::string SystemdQuote(std::string_view word);
// A YAML double-quoted scalar.
std::string YamlQuote(std::string_view s);

}  // namespace baton
