// Loading a bf16 model for a GPU: wall time and peak host memory (peak RSS) of
// Transformer::Load's weight path, against the model file's size, for
//  - "stream": each tensor from the mapped file to the device in its own dtype, file pages
//    released after each (what the CUDA backend gets since issue 19);
//  - "host-f32": every weight converted to f32 on the host first (what the CPU backend needs,
//    and what the GPU path did before: 2x the file in host memory), run only when it fits in
//    the memory available, else reported as the memory it would need.
// Without a GPU (or with --device staging) the device is tests/staging_device.h in its discard
// mode: each copy reads every source byte (faulting the file's pages in, as a DMA would) and
// keeps none, so the figures are the host side of the load alone; with
// --device cuda (a CUDA build on a GPU machine) the copies go to the GPU. Each mode runs in a
// fresh child process so its peak RSS is its own. Times depend on the page cache: a model that
// fits in it (just written, or read by the first mode) loads at memory speed, one that does not
// (a 7B model on a small machine) at disk speed.
//
//   build/model_load_bench [--preset qwen2-7b] [--dir DIR] [--device staging|cuda]
//
// The model (random bf16 weights, the preset's shapes) is written to DIR first when DIR has no
// config.json (default: $TMPDIR/baton-load-bench-<preset>, kept for the next run; 15 GB for
// qwen2-7b).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "kernels/backend_factory.h"
#include "model/init_model.h"
#include "model/weights.h"
#include "staging_device.h"

using namespace baton;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "model_load_bench: %s\n", what.c_str());
  std::exit(1);
}

double GiB(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// MemAvailable from /proc/meminfo, in bytes (0 when unknown).
double MemAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (in >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

struct Measured {
  double seconds = 0;
  double peak_rss = 0;  // bytes
  double device_bytes = 0;
  char error[256] = {};
};

// Loads the weights of `dir` the way `mode` says, in a child process; its wall time and peak RSS.
Measured MeasureInChild(const std::string& dir, const std::string& mode,
                        const std::string& device) {
  int fds[2];
  if (pipe(fds) != 0) Die("pipe failed");
  pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    close(fds[0]);
    Measured m;
    auto fail = [&](const Status& s) {
      std::snprintf(m.error, sizeof(m.error), "%s", s.ToString().c_str());
      (void)!write(fds[1], &m, sizeof(m));
      _exit(1);
    };
    Env* env = Env::Default();
    auto t0 = Clock::now();
    Result<ModelConfig> c = ModelConfig::Load(env, dir);
    if (!c.ok()) fail(c.status());
    Result<WeightSet> set = WeightSet::Open(env, dir);
    if (!set.ok()) fail(set.status());
    std::unique_ptr<Backend> backend;
    if (mode == "stream") {
      if (device == "cuda") {
        Result<std::unique_ptr<Backend>> b = MakeBackend("cuda", DType::kF32);
        if (!b.ok()) fail(b.status());
        backend = std::move(b).value();
      } else {
        backend = std::make_unique<StagingDevice>(StagingDevice::Mode::kDiscard);
      }
    }
    Result<ModelWeights> w = LoadWeights(*c, *set, backend.get());
    if (!w.ok()) fail(w.status());
    if (backend) {
      Status s = backend->Synchronize();
      if (!s.ok()) fail(s);
      m.device_bytes = backend->PeakDeviceBytes().value_or(0);
      if (auto* staging = dynamic_cast<StagingDevice*>(backend.get())) {
        m.device_bytes = static_cast<double>(staging->bytes());
      }
    }
    m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    m.peak_rss = ru.ru_maxrss * 1024.0;
    (void)!write(fds[1], &m, sizeof(m));
    _exit(0);
  }
  close(fds[1]);
  Measured m;
  ssize_t n = read(fds[0], &m, sizeof(m));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != static_cast<ssize_t>(sizeof(m))) {
    std::snprintf(m.error, sizeof(m.error), "the child died (%s %d) before reporting",
                  WIFSIGNALED(status) ? "signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "qwen2-7b", dir, device = "staging";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--preset") {
      preset = value();
    } else if (a == "--dir") {
      dir = value();
    } else if (a == "--device") {
      device = value();
      if (device != "staging" && device != "cuda") Die("--device: staging or cuda");
    } else {
      Die("unknown flag " + a + " (--preset NAME, --dir DIR, --device staging|cuda)");
    }
  }
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/baton-load-bench-" + preset;
  }
  Env* env = Env::Default();
  if (!env->FileExists(dir + "/config.json")) {
    Result<ModelConfig> c = ModelPreset(preset, 0);
    if (!c.ok()) Die(c.status().ToString());
    InitModelOptions o;
    o.dtype = DType::kBF16;
    std::printf("writing a random bf16 %s model to %s (once; kept for the next run) ...\n",
                preset.c_str(), dir.c_str());
    std::fflush(stdout);
    auto t0 = Clock::now();
    Status s = WriteRandomModel(env, *c, o, dir);
    if (!s.ok()) Die(s.ToString());
    std::printf("  written in %.0f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  }
  Result<WeightSet> set = WeightSet::Open(env, dir);
  if (!set.ok()) Die(set.status().ToString());
  Result<ModelConfig> config = ModelConfig::Load(env, dir);
  if (!config.ok()) Die(config.status().ToString());
  double file_bytes = 0, largest = 0;
  for (const std::string& name : set->Names()) {
    double b = static_cast<double>(set->Get(name)->nbytes());
    file_bytes += b;
    largest = std::max(largest, b);
  }
  std::printf("model: %s, %s, %.2f GiB of tensors (%s); device: %s\n", dir.c_str(),
              config->Summary().c_str(), GiB(file_bytes), set->Describe().c_str(),
              device == "cuda"
                  ? "the GPU (CUDA backend)"
                  : "staging (reads each byte, keeps none: the host side of a GPU load)");
  std::printf("%-9s %9s %14s %14s %12s\n", "mode", "seconds", "peak RSS GiB", "x file size",
              "device GiB");
  double stream_rss = 0, f32_rss = 0;
  for (const char* mode : {"stream", "host-f32"}) {
    if (std::strcmp(mode, "host-f32") == 0) {
      double need = 2 * file_bytes, avail = MemAvailable();
      if (avail > 0 && need > 0.9 * avail) {
        std::printf("%-9s %9s %14.2f %14s %12s  (not run: needs ~%.1f GiB, %.1f GiB available)\n",
                    mode, "-", GiB(need), "2.00 (est.)", "-", GiB(need), GiB(avail));
        f32_rss = -need;
        continue;
      }
    }
    Measured m = MeasureInChild(dir, mode, device);
    if (m.error[0] != '\0') Die(std::string(mode) + ": " + m.error);
    std::printf("%-9s %9.2f %14.2f %14.2f %12.2f\n", mode, m.seconds, GiB(m.peak_rss),
                m.peak_rss / file_bytes, GiB(m.device_bytes));
    std::fflush(stdout);
    (std::strcmp(mode, "stream") == 0 ? stream_rss : f32_rss) = m.peak_rss;
  }
  std::printf(
      "stream: peak host memory %.2f GiB, %.0f%% of the file (its largest tensor is %.2f GiB); "
      "host-f32: %s%.2f GiB, %.1fx stream's\n",
      GiB(stream_rss), 100.0 * stream_rss / file_bytes, GiB(largest),
      f32_rss < 0 ? "would need " : "", GiB(std::fabs(f32_rss)), std::fabs(f32_rss) / stream_rss);
  return 0;
}
