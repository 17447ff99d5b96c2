// baton agent --job FILE_OR_URL: the instance agent (src/agent/agent.h).
//   baton agent install --job URL [--unit_dir DIR] [--no_enable] [--env_file F]
//       writes baton-agent.service (src/cloud/agent_service.h) and enables it with systemctl
//   baton agent cloud-init --job URL --binary_url URL
//       prints user-data that installs and starts the agent on a fresh image
// Exit codes: 0 complete, already complete, or stopped with a checkpoint on a notice/SIGTERM;
// 3 fenced off by a newer attempt; 1/2 errors.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/agent.h"
#include "base/env.h"
#include "base/process_contract.h"
#include "cli/agent_job.h"
#include "cli/commands.h"
#include "cli/run_outputs.h"
#include "cloud/agent_service.h"
#include "job/job_spec.h"
#include "store/cache.h"

namespace baton::cli {

void AddAgentCommand(CLI::App& root, Action& action) {
  auto job = std::make_shared<std::string>();
  CLI::App* cmd = root.add_subcommand(
      "agent",
      "run a job on this instance: resume or start training, watch for preemption notices, "
      "heartbeat to the store, post the webhooks when the run completes");
  cmd->add_option("--job", *job, "job spec (YAML): a local file or a store URL");
  auto handoff = std::make_shared<bool>(false);
  cmd->add_flag(
      "--handoff", *handoff,
      fmt::format("make-before-break: load, then wait until the current holder checkpointed and "
                  "let go before taking the run (also {}=1)",
                  EnvVarName(EnvVar::kHandoff)));
  cmd->require_subcommand(0, 1);

  auto svc = std::make_shared<ServiceOptions>();
  auto unit_dir = std::make_shared<std::string>("/etc/systemd/system");
  auto no_enable = std::make_shared<bool>(false);
  CLI::App* install =
      cmd->add_subcommand("install", "write and enable the systemd unit baton-agent.service");
  install->add_option("--job", svc->job, "job spec URL or path")->required();
  install->add_option("--unit_dir", *unit_dir, "where the unit goes")->capture_default_str();
  install->add_option("--env_file", svc->environment_file, "EnvironmentFile= (credentials)");
  install->add_option("--baton", svc->baton_path, "path of the baton binary")
      ->capture_default_str();
  install->add_flag("--no_enable", *no_enable, "only write the unit");
  install->callback([&action, svc, unit_dir, no_enable] {
    action = [svc, unit_dir, no_enable] {
      Env* env = Env::Default();
      Result<std::string> unit = SystemdUnit(*svc);
      if (!unit.ok()) return ReportError(unit.status());
      std::string path = JoinPath(*unit_dir, "baton-agent.service");
      Status s = env->CreateDirs(*unit_dir);
      if (s.ok()) s = env->WriteFileAtomic(path, *unit);
      if (!s.ok()) return ReportError(s);
      std::fprintf(stderr, "wrote %s\n", path.c_str());
      if (*no_enable) return 0;
      int rc = std::system("systemctl daemon-reload && systemctl enable --now baton-agent.service");
      if (rc != 0) {
        std::fprintf(stderr, "baton: error: systemctl failed (exit %d); the unit is in %s\n", rc,
                     path.c_str());
        return 1;
      }
      std::fprintf(stderr, "enabled and started baton-agent.service (journalctl -u baton-agent)\n");
      return 0;
    };
  });

  auto binary_url = std::make_shared<std::string>();
  CLI::App* ci = cmd->add_subcommand(
      "cloud-init", "print user-data that installs and starts the agent on a fresh instance");
  ci->add_option("--job", svc->job, "job spec URL")->required();
  ci->add_option("--binary_url", *binary_url, "https URL of the baton binary")->required();
  ci->add_option("--env_file", svc->environment_file, "EnvironmentFile= on the instance");
  ci->callback([&action, svc, binary_url] {
    action = [svc, binary_url] {
      Result<std::string> user_data = CloudInitUserData(*svc, *binary_url);
      if (!user_data.ok()) return ReportError(user_data.status());
      std::fputs(user_data->c_str(), stdout);
      return 0;
    };
  });

  cmd->callback([&action, job, cmd, handoff] {
    if (!cmd->get_subcommands().empty()) return;  // install / cloud-init set the action
    action = [job, handoff] {
      const auto start = std::chrono::steady_clock::now();  // the cold start's first moment
      if (job->empty()) {
        return ReportError(InvalidArgument("baton agent: --job is required"));
      }
      Result<JobSpec> spec = LoadJobSpec(*job);
      if (!spec.ok()) return ReportError(spec.status());
      // The fleet's local provider picks the cloud whose notices its fake metadata server plays.
      if (std::optional<std::string> cloud = GetEnvVar(EnvVar::kCloud)) spec->cloud = *cloud;
      AgentOptions options;
      options.start = start;
      options.handoff = *handoff || GetEnvVar(EnvVar::kHandoff) == "1";
      options.stop_flag = InstallStopSignalHandlers();
      Result<AgentOutcome> r = RunAgent(*spec, options);
      if (!r.ok()) return ReportError(r.status());
      // The agent that completed the run leaves its plots and report.html beside it.
      if (*r == AgentOutcome::kCompleted) {
        WriteRunOutputs(IsRemoteUrl(spec->train.output_dir) ? spec->train.output_dir
                                                            : Absolute(spec->train.output_dir));
      }
      return *r == AgentOutcome::kFenced ? kExitFenced : 0;
    };
  });
}

}  // namespace baton::cli
