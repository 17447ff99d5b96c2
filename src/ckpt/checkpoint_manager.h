// CheckpointManager: the checkpoint protocol of DESIGN.md over any Store, for one run prefix.
//
// Commit uploads every file, then MANIFEST.json (sizes and XXH3-64 digests) last. A checkpoint
// is valid only if its manifest parses, names the step of its folder, every file it lists is
// there with that size and digest, and the folder holds no file it does not list; so an interrupted
// commit (no manifest, or files that do not match it) can never be taken for a valid one, on any
// store. Where the store can rename folders (a filesystem), the files and manifest go to
// "checkpoint-N.partial-<nonce>/" first and the folder is renamed into place, so readers never even
// see a half-written checkpoint-N.
//
// Nothing here is thread-safe; one process commits to a run at a time (the run lease sees to
// that). Errors of the store (I/O, permissions) are returned as errors, never taken as "this
// checkpoint is invalid", so a flaky store cannot make Retain or DeleteInvalid delete good data.
// Only folders of Baton's names are ever deleted (exact checkpoint-<step>/ and leftovers), and
// keys a store lists outside the asked-for prefix are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "store/store.h"

namespace baton {

enum class CheckpointState {
  kValid,
  kInvalid,     // has a manifest, but it or the files do not check out
  kIncomplete,  // no manifest: being written, or a commit that was interrupted
};
const char* CheckpointStateName(CheckpointState state);  // "valid", "invalid", "incomplete"

// How far List/Check look: sizes need one Head per file, digests read every byte.
enum class Verify { kSizes, kDigests };

struct CheckpointInfo {
  int64_t step = 0;
  std::string prefix;  // store key of the folder, ending in '/': "run1/checkpoint-5/"
  CheckpointState state = CheckpointState::kIncomplete;
  std::string reason;        // why it is not valid; empty when valid
  uint64_t total_bytes = 0;  // all objects found in the folder, the manifest included
  int64_t num_files = 0;     // objects found in the folder, the manifest included
};

// A "checkpoint-N.partial-<nonce>/" folder (run/layout.h ParseLeftoverDir): what an interrupted
// commit or replacement left. Other folders ("checkpoint-5.bak/") are the user's: never listed
// as leftovers, never deleted.
struct LeftoverInfo {
  int64_t step = 0;
  std::string prefix;
  uint64_t total_bytes = 0;
};

class CheckpointManager {
 public:
  // `run_prefix` is the run's folder in the store ("" when the store is the run folder). `store`
  // and `env` (clock and nonces) must outlive the manager.
  CheckpointManager(Store* store, std::string run_prefix, Env* env = Env::Default());

  // Writes checkpoint `step` holding `files` (name -> bytes; names may not repeat). An existing
  // checkpoint of that step is replaced: atomically on a filesystem store, and elsewhere by first
  // deleting its manifest, so it turns incomplete rather than ever mixing old and new files.
  // On error the new checkpoint is not valid, and no other checkpoint was touched.
  Status Commit(int64_t step, const std::vector<std::pair<std::string, std::string>>& files);

  // Fencing (the run lease): `fence` is called at the start of every Commit, before anything is
  // written or deleted, and again just before the manifest is written. An error there stops the
  // commit: nothing at all is written after a failure at the start, and after one before the
  // manifest the files written are left without a manifest (never valid; a staging folder on a
  // filesystem is removed).
  enum class FencePoint { kBeforeCommit, kBeforeManifest };
  void SetFence(std::function<Status(FencePoint)> fence) { fence_ = std::move(fence); }

  // What the files of a checkpoint say, beyond their manifest: with Verify::kDigests, once every
  // digest matched, `check` gets the checkpoint's files (the manifest excluded) and a non-OK
  // status makes the checkpoint invalid, its message the reason. The trainer checks that the
  // files agree with each other and with its model (train/checkpoint_io.h ValidateCheckpoint).
  using ContentCheck =
      std::function<Status(int64_t step, const std::map<std::string, std::string>& files)>;
  void SetContentCheck(ContentCheck check) { content_check_ = std::move(check); }

  // Every "checkpoint-N/" folder of the run, by step. With Verify::kSizes a checkpoint is
  // reported valid when its manifest and file sizes check out; kDigests reads every file.
  Result<std::vector<CheckpointInfo>> List(Verify level = Verify::kSizes);
  Result<std::vector<LeftoverInfo>> ListLeftovers();
  // One checkpoint; NotFound if the run has no object under its folder.
  Result<CheckpointInfo> Check(int64_t step, Verify level = Verify::kDigests);
  // The newest checkpoint that is valid with digests (and the content check) checked: what a
  // resume must use; nullopt when there is none. `skipped`, when given, receives the newer
  // checkpoints that were not valid, newest first, each with its reason.
  Result<std::optional<int64_t>> LatestValid(std::vector<CheckpointInfo>* skipped = nullptr);
  // The files of checkpoint `step` (the manifest excluded), every digest re-checked:
  // NotFound without a manifest, Corruption if anything does not match.
  Result<std::map<std::string, std::string>> Load(int64_t step);

  // save_total_limit: deletes the oldest valid checkpoints until at most `save_total_limit` valid
  // ones remain, but never the newest valid one (digests checked) nor `best_step`, so the limit
  // can be exceeded by one. Invalid and incomplete checkpoints are not counted and not touched.
  // A limit <= 0 keeps everything.
  Status Retain(int64_t save_total_limit, std::optional<int64_t> best_step);
  // Deletes the invalid and incomplete checkpoints and the leftovers whose step is below
  // `older_than_step`. Newer ones are left alone: they may be a commit in flight (an incomplete
  // one on an object store, or a valid one being replaced, which looks invalid for a moment),
  // and committing their step again replaces them anyway. A trainer passes the step it just
  // committed; `baton ckpt gc` the newest valid step. Returns the folder prefixes deleted, or
  // that would be with `dry_run`.
  Result<std::vector<std::string>> DeleteInvalid(int64_t older_than_step,
                                                 Verify level = Verify::kSizes,
                                                 bool dry_run = false);
  // Deletes one checkpoint, manifest first so that it is never seen half-deleted as valid.
  Status DeleteCheckpoint(int64_t step);

  const std::string& run_prefix() const { return run_prefix_; }
  std::string CheckpointPrefix(int64_t step) const;

 private:
  struct Folder {
    std::vector<std::string> names;  // object names relative to the folder
  };
  struct Scan {
    std::map<int64_t, Folder> checkpoints;
    std::map<std::string, int64_t> leftovers;  // folder prefix -> step
  };
  Result<Scan> ScanRun();
  Result<CheckpointInfo> CheckFolder(int64_t step, const Folder& folder, Verify level);
  Result<uint64_t> PrefixBytes(const std::string& prefix, const std::vector<std::string>& names);
  std::string NewNonce();

  Store* store_;
  std::string run_prefix_;  // "" or ending in '/'
  Env* env_;
  uint64_t nonce_counter_ = 0;
  std::function<Status(FencePoint)> fence_;
  ContentCheck content_check_;
};

}  // namespace baton
