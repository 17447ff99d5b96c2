#include "train/run_log.h"

#include <algorithm>
#include <cmath>
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
    if (line_step <= step && !j.contains("last_model_checkpoint") && !j.contains("train_runtime")) {
      kept += line + "\n";
    }
  }
  return kept;
}

LogLine LogHistory(const std::string& text) {
  static const char* kProgressKeys[] = {
      "global_step/max_steps", "percentage",          "elapsed_time",     "remaining_time",
      "memory(GiB)",           "train_speed(iter/s)", "train_speed(s/it)"};
  LogLine history = LogLine::array();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;
    LogLine j = LogLine::parse(text.substr(start, end - start), nullptr, false);
    start = end + 1;
    if (j.is_discarded() || !j.is_object() || !j.contains("global_step/max_steps") ||
        !j["global_step/max_steps"].is_string()) {
      continue;
    }
    long long step = 0;
    if (std::sscanf(j["global_step/max_steps"].get<std::string>().c_str(), "%lld", &step) != 1) {
      continue;
    }
    for (const char* key : kProgressKeys) j.erase(key);
    j["step"] = step;
    history.push_back(std::move(j));
  }
  return history;
}

std::string StatArray(const std::vector<int64_t>& values) {
  if (values.empty()) return "";
  double sum = 0, sq = 0;
  int64_t lo = values[0], hi = values[0];
  for (int64_t v : values) {
    sum += static_cast<double>(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double n = static_cast<double>(values.size());
  const double mean = sum / n;
  for (int64_t v : values) sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  return fmt::format("{:.6f}\u00b1{:.6f}, min={:.6f}, max={:.6f}, size={}", mean, std::sqrt(sq / n),
                     static_cast<double>(lo), static_cast<double>(hi), values.size());
}

std::string ModelParameterInfo(int64_t params, int64_t trainable, int64_t buffers) {
  const double p = static_cast<double>(params) / 1e6, t = static_cast<double>(trainable) / 1e6;
  return fmt::format(
      "PeftModelForCausalLM: {:.4f}M Params ({:.4f}M Trainable [{:.4f}%]), {:.4f}M "
      "Buffers.",
      p, t, p > 0 ? 100 * t / p : 0.0, static_cast<double>(buffers) / 1e6);
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

std::string LogLineText(const LogLine& line) {
  return line.dump(-1, ' ', /*ensure_ascii=*/false, LogLine::error_handler_t::replace);
}

Status RunLog::Append(const LogLine& line) {
  std::string s = LogLineText(line) + "\n";
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

Result<std::string> RunLog::Text() {
  if (appends_) {
    Result<std::string> text = store_->Get(kRunLogName);
    if (!text.ok() && text.status().code() == StatusCode::kNotFound) return std::string();
    return text;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return text_;
}

Status RunLog::Upload(const std::optional<std::string>& snapshot) {
  if (!snapshot) return Status::Ok();
  return store_->Put(kRunLogName, *snapshot).WithContext("uploading the run's log");
}

}  // namespace baton
