#include "agent/agent.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/process_contract.h"
#include "ckpt/checkpoint_manager.h"
#include "ckpt/layout.h"
#include "ckpt/lease.h"
#include "cloud/notice_monitor.h"
#include "cloud/preemption.h"
#include "net/http_client.h"
#include "store/file_store.h"
#include "store/store.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes agents/<instance>.json every `period` until stopped, and once more at the end.
class Heartbeat {
 public:
  Heartbeat(Store* store, std::string key, double period_s, Json base)
      : store_(store), key_(std::move(key)), period_(period_s), doc_(std::move(base)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Heartbeat() { Finish(""); }
  void Update(const TrainProgress& p) {
    std::lock_guard<std::mutex> lock(mu_);
    doc_["global_step"] = p.global_step;
    doc_["max_steps"] = p.max_steps;
    doc_["tokens_per_second"] = p.tokens_per_second;
    doc_["last_checkpoint"] = p.last_checkpoint;
  }
  void Set(const std::string& key, Json value) {
    std::lock_guard<std::mutex> lock(mu_);
    doc_[key] = std::move(value);
  }
  // Writes the heartbeat at once (a state change others wait for).
  void WriteNow() { Write(); }
  // Stops the thread and writes the final state (if given).
  void Finish(const std::string& state) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
      if (!state.empty()) doc_["state"] = state;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    Write();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      lock.unlock();
      Write();
      lock.lock();
      cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return done_; });
    }
  }
  void Write() {
    // One write at a time, so a stale document never lands after a newer one.
    std::lock_guard<std::mutex> write_lock(write_mu_);
    std::string text;
    {
      std::lock_guard<std::mutex> lock(mu_);
      doc_["updated_unix_ms"] = NowMs();
      text = doc_.dump(2) + "\n";
    }
    // A heartbeat that cannot be written is not worth stopping training for.
    Status s = store_->Put(key_, text);
    if (!s.ok() && !warned_) {
      warned_ = true;
      std::fprintf(stderr, "baton agent: warning: heartbeat: %s\n", s.ToString().c_str());
    }
  }

  Store* store_;
  std::string key_;
  double period_;
  std::mutex mu_;
  std::mutex write_mu_;
  std::condition_variable cv_;
  Json doc_;
  bool done_ = false;
  bool warned_ = false;
  std::thread thread_;
};

std::string DefaultInstanceId() {
  if (std::optional<std::string> id = GetEnvVar(EnvVar::kInstanceId)) return *id;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

// Where an external trainer resumes from: the newest checkpoint that is valid under Baton's
// protocol (MANIFEST.json), else the newest "checkpoint-N/" holding a trainer_state.json (what
// HF Trainer and ms-swift write last); "" when there is none. A local path for a folder store,
// the store URL otherwise.
Result<std::string> ResumeFrom(Store* store) {
  CheckpointManager m(store, "");
  BATON_ASSIGN_OR_RETURN(std::optional<int64_t> best, m.LatestValid());
  if (!best) {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->List(""));
    for (const std::string& k : keys) {
      size_t slash = k.find('/');
      if (slash == std::string::npos || k.substr(slash + 1) != "trainer_state.json") continue;
      std::optional<int64_t> step = ParseCheckpointDir(k.substr(0, slash));
      if (step && (!best || *step > *best)) best = step;
    }
  }
  if (!best) return std::string();
  std::string name = fmt::format("checkpoint-{}", *best);
  if (auto* fs = dynamic_cast<FileStore*>(store)) return JoinPath(fs->root(), name);
  return JoinKey(store->Url(), name);
}

void ReplaceAll(std::string* s, std::string_view from, const std::string& to) {
  for (size_t pos = 0; (pos = s->find(from, pos)) != std::string::npos; pos += to.size()) {
    s->replace(pos, from.size(), to);
  }
}

using Print = std::function<void(const std::string&)>;

// Supervisor mode: the user's own trainer, resumed from the newest checkpoint, told to stop
// with SIGTERM (to its whole process group) on a notice; a clean exit 0 without a stop is the
// run's completion, recorded with a COMPLETE marker.
Result<AgentOutcome> Supervise(const JobSpec& job, Store* store, Heartbeat& heartbeat,
                               const Print& print, const std::function<bool()>& stop_requested) {
  BATON_ASSIGN_OR_RETURN(std::string resume, ResumeFrom(store));
  std::string cmd = job.command;
  ReplaceAll(&cmd, "{resume_from}", resume);
  print(fmt::format("baton agent: running `{}`{}", cmd,
                    resume.empty() ? " (fresh start)" : " (resuming from " + resume + ")"));
  pid_t child = fork();
  if (child < 0) return IoError("fork failed: {}", std::strerror(errno));
  if (child == 0) {
    setpgid(0, 0);
    SetEnvVar(EnvVar::kResumeFrom, resume);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(child, child);
  std::optional<Clock::time_point> forwarded;
  int wstatus = 0;
  for (;;) {
    pid_t r = waitpid(child, &wstatus, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return IoError("waitpid: {}", std::strerror(errno));
    if (!forwarded && stop_requested()) {
      forwarded = Clock::now();
      print("baton agent: stop requested: sending SIGTERM to the trainer");
      kill(-child, SIGTERM);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (forwarded) {
    double secs = std::chrono::duration<double>(Clock::now() - *forwarded).count();
    print(fmt::format("baton agent: the trainer exited {} {:.2f} s after SIGTERM", code, secs));
    heartbeat.Set("stop_to_checkpoint_seconds", secs);
    heartbeat.Finish("stopped");
    return AgentOutcome::kStopped;
  }
  if (code != 0) {
    heartbeat.Finish("failed");
    return IoError("the trainer command exited {}", code);
  }
  Json complete = {{"format", "baton-complete"}, {"version", 1}, {"external", true}};
  BATON_RETURN_IF_ERROR(store->Put("COMPLETE", complete.dump(2)));
  return AgentOutcome::kCompleted;
}

// The instance id in a lease holder "<instance>:<pid>:<nonce>".
std::string HolderInstance(const std::string& holder) {
  size_t b = holder.rfind(':');
  if (b == std::string::npos || b == 0) return holder;
  size_t a = holder.rfind(':', b - 1);
  return a == std::string::npos ? holder : holder.substr(0, a);
}

// Make-before-break: this instance was launched to take over from a running one, and has loaded
// everything. It takes the lease only once the holder let go: released the lease, wrote a final
// heartbeat (stopped, fenced, failed, complete), or fell silent for `stale_s`. Ok also when the
// run completed meanwhile; Aborted-like FailedPrecondition when a stop was asked for first.
Status WaitForHandoff(Store* store, Heartbeat& heartbeat, double stale_s, const Print& print,
                      const std::function<bool()>& stop_requested, bool* stopped) {
  heartbeat.Set("state", "standby");
  heartbeat.WriteNow();
  print("baton agent: hand-off: loaded; waiting for the current holder to checkpoint and let go");
  auto t0 = Clock::now();
  std::string why;
  while (why.empty()) {
    if (stop_requested()) {
      *stopped = true;
      return FailedPrecondition("stopped while waiting for the hand-off");
    }
    if (store->Head("COMPLETE").ok()) return Status::Ok();
    BATON_ASSIGN_OR_RETURN(std::optional<LeaseRecord> lease, ReadLease(store, ""));
    if (!lease) {
      why = "no lease";
    } else if (lease->released) {
      why = "released by " + lease->holder;
    } else {
      std::string who = HolderInstance(lease->holder);
      int64_t last_ms = std::max(lease->acquired_unix_ms, lease->renewed_unix_ms);
      if (Result<std::string> hb = store->Get("agents/" + who + ".json"); hb.ok()) {
        Json doc = Json::parse(*hb, nullptr, false);
        std::string state = doc.is_object() ? doc.value("state", "") : "";
        if (state == "stopped" || state == "fenced" || state == "failed" || state == "complete") {
          why = who + " " + state;
        }
        if (doc.is_object()) last_ms = std::max(last_ms, doc.value("updated_unix_ms", int64_t{0}));
      }
      if (why.empty() && NowMs() - last_ms > stale_s * 1000) {
        why = fmt::format("{} silent for {:.0f} s", who, (NowMs() - last_ms) / 1000.0);
      }
    }
    if (why.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  print(fmt::format("baton agent: hand-off: taking over after {:.1f} s ({})",
                    std::chrono::duration<double>(Clock::now() - t0).count(), why));
  heartbeat.Set("state", "loading");
  return Status::Ok();
}

Result<AgentOutcome> TrainInProcess(const JobSpec& job, const AgentOptions& options,
                                    NoticeMonitor* monitor, Heartbeat& heartbeat,
                                    const Print& print,
                                    const std::function<bool()>& stop_requested) {
  // The first moment a stop was asked for (notice or signal), to measure the checkpoint.
  std::optional<Clock::time_point> stop_seen;
  std::optional<Notice> notice;
  TrainerHooks hooks;
  hooks.print = print;
  hooks.progress = [&](const TrainProgress& p) { heartbeat.Update(p); };
  hooks.started = [&](int64_t resumed_step, int64_t max_steps) {
    heartbeat.Set("resumed_step", resumed_step);
    heartbeat.Set("global_step", resumed_step);
    heartbeat.Set("max_steps", max_steps);
    heartbeat.Set("state", "training");
    heartbeat.WriteNow();
  };
  bool stopped_in_standby = false;
  if (options.handoff) {
    std::unique_ptr<Store> store;
    hooks.before_lease = [&]() -> Status {
      BATON_ASSIGN_OR_RETURN(store, OpenStore(job.train.output_dir));
      return WaitForHandoff(store.get(), heartbeat, std::max(30.0, 6 * job.heartbeat_seconds),
                            print, stop_requested, &stopped_in_standby);
    };
  }
  hooks.should_stop = [&] {
    bool stop = stop_requested();
    if (stop && !stop_seen) {
      stop_seen = Clock::now();
      if (monitor) notice = monitor->notice();
    }
    return stop;
  };
  Result<TrainOutcome> r = RunTraining(job.train, hooks);
  if (stopped_in_standby) {
    print("baton agent: stopped while on stand-by; the run was never taken");
    heartbeat.Finish("stopped");
    return AgentOutcome::kStopped;
  }
  if (!r.ok()) {
    heartbeat.Finish("failed");
    return r.status();
  }
  switch (*r) {
    case TrainOutcome::kAlreadyComplete:
      heartbeat.Finish("complete");
      return AgentOutcome::kAlreadyComplete;
    case TrainOutcome::kFenced:
      heartbeat.Finish("fenced");
      return AgentOutcome::kFenced;
    case TrainOutcome::kStopped: {
      double secs =
          stop_seen ? std::chrono::duration<double>(Clock::now() - *stop_seen).count() : 0.0;
      std::string window;
      if (notice && notice->deadline_unix_ms > 0) {
        window = fmt::format(", {:.1f} s before the deadline",
                             (notice->deadline_unix_ms - NowMs()) / 1000.0);
      }
      print(fmt::format("baton agent: checkpointed and stopped {:.2f} s after the {}{}", secs,
                        notice ? "notice" : "stop signal", window));
      heartbeat.Set("stop_to_checkpoint_seconds", secs);
      heartbeat.Finish("stopped");
      return AgentOutcome::kStopped;
    }
    case TrainOutcome::kCompleted:
      break;
  }
  return AgentOutcome::kCompleted;
}

// Completion hooks: after the final checkpoint and COMPLETE are safe; failures only warn.
void PostWebhooks(const JobSpec& job, const std::string& store_url, const std::string& instance,
                  const Print& print);

}  // namespace

std::string WebhookBody(const std::string& format, const std::string& text, const Json& facts) {
  if (format == "dingtalk") return Json{{"msgtype", "text"}, {"text", {{"content", text}}}}.dump();
  if (format == "slack") return Json{{"text", text}}.dump();
  Json j = facts;
  j["text"] = text;
  return j.dump();
}

namespace {

void PostWebhooks(const JobSpec& job, const std::string& store_url, const std::string& instance,
                  const Print& print) {
  Json facts = {
      {"run", job.name}, {"status", "complete"}, {"store", store_url}, {"instance", instance}};
  std::string text = fmt::format("Baton: run '{}' is complete ({}), trained on instance {}",
                                 job.name, store_url, instance);
  HttpClient http;
  for (const WebhookSpec& w : job.webhooks) {
    std::string body = WebhookBody(w.format, text, facts);
    Status last;
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
      HttpRequest req;
      req.method = "POST";
      req.url = w.url;
      req.headers = {{"Content-Type", "application/json"}};
      req.body = body;
      req.total_timeout_ms = 10000;
      Result<HttpResponse> resp = http.Send(req);
      if (resp.ok() && resp->status >= 200 && resp->status < 300) {
        last = Status::Ok();
        break;
      }
      last = resp.ok() ? Unavailable("HTTP {}", resp->status) : resp.status();
    }
    // The URL may carry a token (DingTalk access_token): name only its host.
    if (last.ok()) {
      print(fmt::format("baton agent: posted the {} webhook to {}", w.format, UrlAuthority(w.url)));
    } else {
      print(fmt::format("baton agent: warning: the {} webhook to {} failed: {}", w.format,
                        UrlAuthority(w.url), last.message()));
    }
  }
}

}  // namespace

Result<AgentOutcome> RunAgent(const JobSpec& job, const AgentOptions& options) {
  Print print = [&](const std::string& s) {
    if (options.print) {
      options.print(s);
    } else {
      std::fprintf(stderr, "%s\n", s.c_str());
    }
  };
  std::string instance = options.instance_id.empty() ? DefaultInstanceId() : options.instance_id;
  std::string billing = options.billing;
  if (billing.empty()) {
    billing = GetEnvVar(EnvVar::kBilling).value_or("");
  }
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(job.train.output_dir));
  if (store->Head("COMPLETE").ok()) {
    print(fmt::format("baton agent: run '{}' is complete ({}); nothing to do", job.name,
                      store->Url()));
    return AgentOutcome::kAlreadyComplete;
  }

  std::unique_ptr<NoticeMonitor> monitor;
  if (job.cloud != "none") {
    BATON_ASSIGN_OR_RETURN(Cloud cloud, ParseCloud(job.cloud));
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<PreemptionWatcher> watcher,
                           PreemptionWatcher::Create(cloud, job.metadata_url));
    NoticeMonitorOptions mo;
    // The local fleet compresses time, so its notice windows are seconds long.
    if (std::optional<std::string> ms = GetEnvVar(EnvVar::kNoticePollMs);
        ms && std::atoi(ms->c_str()) > 0) {
      mo.poll_interval_ms = std::atoi(ms->c_str());
    }
    mo.on_notice = [print](const Notice& n) {
      print("baton agent: preemption notice: " + DescribeNotice(n));
    };
    monitor = std::make_unique<NoticeMonitor>(std::move(watcher), mo);
  }
  auto stop_requested = [&] {
    return (options.stop_flag && options.stop_flag->load()) ||
           (monitor && monitor->stop_requested());
  };

  Json base = {{"format", "baton-heartbeat"},
               {"version", 1},
               {"run", job.name},
               {"instance", instance},
               {"billing", billing},
               {"state", job.command.empty() ? "loading" : "training"},
               {"pid", getpid()},
               {"started_unix_ms", NowMs()}};
  Heartbeat heartbeat(store.get(), "agents/" + instance + ".json", job.heartbeat_seconds, base);

  Result<AgentOutcome> r =
      job.command.empty()
          ? TrainInProcess(job, options, monitor.get(), heartbeat, print, stop_requested)
          : Supervise(job, store.get(), heartbeat, print, stop_requested);
  if (monitor) monitor->Stop();
  if (!r.ok() || *r != AgentOutcome::kCompleted) return r;
  heartbeat.Finish("complete");
  PostWebhooks(job, store->Url(), instance, print);
  if (job.scale_to_zero) {
    // The request goes through the run's store, the only state the controller and the agents
    // share; the controller sets the group's desired capacity to 0 through its provider.
    Json request = {{"format", "baton-scale-to-zero"},
                    {"version", 1},
                    {"capacity", 0},
                    {"instance", instance},
                    {"reason", "complete"},
                    {"unix_ms", NowMs()}};
    if (Status s = store->Put(kScaleToZeroKey, request.dump(2) + "\n"); s.ok()) {
      print(fmt::format("baton agent: asked the fleet to scale to zero ({})",
                        JoinKey(store->Url(), kScaleToZeroKey)));
    } else {
      print("baton agent: warning: the scale-to-zero request: " + s.ToString());
    }
  }
  return AgentOutcome::kCompleted;
}

}  // namespace baton
