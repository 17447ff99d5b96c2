// Checkpoint save and load time on S3 for a 7B-sized LoRA state, against a local S3 server.
//
// The state is what `baton train` commits for Qwen2-7B with LoRA r8 on all linear layers:
// 20.2 M trainable parameters -> adapter 80.7 MB (f32) + AdamW moments 161.5 MB + trainer state,
// about 242 MB. It goes through the checkpoint protocol (parts, then MANIFEST.json, multipart
// above the threshold; load = newest valid checkpoint with every digest re-checked) to:
//   - s3rver (npm) started here on loopback, or the server given by --endpoint/--bucket
//     (credentials from the environment), and
//   - a local folder (FileStore: temp, fsync, rename), the baseline.
// Usage: s3_ckpt_bench [--mb 242] [--reps 3] [--endpoint URL --bucket B] [--part_size 16MiB]
// Each figure is the median of --reps runs (the best of a few runs flatters what a user sees).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "base/env.h"
#include "ckpt/checkpoint_manager.h"
#include "s3_test_server.h"
#include "store/store.h"

using namespace baton;
using Clock = std::chrono::steady_clock;

namespace {

std::string Random(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  std::mt19937_64 g(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = g();
    std::memcpy(&s[i], &x, 8);
  }
  return s;
}

double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr char kUsage[] =
    "usage: s3_ckpt_bench [--mb 242] [--reps 3] [--endpoint URL --bucket B] [--part_size 16MiB]\n"
    "  Saves and loads a LoRA checkpoint of --mb MB through the checkpoint protocol, on S3\n"
    "  (s3rver started here, or --endpoint) and in a local folder; prints the median of --reps.\n";

struct Timing {
  double save = 0, load = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Timing Measure(Store* store, const std::vector<std::pair<std::string, std::string>>& files,
               int reps) {
  std::vector<double> saves, loads;
  CheckpointManager m(store, "bench");
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    Status s = m.Commit(100 + r, files);
    if (!s.ok()) {
      std::fprintf(stderr, "commit failed: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    saves.push_back(Secs(t0));
    t0 = Clock::now();
    auto latest = m.LatestValid();
    if (!latest.ok() || !latest->has_value()) {
      std::fprintf(stderr, "no valid checkpoint after commit\n");
      std::exit(1);
    }
    auto loaded = m.Load(**latest);
    if (!loaded.ok() || (*loaded)["adapter_model.safetensors"] != files[0].second) {
      std::fprintf(stderr, "load failed or differs\n");
      std::exit(1);
    }
    loads.push_back(Secs(t0));
  }
  (void)store->DeletePrefix("bench/");
  return {Median(saves), Median(loads)};
}

}  // namespace

int main(int argc, char** argv) {
  double mb = 242;
  int reps = 3;
  std::string endpoint, bucket = "bkt", part_size = "16MiB";
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    std::string v = argv[i + 1];
    if (a == "--mb")
      mb = std::stod(v);
    else if (a == "--reps")
      reps = std::stoi(v);
    else if (a == "--endpoint")
      endpoint = v;
    else if (a == "--bucket")
      bucket = v;
    else if (a == "--part_size")
      part_size = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  std::unique_ptr<testing::S3rver> server;
  if (endpoint.empty()) {
    server = std::make_unique<testing::S3rver>(bucket);
    if (!server->ok()) {
      std::fprintf(stderr, "s3rver did not start (run ./scripts/setup.sh)\n");
      return 1;
    }
    endpoint = server->endpoint();
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  }
  setenv("AWS_EC2_METADATA_DISABLED", "true", 0);
  // The adapter is one third, the two AdamW moments two thirds of the state.
  size_t adapter = static_cast<size_t>(mb * 1e6 / 3);
  std::vector<std::pair<std::string, std::string>> files = {
      {"adapter_model.safetensors", Random(adapter, 1)},
      {"adapter_config.json", "{\"r\": 8, \"lora_alpha\": 32, \"target_modules\": \"all-linear\"}"},
      {"optimizer.safetensors", Random(2 * adapter, 2)},
      {"trainer_state.json", "{\"global_step\": 100}"}};
  double total = 0;
  for (auto& f : files) total += f.second.size();
  if (reps < 1) {
    std::fprintf(stderr, "--reps must be at least 1\n");
    return 2;
  }
  std::printf("checkpoint: %.1f MB in %zu files, median of %d\n", total / 1e6, files.size(), reps);

  std::string url = "s3://" + bucket + "/s3bench?endpoint=" + endpoint + "&part_size=" + part_size;
  auto s3 = OpenStore(url);
  if (!s3.ok()) {
    std::fprintf(stderr, "%s\n", s3.status().ToString().c_str());
    return 1;
  }
  Timing t = Measure(s3->get(), files, reps);
  std::printf("s3 (%s, part %s): save %.2f s (%.0f MB/s), load+verify %.2f s (%.0f MB/s)\n",
              endpoint.c_str(), part_size.c_str(), t.save, total / 1e6 / t.save, t.load,
              total / 1e6 / t.load);

  char tmpl[] = "/tmp/baton_s3bench_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto local = OpenStore(dir);
  Timing l = Measure(local->get(), files, reps);
  (void)Env::Default()->DeleteRecursively(dir);
  std::printf("local folder (baseline): save %.2f s (%.0f MB/s), load+verify %.2f s (%.0f MB/s)\n",
              l.save, total / 1e6 / l.save, l.load, total / 1e6 / l.load);
  std::printf("ratio s3/local: save %.1fx, load %.1fx\n", t.save / l.save, t.load / l.load);
  return 0;
}
