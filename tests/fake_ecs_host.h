// FakeVm: the machine behind one instance of the fake ECS (tests/fake_aliyun.h). It has its own
// instance metadata service (cloud/fake_metadata_server.h: instance-id, the RAM role's keys,
// spot termination-time) and, when the host is given a baton binary, runs what the instance's
// cloud-init user-data would start: the systemd unit's `ExecStart=<baton> agent --job JOB ...`
// becomes `<baton_binary> agent --job JOB ...`, in a process group of its own, in the instance's
// folder, with stdout and stderr in its agent.log. A power-off (DeleteInstance, the end of a spot
// reclaim) is a SIGKILL to that group, as a VM that vanishes gives no grace.
//
// The agent's environment is the test process's, less every variable of base/process_contract.h
// (a fresh VM has none of them), plus: EnvVar::kMetadataUrl (its metadata service), kCloud
// "alibaba", kCacheDir <folder>/cache, kAliyunEndpoint (the fake's OpenAPI endpoint, where a
// real VM would reach Alibaba's), ALIBABA_CLOUD_ECS_METADATA_ENDPOINT (so the credentials chain
// of store/cloud_credentials.h finds the RAM role on the fake metadata service), and the host's
// extra_env last. EnvVar::kInstanceId is not set: the agent learns its id from the metadata
// service, as on Alibaba.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aliyun_verifier.h"
#include "base/status.h"
#include "cloud/fake_metadata_server.h"

namespace baton::testing {

struct FakeInstanceHostOptions {
  // Whose VM it is: "alibaba" (fake ECS) or "aws" (fake EC2): the agent's EnvVar::kCloud, which
  // cloud's notices ScheduleTermination plays, and which cloud's variables the agent gets.
  std::string cloud = "alibaba";
  // The `baton` to start for each instance; empty: instances run no process (API-only tests).
  std::string baton_binary;
  // Each instance gets <work_dir>/instances/<id>/ with agent.log and cache/. Required with a
  // baton binary; without one, empty means no folders.
  std::string work_dir;
  // A spot reclaim's warning: the metadata termination-time is this far ahead, and the instance
  // is powered off when it comes (Alibaba gives 5 minutes).
  double notice_seconds = 300;
  // Pending -> Running.
  double boot_seconds = 0;
  // Set for each agent after the rest (name, value), e.g. {EnvVarName(kNoticePollMs), "100"}.
  std::vector<std::pair<std::string, std::string>> extra_env;
  // The keys an instance launched with a RamRoleName gets from its metadata service, valid for
  // ram_role_ttl_seconds from its boot. The fake's signature verifier accepts them too.
  AliyunCredential ram_role_keys{"STS.FakeEcsRamRole", "fake-ecs-ram-role-secret",
                                 "fake-ecs-ram-role-token"};
  int64_t ram_role_ttl_seconds = 3600;
};

// What one instance boots with.
struct FakeVmSpec {
  std::string instance_id;
  std::string user_data;     // decoded
  std::string ram_role;      // "" for none
  std::string api_endpoint;  // the fake's OpenAPI base URL
};

class FakeVm {
 public:
  // Starts the metadata service and, with a baton binary, the agent. A user-data without the
  // agent's ExecStart line is no error of the VM's: the reason goes into agent.log and the VM
  // runs without a process, as a real one would boot and start nothing.
  static Result<std::unique_ptr<FakeVm>> Boot(const FakeInstanceHostOptions& host,
                                              const FakeVmSpec& spec);
  ~FakeVm();  // PowerOff()
  FakeVm(const FakeVm&) = delete;
  FakeVm& operator=(const FakeVm&) = delete;

  // SIGKILL to the process group, the agent reaped, the metadata service stopped. Idempotent.
  void PowerOff();
  // Reaps the agent if it exited (never blocks; only this VM's own child is waited for).
  void Reap();
  // SIGSTOP / SIGCONT to the process group. FailedPrecondition without a live process.
  Status Pause();
  Status Resume();
  // The metadata termination-time of a spot reclaim (AWS: spot/instance-action, terminate).
  void ScheduleTermination(int64_t deadline_unix_ms);
  // AWS: a rebalance recommendation on the metadata service.
  void ScheduleRebalance();

  bool process_alive() const { return alive_; }
  pid_t pid() const { return pid_; }
  // The shell's convention: the exit code, or 128 + the signal; -1 while it runs or without one.
  int exit_code() const { return exit_code_; }
  const std::string& log_path() const { return log_path_; }
  const std::vector<std::string>& argv() const { return argv_; }
  std::string metadata_url() const { return metadata_ ? metadata_->url() : ""; }

 private:
  FakeVm() = default;
  Status StartAgent(const FakeInstanceHostOptions& host, const FakeVmSpec& spec);
  void Exited(int wait_status);

  std::unique_ptr<FakeMetadataServer> metadata_;
  bool aws_ = false;
  std::string dir_;
  std::string log_path_;
  std::vector<std::string> argv_;
  pid_t pid_ = -1;  // the process group's leader
  bool alive_ = false;
  int exit_code_ = -1;
};

// The arguments after the binary in the first `ExecStart=<binary> agent ...` line of a cloud-init
// text (agent/service.h writes it inside write_files; quoting as systemd and sh read it):
// {"agent", "--job", JOB, ...}. InvalidArgument when no such line names a --job.
Result<std::vector<std::string>> AgentArgsFromUserData(std::string_view user_data);

// Standard base64 (RFC 4648, with padding; line breaks allowed), strictly: anything else is
// InvalidArgument. For RunInstances' UserData.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace baton::testing
