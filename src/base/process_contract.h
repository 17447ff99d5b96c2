// The process contract: what crosses a process boundary other than the run's bucket. Exit codes
// that one Baton process reads from another (the local fleet reaps `baton agent`, systemd
// restarts it, the chaos tests kill it), and every BATON_* environment variable: who sets it, who
// reads it. This header is the only place their names and values are spelled (the bucket's names
// live in run/layout.h); code asks GetEnvVar/SetEnvVar, never getenv("BATON_...").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace baton {

// --- exit codes of `baton` -------------------------------------------------------------------
inline constexpr int kExitOk = 0;        // done: the run completed, or it checkpointed on a stop
inline constexpr int kExitError = 1;     // a failure; the message says which
inline constexpr int kExitUsage = 2;     // bad flags, job file or arguments (InvalidArgument)
inline constexpr int kExitFenced = 3;    // a newer attempt holds the run lease; nothing was written
inline constexpr int kExitKilled = 137;  // a kill point fired (what SIGKILL looks like to a shell)

// --- environment variables -------------------------------------------------------------------
enum class EnvVar {
  // Set by a fleet provider for the `baton agent` it starts (LocalProvider::Spawn, cloud-init).
  kInstanceId,    // the instance's id: heartbeats, lease holder; default: the host name
  kBilling,       // "spot" | "on-demand": reported in heartbeats
  kCloud,         // whose preemption notices to watch (overrides the job's agent.cloud)
  kMetadataUrl,   // base URL of the instance metadata service (tests: a local fake)
  kNoticePollMs,  // notice polling period in ms (the local fleet compresses time)
  kHandoff,       // "1": make-before-break hand-off (wait for the holder before taking the run)
  kCacheDir,      // the model/dataset cache (default ~/.cache/baton)
  // Set by the agent for the trainer command it supervises.
  kResumeFrom,  // the checkpoint to resume from, "" for a fresh start
  // Knobs read by the library.
  kS3Addressing,    // "path" | "virtual" for s3:// stores (the URL's addressing= wins)
  kThreads,         // CPU backend threads (default 2)
  kGemm,            // CPU backend GEMM: "blas" (default) or "naive"
  kKillAt,          // kill points to die at: "name" or "name:K", comma-separated (tests)
  kAliyunEndpoint,  // base URL for Alibaba's ECS and ESS OpenAPI (tests: a loopback fake)
  // Knobs read by the tests only.
  kKeepTmp,          // keep the tests' scratch folders
  kTestS3Endpoint,   // an external S3 server for the S3 store tests
  kTestS3Bucket,     // and its bucket
  kTokenizerCorpus,  // another corpus for the tokenizer-vs-node test
  kTestSourceDir,    // the source tree whose files the tests read (default: the one CMake saw);
                     // scripts/gpu_check.sh points it at the copy in its bundle
  kGpuRequired,      // "1": a GPU test fails, rather than skips, where no GPU is visible
  kSkipMoto,         // "1": the moto (AWS) tests skip, rather than fail, where moto is missing
};

struct EnvVarInfo {
  EnvVar var;
  std::string_view name;
};

inline constexpr EnvVarInfo kEnvVars[] = {
    {EnvVar::kInstanceId, "BATON_INSTANCE_ID"},
    {EnvVar::kBilling, "BATON_BILLING"},
    {EnvVar::kCloud, "BATON_CLOUD"},
    {EnvVar::kMetadataUrl, "BATON_METADATA_URL"},
    {EnvVar::kNoticePollMs, "BATON_NOTICE_POLL_MS"},
    {EnvVar::kHandoff, "BATON_HANDOFF"},
    {EnvVar::kCacheDir, "BATON_CACHE_DIR"},
    {EnvVar::kResumeFrom, "BATON_RESUME_FROM"},
    {EnvVar::kS3Addressing, "BATON_S3_ADDRESSING"},
    {EnvVar::kThreads, "BATON_THREADS"},
    {EnvVar::kGemm, "BATON_GEMM"},
    {EnvVar::kKillAt, "BATON_KILL_AT"},
    {EnvVar::kAliyunEndpoint, "BATON_ALIYUN_ENDPOINT"},
    {EnvVar::kKeepTmp, "BATON_KEEP_TMP"},
    {EnvVar::kTestS3Endpoint, "BATON_TEST_S3_ENDPOINT"},
    {EnvVar::kTestS3Bucket, "BATON_TEST_S3_BUCKET"},
    {EnvVar::kTokenizerCorpus, "BATON_TOKENIZER_CORPUS"},
    {EnvVar::kTestSourceDir, "BATON_TEST_SOURCE_DIR"},
    {EnvVar::kGpuRequired, "BATON_GPU_REQUIRED"},
    {EnvVar::kSkipMoto, "BATON_SKIP_MOTO"},
};

// "BATON_CACHE_DIR" for EnvVar::kCacheDir (for messages, help texts and the unit files we write).
const char* EnvVarName(EnvVar var);

// The variable's value; nullopt when it is unset or empty (an empty value means "not given").
std::optional<std::string> GetEnvVar(EnvVar var);
// Sets (value given) or removes (nullopt) the variable in this process, for a child about to be
// exec'd and for tests.
void SetEnvVar(EnvVar var, const std::optional<std::string>& value);

}  // namespace baton
