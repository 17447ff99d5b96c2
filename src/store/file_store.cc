#include "store/file_store.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>

namespace baton {
namespace {

// Env::WriteFileAtomic writes "<path>.tmp.<pid>" first; one left behind by a killed process is
// not an object.
bool IsTempFileName(std::string_view name) {
  size_t dot = name.rfind(".tmp.");
  if (dot == std::string_view::npos || dot + 5 == name.size()) return false;
  return std::all_of(name.begin() + dot + 5, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status ValidateObjectKey(const std::string& key) {
  BATON_RETURN_IF_ERROR(ValidateKey(key));
  if (key.back() == '/') return InvalidArgument("key '{}' names a folder, not an object", key);
  return Status::Ok();
}

Status ValidateFolderKey(const std::string& key) {
  BATON_RETURN_IF_ERROR(ValidateKey(key, "folder prefix"));
  if (key.back() != '/') return InvalidArgument("folder prefix '{}' must end with '/'", key);
  return Status::Ok();
}

std::string ContentTag(std::string_view data) {
  return fmt::format("{:016x}", XXH3_64bits(data.data(), data.size()));
}

// The path with every symbolic link resolved; nullopt when it does not exist (or is a dangling
// link).
std::optional<std::string> RealPath(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return std::nullopt;
  std::string out(real);
  std::free(real);
  return out;
}

bool IsSymlink(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool Under(const std::string& path, const std::string& root) {
  return path == root || (path.starts_with(root) && (root == "/" || path[root.size()] == '/'));
}

// Once per path and process: a walk runs on every poll.
void WarnSkippedLink(const std::string& path, const std::string& why) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(path).second) return;
  std::fprintf(stderr,
               "baton: warning: %s is a symbolic link %s: skipped (a folder store never "
               "follows a link to a folder, nor one out of its root)\n",
               path.c_str(), why.c_str());
}

}  // namespace

FileStore::FileStore(Env* env, std::string root) : env_(env), root_(std::move(root)) {}

std::string FileStore::Url() const { return "file://" + root_; }

std::string FileStore::PathOf(std::string_view key) const {
  std::string path = JoinPath(root_, key);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Status FileStore::CheckInside(const std::string& path) const {
  std::optional<std::string> real_root = RealPath(root_);
  if (!real_root) return Status::Ok();  // no root yet: nothing to lead out of it
  // The deepest part of the path that exists, with its links resolved, must lie in the root.
  std::string p = path;
  for (;;) {
    if (std::optional<std::string> real = RealPath(p)) {
      if (Under(*real, *real_root)) return Status::Ok();
      return FailedPrecondition(
          "{}: leads out of the store's folder {} through a symbolic link (to {}): refused", path,
          root_, *real);
    }
    if (p.size() <= root_.size() || p.find('/') == std::string::npos) return Status::Ok();
    p = ParentOf(p);
  }
}

Status FileStore::CheckObjectPath(const std::string& path) const {
  BATON_RETURN_IF_ERROR(CheckInside(path));
  // One inside the root that names a folder is listed by no walk: not an object either.
  if (IsSymlink(path) && env_->IsDirectory(path)) {
    return FailedPrecondition("{}: a symbolic link to a folder, not an object: refused", path);
  }
  return Status::Ok();
}

Status FileStore::Put(const std::string& key, std::string_view data) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  BATON_RETURN_IF_ERROR(CheckObjectPath(path));
  // A concurrent Delete may prune the folder between CreateDirs and the write; try again then.
  Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    BATON_RETURN_IF_ERROR(env_->CreateDirs(ParentOf(path)));
    s = env_->WriteFileAtomic(path, data);
    if (s.code() != StatusCode::kNotFound) break;
  }
  return s;
}

Status FileStore::Append(const std::string& key, std::string_view data) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  BATON_RETURN_IF_ERROR(CheckObjectPath(path));
  BATON_RETURN_IF_ERROR(env_->CreateDirs(ParentOf(path)));
  return env_->AppendToFile(path, data);
}

Result<std::string> FileStore::Get(const std::string& key) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  BATON_RETURN_IF_ERROR(CheckObjectPath(path));
  if (env_->IsDirectory(path)) return NotFound("{}: no such object", path);
  return env_->ReadFile(path);
}

Result<std::string> FileStore::GetRange(const std::string& key, uint64_t offset, uint64_t len) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  BATON_RETURN_IF_ERROR(CheckObjectPath(path));
  if (env_->IsDirectory(path)) return NotFound("{}: no such object", path);
  return env_->ReadFileRange(path, offset, len);
}

Result<uint64_t> FileStore::Head(const std::string& key) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  BATON_RETURN_IF_ERROR(CheckObjectPath(path));
  if (env_->IsDirectory(path)) return NotFound("{}: no such object", path);
  return env_->FileSize(path);
}

Status FileStore::WalkDir(const std::string& dir_key, const std::string& prefix, Walked* out) {
  std::string dir_path = dir_key.empty() ? root_ : PathOf(dir_key);
  Result<std::vector<std::string>> names = env_->ListDir(dir_path);
  if (!names.ok()) {
    // Gone between listing its parent and now (a concurrent delete): nothing under it.
    if (names.status().code() == StatusCode::kNotFound) return Status::Ok();
    return names.status();
  }
  for (const std::string& name : *names) {
    std::string key = dir_key + name;
    // Prune subtrees that cannot hold a key with this prefix.
    size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix, 0, common) != 0) continue;
    const std::string path = PathOf(key);
    if (IsSymlink(path)) {
      // Never walked into, and never an object when it leads out of the root or to a folder:
      // deleting the prefix unlinks the link itself.
      if (key.starts_with(prefix)) out->links.push_back(path);
      if (env_->IsDirectory(path)) {
        WarnSkippedLink(path, "to a folder");
        continue;
      }
      if (!CheckInside(path).ok()) {
        WarnSkippedLink(path, "out of the store's folder");
        continue;
      }
      if (key.starts_with(prefix)) out->keys.push_back(key);
      continue;
    }
    if (env_->IsDirectory(path)) {
      BATON_RETURN_IF_ERROR(WalkDir(key + "/", prefix, out));
      if ((key + "/").starts_with(prefix)) out->dirs.push_back(path);
    } else if (key.starts_with(prefix)) {
      out->keys.push_back(key);
    }
  }
  return Status::Ok();
}

Status FileStore::Walk(const std::string& prefix, Walked* out) {
  if (!prefix.empty()) BATON_RETURN_IF_ERROR(ValidateKey(prefix, "prefix"));
  size_t slash = prefix.find_last_of('/');
  std::string dir_key = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  if (!dir_key.empty()) {
    // The folder the walk starts in is reached through no link: "checkpoint-9/" where
    // checkpoint-9 is a link is the link (deleted as one), never what it leads to.
    std::string p = PathOf(dir_key);
    while (p.size() > root_.size()) {
      if (IsSymlink(p)) {
        if (p == PathOf(dir_key) && dir_key.starts_with(prefix)) out->links.push_back(p);
        WarnSkippedLink(p, "on the way to " + PathOf(dir_key));
        return Status::Ok();
      }
      p = ParentOf(p);
    }
  }
  if (!env_->IsDirectory(dir_key.empty() ? root_ : PathOf(dir_key))) return Status::Ok();
  return WalkDir(dir_key, prefix, out);
}

Result<std::vector<std::string>> FileStore::List(const std::string& prefix) {
  Walked walked;
  BATON_RETURN_IF_ERROR(Walk(prefix, &walked));
  std::vector<std::string>& keys = walked.keys;
  std::erase_if(keys, [](const std::string& key) {
    size_t slash = key.find_last_of('/');
    return IsTempFileName(slash == std::string::npos ? key : key.substr(slash + 1));
  });
  std::sort(keys.begin(), keys.end());
  return keys;
}

void FileStore::PruneEmptyDirs(std::string dir) {
  // Stops at the first folder that is not empty (rmdir fails) or at the root.
  while (dir.size() > root_.size() && dir.starts_with(root_) && dir[root_.size()] == '/') {
    if (!env_->DeleteDir(dir).ok()) return;
    dir = ParentOf(dir);
  }
}

Status FileStore::Delete(const std::string& key) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string path = PathOf(key);
  // The object's folder must be in the root; the object itself may be a link (unlinked).
  BATON_RETURN_IF_ERROR(CheckInside(ParentOf(path)));
  if (env_->IsDirectory(path) && !IsSymlink(path)) return Status::Ok();
  Status s = env_->DeleteFile(path);
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  PruneEmptyDirs(ParentOf(path));
  return Status::Ok();
}

Status FileStore::DeletePrefix(const std::string& prefix) {
  Walked walked;
  BATON_RETURN_IF_ERROR(Walk(prefix, &walked));
  std::vector<std::string>& keys = walked.keys;
  std::vector<std::string>& dirs = walked.dirs;
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    Status s = env_->DeleteFile(PathOf(key));
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  // Links are unlinked (unlink never follows one), whatever they lead to.
  for (const std::string& link : walked.links) {
    Status s = env_->DeleteFile(link);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  // Deepest folders first (WalkDir adds a folder after its contents), then the parents that the
  // deletion emptied.
  for (const std::string& dir : dirs) {
    Status s = env_->DeleteDir(dir);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  if (!keys.empty() || !dirs.empty() || !walked.links.empty()) {
    size_t slash = prefix.find_last_of('/');
    if (slash != std::string::npos) PruneEmptyDirs(PathOf(prefix.substr(0, slash)));
  }
  return Status::Ok();
}

Status FileStore::RenamePrefix(const std::string& from, const std::string& to) {
  BATON_RETURN_IF_ERROR(ValidateFolderKey(from));
  BATON_RETURN_IF_ERROR(ValidateFolderKey(to));
  std::string src = PathOf(from), dst = PathOf(to);
  BATON_RETURN_IF_ERROR(CheckInside(src));
  BATON_RETURN_IF_ERROR(CheckInside(dst));
  if (IsSymlink(src)) return FailedPrecondition("{}: a symbolic link, not a folder: refused", src);
  if (!env_->IsDirectory(src)) return NotFound("{}: no such folder", src);
  BATON_RETURN_IF_ERROR(env_->CreateDirs(ParentOf(dst)));
  if (!env_->FileExists(dst)) {
    BATON_RETURN_IF_ERROR(env_->RenameFile(src, dst));
    return env_->SyncDir(ParentOf(dst));
  }
  Status exchanged = env_->ExchangePaths(src, dst);
  if (exchanged.ok()) {
    // `src` now holds the replaced objects.
    BATON_RETURN_IF_ERROR(env_->SyncDir(ParentOf(dst)));
    return env_->DeleteRecursively(src);
  }
  if (exchanged.code() != StatusCode::kUnimplemented) return exchanged;
  // No atomic exchange here (e.g. a FUSE mount): move the old folder aside first. A crash
  // between the two renames leaves `to` absent, never a mix of old and new objects.
  static std::atomic<int> counter{0};
  std::string aside = fmt::format("{}.replaced-{}-{}", src, ::getpid(), counter++);
  BATON_RETURN_IF_ERROR(env_->RenameFile(dst, aside));
  BATON_RETURN_IF_ERROR(env_->RenameFile(src, dst));
  BATON_RETURN_IF_ERROR(env_->SyncDir(ParentOf(dst)));
  return env_->DeleteRecursively(aside);
}

Result<Store::Versioned> FileStore::GetVersioned(const std::string& key) {
  BATON_ASSIGN_OR_RETURN(std::string data, Get(key));
  std::string tag = ContentTag(data);
  return Versioned{std::move(data), std::move(tag)};
}

Status FileStore::PutIf(const std::string& key, std::string_view data,
                        const std::string& if_match) {
  BATON_RETURN_IF_ERROR(ValidateObjectKey(key));
  BATON_RETURN_IF_ERROR(env_->CreateDirs(root_));
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("{}: cannot open to lock: {}", root_, strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int err = errno;
      ::close(fd);
      return IoError("{}: cannot lock: {}", root_, strerror(err));
    }
  }
  Status result = [&]() -> Status {
    Result<std::string> current = Get(key);
    if (current.ok()) {
      if (if_match.empty()) {
        return FailedPrecondition("{}: {} already exists (conditional create)", Url(), key);
      }
      if (ContentTag(*current) != if_match) {
        return FailedPrecondition("{}: {} changed since it was read (etag {} expected)", Url(), key,
                                  if_match);
      }
    } else if (current.status().code() != StatusCode::kNotFound) {
      return current.status();
    } else if (!if_match.empty()) {
      return FailedPrecondition("{}: {} was deleted since it was read", Url(), key);
    }
    return Put(key, data);
  }();
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}

}  // namespace baton
