// LoRA training throughput on the CPU: forward + backward tokens/s and peak memory for one
// model shape (random weights), with and without activation recomputation, plus the time to
// save and load a checkpoint of its LoRA state through the checkpoint protocol.
//
//   build/train_bench [--preset tiny|qwen2.5-0.5b|...] [--seq 256] [--steps 3] [--rank 8]
// Run one preset per process: peak memory (VmHWM) is per process.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ckpt/checkpoint_manager.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/init_model.h"
#include "model/transformer.h"
#include "store/store.h"
#include "train/adamw.h"

using namespace baton;
using Clock = std::chrono::steady_clock;

namespace {

double PeakRssGiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux: write "5" to clear_refs), so each mode reports its own
// peak.
void ResetPeak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "tiny";
  int64_t seq = 256, steps = 3, rank = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--preset")
      preset = argv[i + 1];
    else if (k == "--seq")
      seq = std::atoll(argv[i + 1]);
    else if (k == "--steps")
      steps = std::atoll(argv[i + 1]);
    else if (k == "--rank")
      rank = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  auto config = ModelPreset(preset, 0);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 2;
  }
  char tmpl[] = "/tmp/baton_train_bench_XXXXXX";
  std::string tmp = mkdtemp(tmpl);
  std::printf("preset %s: %s\n", preset.c_str(), config->Summary().c_str());
  auto t0 = Clock::now();
  // Written by a child process: serialising the weights must not count in this process's peak.
  pid_t child = fork();
  if (child == 0) {
    Status s = WriteRandomModel(Env::Default(), *config, {}, tmp + "/model");
    if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
    _exit(s.ok() ? 0 : 1);
  }
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) return 1;
  std::printf("wrote random f32 weights in %.1f s\n", Seconds(t0));
  auto backend = MakeCpuBackend(CpuBackendOptionsFromEnv());
  auto model = Transformer::Load(Env::Default(), tmp + "/model", backend.get());
  if (!model.ok()) Check(model.status());
  uint64_t base_bytes = 0;
  ModelWeights& w = (*model)->weights();
  ForEachWeight((*model)->config(), w,
                [&](const std::string&, const Shape&, Tensor& t) { base_bytes += t.nbytes(); });
  LoraConfig lc;
  lc.r = rank;
  lc.alpha = 2.0 * rank;
  lc.target_modules = {"all-linear"};
  LoraAdapter adapter = LoraAdapter::Create((*model)->config(), lc);
  Check(adapter.InitLikePeft(1));
  LoraAdapter grads = LoraAdapter::Create((*model)->config(), lc);
  (*model)->SetAdapter(&adapter);
  AdamW opt(adapter.params().numel(), {});
  std::vector<int32_t> ids(seq);
  for (int64_t i = 0; i < seq; ++i) ids[i] = static_cast<int32_t>((i * 7919 + 11) % 150000);
  Tensor tokens = Tensor::FromI32(ids, {1, seq});
  std::printf("LoRA r%lld all-linear: %lld trainable parameters; batch 1 x %lld tokens, f32, %s\n",
              static_cast<long long>(rank), static_cast<long long>(adapter.params().numel()),
              static_cast<long long>(seq), backend->name().c_str());
  std::printf("%-22s %14s %14s\n", "mode", "tokens/s", "peak RSS GiB");
  for (bool recompute : {true, false}) {
    ResetPeak();
    Check((*model)
              ->ForwardBackward(tokens, tokens, Tensor(), 1.0f / seq, recompute, &grads)
              .status());
    auto t1 = Clock::now();
    for (int64_t s = 0; s < steps; ++s) {
      Check((*model)
                ->ForwardBackward(tokens, tokens, Tensor(), 1.0f / seq, recompute, &grads)
                .status());
      Check(opt.Step(adapter.params(), grads.params(), 1e-4));
    }
    double tps = static_cast<double>(seq * steps) / Seconds(t1);
    std::printf("%-22s %14.1f %14.2f\n", recompute ? "recompute (default)" : "saved activations",
                tps, PeakRssGiB());
  }
  std::printf(
      "(f32 base weights: %.2f GiB, memory-mapped from the model file; peak RSS includes "
      "them once touched)\n",
      static_cast<double>(base_bytes) / (1 << 30));

  auto store = OpenStore(tmp + "/run");
  if (!store.ok()) Check(store.status());
  CheckpointManager ckpt(store->get(), "");
  auto weights = adapter.SerializeWeights();
  if (!weights.ok()) Check(weights.status());
  auto opt_bytes =
      SerializeSafetensors({{"exp_avg", opt.exp_avg()}, {"exp_avg_sq", opt.exp_avg_sq()}});
  if (!opt_bytes.ok()) Check(opt_bytes.status());
  std::vector<std::pair<std::string, std::string>> files = {
      {"adapter_model.safetensors", *weights},
      {"adapter_config.json", adapter.SerializeConfig()},
      {"optimizer.safetensors", *opt_bytes},
      {"trainer_state.json", "{}"}};
  double mb = static_cast<double>(weights->size() + opt_bytes->size()) / 1e6;
  auto t2 = Clock::now();
  Check(ckpt.Commit(1, files));
  double save_s = Seconds(t2);
  auto t3 = Clock::now();
  auto loaded = ckpt.Load(1);
  if (!loaded.ok()) Check(loaded.status());
  double load_s = Seconds(t3);
  std::printf(
      "checkpoint of %.1f MB (adapter + AdamW moments): save %.3f s (fsync'd, manifest "
      "last), load + verify %.3f s\n",
      mb, save_s, load_s);
  std::system(("rm -rf '" + tmp + "'").c_str());
  return 0;
}
