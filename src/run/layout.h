// The run's layout: every name in the run's bucket (its folder on a store), and the documents
// that the trainer, the agent and the fleet controller exchange through it. The bucket is the
// only state those processes share, so this header is the contract between them (in the spirit
// of leveldb's db/filename.h): code elsewhere asks it for names and reads and writes these
// documents only through the one writer and one parser each has here.
//
//   <run>/checkpoint-<step>/                  a checkpoint (ckpt/checkpoint_manager.h):
//         adapter_model.safetensors            LoRA weights, PEFT's format (model/lora.h)
//         adapter_config.json                  PEFT's adapter config
//         optimizer.safetensors                AdamW moments (+ a partial gradient accumulation)
//         trainer_state.json                   where training stands (train/trainer_state.h)
//         args.json                            ms-swift's run arguments (train/swift_args.h);
//                                              absent in checkpoints of older Baton versions
//         MANIFEST.json                        sizes and digests, written last (ckpt/manifest.h)
//   <run>/checkpoint-<step>.partial-<nonce>/  a leftover of an interrupted commit (only these
//                                             and exact checkpoint-<step> folders are Baton's:
//                                             gc and retention touch nothing else)
//   <run>/lease.json                          the run lease: fencing (ckpt/lease.h)
//   <run>/logging.jsonl                       ms-swift's log lines (train/run_log.h)
//   <run>/COMPLETE                            the completion marker: the run is done
//   <run>/agents/<instance>.json              each agent's heartbeat
//   <run>/fleet/scale-to-zero.json            an agent asks the fleet for capacity 0 (done)
//   <run>/fleet/stop/<instance>.json          the fleet asks one agent to checkpoint and stop
//   <run>/fleet/rebalance/<instance>.json     an agent reports AWS's rebalance recommendation
//   <run>/fleet/job.yaml                      the job a cloud fleet's instances run (fleet up)
//   <run>/fleet/ledger.json                   the fleet's instances and resources, billed
//   <run>/fleet/events.json                   the controller's last events (for `baton ui`)
//
// Every document carries "format" and "version"; fields are only ever appended, so a parser
// accepts any version >= 1 of its own format and rejects other formats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "model/peft_names.h"
#include "store/store.h"

namespace baton {

// --- names -----------------------------------------------------------------------------------

// Files of a checkpoint folder.
inline constexpr const char* kAdapterWeightsFile = kPeftWeightsFile;  // a PEFT adapter folder
inline constexpr const char* kAdapterConfigFile = kPeftConfigFile;
inline constexpr char kOptimizerFile[] = "optimizer.safetensors";
inline constexpr char kTrainerStateFile[] = "trainer_state.json";
// ms-swift's args.json: `swift infer/export --adapters checkpoint-N` read the base model and the
// template from it. Optional: checkpoints written before it existed stay valid.
inline constexpr char kSwiftArgsFile[] = "args.json";
inline constexpr std::string_view kManifestName = "MANIFEST.json";

// Objects of the run's folder.
inline constexpr std::string_view kCompleteMarkerName = "COMPLETE";
inline constexpr char kLeaseName[] = "lease.json";
inline constexpr char kRunLogName[] = "logging.jsonl";
inline constexpr char kScaleToZeroKey[] = "fleet/scale-to-zero.json";
inline constexpr char kFleetJobKey[] = "fleet/job.yaml";
inline constexpr char kFleetLedgerKey[] = "fleet/ledger.json";
// What `baton train` draws when the run completes (view/): ms-swift's plots, images/<tag>.png, and
// the run's page with its data inlined.
inline constexpr char kImagesFolder[] = "images/";
inline constexpr char kReportPageName[] = "report.html";
inline constexpr char kFleetEventsKey[] = "fleet/events.json";

// "checkpoint-<step>", the name HF/ms-swift use, so PEFT and vLLM find adapters where they look.
std::string CheckpointDir(int64_t step);
// The step of a checkpoint folder name: "checkpoint-12" -> 12. Names that are anything else
// ("checkpoint-12.partial-ab", "checkpoint-012", "checkpoint-", "runs") -> nullopt, so that each
// step has exactly one folder name.
std::optional<int64_t> ParseCheckpointDir(std::string_view name);
// "checkpoint-<step>.partial-<nonce>": where a filesystem commit stages a checkpoint before the
// rename; a leftover of an interrupted commit when found later. `nonce` is lower-case hex.
std::string StagingDir(int64_t step, std::string_view nonce);
// The step of a leftover folder name: "checkpoint-12.partial-ab" -> 12, and the file store's
// move-aside of one, "checkpoint-12.partial-ab.replaced-<pid>-<n>" -> 12. Anything else
// ("checkpoint-12.bak", "checkpoint-12.partial-mine", "checkpoint-12.old.partial-ab") ->
// nullopt: a user's folder, which nothing may delete.
std::optional<int64_t> ParseLeftoverDir(std::string_view name);
// The step of the checkpoint a path, key or URL ends in: ".../run/checkpoint-12" -> 12.
std::optional<int64_t> ParseCheckpointPath(std::string_view path);

// agents/<instance>.json. Instance ids are single path segments: no '/', not "." or "..".
std::string HeartbeatKey(std::string_view instance);
// fleet/stop/<instance>.json.
std::string StopRequestKey(std::string_view instance);
// Whether `instance` can name an object of the run (base/strings.h ValidatePathSegment).
Status ValidateInstanceId(std::string_view instance);

// Whether `key` (relative to the run's folder) is an object Baton writes into a run: anything in
// a checkpoint-<step>/ or leftover folder, lease.json, logging.jsonl, COMPLETE, a heartbeat, the
// fleet's documents above, the plots images/<name>.png and report.html. A user's files beside them
// ("notes.txt", "checkpoint-5.bak/") are not.
bool IsRunKey(std::string_view key);
// Deletes every object of the run that IsRunKey names, and nothing else (`baton run --fresh`):
// a store that points at the wrong folder loses nothing that is not Baton's. Returns the number
// of other objects it left there.
Result<size_t> DeleteRunObjects(Store* store);

// --- the completion marker (COMPLETE) --------------------------------------------------------

// Written once, by whoever saw the run finish: the trainer after its final checkpoint and log
// line, or the agent when a supervised external trainer exited 0. Its presence is what counts;
// an empty file (`touch COMPLETE`) is a valid marker that says nothing more.
struct CompleteMarker {
  std::optional<int64_t> global_step;                // absent for an external trainer
  std::optional<std::string> last_model_checkpoint;  // "checkpoint-<step>"
  std::optional<std::string> best_model_checkpoint;
  bool external = false;  // an external trainer finished; Baton did not see its checkpoints

  std::string Serialize() const;
  // An empty text is a marker without facts.
  static Result<CompleteMarker> Parse(std::string_view text, const std::string& source);
};

// True when the run's COMPLETE marker exists, false when the store says it does not; any other
// store error (unreachable bucket, denied) is returned as an error, never read as "not complete".
Result<bool> IsComplete(Store* store);
Status WriteCompleteMarker(Store* store, const CompleteMarker& marker);
// The marker, nullopt when there is none.
Result<std::optional<CompleteMarker>> ReadCompleteMarker(Store* store);

// --- heartbeats (agents/<instance>.json) -----------------------------------------------------

// What an agent is doing. kStopped, kFenced, kFailed and kComplete are final: the agent wrote its
// last heartbeat and exits (the make-before-break hand-off waits for one of them).
enum class AgentState { kLoading, kStandby, kTraining, kStopped, kFenced, kFailed, kComplete };
const char* AgentStateName(AgentState state);  // "loading", "standby", ...
Result<AgentState> ParseAgentState(std::string_view name);
bool IsFinalAgentState(AgentState state);

// Where an agent's time went from `baton agent` start to its first training step, in seconds
// (issue 21: what a replacement instance's minutes are spent on). The parts do not overlap;
// total minus their sum is the rest (the job and store opened, the lease, a hand-off's wait).
struct ColdStart {
  double total = 0;
  double download = 0;  // model and datasets fetched into the cache (digests computed on the way)
  double digest = 0;    // digests of the files the cache held already (a warm cache)
  double load = 0;      // model weights and tokenizer read
  double data = 0;      // datasets read, rendered and tokenised
  double resume = 0;    // the lease taken, the newest valid checkpoint found, checked, restored

  // "cold start 61.2 s to the first step: download 40.2 s, digest 1.1 s, load 9.0 s, data
  // 3.2 s, resume 0.4 s, other 7.3 s".
  std::string Describe() const;
};

struct Heartbeat {
  std::string run;
  std::string instance;
  std::string billing;  // "spot", "on-demand" or ""
  AgentState state = AgentState::kLoading;
  int64_t pid = 0;
  int64_t started_unix_ms = 0;
  int64_t updated_unix_ms = 0;
  std::optional<int64_t> global_step;
  std::optional<int64_t> max_steps;
  std::optional<int64_t> resumed_step;  // the step this agent's training started from
  std::optional<double> tokens_per_second;
  std::string last_checkpoint;  // where the newest checkpoint is ("" before the first)
  std::optional<double> stop_to_checkpoint_seconds;  // a stop's checkpoint took this long
  std::optional<ColdStart> cold_start;               // once training started ("cold_start": {...})

  std::string Serialize() const;
  static Result<Heartbeat> Parse(std::string_view text, const std::string& source);
};

Status WriteHeartbeat(Store* store, const Heartbeat& heartbeat);
// The heartbeat of `instance`, nullopt when it has none. A document that does not parse (a write
// in progress on a store without atomic puts, a foreign file) is a Corruption error.
Result<std::optional<Heartbeat>> ReadHeartbeat(Store* store, std::string_view instance);
// The instances that have a heartbeat (agents/<instance>.json), sorted; other keys under
// agents/ are not Baton's and are left out.
Result<std::vector<std::string>> ListHeartbeatInstances(Store* store);

// --- requests through the bucket -------------------------------------------------------------

// fleet/scale-to-zero.json: the agent that saw the run complete asks the fleet to set the
// group's desired capacity to 0 (job hooks.scale_to_zero); the controller acts on it. `baton
// fleet down` and a budget stop write one too (instance "fleet", reason "down" / "budget"), so a
// controller still running elsewhere stops launching.
struct ScaleToZeroRequest {
  std::string instance;
  std::string reason = "complete";
  int64_t unix_ms = 0;

  std::string Serialize() const;
  static Result<ScaleToZeroRequest> Parse(std::string_view text, const std::string& source);
};
Status WriteScaleToZeroRequest(Store* store, const ScaleToZeroRequest& request);
Result<bool> ScaleToZeroRequested(Store* store);
// The request, nullopt when there is none.
Result<std::optional<ScaleToZeroRequest>> ReadScaleToZeroRequest(Store* store);
// Lifts a request (`baton fleet up` after a `fleet down` or a budget stop); none: Ok.
Status DeleteScaleToZeroRequest(Store* store);

// fleet/stop/<instance>.json: the fleet asks one agent to checkpoint and stop (as a preemption
// notice would) where it cannot signal the process itself: instances on a cloud. The agent
// polls for it with its heartbeat and deletes nothing; the fleet deletes it when the instance
// is gone.
struct StopRequest {
  std::string instance;
  std::string reason;  // for the agent's log: "scale down", "switch to spot", ...
  int64_t unix_ms = 0;

  std::string Serialize() const;
  static Result<StopRequest> Parse(std::string_view text, const std::string& source);
};
Status WriteStopRequest(Store* store, const StopRequest& request);
Result<std::optional<StopRequest>> ReadStopRequest(Store* store, std::string_view instance);
Status DeleteStopRequest(Store* store, std::string_view instance);

// --- the fleet's ledger (fleet/ledger.json) --------------------------------------------------

// What a fleet launched and made for the run, written by its one controller whenever that
// changes: by a cloud fleet (`baton fleet up`), whose restarted controller, `fleet status` and
// `fleet down` read it (a cloud forgets released instances, so the ledger is where their bill is
// kept), and by `baton run`'s local fleet (provider "local"), so that `baton ui` sees every run's
// instances in its bucket alone.
struct LedgerInstance {
  std::string id;        // the cloud's instance id
  std::string offer;     // fleet::Offer::Name(): "type@zone/spot"
  bool handoff = false;  // launched to take over (make-before-break)
  int64_t launched_unix_ms = 0;
  int64_t running_unix_ms = 0;  // began training (0: never)
  int64_t stop_unix_ms = 0;     // the fleet asked it to stop (0: never)
  int64_t notice_unix_ms = 0;   // the cloud gave notice of a reclaim (0: never)
  int64_t ended_unix_ms = 0;    // released (0: alive)
  std::string end_reason;       // fleet::EndReasonName, "" while alive
  std::string detail;
  double billed_cost = -1;     // from the cloud's spot price history once ended; -1: offer price
  int64_t delete_unix_ms = 0;  // the fleet asked the cloud to delete it (0: never); saved first
};

struct FleetLedger {
  std::string run;
  std::string provider;  // "aliyun" | "aliyun-ess" | "local"
  std::string region;
  int64_t started_unix_ms = 0;  // the run's time 0
  std::vector<LedgerInstance> instances;
  // Named resources `up` created and `down` deletes: "scaling_group_id", ...
  std::vector<std::pair<std::string, std::string>> resources;
  std::string stopped_reason;  // set when the fleet stopped the run ("budget", "down")
  // The job's fleet section as JSON (offers and prices, overheads, time_scale), so that a reader
  // of the bucket alone can bill the instances (`baton ui`); null when the writer gave none.
  Json fleet_spec;

  std::string Serialize() const;
  static Result<FleetLedger> Parse(std::string_view text, const std::string& source);
  std::string Resource(std::string_view name) const;                    // "" when absent
  void SetResource(const std::string& name, const std::string& value);  // "" removes it
};
Status WriteFleetLedger(Store* store, const FleetLedger& ledger);
Result<std::optional<FleetLedger>> ReadFleetLedger(Store* store);

// fleet/rebalance/<instance>.json: the instance's agent saw AWS's rebalance recommendation (an
// elevated risk of interruption, with no deadline) and tells the fleet, which cannot read an
// instance's metadata: a cloud controller then moves the run off that offer make-before-break.
// Written once by the agent; read by the fleet; removed with the run (IsRunKey).
struct RebalanceReport {
  std::string instance;
  std::string reason;  // the recommendation as the agent saw it
  int64_t unix_ms = 0;

  std::string Serialize() const;
  static Result<RebalanceReport> Parse(std::string_view text, const std::string& source);
};
Status WriteRebalanceReport(Store* store, const RebalanceReport& report);
Result<std::optional<RebalanceReport>> ReadRebalanceReport(Store* store, std::string_view instance);

// --- the fleet's last events (fleet/events.json) ---------------------------------------------

// The controller's event lines ("t=0:05 spot-first: launching ..."), the newest kMaxEvents of
// them, rewritten whole with each new one (events are few: launches, notices, ends). Only for
// people (`baton ui`): no process decides anything from it.
struct RunEvent {
  int64_t unix_ms = 0;
  std::string text;
};
struct RunEvents {
  static constexpr size_t kMaxEvents = 200;
  std::vector<RunEvent> events;  // oldest first

  std::string Serialize() const;
  static Result<RunEvents> Parse(std::string_view text, const std::string& source);
};
Status WriteRunEvents(Store* store, const RunEvents& events);
// The events, nullopt when there are none.
Result<std::optional<RunEvents>> ReadRunEvents(Store* store);

}  // namespace baton
