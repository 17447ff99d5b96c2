// Env: the process's window on files and time. Library code reaches the filesystem and the clock
// only through an Env so tests can substitute simulated time and fault-injecting files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace baton {

// A read-only view of a whole file; unmapped when the last reference goes.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // Tells the system that bytes [offset, offset + len) will not be read again soon, so their
  // pages may leave this process's memory (they are read back from the file if they are read
  // again). A model load calls it after each tensor went to the GPU, so peak host memory stays
  // at about one tensor rather than the whole file. The default does nothing.
  virtual void Release(size_t offset, size_t len) const {}
};

class Env {
 public:
  virtual ~Env() = default;
  // The real POSIX environment (never null, never deleted).
  static Env* Default();

  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Writes to "<path>.tmp.<pid>", fsyncs it, renames it over `path` and fsyncs the folder, so a
  // crash leaves either the old file or the new one, never a torn one.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual bool IsDirectory(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Like `mkdir -p`.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the entries of a folder, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual Result<std::shared_ptr<MappedFile>> MapFile(const std::string& path) = 0;
  virtual Status CopyFile(const std::string& from, const std::string& to) = 0;

  // The methods below were added after the first Env users; they have defaults that return
  // Unimplemented so that Envs written elsewhere keep compiling until they need them.

  // Reads at most `len` bytes starting at `offset` (fewer at the end of the file).
  virtual Result<std::string> ReadFileRange(const std::string& path, uint64_t offset, uint64_t len);
  // Removes a file (not a folder); NotFound if it is not there.
  virtual Status DeleteFile(const std::string& path);
  // Removes an empty folder; fails if it holds anything.
  virtual Status DeleteDir(const std::string& path);
  // Like `rm -rf`: a file or a whole folder tree; Ok if `path` does not exist.
  virtual Status DeleteRecursively(const std::string& path);
  // rename(2): atomic; replaces `to` if it is a file (or an empty folder when `from` is one).
  virtual Status RenameFile(const std::string& from, const std::string& to);
  // Swaps two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE). Unimplemented
  // where the filesystem cannot (some FUSE mounts), so callers need a fallback.
  virtual Status ExchangePaths(const std::string& a, const std::string& b);
  // fsyncs a folder so that renames and creations inside it survive a power loss.
  virtual Status SyncDir(const std::string& path);
  // Appends `data` to the file (created if missing) and fdatasyncs it: a log line that is on disk
  // when this returns. A crash may leave a torn last line, never a hole before it.
  virtual Status AppendToFile(const std::string& path, std::string_view data);
  // As WriteFileAtomic, but the file is readable and writable by its owner only (0600) from the
  // moment it exists: copies of job files, which may hold webhook tokens.
  virtual Status WritePrivateFileAtomic(const std::string& path, std::string_view data);

  virtual uint64_t NowMicros() = 0;
  virtual void SleepMicros(uint64_t micros) = 0;
};

// An Env that passes every call on to another (leveldb's EnvWrapper): a test Env overrides only
// what it changes (the clock, a missing filesystem feature) and inherits the rest.
class ForwardingEnv : public Env {
 public:
  explicit ForwardingEnv(Env* base = Env::Default()) : base_(base) {}
  Env* base() const { return base_; }

  Result<std::string> ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  Status WriteFileAtomic(const std::string& p, std::string_view d) override {
    return base_->WriteFileAtomic(p, d);
  }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  bool IsDirectory(const std::string& p) override { return base_->IsDirectory(p); }
  Result<uint64_t> FileSize(const std::string& p) override { return base_->FileSize(p); }
  Status CreateDirs(const std::string& p) override { return base_->CreateDirs(p); }
  Result<std::vector<std::string>> ListDir(const std::string& p) override {
    return base_->ListDir(p);
  }
  Result<std::shared_ptr<MappedFile>> MapFile(const std::string& p) override {
    return base_->MapFile(p);
  }
  Status CopyFile(const std::string& a, const std::string& b) override {
    return base_->CopyFile(a, b);
  }
  Result<std::string> ReadFileRange(const std::string& p, uint64_t o, uint64_t n) override {
    return base_->ReadFileRange(p, o, n);
  }
  Status DeleteFile(const std::string& p) override { return base_->DeleteFile(p); }
  Status DeleteDir(const std::string& p) override { return base_->DeleteDir(p); }
  Status DeleteRecursively(const std::string& p) override { return base_->DeleteRecursively(p); }
  Status RenameFile(const std::string& a, const std::string& b) override {
    return base_->RenameFile(a, b);
  }
  Status ExchangePaths(const std::string& a, const std::string& b) override {
    return base_->ExchangePaths(a, b);
  }
  Status SyncDir(const std::string& p) override { return base_->SyncDir(p); }
  Status AppendToFile(const std::string& p, std::string_view d) override {
    return base_->AppendToFile(p, d);
  }
  Status WritePrivateFileAtomic(const std::string& p, std::string_view d) override {
    return base_->WritePrivateFileAtomic(p, d);
  }
  uint64_t NowMicros() override { return base_->NowMicros(); }
  void SleepMicros(uint64_t micros) override { base_->SleepMicros(micros); }

 private:
  Env* base_;
};

// "a/b" + "c" -> "a/b/c" (no doubled slash).
std::string JoinPath(std::string_view a, std::string_view b);
// Reads a text file with the default Env: shorthand for tools and tests.
Result<std::string> ReadFileToString(const std::string& path);

}  // namespace baton
