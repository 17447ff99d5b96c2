// logging.jsonl of a run (run/layout.h kRunLogName), in ms-swift 3.x's line shapes (the trainer
// writes them; docs/ms-swift.md lists every key): training lines, eval lines, the train summary
// line (train_runtime, ...) and the final line (train_dataset, model_parameter_info, log_history,
// ...), as swift/trainers/callback.py and swift/llm/train/sft.py write them. On a store that
// can append (a local folder, an ossfs mount) every line goes to disk at once; on an object store
// (which cannot append) the text is kept in memory and uploaded whole with every checkpoint and at
// the end, so the stored log always reaches the newest checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "store/store.h"

namespace baton {

// One line of the log, its keys in the order they were set: ms-swift's order (loss, grad_norm,
// learning_rate, token_acc, epoch, then the progress keys), as a reader of the file sees it.
using LogLine = nlohmann::ordered_json;
// A line as written, on one line without its newline; as DumpJson, it never throws (bytes that
// are not UTF-8 become U+FFFD).
std::string LogLineText(const LogLine& line);

// Keeps only the lines of logging.jsonl a resumed run would have written up to `step`, so that
// the final log reads as if the run had never been interrupted: torn last lines, lines of other
// writers, lines past `step`, the train summary line and the final line are dropped.
std::string TrimLogText(const std::string& text, int64_t step);

// The final line's log_history: HF Trainer's state.log_history, i.e. every training, eval and
// summary line of `text` without the keys ms-swift's progress callback adds (global_step/
// max_steps, percentage, elapsed_time, remaining_time, memory(GiB), train_speed(...)) and with
// "step" added.
LogLine LogHistory(const std::string& text);
// ms-swift's stat_array string (swift/utils/np_utils.py): "mean±std, min=.., max=.., size=N",
// six decimals, population std. "" for no values.
std::string StatArray(const std::vector<int64_t>& values);
// ms-swift's get_model_parameter_info (swift/utils/torch_utils.py): "PeftModelForCausalLM:
// 7615.6165M Params (20.1851M Trainable [0.2651%]), 0.0001M Buffers."
std::string ModelParameterInfo(int64_t params, int64_t trainable, int64_t buffers);

class RunLog {
 public:
  // Opens the log of the run in `store` (which must outlive it), trimmed to the lines up to
  // `step` (a resume's step; 0 for a fresh start). `fence` (the run lease's check) is called
  // before every line goes to a store that appends: a fenced attempt must not add to the log of
  // the attempt that replaced it. (On an object store the upload is fenced by the caller.)
  Status Open(Store* store, int64_t step, std::function<Status()> fence);
  // Adds one line (durably on a store that appends).
  Status Append(const LogLine& line);
  // What an object store must be sent; nullopt where every line is already stored.
  std::optional<std::string> Snapshot();
  // Uploads a snapshot (nothing for nullopt).
  Status Upload(const std::optional<std::string>& snapshot);
  // Every line so far (read back from a store that appends).
  Result<std::string> Text();

 private:
  Store* store_ = nullptr;
  std::function<Status()> fence_;
  bool appends_ = false;
  std::mutex mu_;  // text_ (the commit thread takes snapshots)
  std::string text_;
};

}  // namespace baton
