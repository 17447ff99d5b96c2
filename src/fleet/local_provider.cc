#include "fleet/local_provider.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "base/env.h"
#include "base/json.h"
#include "base/kill_point.h"
#include "base/process_contract.h"
#include "cloud/fake_metadata_server.h"
#include "cloud/preemption.h"
#include "fleet/agent_track.h"
#include "fleet/report.h"
#include "job/job_spec.h"
#include "run/layout.h"

namespace baton::fleet {
namespace {

constexpr char kStateFile[] = "local-fleet.json";
constexpr char kPidFile[] = "agent.pid";  // in an instance's folder, written by its child

// In a forked child before exec (async-signal-safe calls only): its pid into `path`, atomically.
void WritePidFile(const char* tmp, const char* path) {
  char digits[24];
  int n = 0;
  for (long v = static_cast<long>(getpid()); v > 0 && n < 23; v /= 10) {
    digits[n++] = static_cast<char>('0' + v % 10);
  }
  char text[24];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  bool ok = write(fd, text, n) == n;
  close(fd);
  if (ok) rename(tmp, path);
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<InstanceState> ParseState(const std::string& s) {
  for (InstanceState st :
       {InstanceState::kBooting, InstanceState::kLoading, InstanceState::kStandby,
        InstanceState::kRunning, InstanceState::kStopping, InstanceState::kEnded}) {
    if (s == InstanceStateName(st)) return st;
  }
  return Corruption("unknown instance state '{}'", s);
}

Result<EndReason> ParseEndReason(const std::string& s) {
  for (EndReason r : {EndReason::kNone, EndReason::kCompleted, EndReason::kStopped,
                      EndReason::kPreempted, EndReason::kKilled, EndReason::kFailed}) {
    if (s == EndReasonName(r)) return r;
  }
  return Corruption("unknown end reason '{}'", s);
}

// Whether process `pid` is gone: no such process, or a zombie that a parent other than this
// process has yet to reap (an agent whose controller died).
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  Result<std::string> stat = Env::Default()->ReadFile(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return false;
  // "pid (comm) S ...": the state follows the last ')'.
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

// The last non-empty line of a log file, for a failed agent's message.
std::string LastLine(const std::string& path) {
  Result<std::string> text = Env::Default()->ReadFile(path);
  if (!text.ok()) return "";
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

}  // namespace

struct LocalProvider::Proc {
  Instance info;
  pid_t pid = -1;
  int metadata_port = 0;
  double boot_done_at = 0;    // simulated time the agent process starts
  double kill_at = INFINITY;  // end of a notice window
  // The actions below are saved before they are done, so that a controller that dies in
  // between finds them in the state file and does them again (LocalProvider::Redo).
  bool spawning = false;      // fork() was called (its child writes agent.pid)
  bool noticed = false;       // got a preemption notice
  bool stop_sent = false;     // the controller asked it to stop
  bool killed = false;        // SIGKILLed by the provider
  double killed_at = -1;      // when (simulated time; -1: before this was kept)
  bool adopted = false;       // started by an earlier controller: not our child
  double seen_alive_at = -1;  // this controller last saw the process (not saved)
  AgentTrack track;           // what its heartbeats said
  std::unique_ptr<FakeMetadataServer> metadata;
  std::string dir;

  bool alive() const { return info.state != InstanceState::kEnded; }
  Json ToJson() const {
    return Json{{"id", info.id},
                {"offer", info.offer},
                {"state", InstanceStateName(info.state)},
                {"end_reason", EndReasonName(info.end_reason)},
                {"handoff", info.handoff},
                {"launched_at", info.launched_at},
                {"running_at", info.running_at},
                {"ended_at", info.ended_at},
                {"start_work", info.start_work},
                {"last_work", info.last_work},
                {"detail", info.detail},
                {"pid", pid},
                {"metadata_port", metadata_port},
                {"boot_done_at", boot_done_at},
                {"kill_at", std::isfinite(kill_at) ? Json(kill_at) : Json(nullptr)},
                {"noticed", noticed},
                {"stop_sent", stop_sent},
                {"killed", killed},
                {"killed_at", killed_at},
                {"spawning", spawning}};
  }
};

LocalProvider::LocalProvider(FleetSpec spec, std::unique_ptr<Market> market,
                             LocalProviderOptions options, std::unique_ptr<Store> store)
    : spec_(std::move(spec)),
      market_(std::move(market)),
      options_(std::move(options)),
      store_(std::move(store)) {}

LocalProvider::~LocalProvider() = default;

Result<std::unique_ptr<LocalProvider>> LocalProvider::Open(const FleetSpec& spec,
                                                           std::unique_ptr<Market> market,
                                                           LocalProviderOptions options) {
  if (options.baton_binary.empty() || options.job_path.empty() || options.work_dir.empty()) {
    return InvalidArgument("the local provider needs the baton binary, a job and a work folder");
  }
  if (spec.time_scale <= 0) return InvalidArgument("fleet.time_scale must be positive");
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(options.store_url));
  BATON_RETURN_IF_ERROR(Env::Default()->CreateDirs(JoinPath(options.work_dir, "instances")));
  std::unique_ptr<LocalProvider> p(
      new LocalProvider(spec, std::move(market), std::move(options), std::move(store)));
  BATON_RETURN_IF_ERROR(p->Load());
  return p;
}

void LocalProvider::Print(const std::string& line) const {
  if (options_.print) options_.print(line);
}

std::string LocalProvider::LogPath(const std::string& id) const {
  return JoinPath(JoinPath(JoinPath(options_.work_dir, "instances"), id), "agent.log");
}

double LocalProvider::Now() {
  return static_cast<double>(UnixMs() - start_unix_ms_) / 1000.0 * spec_.time_scale;
}

// The state file is what lets a restarted controller carry on: it is rewritten (atomically) on
// every change.
Status LocalProvider::Load() {
  Env* env = Env::Default();
  std::string path = JoinPath(options_.work_dir, kStateFile);
  if (!env->FileExists(path)) {
    start_unix_ms_ = UnixMs();
    Save();
    return Status::Ok();
  }
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || JsonStringOr(j, "format") != "baton-local-fleet") {
    return Corruption("{}: not a local fleet state file", path);
  }
  try {
    start_unix_ms_ = j.at("start_unix_ms").get<int64_t>();
    market_t_ = j.at("market_t").get<double>();
    // Appended to version 1: older files have no reports (and no market keyed to progress).
    for (const Json& r : j.value("market_progress", Json::array())) {
      progress_reports_.emplace_back(r.at(0).get<double>(), r.at(1).get<double>());
      market_->ReportProgress(progress_reports_.back().first, progress_reports_.back().second);
    }
    for (const Json& r : j.at("instances")) {
      auto p = std::make_unique<Proc>();
      p->info.id = r.at("id").get<std::string>();
      p->info.offer = r.at("offer").get<int>();
      BATON_ASSIGN_OR_RETURN(p->info.state, ParseState(r.at("state").get<std::string>()));
      BATON_ASSIGN_OR_RETURN(p->info.end_reason,
                             ParseEndReason(r.at("end_reason").get<std::string>()));
      p->info.handoff = r.at("handoff").get<bool>();
      p->info.launched_at = r.at("launched_at").get<double>();
      p->info.running_at = r.at("running_at").get<double>();
      p->info.ended_at = r.at("ended_at").get<double>();
      p->info.start_work = r.at("start_work").get<double>();
      p->info.last_work = r.at("last_work").get<double>();
      p->info.detail = r.at("detail").get<std::string>();
      p->pid = r.at("pid").get<pid_t>();
      p->metadata_port = r.at("metadata_port").get<int>();
      p->boot_done_at = r.at("boot_done_at").get<double>();
      p->kill_at = r.at("kill_at").is_null() ? INFINITY : r.at("kill_at").get<double>();
      p->noticed = r.at("noticed").get<bool>();
      p->stop_sent = r.at("stop_sent").get<bool>();
      p->killed = r.at("killed").get<bool>();
      p->killed_at = r.value("killed_at", -1.0);  // appended to version 1
      p->spawning = r.value("spawning", false);   // appended to version 1
      p->dir = JoinPath(JoinPath(options_.work_dir, "instances"), p->info.id);
      if (p->info.offer < 0 || p->info.offer >= static_cast<int>(spec_.offers.size())) {
        return Corruption("{}: instance {} names offer {}, the job has {}", path, p->info.id,
                          p->info.offer, spec_.offers.size());
      }
      if (p->alive()) {
        // The metadata server died with the old controller; serve on the same port again so
        // the agent's watcher finds it.
        FakeMetadataOptions mo;
        mo.port = p->metadata_port;
        mo.instance_name = p->info.id;
        Result<std::unique_ptr<FakeMetadataServer>> server = FakeMetadataServer::Start(mo);
        if (server.ok()) p->metadata = std::move(*server);
        if (p->pid <= 0 && p->spawning) AdoptSpawned(*p);
        p->adopted = p->pid > 0;
        Print(fmt::format("local fleet: adopted {} ({}, pid {})", p->info.id,
                          InstanceStateName(p->info.state), p->pid));
      }
      procs_.push_back(std::move(p));
    }
  } catch (const Json::exception& e) {
    return Corruption("{}: {}", path, e.what());
  }
  // What the last controller saved before doing it may not have been done: do it again.
  for (auto& p : procs_) {
    if (p->alive()) Redo(*p);
  }
  return Status::Ok();
}

void LocalProvider::Save() {
  Json list = Json::array();
  for (const auto& p : procs_) list.push_back(p->ToJson());
  Json reports = Json::array();
  for (const auto& [t, done] : progress_reports_) reports.push_back(Json::array({t, done}));
  Json j = {{"format", "baton-local-fleet"},   {"version", 1},
            {"start_unix_ms", start_unix_ms_}, {"time_scale", spec_.time_scale},
            {"market_t", market_t_},           {"instances", list},
            {"market_progress", reports}};
  Status s = Env::Default()->WriteFileAtomic(JoinPath(options_.work_dir, kStateFile),
                                             DumpJson(j, 2) + "\n");
  if (!s.ok()) Print("local fleet: warning: saving its state: " + s.ToString());
  SaveLedger();
}

// The run's fleet/ledger.json, so that the bucket alone shows the local fleet as it shows a
// cloud's (`baton ui`). The state file stays what a restarted controller reads; this is a copy
// for readers, written when it changed. Times are real unix ms: simulated time over time_scale.
void LocalProvider::SaveLedger() {
  if (!ledger_read_) {  // a restarted controller keeps the times the old one saw first
    ledger_read_ = true;
    Result<std::optional<FleetLedger>> old = ReadFleetLedger(store_.get());
    if (old.ok() && *old && (*old)->provider == "local") ledger_ = **old;
  }
  const int64_t now_ms = UnixMs();
  auto unix_ms = [&](double t) {
    return t < 0 ? int64_t{0} : start_unix_ms_ + std::llround(t / spec_.time_scale * 1000.0);
  };
  ledger_.run = options_.run;
  ledger_.provider = "local";
  ledger_.started_unix_ms = start_unix_ms_;
  ledger_.fleet_spec = options_.fleet_spec;
  for (const auto& p : procs_) {
    auto it = std::find_if(ledger_.instances.begin(), ledger_.instances.end(),
                           [&](const LedgerInstance& l) { return l.id == p->info.id; });
    if (it == ledger_.instances.end()) it = ledger_.instances.insert(it, LedgerInstance{});
    LedgerInstance& l = *it;
    l.id = p->info.id;
    l.offer = spec_.offers[p->info.offer].Name();
    l.handoff = p->info.handoff;
    l.launched_unix_ms = unix_ms(p->info.launched_at);
    l.running_unix_ms = unix_ms(p->info.running_at);
    l.ended_unix_ms = p->alive() ? 0 : unix_ms(p->info.ended_at);
    l.end_reason = p->alive() ? "" : EndReasonName(p->info.end_reason);
    l.detail = p->info.detail;
    // Saved before they are done: the first save that shows them is when they happened.
    if (p->stop_sent && l.stop_unix_ms == 0) l.stop_unix_ms = now_ms;
    if (p->noticed && l.notice_unix_ms == 0) l.notice_unix_ms = now_ms;
    if (p->killed && l.delete_unix_ms == 0) {
      l.delete_unix_ms = p->killed_at >= 0 ? unix_ms(p->killed_at) : now_ms;
    }
  }
  std::string text = ledger_.Serialize();
  if (text == ledger_text_) return;
  Status s = WriteFleetLedger(store_.get(), ledger_);
  if (!s.ok()) {
    Print("local fleet: warning: writing the run's ledger: " + s.ToString());
    return;
  }
  ledger_text_ = std::move(text);
}

bool LocalProvider::HasCapacity(int offer) {
  if (offer < 0 || offer >= static_cast<int>(spec_.offers.size())) return false;
  return market_->Available(offer, Now());
}

Result<std::string> LocalProvider::Launch(int offer, bool handoff) {
  if (offer < 0 || offer >= static_cast<int>(spec_.offers.size())) {
    return InvalidArgument("no offer {}", offer);
  }
  double now = Now();
  const Offer& o = spec_.offers[offer];
  if (!market_->Available(offer, now)) {
    return Unavailable("no {} capacity in {} for {}", BillingName(o.billing), o.zone,
                       o.instance_type);
  }
  auto p = std::make_unique<Proc>();
  p->info.id = fmt::format("i-{:03d}-{}-{}", procs_.size() + 1, o.zone,
                           o.billing == Billing::kSpot ? "spot" : "od");
  p->info.offer = offer;
  p->info.handoff = handoff;
  p->info.launched_at = now;
  p->boot_done_at = now + spec_.overheads.boot;
  p->dir = JoinPath(JoinPath(options_.work_dir, "instances"), p->info.id);
  BATON_RETURN_IF_ERROR(Env::Default()->CreateDirs(p->dir));
  FakeMetadataOptions mo;
  mo.instance_name = p->info.id;
  BATON_ASSIGN_OR_RETURN(p->metadata, FakeMetadataServer::Start(mo));
  p->metadata_port = p->metadata->port();
  std::string id = p->info.id;
  procs_.push_back(std::move(p));
  Save();
  return id;
}

void LocalProvider::AdoptSpawned(Proc& p) {
  // The last controller forked the agent but died before it saved the pid: the child wrote it
  // (before exec), unless it had not run yet; then it is given a moment.
  const std::string path = JoinPath(p.dir, kPidFile);
  Env* env = Env::Default();
  for (int i = 0; i < 20 && !env->FileExists(path); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Result<std::string> text = env->ReadFile(path);
  pid_t pid = 0;
  if (text.ok()) pid = static_cast<pid_t>(std::atoll(text->c_str()));
  if (pid > 0) {
    p.pid = pid;
    p.info.state = InstanceState::kLoading;
  } else {
    p.spawning = false;  // fork() never made it: spawn it again
  }
}

Status LocalProvider::Spawn(Proc& p) {
  const Offer& o = spec_.offers[p.info.offer];
  std::string log = JoinPath(p.dir, "agent.log");
  std::string cache = JoinPath(p.dir, "cache");
  std::string metadata_url = p.metadata ? p.metadata->url() : "";
  const std::string pid_file = JoinPath(p.dir, kPidFile);
  const std::string pid_tmp = pid_file + ".tmp";
  (void)Env::Default()->DeleteFile(pid_file);
  p.spawning = true;
  Save();  // before fork(): a restarted controller looks for the child's pid file
  pid_t pid = fork();
  if (pid < 0) return IoError("fork: {}", std::strerror(errno));
  if (pid == 0) {
    // Its own process group: a Ctrl-C on the terminal reaches the controller, which stops the
    // instances itself, and a SIGKILL reaches the agent and anything it started.
    setpgid(0, 0);
    WritePidFile(pid_tmp.c_str(), pid_file.c_str());
    if (chdir(p.dir.c_str()) != 0) _exit(126);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    SetEnvVar(EnvVar::kInstanceId, p.info.id);
    SetEnvVar(EnvVar::kBilling, BillingName(o.billing));
    SetEnvVar(EnvVar::kCloud, options_.cloud);
    SetEnvVar(EnvVar::kMetadataUrl, metadata_url);
    SetEnvVar(EnvVar::kNoticePollMs, "100");
    SetEnvVar(EnvVar::kCacheDir, cache);
    if (p.info.handoff) SetEnvVar(EnvVar::kHandoff, "1");
    execl(options_.baton_binary.c_str(), "baton", "agent", "--job", options_.job_path.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  p.pid = pid;
  p.info.state = InstanceState::kLoading;
  return Status::Ok();
}

Status LocalProvider::Stop(const std::string& id) {
  for (auto& p : procs_) {
    if (p->info.id != id || !p->alive()) continue;
    double now = Now();
    if (p->pid <= 0) {
      End(*p, EndReason::kStopped, now, "stopped while booting");
    } else if (!p->stop_sent) {
      p->stop_sent = true;
      p->info.state = InstanceState::kStopping;
      Save();  // before the signal: a restarted controller sends it again
      kill(-p->pid, SIGTERM);
    }
    Save();
    return Status::Ok();
  }
  return Status::Ok();
}

void LocalProvider::Preempt(Proc& p, bool notice, double now, const std::string& why) {
  if (p.pid <= 0) {
    End(p, EndReason::kPreempted, now, why + " while booting");
    return;
  }
  if (notice && spec_.overheads.notice > 0) {
    if (p.noticed) return;
    p.noticed = true;
    p.kill_at = now + spec_.overheads.notice;
    p.info.state = InstanceState::kStopping;
    p.info.detail = why + fmt::format(", notice of {:.0f} s", spec_.overheads.notice);
    Save();  // before the notice goes out: a restarted controller delivers it again
    DeliverNotice(p);
    Print(fmt::format("local fleet: t={} {}: {}: preemption notice ({}), SIGKILL at t={}",
                      FormatHours(now), p.info.id, why, options_.cloud, FormatHours(p.kill_at)));
    KillPoint("local_fleet.after_notice");
  } else {
    if (p.killed) return;  // an event a restarted controller replays: killed then, billed to then
    Print(fmt::format("local fleet: t={} {}: {}: reclaimed without notice (SIGKILL)",
                      FormatHours(now), p.info.id, why));
    Kill(p, now, why + ", no notice");
  }
}

void LocalProvider::Kill(Proc& p, double now, const std::string& detail) {
  p.killed = true;
  p.killed_at = now;
  p.info.detail = detail;
  Save();  // before the signal: a restarted controller bills it to here, and kills it again
  kill(-p.pid, SIGKILL);
}

void LocalProvider::DeliverNotice(Proc& p) {
  // The notice's deadline in real time: the end of its window, however late this is.
  const int64_t deadline =
      start_unix_ms_ + static_cast<int64_t>(std::llround(p.kill_at / spec_.time_scale * 1000.0));
  Result<Cloud> cloud = ParseCloud(options_.cloud);
  if (p.metadata && cloud.ok()) {
    p.metadata->ScheduleNotice(*cloud, NoticeKind::kTermination, deadline);
  } else if (p.pid > 0) {
    // No metadata server to tell it (its port was taken after a restart): SIGTERM means the
    // same to the agent.
    kill(-p.pid, SIGTERM);
  }
}

void LocalProvider::Redo(Proc& p) {
  if (p.pid <= 0 || ProcessGone(p.pid)) return;  // Poll ends it
  if (p.killed) {
    Print(fmt::format("local fleet: {}: killing it again (the last controller's SIGKILL)",
                      p.info.id));
    kill(-p.pid, SIGKILL);
  } else if (p.noticed) {
    // Its metadata server died with the last controller: the agent may never have seen the
    // notice. Had the window run out meanwhile, it gets a whole one from now (the instance ran,
    // and is billed, all along).
    const double now = Now();
    if (p.kill_at <= now) {
      p.kill_at = now + spec_.overheads.notice;
      Save();
    }
    Print(fmt::format("local fleet: {}: delivering its preemption notice again (SIGKILL at t={})",
                      p.info.id, FormatHours(p.kill_at)));
    DeliverNotice(p);
  } else if (p.stop_sent) {
    Print(fmt::format("local fleet: {}: asking it again to stop (SIGTERM)", p.info.id));
    kill(-p.pid, SIGTERM);
  }
}

void LocalProvider::ApplyMarket(double now, bool* changed) {
  if (now <= market_t_) return;
  // The progress first: the events it reaches are pinned at `now` and applied below.
  const double done = TrackedProgress().done;
  if (market_->ReportProgress(now, done)) {
    progress_reports_.emplace_back(now, done);
    *changed = true;
  }
  for (const MarketEvent& e : market_->Events(market_t_, now)) {
    if (e.kind == MarketEvent::Kind::kCapacityBack) {
      *changed = true;
      continue;
    }
    std::string why =
        fmt::format("{} at step {:.0f}",
                    e.kind == MarketEvent::Kind::kCapacityLost ? "spot capacity lost"
                                                               : "spot instance reclaimed",
                    done);
    Proc* victim = nullptr;
    for (auto& p : procs_) {
      if (!p->alive() || p->info.offer != e.offer) continue;
      if (e.kind == MarketEvent::Kind::kCapacityLost) {
        Preempt(*p, e.notice, now, why);
      } else if (!victim || p->info.state == InstanceState::kRunning) {
        victim = p.get();
      }
    }
    if (victim) Preempt(*victim, e.notice, now, why);
    *changed = true;
  }
  market_t_ = now;
}

double LocalProvider::TimeOfUnixMs(int64_t unix_ms) const {
  return static_cast<double>(unix_ms - start_unix_ms_) / 1000.0 * spec_.time_scale;
}

double LocalProvider::EndTime(const Proc& p, double now) const {
  double end = now;
  const Heartbeat* last = p.track.last ? &*p.track.last : nullptr;
  if (last && last->updated_unix_ms > 0 && (p.track.Final() || p.seen_alive_at < 0)) {
    // The agent writes its final heartbeat as it exits; one that ended while no controller
    // watched was last alive at its last heartbeat (a period at most before it ended).
    end = TimeOfUnixMs(last->updated_unix_ms);
  }
  if (p.killed && p.killed_at >= 0) end = std::min(end, p.killed_at);
  return std::clamp(end, p.info.launched_at, std::max(now, p.info.launched_at));
}

void LocalProvider::End(Proc& p, EndReason reason, double now, const std::string& detail) {
  p.info.state = InstanceState::kEnded;
  p.info.end_reason = reason;
  // Billed to when it really ended, which is earlier than `now` when it ended while no
  // controller watched (this one was restarted after it).
  p.info.ended_at = EndTime(p, now);
  if (!detail.empty()) p.info.detail = detail;
  p.metadata.reset();
  Print(fmt::format("local fleet: t={} {} ended: {}{}", FormatHours(now), p.info.id,
                    EndReasonName(reason),
                    p.info.detail.empty() ? "" : " (" + p.info.detail + ")"));
}

void LocalProvider::Reap(Proc& p, int wait_status, double now) {
  bool exited = WIFEXITED(wait_status);
  int code = exited ? WEXITSTATUS(wait_status) : -1;
  // The agent's last heartbeat says how it ended.
  bool changed = false;
  PollHeartbeat(p, now, &changed);
  if (p.killed || (!exited && WTERMSIG(wait_status) == SIGKILL)) {
    End(p, EndReason::kKilled, now, "");
  } else if (exited && code == 0 && p.track.state == AgentState::kComplete) {
    End(p, EndReason::kCompleted, now, "the run completed");
  } else if (exited && code == 0 && p.noticed) {
    End(p, EndReason::kPreempted, now, "");
  } else if (exited && code == 0) {
    End(p, EndReason::kStopped, now, p.stop_sent ? "checkpointed and stopped" : "exited");
  } else if (exited && code == kExitFenced) {
    End(p, EndReason::kStopped, now, "fenced off by a newer attempt");
  } else {
    std::string why = exited ? fmt::format("agent exit {}", code)
                             : fmt::format("agent killed by signal {}", WTERMSIG(wait_status));
    std::string last = LastLine(LogPath(p.info.id));
    End(p, EndReason::kFailed, now, last.empty() ? why : why + ": " + last);
  }
}

void LocalProvider::PollHeartbeat(Proc& p, double now, bool* changed) {
  if (!p.track.Poll(store_.get(), now, &p.info, changed)) return;
  Print(fmt::format("local fleet: t={} {} training from step {}", FormatHours(now), p.info.id,
                    static_cast<int64_t>(std::max(0.0, p.info.start_work))));
}

bool LocalProvider::Poll() {
  bool changed = false;
  double now = Now();
  ApplyMarket(now, &changed);
  for (auto& p : procs_) {
    if (!p->alive()) continue;
    if (p->pid <= 0) {
      if (now >= p->boot_done_at) {
        if (Status s = Spawn(*p); !s.ok()) {
          End(*p, EndReason::kFailed, now, s.ToString());
        }
        changed = true;
      }
      continue;
    }
    // Whether it ended comes first: an agent that exited on its notice while no controller
    // watched was preempted, not killed when the window ran out.
    int status = 0;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      // Our child (also one adopted from an earlier controller in this same process).
      Reap(*p, status, now);
      changed = true;
      continue;
    }
    if (p->adopted && ProcessGone(p->pid)) {
      // Started by an earlier controller that was another process: its last heartbeat says how
      // it ended.
      PollHeartbeat(*p, now, &changed);
      EndReason r =
          p->track.state == AgentState::kComplete ? EndReason::kCompleted
          : p->track.Final() && p->noticed        ? EndReason::kPreempted
          : p->track.state == AgentState::kStopped || p->track.state == AgentState::kFenced
              ? EndReason::kStopped
          : p->killed ? EndReason::kKilled
                      : EndReason::kFailed;
      End(*p, r, now, r == EndReason::kFailed ? "gone without a final heartbeat" : "");
      changed = true;
      continue;
    }
    p->seen_alive_at = now;
    if (now >= p->kill_at && !p->killed) {
      Kill(*p, now, p->info.detail + ", the notice window ran out");
      changed = true;
    }
    PollHeartbeat(*p, now, &changed);
  }
  if (changed) Save();
  return changed;
}

std::vector<Instance> LocalProvider::Instances() {
  std::vector<Instance> out;
  for (const auto& p : procs_) out.push_back(p->info);
  return out;
}

RunProgress LocalProvider::TrackedProgress() const {
  std::vector<const AgentTrack*> tracks;
  std::vector<const Instance*> infos;
  for (const auto& p : procs_) {
    tracks.push_back(&p->track);
    infos.push_back(&p->info);
  }
  return ProgressOf(tracks, infos);
}

RunProgress LocalProvider::Progress() {
  RunProgress r = TrackedProgress();
  end_watch_.Read(
      store_.get(), [this](const std::string& s) { Print("local fleet: " + s); }, &r);
  return r;
}

Status LocalProvider::SetDesiredCapacity(int n) {
  if (n > 0) return Status::Ok();  // the controller launches; there is no group to resize
  for (auto& p : procs_) {
    if (p->alive()) BATON_RETURN_IF_ERROR(Stop(p->info.id));
  }
  return Status::Ok();
}

double LocalProvider::Advance(double until) {
  for (;;) {
    bool changed = Poll();
    double now = Now();
    if (changed || now >= until) return now;
    double real_left = (until - now) / spec_.time_scale;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.1, real_left)));
  }
}

void LocalProvider::Shutdown(double grace_s) {
  for (auto& p : procs_) {
    if (p->alive() && p->pid > 0) p->stop_sent = true;
  }
  Save();  // before the signals, as every stop
  for (auto& p : procs_) {
    if (p->alive() && p->pid > 0) kill(-p->pid, SIGTERM);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    bool any = false;
    for (auto& p : procs_) {
      if (!p->alive()) continue;
      if (p->pid <= 0) {
        End(*p, EndReason::kStopped, Now(), "stopped while booting");
        continue;
      }
      p->stop_sent = true;
      int status = 0;
      if (!p->adopted && waitpid(p->pid, &status, WNOHANG) == p->pid) {
        Reap(*p, status, Now());
      } else if (p->adopted &&
                 (waitpid(p->pid, &status, WNOHANG) == p->pid || kill(p->pid, 0) != 0)) {
        End(*p, EndReason::kStopped, Now(), "");
      } else {
        any = true;
      }
    }
    if (!any) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > grace_s) {
      for (auto& p : procs_) {
        if (p->alive() && p->pid > 0) {
          p->killed = true;
          kill(-p->pid, SIGKILL);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Save();
}

}  // namespace baton::fleet
