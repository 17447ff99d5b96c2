#include "train/run_log.h"

#include <cstdio>
#include <utility>

#include "run/layout.h"

namespace baton {

std::string TrimLogText(const std::string& text, int64_t step) {
  std::string kept;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // torn last line
    std::string line = text.substr(start, end - start);
    start = end + 1;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("global_step/max_steps") ||
        !j["global_step/max_steps"].is_string()) {
      continue;  // not a line this trainer wrote
    }
    std::string gs = j["global_step/max_steps"].get<std::string>();
    int64_t line_step = 0;
    if (std::sscanf(gs.c_str(), "%lld", reinterpret_cast<long long*>(&line_step)) != 1) continue;
    if (line_step <= step && !j.contains("last_model_checkpoint")) kept += line + "\n";
  }
  return kept;
}

Status RunLog::Open(Store* store, int64_t step, std::function<Status()> fence) {
  store_ = store;
  fence_ = std::move(fence);
  appends_ = store->SupportsAppend();
  Result<std::string> text = store->Get(kRunLogName);
  if (text.ok()) {
    std::string trimmed = TrimLogText(*text, step);
    if (appends_) {
      // Rewritten atomically, then appended to line by line.
      if (trimmed != *text) {
        if (fence_) BATON_RETURN_IF_ERROR(fence_());
        BATON_RETURN_IF_ERROR(store->Put(kRunLogName, trimmed));
      }
    } else {
      text_ = std::move(trimmed);
    }
  } else if (text.status().code() != StatusCode::kNotFound) {
    return text.status().WithContext("reading the run's log");
  }
  return Status::Ok();
}

Status RunLog::Append(const Json& line) {
  std::string s = DumpJson(line) + "\n";
  if (appends_) {
    if (fence_) BATON_RETURN_IF_ERROR(fence_());
    return store_->Append(kRunLogName, s).WithContext("the run's log");
  }
  std::lock_guard<std::mutex> lock(mu_);
  text_ += s;
  return Status::Ok();
}

std::optional<std::string> RunLog::Snapshot() {
  if (appends_) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  return text_;
}

Status RunLog::Upload(const std::optional<std::string>& snapshot) {
  if (!snapshot) return Status::Ok();
  return store_->Put(kRunLogName, *snapshot).WithContext("uploading the run's log");
}

}  // namespace baton
