#include "ckpt/checkpoint_manager.h"

#include <algorithm>
#include <random>
#include <set>

#include "base/kill_point.h"
#include "ckpt/manifest.h"
#include "run/layout.h"

namespace baton {
namespace {

std::string NormalizePrefix(std::string prefix) {
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  return prefix;
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

const char* CheckpointStateName(CheckpointState state) {
  switch (state) {
    case CheckpointState::kValid:
      return "valid";
    case CheckpointState::kInvalid:
      return "invalid";
    case CheckpointState::kIncomplete:
      return "incomplete";
  }
  return "?";
}

CheckpointManager::CheckpointManager(Store* store, std::string run_prefix, Env* env)
    : store_(store), run_prefix_(NormalizePrefix(std::move(run_prefix))), env_(env) {}

std::string CheckpointManager::CheckpointPrefix(int64_t step) const {
  return run_prefix_ + CheckpointDir(step) + "/";
}

std::string CheckpointManager::NewNonce() {
  // Fresh randomness at every call, not a seeded generator: a forked child (or a restarted
  // process) must never pick the staging folder that another life of the trainer left behind.
  std::random_device random;
  uint64_t r = (static_cast<uint64_t>(random()) << 32) ^ random() ^ env_->NowMicros();
  return fmt::format("{:016x}", r + nonce_counter_++);
}

Status CheckpointManager::Commit(int64_t step,
                                 const std::vector<std::pair<std::string, std::string>>& files) {
  if (step < 0) return InvalidArgument("checkpoint step {} is negative", step);
  if (files.empty()) return InvalidArgument("checkpoint {}: no files to commit", step);
  Manifest manifest;
  manifest.step = step;
  for (const auto& [name, data] : files) {
    BATON_RETURN_IF_ERROR(ValidateCheckpointFileName(name));
    if (!manifest.files.emplace(name, ManifestEntry{data.size(), DigestHex(data)}).second) {
      return InvalidArgument("checkpoint {}: file '{}' given twice", step, name);
    }
  }
  const std::string final_prefix = CheckpointPrefix(step);
  if (fence_) {
    BATON_RETURN_IF_ERROR(
        fence_(FencePoint::kBeforeCommit)
            .WithContext(fmt::format("commit {}/{}", store_->Url(), final_prefix)));
  }
  const bool staged = store_->SupportsRename();
  std::string staging = final_prefix;
  if (staged) {
    staging = fmt::format("{}{}/", run_prefix_, StagingDir(step, NewNonce()));
  } else {
    // Object store: no rename, so an old checkpoint of this step loses its manifest first and
    // turns incomplete; then its stale files go, so none can outlive the new manifest.
    BATON_RETURN_IF_ERROR(store_->Delete(final_prefix + std::string(kManifestName)));
    BATON_RETURN_IF_ERROR(store_->DeletePrefix(final_prefix));
  }

  auto write_all = [&]() -> Status {
    for (const auto& [name, data] : files) {
      KillPoint("ckpt.before_file");
      BATON_RETURN_IF_ERROR(store_->Put(staging + name, data));
    }
    KillPoint("ckpt.after_files");
    manifest.created_unix_ms = static_cast<int64_t>(env_->NowMicros() / 1000);
    std::string text = SerializeManifest(manifest);
    KillPoint("ckpt.before_manifest");
    if (fence_) BATON_RETURN_IF_ERROR(fence_(FencePoint::kBeforeManifest));
    BATON_RETURN_IF_ERROR(store_->Put(staging + std::string(kManifestName), text));
    KillPoint("ckpt.after_manifest");
    if (staged) {
      KillPoint("ckpt.before_rename");
      BATON_RETURN_IF_ERROR(store_->RenamePrefix(staging, final_prefix));
      KillPoint("ckpt.after_rename");
    }
    return Status::Ok();
  };
  Status s = write_all();
  if (!s.ok()) {
    // Best effort: what is left is never valid, and DeleteInvalid collects it later anyway.
    if (staged) (void)store_->DeletePrefix(staging);
    return s.WithContext(fmt::format("commit {}/{}", store_->Url(), final_prefix));
  }
  // Read back what a resume will see: a store that lost a write must fail the commit.
  BATON_ASSIGN_OR_RETURN(CheckpointInfo info, Check(step, Verify::kSizes));
  if (info.state != CheckpointState::kValid) {
    return Corruption("commit {}/{}: not valid after writing: {}", store_->Url(), final_prefix,
                      info.reason);
  }
  return Status::Ok();
}

Result<CheckpointManager::Scan> CheckpointManager::ScanRun() {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(run_prefix_));
  Scan scan;
  for (const std::string& key : keys) {
    // A store answers only for the prefix it was asked about; one that did not is no licence to
    // touch what lies outside the run.
    if (!key.starts_with(run_prefix_)) continue;
    std::string_view rel = std::string_view(key).substr(run_prefix_.size());
    size_t slash = rel.find('/');
    if (slash == std::string_view::npos) continue;  // an object at the run root
    std::string_view dir = rel.substr(0, slash);
    if (std::optional<int64_t> step = ParseCheckpointDir(dir)) {
      scan.checkpoints[*step].names.emplace_back(rel.substr(slash + 1));
    } else if (std::optional<int64_t> left = ParseLeftoverDir(dir)) {
      scan.leftovers[fmt::format("{}{}/", run_prefix_, dir)] = *left;
    }
  }
  return scan;
}

Result<CheckpointInfo> CheckpointManager::CheckFolder(int64_t step, const Folder& folder,
                                                      Verify level) {
  CheckpointInfo info;
  info.step = step;
  info.prefix = CheckpointPrefix(step);
  std::map<std::string, uint64_t> sizes;
  for (const std::string& name : folder.names) {
    Result<uint64_t> size = store_->Head(info.prefix + name);
    if (!size.ok() && size.status().code() == StatusCode::kNotFound) continue;  // just deleted
    if (!size.ok()) return size.status();
    sizes[name] = *size;
    info.total_bytes += *size;
  }
  info.num_files = static_cast<int64_t>(sizes.size());
  if (!sizes.contains(std::string(kManifestName))) {
    info.state = CheckpointState::kIncomplete;
    info.reason = "no MANIFEST.json (being written, or the commit was interrupted)";
    return info;
  }
  const std::string manifest_key = info.prefix + std::string(kManifestName);
  Result<std::string> text = store_->Get(manifest_key);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) {
    info.state = CheckpointState::kIncomplete;
    info.reason = "MANIFEST.json disappeared while reading";
    return info;
  }
  if (!text.ok()) return text.status();
  info.state = CheckpointState::kInvalid;
  Result<Manifest> manifest = ParseManifest(*text, kManifestName);
  if (!manifest.ok()) {
    info.reason = manifest.status().message();
    return info;
  }
  if (manifest->step != step) {
    info.reason =
        fmt::format("MANIFEST.json names step {}, the folder step {}", manifest->step, step);
    return info;
  }
  std::vector<std::string> problems;
  for (const auto& [name, size] : sizes) {
    if (name != kManifestName && !manifest->files.contains(name)) {
      problems.push_back(fmt::format("{}: in the folder but not listed in MANIFEST.json", name));
    }
  }
  std::map<std::string, std::string> contents;  // read for the digests, kept for content_check_
  for (const auto& [name, entry] : manifest->files) {
    auto found = sizes.find(name);
    if (found == sizes.end()) {
      problems.push_back(fmt::format("{}: missing", name));
      continue;
    }
    if (found->second != entry.size) {
      problems.push_back(
          fmt::format("{}: {} bytes, manifest says {}", name, found->second, entry.size));
      continue;
    }
    if (level == Verify::kDigests) {
      Result<std::string> data = store_->Get(info.prefix + name);
      if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
        problems.push_back(fmt::format("{}: missing", name));
        continue;
      }
      if (!data.ok()) return data.status();
      std::string digest = DigestHex(*data);
      if (data->size() != entry.size || digest != entry.xxh3_64) {
        problems.push_back(fmt::format("{}: xxh3_64 {} ({} bytes), manifest says {} ({} bytes)",
                                       name, digest, data->size(), entry.xxh3_64, entry.size));
      } else if (content_check_) {
        contents.emplace(name, std::move(data).value());
      }
    }
  }
  if (!problems.empty()) {
    info.reason = JoinProblems(problems);
    return info;
  }
  if (level == Verify::kDigests && content_check_) {
    Status content = content_check_(step, contents);
    if (!content.ok()) {
      info.reason = content.message();
      return info;
    }
  }
  info.state = CheckpointState::kValid;
  return info;
}

Result<std::vector<CheckpointInfo>> CheckpointManager::List(Verify level) {
  BATON_ASSIGN_OR_RETURN(Scan scan, ScanRun());
  std::vector<CheckpointInfo> out;
  for (const auto& [step, folder] : scan.checkpoints) {
    BATON_ASSIGN_OR_RETURN(CheckpointInfo info, CheckFolder(step, folder, level));
    out.push_back(std::move(info));
  }
  return out;
}

Result<uint64_t> CheckpointManager::PrefixBytes(const std::string& prefix,
                                                const std::vector<std::string>& keys) {
  uint64_t total = 0;
  for (const std::string& key : keys) {
    if (!key.starts_with(prefix)) continue;
    Result<uint64_t> size = store_->Head(key);
    if (size.ok())
      total += *size;
    else if (size.status().code() != StatusCode::kNotFound)
      return size.status();
  }
  return total;
}

Result<std::vector<LeftoverInfo>> CheckpointManager::ListLeftovers() {
  BATON_ASSIGN_OR_RETURN(Scan scan, ScanRun());
  std::vector<LeftoverInfo> out;
  for (const auto& [prefix, step] : scan.leftovers) {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(prefix));
    BATON_ASSIGN_OR_RETURN(uint64_t bytes, PrefixBytes(prefix, keys));
    out.push_back({step, prefix, bytes});
  }
  std::sort(out.begin(), out.end(), [](const LeftoverInfo& a, const LeftoverInfo& b) {
    return std::tie(a.step, a.prefix) < std::tie(b.step, b.prefix);
  });
  return out;
}

Result<CheckpointInfo> CheckpointManager::Check(int64_t step, Verify level) {
  const std::string prefix = CheckpointPrefix(step);
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, store_->List(prefix));
  Folder folder;
  for (const std::string& key : keys) {
    if (key.starts_with(prefix)) folder.names.push_back(key.substr(prefix.size()));
  }
  if (folder.names.empty())
    return NotFound("{}: no checkpoint {} (nothing under {})", store_->Url(), step, prefix);
  return CheckFolder(step, folder, level);
}

Result<std::optional<int64_t>> CheckpointManager::LatestValid(
    std::vector<CheckpointInfo>* skipped) {
  BATON_ASSIGN_OR_RETURN(Scan scan, ScanRun());
  for (auto it = scan.checkpoints.rbegin(); it != scan.checkpoints.rend(); ++it) {
    BATON_ASSIGN_OR_RETURN(CheckpointInfo info,
                           CheckFolder(it->first, it->second, Verify::kDigests));
    if (info.state == CheckpointState::kValid) return std::optional<int64_t>(it->first);
    if (skipped) skipped->push_back(std::move(info));
  }
  return std::optional<int64_t>();
}

Result<std::map<std::string, std::string>> CheckpointManager::Load(int64_t step) {
  const std::string prefix = CheckpointPrefix(step);
  const std::string where = fmt::format("{}/{}", store_->Url(), prefix);
  Result<std::string> text = store_->Get(prefix + std::string(kManifestName));
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) {
    return NotFound("{}: no MANIFEST.json, not a committed checkpoint", where);
  }
  if (!text.ok()) return text.status();
  BATON_ASSIGN_OR_RETURN(Manifest manifest,
                         ParseManifest(*text, fmt::format("{}{}", where, kManifestName)));
  if (manifest.step != step) {
    return Corruption("{}: MANIFEST.json names step {}", where, manifest.step);
  }
  std::map<std::string, std::string> files;
  for (const auto& [name, entry] : manifest.files) {
    Result<std::string> data = store_->Get(prefix + name);
    if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
      return Corruption("{}{}: listed in MANIFEST.json but missing", where, name);
    }
    if (!data.ok()) return data.status();
    std::string digest = DigestHex(*data);
    if (data->size() != entry.size || digest != entry.xxh3_64) {
      return Corruption("{}{}: xxh3_64 {} ({} bytes), MANIFEST.json says {} ({} bytes)", where,
                        name, digest, data->size(), entry.xxh3_64, entry.size);
    }
    files.emplace(name, std::move(data).value());
  }
  return files;
}

Status CheckpointManager::Retain(int64_t save_total_limit, std::optional<int64_t> best_step) {
  if (save_total_limit <= 0) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> infos, List(Verify::kSizes));
  BATON_ASSIGN_OR_RETURN(std::optional<int64_t> newest, LatestValid());
  // With no checkpoint known to be good, deleting any could lose the only usable one.
  if (!newest.has_value()) return Status::Ok();
  std::vector<int64_t> valid;
  for (const CheckpointInfo& info : infos) {
    // Newer "valid" ones failed their digests in LatestValid: not counted, not ours to delete.
    if (info.state == CheckpointState::kValid && info.step <= *newest) valid.push_back(info.step);
  }
  int64_t kept = static_cast<int64_t>(valid.size());
  for (int64_t step : valid) {  // oldest first
    if (kept <= save_total_limit) break;
    if (step == *newest || step == best_step) continue;
    BATON_RETURN_IF_ERROR(DeleteCheckpoint(step));
    --kept;
  }
  return Status::Ok();
}

Result<std::vector<std::string>> CheckpointManager::DeleteInvalid(int64_t older_than_step,
                                                                  Verify level, bool dry_run) {
  BATON_ASSIGN_OR_RETURN(Scan scan, ScanRun());
  std::vector<std::string> doomed;
  for (const auto& [step, folder] : scan.checkpoints) {
    if (step >= older_than_step) continue;
    BATON_ASSIGN_OR_RETURN(CheckpointInfo info, CheckFolder(step, folder, level));
    if (info.state != CheckpointState::kValid && step < older_than_step) {
      if (!dry_run) BATON_RETURN_IF_ERROR(DeleteCheckpoint(step));
      doomed.push_back(info.prefix);
    }
  }
  for (const auto& [prefix, step] : scan.leftovers) {
    if (step >= older_than_step) continue;
    if (!dry_run) BATON_RETURN_IF_ERROR(store_->DeletePrefix(prefix));
    doomed.push_back(prefix);
  }
  return doomed;
}

Status CheckpointManager::DeleteCheckpoint(int64_t step) {
  const std::string prefix = CheckpointPrefix(step);
  BATON_RETURN_IF_ERROR(store_->Delete(prefix + std::string(kManifestName)));
  return store_->DeletePrefix(prefix);
}

}  // namespace baton
