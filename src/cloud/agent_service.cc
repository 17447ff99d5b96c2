#include "cloud/agent_service.h"

#include <fmt/format.h>

#include <cctype>

#include "base/process_contract.h"
#include "base/strings.h"

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

// '%' starts a specifier in every unit setting (systemd.unit "Specifiers").
std::string EscapeSpecifiers(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

// `word` in double quotes with C escapes (\\, \", \xNN), which systemd and YAML both read;
// systemd also wants '%' as "%%" (`percent`, every setting) and '$' as "$$" (`dollar`, command
// lines: Environment= does not expand '$').
std::string DoubleQuoted(std::string_view word, bool percent, bool dollar) {
  std::string out = "\"";
  for (char c : word) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if ((c == '%' && percent) || (c == '$' && dollar)) {
      out += std::string(2, c);
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Status CheckText(std::string_view value, const char* option) {
  if (HasControlCharacter(value)) {
    return InvalidArgument(
        "agent service: {} holds a control character (a newline would be a line of the unit of "
        "its own)",
        option);
  }
  return Status::Ok();
}

Status CheckAbsolute(std::string_view path, const char* option) {
  BATON_RETURN_IF_ERROR(CheckText(path, option));
  if (!path.starts_with("/")) {
    return InvalidArgument("agent service: {} '{}' must be an absolute path", option,
                           Printable(path));
  }
  return Status::Ok();
}

bool IsUserName(std::string_view u) {
  if (u.empty() || u.size() > 64 || u.front() == '-') return false;
  for (char c : u) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string SystemdQuote(std::string_view word) {
  return DoubleQuoted(word, /*percent=*/true, /*dollar=*/true);
}

std::string YamlQuote(std::string_view s) {
  return DoubleQuoted(s, /*percent=*/false, /*dollar=*/false);
}

Status ValidateServiceOptions(const ServiceOptions& o) {
  BATON_RETURN_IF_ERROR(CheckAbsolute(o.baton_path, "the baton path (--baton)"));
  BATON_RETURN_IF_ERROR(CheckText(o.job, "the job (--job)"));
  if (o.job.empty()) return InvalidArgument("agent service: no job (--job)");
  if (!o.environment_file.empty()) {
    BATON_RETURN_IF_ERROR(CheckAbsolute(o.environment_file, "the environment file (--env_file)"));
  }
  BATON_RETURN_IF_ERROR(CheckAbsolute(o.work_dir, "the work folder"));
  if (!IsUserName(o.user)) {
    return InvalidArgument("agent service: user '{}' is not a user name", Printable(o.user));
  }
  if (o.stop_timeout_seconds <= 0) {
    return InvalidArgument("agent service: the stop timeout must be positive");
  }
  return Status::Ok();
}

Result<std::string> SystemdUnit(const ServiceOptions& o) {
  BATON_RETURN_IF_ERROR(ValidateServiceOptions(o));
  std::string env_file =
      o.environment_file.empty()
          ? ""
          : fmt::format("EnvironmentFile=-{}\n", EscapeSpecifiers(o.environment_file));
  // Environment= takes the assignment quoted as one word.
  std::string cache_word =
      DoubleQuoted(fmt::format("{}={}/cache", EnvVarName(EnvVar::kCacheDir), o.work_dir),
                   /*percent=*/true, /*dollar=*/false);
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
      "Environment={cache}\n"
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
      fmt::arg("user", o.user), fmt::arg("work", EscapeSpecifiers(o.work_dir)),
      fmt::arg("cache", cache_word), fmt::arg("env_file", env_file),
      fmt::arg("baton", SystemdQuote(o.baton_path)), fmt::arg("job", SystemdQuote(o.job)),
      fmt::arg("handoff", o.handoff ? " --handoff" : ""), fmt::arg("stop", o.stop_timeout_seconds),
      fmt::arg("fenced", kExitFenced));
}

Result<std::string> CloudInitUserData(const ServiceOptions& o, const std::string& binary_url) {
  BATON_ASSIGN_OR_RETURN(std::string unit, SystemdUnit(o));
  BATON_RETURN_IF_ERROR(CheckText(binary_url, "the binary URL (--binary_url)"));
  // runcmd lists run without a shell: each word only needs YAML's quoting.
  std::string fetch =
      binary_url.empty()
          ? ""
          : fmt::format(
                "  - [curl, -fsSL, --retry, '5', -o, {baton}, {url}]\n"
                "  - [chmod, '0755', {baton}]\n",
                fmt::arg("baton", YamlQuote(o.baton_path)), fmt::arg("url", YamlQuote(binary_url)));
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
      fmt::arg("unit", Indent(unit, 6)), fmt::arg("work", YamlQuote(o.work_dir)),
      fmt::arg("fetch", fetch));
}

}  // namespace baton
