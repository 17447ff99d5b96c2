// FileStore: a Store over a local folder, or over an ossfs/s3fs mount that looks like one.
// Key "a/b/c" is the file ROOT/a/b/c. Put goes through Env::WriteFileAtomic (temp file, fsync,
// rename, fsync of the folder), so objects are never torn; folders are created on Put and pruned
// when their last object is deleted, as an object store would show it. Symbolic links are never
// followed out of the root nor walked into as folders: such a link is skipped by listings (with a
// warning naming it), refused by reads and writes, and unlinked, never recursed through, by a
// deletion of its prefix (gc of a `checkpoint-9 -> /home/user` deletes the link only).
#pragma once

#include <string>
#include <vector>

#include "base/env.h"
#include "store/store.h"

namespace baton {

class FileStore : public Store {
 public:
  // `root` need not exist yet; `env` must outlive the store.
  FileStore(Env* env, std::string root);

  std::string Url() const override;
  const std::string& root() const { return root_; }

  Status Put(const std::string& key, std::string_view data) override;
  Result<std::string> Get(const std::string& key) override;
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override;
  Result<uint64_t> Head(const std::string& key) override;
  // Leaves out the temp files of Puts that were interrupted ("<name>.tmp.<pid>").
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Status DeletePrefix(const std::string& prefix) override;

  // Version tags are the xxh3-64 of the content; PutIf holds an flock on the root folder while it
  // compares and writes, so it is atomic between processes on this machine (not across the
  // machines of a network mount: there the trainer's read-back check is what fences).
  Result<Versioned> GetVersioned(const std::string& key) override;
  bool SupportsConditionalPut() const override { return true; }
  Status PutIf(const std::string& key, std::string_view data, const std::string& if_match) override;

  bool SupportsRename() const override { return true; }
  bool SupportsAppend() const override { return true; }
  Status Append(const std::string& key, std::string_view data) override;
  Status RenamePrefix(const std::string& from, const std::string& to) override;

 private:
  std::string PathOf(std::string_view key) const;
  // FailedPrecondition when `path` (which need not exist) leads out of the root through a
  // symbolic link: its deepest existing part, links resolved, must lie in the root.
  Status CheckInside(const std::string& path) const;
  // CheckInside, and not a link to a folder: what reading or writing an object needs.
  Status CheckObjectPath(const std::string& path) const;
  struct Walked {
    std::vector<std::string> keys;   // files, as keys (including temp files)
    std::vector<std::string> dirs;   // folders, as paths, each after its contents
    std::vector<std::string> links;  // symbolic links under the prefix, as paths: never followed
  };
  // Everything below the folder part of `prefix` whose key starts with `prefix`. A symbolic link
  // is never walked into: one to a folder or out of the root is skipped (with a warning naming
  // it) and listed in `links` only, so that deleting the prefix unlinks it.
  Status Walk(const std::string& prefix, Walked* out);
  Status WalkDir(const std::string& dir_key, const std::string& prefix, Walked* out);
  // Removes `dir` and then its parents while they are empty, stopping at the root.
  void PruneEmptyDirs(std::string dir);

  Env* env_;
  std::string root_;
};

}  // namespace baton
