#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "ckpt/checkpoint_manager.h"
#include "ckpt/lease.h"
#include "data/prepare.h"
#include "data/row_mapping.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"
#include "run/layout.h"
#include "store/cache.h"
#include "store/store.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "train/adamw.h"
#include "train/batch.h"
#include "train/checkpoint_io.h"
#include "train/inputs.h"
#include "train/run_log.h"
#include "train/schedule.h"
#include "train/swift_args.h"
#include "train/trainer_state.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

double PeakMemoryGiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  }
  return 0;
}

std::string Duration(double seconds) {
  int64_t s = static_cast<int64_t>(seconds);
  if (s >= 3600) return fmt::format("{}h {}m {}s", s / 3600, s % 3600 / 60, s % 60);
  if (s >= 60) return fmt::format("{}m {}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

// A non-finite value as a message shows it: "nan" (never "-nan"), "inf" or "-inf".
std::string NonFiniteText(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }

// " (first: <PEFT name>)" of the first A or B matrix of `adapter` that holds a nan or an inf,
// for messages; "" if none does.
Result<std::string> FirstNonFiniteTensor(const LoraAdapter& adapter, Backend* backend) {
  for (const LoraEntry& e : adapter.entries()) {
    for (bool is_a : {true, false}) {
      BATON_ASSIGN_OR_RETURN(double sq, backend->SumSquares(is_a ? e.a : e.b));
      if (!std::isfinite(sq)) {
        return fmt::format(" (first: {})", LoraAdapter::TensorName(e.layer, e.kind, is_a));
      }
    }
  }
  return std::string();
}

class Trainer {
 public:
  Trainer(const TrainArgs& args, const TrainerHooks& hooks, Env* env)
      : args_(args), hooks_(hooks), env_(env) {}
  ~Trainer() {
    if (upload_.joinable()) upload_.join();
  }
  Result<TrainOutcome> Run();

 private:
  void Print(const std::string& s) {
    std::lock_guard<std::mutex> lock(print_mu_);
    if (hooks_.print)
      hooks_.print(s);
    else
      std::fprintf(stderr, "%s\n", s.c_str());
  }
  bool StopRequested() { return hooks_.should_stop && hooks_.should_stop(); }
  TrainableState Trainable() {
    return {adapter_.get(), grads_.get(), optimizer_.get(), backend_.get()};
  }
  Result<TrainOutcome> Train();
  Status Setup();
  Status Resume();
  // Snapshots the state and commits it in the background (one commit at a time: it first waits
  // for the previous one).
  Status SaveCheckpoint();
  Status CommitCheckpoint(int64_t step, std::optional<int64_t> best_step,
                          const std::vector<std::pair<std::string, std::string>>& files,
                          const std::optional<std::string>& log_snapshot);
  // Waits for the background commit; its error, if it failed.
  Status WaitUpload();
  struct EvalResult {
    double loss = 0, token_acc = 0;
    int64_t batches = 0;
  };
  Result<EvalResult> Evaluate();
  // ms-swift's progress keys (swift/trainers/callback.py add_train_message) for `line`: step,
  // percentage, elapsed and remaining time; with `speed`, memory and train speed too (before
  // ms-swift 3.8 training lines alone carried those two).
  void AddProgress(LogLine& line, bool speed);
  // Training that reached nan or inf must stop, never be checkpointed or marked complete: the
  // error names the step and the quantity, and says the newest checkpoint is untouched.
  // `step` counts from 1, as the log's global_step does.
  Status NonFinite(int64_t step, const std::string& what) const;
  // NonFinite() unless the LoRA weights, the AdamW moments and the accumulated gradients are
  // all finite (one pass over each: the trainable state is small next to the model).
  Status CheckStateFinite(int64_t step);
  // The steps of the loop, in order.
  int64_t StepTargets(const BatchPlan::Window& w);  // labelled tokens of the whole step
  Status ForwardBackward(const BatchPlan::Window& w, int64_t k, int64_t targets);  // micro-batch k
  Result<double> OptimizerStep(int64_t step, int64_t targets);  // clip, AdamW; returns the lr
  Status EvaluateAndLog();
  void ReportProgress();
  // Checkpoints (the partial accumulation too) and ends the attempt.
  Result<TrainOutcome> StopNow();
  Status LogTrainLine(double lr);
  Status Finish();
  // Where checkpoint `step` is, for messages and the log: a path under a local --output_dir,
  // "s3://bucket/prefix/checkpoint-N" (without the URL's parameters) on an object store.
  std::string CheckpointPath(int64_t step) const {
    std::string name = CheckpointDir(step);
    if (IsRemoteUrl(args_.output_dir) && store_) return JoinKey(store_->Url(), name);
    return JoinPath(args_.output_dir, name);
  }

  TrainArgs args_;
  TrainerHooks hooks_;
  Env* env_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<LoraAdapter> adapter_, grads_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<CheckpointManager> ckpt_;
  std::unique_ptr<RunLease> lease_;
  RunLog log_;
  int64_t resume_step_ = 0;
  bool completed_while_waiting_ = false;  // hooks_.before_lease returned after COMPLETE appeared
  std::mutex print_mu_;
  std::thread upload_;
  Status upload_status_;
  PreparedData data_;
  TrainerState state_;
  std::string swift_args_;  // args.json of every checkpoint
  LrSchedule schedule_ = LrSchedule::kCosine;
  std::unique_ptr<BatchPlan> plan_;
  int64_t ga_ = 1, steps_per_epoch_ = 0, warmup_steps_ = 0;
  int32_t pad_id_ = 0;
  int64_t last_saved_step_ = -1;
  Clock::time_point start_;
  double seconds_before_ = 0;     // train_seconds of earlier attempts
  double last_logged_loss_ = -1;  // for the progress hook
  ColdStart startup_;             // where Setup and Resume spent their time (hooks_.startup)
  static double SecondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
};

Status Trainer::Setup() {
  BATON_RETURN_IF_ERROR(args_.Validate());
  // A pasted `swift sft` line says --torch_dtype bfloat16; without a GPU, transformers would
  // compute in bf16 on the CPU, Baton's CPU kernels are f32 only: with --device auto the run goes
  // on in float32 and says so (--device cuda makes a missing GPU an error instead).
  std::string dtype = args_.torch_dtype;
  if (args_.device == "auto" && dtype != "float32" && dtype != "fp32" && VisibleGpuCount() == 0) {
    Print(fmt::format(
        "--torch_dtype {}: {}, so training computes in float32 on the CPU (bfloat16 "
        "computes on a GPU only; --device cuda makes this an error)",
        dtype, BuiltWithCuda() ? "no GPU is visible" : "this baton was built without CUDA"));
    dtype = "float32";
  }
  BATON_ASSIGN_OR_RETURN(backend_, MakeBackend(args_.device, dtype));
  if (backend_->device() != Device::kCpu) Print("computing on " + backend_->name());
  // Store URLs (s3://, oss://) are fetched into the local cache once.
  CacheOptions cache;
  if (hooks_.print) cache.print = [this](const std::string& s) { Print(s); };
  FetchStats fetched;
  cache.stats = &fetched;
  auto t = Clock::now();
  BATON_ASSIGN_OR_RETURN(TrainInputs inputs, ResolveTrainInputs(args_, cache, env_));
  // The listing and the transfers count as the download; checking cached files as the digest.
  startup_.digest = fetched.digest_seconds;
  startup_.download = std::max(0.0, SecondsSince(t) - fetched.digest_seconds);
  const std::string& model_dir = inputs.model_dir;
  t = Clock::now();
  BATON_ASSIGN_OR_RETURN(model_, Transformer::Load(env_, model_dir, backend_.get()));
  const std::string tokenizer_path = JoinPath(model_dir, "tokenizer.json");
  BATON_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::FromFile(env_, tokenizer_path));
  BATON_RETURN_IF_ERROR(tok.CheckFitsModel(model_->config().vocab_size, tokenizer_path,
                                           JoinPath(model_dir, "config.json")));
  tokenizer_ = std::make_unique<Tokenizer>(std::move(tok));
  startup_.load = SecondsSince(t);
  ChatTemplateKind kind;
  ChatRenderOptions render;
  if (!args_.template_name.empty()) {
    BATON_ASSIGN_OR_RETURN(kind, ParseChatTemplateKind(args_.template_name));
    if (kind == ChatTemplateKind::kChatML) render.default_system = "You are a helpful assistant.";
  } else {
    BATON_ASSIGN_OR_RETURN(DetectedChatTemplate d, DetectChatTemplateInDir(env_, model_dir));
    kind = d.kind;
    render.default_system = d.default_system;
  }
  swift_args_ = MakeSwiftArgs(args_, SwiftNamesFor(kind, render.default_system));
  if (auto pad = tokenizer_->TokenToId("<|endoftext|>")) pad_id_ = *pad;
  DataOptions dopt;
  dopt.datasets = inputs.datasets;
  dopt.model_name = args_.model_name;
  dopt.model_author = args_.model_author;
  BATON_ASSIGN_OR_RETURN(dopt.columns, ParseColumnsFlag(args_.columns));
  if (args_.system_given) dopt.system = args_.system;
  dopt.max_length = args_.max_length;
  BATON_ASSIGN_OR_RETURN(dopt.truncation_strategy,
                         ParseTruncationStrategy(args_.truncation_strategy));
  dopt.split_dataset_ratio = args_.split_dataset_ratio;
  dopt.seed = args_.seed;
  t = Clock::now();
  BATON_ASSIGN_OR_RETURN(data_, PrepareDatasets(env_, dopt, *tokenizer_, kind, render));
  startup_.data = SecondsSince(t);
  for (const std::string& notice : data_.summary.notices) Print(notice);
  std::string summary = data_.summary.ToString();
  while (!summary.empty() && summary.back() == '\n') summary.pop_back();
  Print(summary);
  if (data_.train.empty()) return InvalidArgument("no training examples left after preparation");

  LoraConfig lc;
  lc.r = args_.lora_rank;
  lc.alpha = args_.lora_alpha;
  lc.dropout = args_.lora_dropout;
  lc.use_rslora = args_.use_rslora;
  lc.target_modules = args_.target_modules;
  BATON_RETURN_IF_ERROR(lc.CheckFits(model_->config(), "--lora_alpha", "--lora_rank"));
  lc.base_model_name_or_path = RedactUrl(args_.model);
  adapter_ =
      std::make_unique<LoraAdapter>(LoraAdapter::Create(model_->config(), lc, backend_.get()));
  if (adapter_->entries().empty()) {
    return InvalidArgument("--target_modules {} matches no module of this model",
                           DumpJson(Json(args_.target_modules)));
  }
  BATON_RETURN_IF_ERROR(adapter_->InitLikePeft(args_.seed));
  grads_ = std::make_unique<LoraAdapter>(LoraAdapter::Create(model_->config(), lc, backend_.get()));
  model_->SetAdapter(adapter_.get());
  AdamWOptions ao;
  ao.beta1 = args_.adam_beta1;
  ao.beta2 = args_.adam_beta2;
  ao.eps = args_.adam_epsilon;
  ao.weight_decay = args_.weight_decay;
  optimizer_ = std::make_unique<AdamW>(adapter_->params().numel(), ao, backend_.get());
  BATON_ASSIGN_OR_RETURN(schedule_, ParseLrSchedule(args_.lr_scheduler_type));

  ga_ = args_.EffectiveGradientAccumulation();
  int64_t n = static_cast<int64_t>(data_.train.size());
  plan_ = std::make_unique<BatchPlan>(n, args_.per_device_train_batch_size, ga_, args_.seed);
  steps_per_epoch_ = plan_->steps_per_epoch();
  BATON_ASSIGN_OR_RETURN(state_.max_steps, args_.TotalSteps(steps_per_epoch_));
  warmup_steps_ = WarmupSteps(args_.warmup_ratio, state_.max_steps);
  state_.seed = args_.seed;
  state_.num_train_examples = n;
  state_.args = args_.ToJson();
  BATON_ASSIGN_OR_RETURN(store_, OpenStore(args_.output_dir, OpenMode::kCreateIfMissing, env_));
  ckpt_ = std::make_unique<CheckpointManager>(store_.get(), "", env_);
  if (hooks_.before_lease) {
    BATON_RETURN_IF_ERROR(hooks_.before_lease());
    // The run may have finished while this attempt waited.
    BATON_ASSIGN_OR_RETURN(bool complete, IsComplete(store_.get()));
    if (complete) {
      completed_while_waiting_ = true;
      return Status::Ok();
    }
  }
  t = Clock::now();
  BATON_ASSIGN_OR_RETURN(lease_, RunLease::Acquire(store_.get(), "", NewLeaseHolderId(), env_));
  startup_.resume = SecondsSince(t);
  Print(fmt::format("took the run lease {} (epoch {}, holder {})", lease_->Url(), lease_->epoch(),
                    lease_->holder()));
  ckpt_->SetFence([this](CheckpointManager::FencePoint point) {
    return point == CheckpointManager::FencePoint::kBeforeCommit ? lease_->Renew()
                                                                 : lease_->Check();
  });
  return Status::Ok();
}

Status Trainer::Resume() {
  // A checkpoint is resumed from only if its files agree with each other and with this job's
  // model and LoRA settings; otherwise the previous one is, and the user is told why.
  ckpt_->SetContentCheck([this](int64_t step, const std::map<std::string, std::string>& files) {
    TrainableState into = Trainable();
    return ValidateCheckpoint(files, CheckpointDir(step), step, &into);
  });
  std::vector<CheckpointInfo> skipped;
  BATON_ASSIGN_OR_RETURN(std::optional<int64_t> latest, ckpt_->LatestValid(&skipped));
  for (const CheckpointInfo& c : skipped) {
    Print(fmt::format("{} skipped: {}; {}", CheckpointDir(c.step), c.reason,
                      latest ? fmt::format("resuming from {}", CheckpointDir(*latest))
                             : std::string("no valid checkpoint before it")));
  }
  if (!latest) {
    resume_step_ = 0;
    Print(fmt::format("starting a new run in {}: {} steps ({} examples, batch {}, accumulation {})",
                      args_.output_dir, state_.max_steps, state_.num_train_examples,
                      args_.per_device_train_batch_size, ga_));
    return Status::Ok();
  }
  BATON_ASSIGN_OR_RETURN(auto files, ckpt_->Load(*latest));
  std::string where = CheckpointPath(*latest);
  BATON_ASSIGN_OR_RETURN(TrainerState saved, ReadCheckpointState(files, where));
  for (const std::string& d : args_.TrajectoryDifferences(saved.args)) {
    Print("resume: warning: " + d + " (the run will not match an uninterrupted one)");
  }
  if (saved.num_train_examples != state_.num_train_examples) {
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("{}: the checkpoint was trained on {} examples but the datasets "
                              "now give {}; use a new --output_dir",
                              where, saved.num_train_examples, state_.num_train_examples));
  }
  BATON_RETURN_IF_ERROR(RestoreCheckpoint(files, where, saved, Trainable()));
  int64_t max_steps = state_.max_steps;
  Json args = state_.args;
  state_ = saved;
  state_.max_steps = max_steps;
  state_.args = args;
  state_.attempts = saved.attempts + 1;
  seconds_before_ = saved.train_seconds;
  last_saved_step_ = saved.global_step;
  resume_step_ = saved.global_step;
  Print(fmt::format("resuming from {} (step {}/{}{})", where, saved.global_step, max_steps,
                    saved.micro_step > 0
                        ? fmt::format(", {} micro-batches into its accumulation", saved.micro_step)
                        : ""));
  return Status::Ok();
}

Status Trainer::SaveCheckpoint() {
  BATON_RETURN_IF_ERROR(WaitUpload());
  // The last guard before anything is written: a checkpoint of nan/inf would be resumed from.
  BATON_RETURN_IF_ERROR(CheckStateFinite(state_.global_step + (state_.micro_step > 0 ? 1 : 0)));
  state_.train_seconds =
      seconds_before_ + std::chrono::duration<double>(Clock::now() - start_).count();
  BATON_ASSIGN_OR_RETURN(auto files, SerializeCheckpoint(Trainable(), state_, swift_args_));
  int64_t step = state_.global_step;
  std::optional<int64_t> best = state_.best_step;
  std::optional<std::string> log_snapshot = log_.Snapshot();
  last_saved_step_ = step;
  upload_ = std::thread([this, step, best, files = std::move(files), log_snapshot] {
    upload_status_ = CommitCheckpoint(step, best, files, log_snapshot);
  });
  return Status::Ok();
}

Status Trainer::CommitCheckpoint(int64_t step, std::optional<int64_t> best_step,
                                 const std::vector<std::pair<std::string, std::string>>& files,
                                 const std::optional<std::string>& log_snapshot) {
  auto t0 = Clock::now();
  uint64_t bytes = 0;
  for (const auto& f : files) bytes += f.second.size();
  // On an object store the log goes up first, so that whenever checkpoint `step` is valid the
  // stored log reaches it (a resume trims lines past its checkpoint); a fenced attempt must not
  // touch it, hence the lease check first.
  if (log_snapshot) {
    BATON_RETURN_IF_ERROR(lease_->Check());
    BATON_RETURN_IF_ERROR(log_.Upload(log_snapshot));
  }
  BATON_RETURN_IF_ERROR(ckpt_->Commit(step, files));
  BATON_RETURN_IF_ERROR(ckpt_->Retain(args_.save_total_limit, best_step));
  Print(fmt::format("saved {} ({:.1f} MB) in {:.2f} s", CheckpointPath(step), bytes / 1e6,
                    std::chrono::duration<double>(Clock::now() - t0).count()));
  return Status::Ok();
}

Status Trainer::WaitUpload() {
  if (upload_.joinable()) upload_.join();
  Status s = upload_status_;
  upload_status_ = Status::Ok();
  return s;
}

Result<Trainer::EvalResult> Trainer::Evaluate() {
  model_->SetLoraDropout(0.0f, 0);
  double loss = 0;
  int64_t tokens = 0, correct = 0, batches = 0, bs = args_.per_device_eval_batch_size;
  int64_t n = static_cast<int64_t>(data_.val.size());
  for (int64_t i = 0; i < n; i += bs) {
    std::vector<int64_t> idx;
    for (int64_t j = i; j < std::min(n, i + bs); ++j) idx.push_back(j);
    Batch b = MakeBatch(data_.val, idx, pad_id_);
    BATON_ASSIGN_OR_RETURN(
        Transformer::LossSum s,
        model_->ForwardBackward(b.tokens, b.labels, b.mask, 1.0f, false, nullptr));
    loss += s.loss;
    tokens += s.tokens;
    correct += s.correct;
    ++batches;
  }
  EvalResult r;
  r.batches = batches;
  if (tokens > 0) {
    r.loss = loss / static_cast<double>(tokens);
    r.token_acc = static_cast<double>(correct) / static_cast<double>(tokens);
  }
  if (!std::isfinite(r.loss)) {
    return NonFinite(state_.global_step, fmt::format("the eval loss is {}", NonFiniteText(r.loss)));
  }
  return r;
}

Status Trainer::NonFinite(int64_t step, const std::string& what) const {
  std::string kept = last_saved_step_ >= 0 ? fmt::format("the newest checkpoint stays {}",
                                                         CheckpointDir(last_saved_step_))
                                           : "no checkpoint was written";
  return Status(StatusCode::kFailedPrecondition,
                fmt::format("step {}: {}: training diverged; stopped without saving this state "
                            "({}); lower --learning_rate or check the data",
                            step, what, kept));
}

Status Trainer::CheckStateFinite(int64_t step) {
  struct Part {
    const char* what;
    const Tensor& tensor;
    const LoraAdapter* adapter;  // names the tensor; null for the AdamW moments
  };
  const Part parts[] = {
      {"the LoRA weights", adapter_->params(), adapter_.get()},
      {"the accumulated gradients", grads_->params(), grads_.get()},
      {"the AdamW first moment (exp_avg)", optimizer_->exp_avg(), nullptr},
      {"the AdamW second moment (exp_avg_sq)", optimizer_->exp_avg_sq(), nullptr}};
  for (const Part& p : parts) {
    BATON_ASSIGN_OR_RETURN(double sq, backend_->SumSquares(p.tensor));
    if (std::isfinite(sq)) continue;
    std::string name;
    if (p.adapter) {
      BATON_ASSIGN_OR_RETURN(name, FirstNonFiniteTensor(*p.adapter, backend_.get()));
    }
    return NonFinite(step, fmt::format("{} hold nan or inf{}", p.what, name));
  }
  return Status::Ok();
}

void Trainer::AddProgress(LogLine& line, bool speed) {
  double elapsed = seconds_before_ + std::chrono::duration<double>(Clock::now() - start_).count();
  int64_t s = state_.global_step, m = state_.max_steps;
  double rate = s > 0 ? static_cast<double>(s) / std::max(elapsed, 1e-9) : 0;
  line["global_step/max_steps"] = fmt::format("{}/{}", s, m);
  line["percentage"] = fmt::format("{:.2f}%", 100.0 * s / m);
  line["elapsed_time"] = Duration(elapsed);
  line["remaining_time"] = Duration(rate > 0 ? (m - s) / rate : 0);
  if (!speed) return;
  line["memory(GiB)"] = std::round(PeakMemoryGiB() * 100) / 100;
  // ms-swift 3.0-3.12.4's key (the recipe's era); 3.12.5 turned it into train_speed(s/it).
  line["train_speed(iter/s)"] = std::round(rate * 1e6) / 1e6;
}

Status Trainer::LogTrainLine(double lr) {
  const double steps = static_cast<double>(state_.log_steps);
  LogLine line = {
      {"loss", state_.log_loss_sum / steps},
      {"grad_norm", state_.log_grad_norm_sum / steps},
      {"learning_rate", lr},
      {"token_acc", state_.log_acc_sum / steps},
      {"epoch", static_cast<double>(state_.global_step) / static_cast<double>(steps_per_epoch_)}};
  AddProgress(line, true);
  last_logged_loss_ = line["loss"].get<double>();
  state_.log_loss_sum = state_.log_grad_norm_sum = state_.log_acc_sum = 0;
  state_.log_steps = 0;
  Print(LogLineText(line));
  return log_.Append(line);
}

Status Trainer::Finish() {
  if (last_saved_step_ != state_.global_step || state_.micro_step != 0) {
    BATON_RETURN_IF_ERROR(SaveCheckpoint());
  }
  BATON_RETURN_IF_ERROR(WaitUpload());
  // HF Trainer's summary line (end of train()), then ms-swift's final line (sft.py
  // _save_trainer_state), whose log_history is every line so far as HF keeps them.
  double elapsed = seconds_before_ + std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t steps = state_.global_step;
  const double samples = static_cast<double>(steps * args_.per_device_train_batch_size * ga_);
  LogLine summary = {
      {"train_runtime", std::round(elapsed * 1000) / 1000},
      {"train_samples_per_second", samples / std::max(elapsed, 1e-9)},
      {"train_steps_per_second", steps / std::max(elapsed, 1e-9)},
      {"train_tokens_per_second", state_.trained_tokens / std::max(elapsed, 1e-9)},
      {"train_loss", steps > 0 ? state_.total_loss_sum / static_cast<double>(steps) : 0.0},
      {"epoch", static_cast<double>(steps) / static_cast<double>(steps_per_epoch_)}};
  AddProgress(summary, false);
  BATON_RETURN_IF_ERROR(lease_->Check());
  BATON_RETURN_IF_ERROR(log_.Append(summary));
  Print(LogLineText(summary));
  BATON_ASSIGN_OR_RETURN(std::string log_text, log_.Text());
  auto lengths = [](const std::vector<TrainExample>& examples) {
    std::vector<int64_t> out;
    for (const TrainExample& e : examples) out.push_back(static_cast<int64_t>(e.input_ids.size()));
    return out;
  };
  int64_t base_params = 0;
  ModelWeights shapes;
  ForEachWeight(model_->config(), shapes, [&](const std::string&, const Shape& shape, Tensor&) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    base_params += n;
  });
  const int64_t trainable = adapter_->params().numel();
  LogLine final_line;
  final_line["train_dataset"] = StatArray(lengths(data_.train));
  if (!data_.val.empty()) final_line["val_dataset"] = StatArray(lengths(data_.val));
  // HF's rotary embedding keeps inv_freq (head_dim / 2 values) as the model's one buffer.
  final_line["model_parameter_info"] =
      ModelParameterInfo(base_params + trainable, trainable, model_->config().head_dim / 2);
  final_line["last_model_checkpoint"] = CheckpointPath(steps);
  final_line["best_model_checkpoint"] =
      state_.best_step ? Json(CheckpointPath(*state_.best_step)) : Json(nullptr);
  final_line["best_metric"] = state_.best_metric ? Json(*state_.best_metric) : Json(nullptr);
  final_line["global_step"] = steps;
  final_line["log_history"] = LogHistory(log_text);
  final_line["memory"] = std::round(PeakMemoryGiB() * 100) / 100;
  final_line["attempts"] = state_.attempts;
  BATON_RETURN_IF_ERROR(lease_->Check());
  BATON_RETURN_IF_ERROR(log_.Append(final_line));
  BATON_RETURN_IF_ERROR(log_.Upload(log_.Snapshot()));
  CompleteMarker complete;
  complete.global_step = state_.global_step;
  complete.last_model_checkpoint = CheckpointDir(state_.global_step);
  if (state_.best_step) complete.best_model_checkpoint = CheckpointDir(*state_.best_step);
  BATON_RETURN_IF_ERROR(WriteCompleteMarker(store_.get(), complete));
  Print(fmt::format("training complete: {}", CheckpointPath(steps)));
  if (Status s = lease_->Release(/*run_complete=*/true); !s.ok())
    Print("warning: releasing the run lease: " + s.ToString());
  return Status::Ok();
}

Result<TrainOutcome> Trainer::Run() {
  // A finished run exits at once, before loading anything heavy.
  {
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> probe,
                           OpenStore(args_.output_dir, OpenMode::kCreateIfMissing, env_));
    BATON_ASSIGN_OR_RETURN(bool complete, IsComplete(probe.get()));
    if (complete) {
      Print(fmt::format("{}: the run is already complete (COMPLETE marker present); nothing to do",
                        args_.output_dir));
      return TrainOutcome::kAlreadyComplete;
    }
  }
  Result<TrainOutcome> r = Train();
  Status pending = WaitUpload();
  if (lease_ && lease_->fenced()) {
    Print((r.ok() ? pending : r.status()).message());
    return TrainOutcome::kFenced;
  }
  if (!r.ok()) return r;
  if (!pending.ok()) return pending;
  if (*r == TrainOutcome::kStopped) {
    if (Status s = lease_->Release(); !s.ok())
      Print("warning: releasing the run lease: " + s.ToString());
  }
  return r;
}

int64_t Trainer::StepTargets(const BatchPlan::Window& w) {
  int64_t targets = 0;
  for (int64_t k = 0; k < w.count; ++k) {
    for (int64_t i : plan_->MicroBatch(w.epoch, w.first + k))
      targets += CountTargets(data_.train[i]);
  }
  return targets;
}

Status Trainer::ForwardBackward(const BatchPlan::Window& w, int64_t k, int64_t targets) {
  const int64_t step = state_.global_step;
  // The loss is the mean over the step's labelled tokens, so every micro-batch is scaled by it.
  float grad_scale = 1.0f / static_cast<float>(std::max<int64_t>(1, targets));
  Batch b = MakeBatch(data_.train, plan_->MicroBatch(w.epoch, w.first + k), pad_id_);
  // A distinct dropout stream for every micro-batch of the run, derived from the seed.
  model_->SetLoraDropout(static_cast<float>(args_.lora_dropout),
                         args_.seed * 0x100000001b3ull + static_cast<uint64_t>(step * ga_ + k));
  BATON_ASSIGN_OR_RETURN(Transformer::LossSum s,
                         model_->ForwardBackward(b.tokens, b.labels, b.mask, grad_scale,
                                                 args_.gradient_checkpointing, grads_.get()));
  if (!std::isfinite(s.loss)) {
    return NonFinite(step + 1, fmt::format("the loss of micro-batch {} of {} is {}", k + 1, w.count,
                                           NonFiniteText(s.loss)));
  }
  state_.window_loss_sum += s.loss;
  state_.window_correct += s.correct;
  state_.trained_tokens += b.input_tokens;
  state_.micro_step = k + 1;
  return Status::Ok();
}

Result<double> Trainer::OptimizerStep(int64_t step, int64_t targets) {
  // Clip by the global norm (logged before clipping, as HF does), then AdamW.
  Tensor& g = grads_->params();
  BATON_ASSIGN_OR_RETURN(double sq, backend_->SumSquares(g));
  double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    BATON_ASSIGN_OR_RETURN(std::string name, FirstNonFiniteTensor(*grads_, backend_.get()));
    return NonFinite(step + 1, fmt::format("the gradient norm is {}{}", NonFiniteText(norm), name));
  }
  if (args_.max_grad_norm > 0) {
    double coef = args_.max_grad_norm / (norm + 1e-6);
    if (coef < 1.0) BATON_RETURN_IF_ERROR(backend_->Scale(g, static_cast<float>(coef)));
  }
  double lr = LearningRateAt(schedule_, args_.learning_rate, step, warmup_steps_, state_.max_steps);
  BATON_RETURN_IF_ERROR(optimizer_->Step(adapter_->params(), g, lr));
  BATON_RETURN_IF_ERROR(backend_->Zero(g));
  // Finite gradients can still overflow the update (a huge --learning_rate).
  BATON_RETURN_IF_ERROR(CheckStateFinite(step + 1));
  const double step_targets = static_cast<double>(std::max<int64_t>(1, targets));
  state_.log_loss_sum += state_.window_loss_sum / step_targets;
  state_.total_loss_sum += state_.window_loss_sum / step_targets;
  state_.log_acc_sum += static_cast<double>(state_.window_correct) / step_targets;
  state_.log_grad_norm_sum += norm;
  state_.log_steps += 1;
  state_.window_loss_sum = 0;
  state_.window_correct = 0;
  state_.micro_step = 0;
  state_.global_step = step + 1;
  return lr;
}

Status Trainer::EvaluateAndLog() {
  auto t0 = Clock::now();
  BATON_ASSIGN_OR_RETURN(EvalResult eval, Evaluate());
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!state_.best_metric || eval.loss < *state_.best_metric) {
    state_.best_metric = eval.loss;
    state_.best_step = state_.global_step;
  }
  LogLine line = {{"eval_loss", eval.loss},
                  {"eval_token_acc", eval.token_acc},
                  {"eval_runtime", std::round(secs * 1000) / 1000},
                  {"eval_samples_per_second", data_.val.size() / std::max(secs, 1e-9)},
                  {"eval_steps_per_second", eval.batches / std::max(secs, 1e-9)},
                  {"epoch", static_cast<double>(state_.global_step) / steps_per_epoch_}};
  AddProgress(line, false);
  Print(LogLineText(line));
  return log_.Append(line);
}

void Trainer::ReportProgress() {
  if (!hooks_.progress) return;
  double elapsed = seconds_before_ + std::chrono::duration<double>(Clock::now() - start_).count();
  TrainProgress p;
  p.global_step = state_.global_step;
  p.max_steps = state_.max_steps;
  p.tokens_per_second = static_cast<double>(state_.trained_tokens) / std::max(elapsed, 1e-9);
  if (last_saved_step_ >= 0) p.last_checkpoint = CheckpointPath(last_saved_step_);
  p.elapsed_seconds = elapsed;
  p.loss = last_logged_loss_;
  hooks_.progress(p);
}

Result<TrainOutcome> Trainer::StopNow() {
  // Mid-step, the checkpoint carries the accumulation so far; between steps, the newest step.
  if (state_.micro_step > 0 || last_saved_step_ != state_.global_step) {
    BATON_RETURN_IF_ERROR(SaveCheckpoint());
  }
  BATON_RETURN_IF_ERROR(WaitUpload());
  Print(state_.micro_step > 0
            ? fmt::format("stop requested: checkpointed at step {} (+{} micro-batches); exiting",
                          state_.global_step, state_.micro_step)
            : fmt::format("stop requested: checkpointed at step {}; exiting", state_.global_step));
  return TrainOutcome::kStopped;
}

Result<TrainOutcome> Trainer::Train() {
  BATON_RETURN_IF_ERROR(Setup());
  if (completed_while_waiting_) return TrainOutcome::kAlreadyComplete;
  auto t = Clock::now();
  BATON_RETURN_IF_ERROR(Resume());
  startup_.resume += SecondsSince(t);
  // A fenced attempt must not write the log; a lease that cannot be read just now is checked
  // again before the next commit, so the line goes on.
  BATON_RETURN_IF_ERROR(log_.Open(store_.get(), resume_step_, [this]() -> Status {
    Status s = lease_->Check();
    if (s.ok() || lease_->fenced()) return s;
    Print("warning: checking the run lease before a log line: " + s.ToString());
    return Status::Ok();
  }));
  if (hooks_.startup) hooks_.startup(startup_);
  if (hooks_.started) hooks_.started(resume_step_, state_.max_steps);
  start_ = Clock::now();
  // The loop, as llm.c's: batch, forward/backward, update, log; then eval, checkpoint, stop.
  while (state_.global_step < state_.max_steps) {
    const int64_t step = state_.global_step;
    const BatchPlan::Window w = plan_->StepWindow(step);
    const int64_t targets = StepTargets(w);
    // A resumed step goes on from the micro-batch its checkpoint was taken at.
    for (int64_t k = state_.micro_step; k < w.count; ++k) {
      if (StopRequested()) return StopNow();
      BATON_RETURN_IF_ERROR(ForwardBackward(w, k, targets));
    }
    BATON_ASSIGN_OR_RETURN(double lr, OptimizerStep(step, targets));
    const bool last = state_.global_step == state_.max_steps;
    auto due = [&](int64_t every) { return state_.global_step % every == 0 || last; };
    if (due(args_.logging_steps)) BATON_RETURN_IF_ERROR(LogTrainLine(lr));
    if (!data_.val.empty() && due(args_.eval_steps)) BATON_RETURN_IF_ERROR(EvaluateAndLog());
    if (due(args_.save_steps)) BATON_RETURN_IF_ERROR(SaveCheckpoint());
    ReportProgress();
    if (!last && StopRequested()) return StopNow();
  }
  BATON_RETURN_IF_ERROR(Finish());
  return TrainOutcome::kCompleted;
}

}  // namespace

std::atomic<bool>* InstallStopSignalHandlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  return &g_stop;
}

Result<TrainOutcome> RunTraining(const TrainArgs& args, const TrainerHooks& hooks, Env* env) {
  Trainer t(args, hooks, env);
  return t.Run();
}

}  // namespace baton
