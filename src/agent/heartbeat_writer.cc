#include "agent/heartbeat_writer.h"

#include <cstdio>
#include <utility>

namespace baton {

HeartbeatWriter::HeartbeatWriter(Store* store, Heartbeat initial, double period_s, Env* env)
    : store_(store), env_(env), doc_(std::move(initial)) {
  ticker_ = std::make_unique<PeriodicThread>(
      period_s,
      [this] {
        Write();
        return true;
      },
      /*tick_first=*/true);
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
  ticker_->Stop();
  Write();
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
