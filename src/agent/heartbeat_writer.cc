#include "agent/heartbeat_writer.h"

#include <chrono>
#include <cstdio>
#include <utility>

namespace baton {

HeartbeatWriter::HeartbeatWriter(Store* store, Heartbeat initial, double period_s, Env* env)
    : store_(store), period_(period_s), env_(env), doc_(std::move(initial)) {
  thread_ = std::thread([this] { Loop(); });
}

void HeartbeatWriter::Update(const TrainProgress& p) {
  std::lock_guard<std::mutex> lock(mu_);
  doc_.global_step = p.global_step;
  doc_.max_steps = p.max_steps;
  doc_.tokens_per_second = p.tokens_per_second;
  doc_.last_checkpoint = p.last_checkpoint;
}

void HeartbeatWriter::Change(const std::function<void(Heartbeat&)>& change) {
  std::lock_guard<std::mutex> lock(mu_);
  change(doc_);
}

void HeartbeatWriter::Finish(std::optional<AgentState> state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    if (state) doc_.state = *state;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Write();
}

void HeartbeatWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!done_) {
    lock.unlock();
    Write();
    lock.lock();
    // A condition variable rather than env_->SleepMicros: Finish must not wait out a period.
    cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return done_; });
  }
}

void HeartbeatWriter::Write() {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  Heartbeat doc;
  {
    std::lock_guard<std::mutex> lock(mu_);
    doc_.updated_unix_ms = static_cast<int64_t>(env_->NowMicros() / 1000);
    doc = doc_;
  }
  Status s = WriteHeartbeat(store_, doc);
  if (!s.ok() && !warned_) {
    warned_ = true;
    std::fprintf(stderr, "baton agent: warning: heartbeat: %s\n", s.ToString().c_str());
  }
}

}  // namespace baton
