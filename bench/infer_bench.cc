// Inference throughput on the CPU: prefill and decode tokens/s of a model folder (default: the
// tiny demo preset with random weights, written to a temp folder), with the OpenBLAS backend and
// with the naive reference backend as the baseline.
//
//   build/infer_bench [--model DIR] [--preset NAME] [--prompt N] [--new N] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/cpu_backend.h"
#include "model/generate.h"
#include "model/init_model.h"

using namespace baton;

namespace {

struct Figures {
  double load_s, prefill_tps, decode_tps;
};

Figures Measure(const std::string& dir, CpuBackendOptions opts, int prompt_len, int new_tokens) {
  auto backend = MakeCpuBackend(opts);
  auto t0 = std::chrono::steady_clock::now();
  auto model = Transformer::Load(Env::Default(), dir, backend.get());
  double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    std::exit(1);
  }
  std::vector<int32_t> prompt(prompt_len);
  for (int i = 0; i < prompt_len; ++i) prompt[i] = (i * 7919 + 13) % 1000 + 100;
  GenerationOptions g;
  g.max_new_tokens = new_tokens;
  auto r = Generate(**model, prompt, g);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return {load, prompt_len / r->prefill_seconds, (r->tokens.size() - 1) / r->decode_seconds};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, preset = "tiny";
  int prompt_len = 128, new_tokens = 64, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--model")
      model = argv[i + 1];
    else if (k == "--preset")
      preset = argv[i + 1];
    else if (k == "--prompt")
      prompt_len = std::atoi(argv[i + 1]);
    else if (k == "--new")
      new_tokens = std::atoi(argv[i + 1]);
    else if (k == "--threads")
      threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  std::string tmp;
  if (model.empty()) {
    char tmpl[] = "/tmp/baton_bench_XXXXXX";
    tmp = mkdtemp(tmpl);
    model = tmp + "/model";
    auto config = ModelPreset(preset, 0);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
      return 2;
    }
    std::printf("writing preset '%s' with random weights: %s\n", preset.c_str(),
                config->Summary().c_str());
    Status s = WriteRandomModel(Env::Default(), *config, {}, model);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("prompt %d tokens, %d new tokens, batch 1, f32\n", prompt_len, new_tokens);
  std::printf("%-28s %10s %16s %16s\n", "backend", "load s", "prefill tok/s", "decode tok/s");
  Figures blas = Measure(model, {CpuGemm::kBlas, threads}, prompt_len, new_tokens);
  std::printf("%-28s %10.3f %16.1f %16.1f\n",
              ("cpu-openblas, " + std::to_string(threads) + " threads").c_str(), blas.load_s,
              blas.prefill_tps, blas.decode_tps);
  Figures naive = Measure(model, {CpuGemm::kNaive, 1}, prompt_len, new_tokens);
  std::printf("%-28s %10.3f %16.1f %16.1f\n", "cpu-naive (baseline)", naive.load_s,
              naive.prefill_tps, naive.decode_tps);
  std::printf("ratio openblas / naive: prefill %.1fx, decode %.1fx\n",
              blas.prefill_tps / naive.prefill_tps, blas.decode_tps / naive.decode_tps);
  if (!tmp.empty()) std::system(("rm -rf '" + tmp + "'").c_str());
  return 0;
}
