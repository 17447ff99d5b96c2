#include "cloud/agent_service.h"

#include <fmt/format.h>

#include "base/process_contract.h"

namespace baton {
namespace {

// Indents every line of `text` by `n` spaces (for YAML block scalars).
std::string Indent(const std::string& text, int n) {
  std::string pad(n, ' '), out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += pad + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

// Single-quoted for a shell or systemd command line.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string SystemdUnit(const ServiceOptions& o) {
  std::string env_file =
      o.environment_file.empty() ? "" : fmt::format("EnvironmentFile=-{}\n", o.environment_file);
  return fmt::format(
      "# Written by `baton agent install`.\n"
      "[Unit]\n"
      "Description=Baton agent: resumable LoRA fine-tuning on this instance\n"
      "Wants=network-online.target\n"
      "After=network-online.target\n"
      "StartLimitIntervalSec=0\n"
      "\n"
      "[Service]\n"
      "Type=simple\n"
      "User={user}\n"
      "WorkingDirectory={work}\n"
      "Environment={cache_var}={work}/cache\n"
      "{env_file}"
      "ExecStart={baton} agent --job {job}{handoff}\n"
      "# Exit 0: the run is complete, or this instance checkpointed on a notice; exit {fenced}: "
      "fenced.\n"
      "Restart=on-failure\n"
      "RestartPreventExitStatus={fenced}\n"
      "RestartSec=10\n"
      "KillSignal=SIGTERM\n"
      "TimeoutStopSec={stop}\n"
      "StandardOutput=journal\n"
      "StandardError=journal\n"
      "\n"
      "[Install]\n"
      "WantedBy=multi-user.target\n",
      fmt::arg("user", o.user), fmt::arg("work", o.work_dir), fmt::arg("env_file", env_file),
      fmt::arg("baton", o.baton_path), fmt::arg("job", Quote(o.job)),
      fmt::arg("handoff", o.handoff ? " --handoff" : ""), fmt::arg("stop", o.stop_timeout_seconds),
      fmt::arg("cache_var", EnvVarName(EnvVar::kCacheDir)), fmt::arg("fenced", kExitFenced));
}

std::string CloudInitUserData(const ServiceOptions& o, const std::string& binary_url) {
  std::string unit = SystemdUnit(o);
  std::string fetch =
      binary_url.empty()
          ? ""
          : fmt::format("  - [curl, -fsSL, --retry, '5', -o, {baton}, {url}]\n"
                        "  - [chmod, '0755', {baton}]\n",
                        fmt::arg("baton", o.baton_path), fmt::arg("url", Quote(binary_url)));
  return fmt::format(
      "#cloud-config\n"
      "# Written by `baton agent cloud-init`: installs and starts the Baton agent at first boot.\n"
      "package_update: true\n"
      "packages: [ca-certificates, curl, libopenblas0, libcurl4, libyaml-cpp0.7, libxxhash0, "
      "libfmt9]\n"
      "write_files:\n"
      "  - path: /etc/systemd/system/baton-agent.service\n"
      "    permissions: '0644'\n"
      "    content: |\n"
      "{unit}"
      "runcmd:\n"
      "  - [mkdir, -p, {work}]\n"
      "{fetch}"
      "  - [systemctl, daemon-reload]\n"
      "  - [systemctl, enable, --now, baton-agent.service]\n",
      fmt::arg("unit", Indent(unit, 6)), fmt::arg("work", o.work_dir), fmt::arg("fetch", fetch));
}

}  // namespace baton
