#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/env.h"

namespace baton {
namespace {

Status PosixError(const std::string& context, int err) {
  if (err == ENOENT) return NotFound("{}: {}", context, std::strerror(err));
  return IoError("{}: {}", context, std::strerror(err));
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError(path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class PosixMappedFile : public MappedFile {
 public:
  PosixMappedFile(void* data, size_t size) : data_(data), size_(size) {}
  ~PosixMappedFile() override {
    if (size_ > 0) ::munmap(data_, size_);
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(data_); }
  size_t size() const override { return size_; }
  // madvise(2) MADV_DONTNEED on the whole pages inside the range: for a private read-only file
  // mapping the pages are dropped from the process and read back from the file on next access.
  void Release(size_t offset, size_t len) const override {
    if (offset >= size_ || len == 0) return;
    len = std::min(len, size_ - offset);
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = reinterpret_cast<uintptr_t>(data_) + offset;
    const uintptr_t first = (begin + page - 1) / page * page;
    const uintptr_t last = (begin + len) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }

 private:
  void* data_;
  size_t size_;
};

class PosixEnv : public Env {
 public:
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, errno);
    std::string out;
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError(path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Status WriteFileAtomic(const std::string& path, std::string_view data) override {
    return WriteAtomic(path, data, 0644);
  }

  Status WritePrivateFileAtomic(const std::string& path, std::string_view data) override {
    return WriteAtomic(path, data, 0600);
  }

  Status WriteAtomic(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return PosixError(tmp, errno);
    // A leftover temp file (a killed process of the same pid) keeps its old mode: a private
    // file is made private whatever was there.
    if (mode == 0600 && ::fchmod(fd, mode) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return PosixError(tmp, err);
    }
    Status s = WriteAll(fd, data, tmp);
    if (s.ok() && ::fsync(fd) != 0) s = PosixError(tmp, errno);
    ::close(fd);
    if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = PosixError(path, errno);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    int dfd = ::open(ParentDir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::Ok();
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  bool IsDirectory(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError(path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status CreateDirs(const std::string& path) override {
    if (path.empty() || IsDirectory(path)) return Status::Ok();
    std::string parent = ParentDir(path);
    if (parent != path) BATON_RETURN_IF_ERROR(CreateDirs(parent));
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return PosixError(path, errno);
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return PosixError(path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<std::shared_ptr<MappedFile>> MapFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    size_t size = static_cast<size_t>(st.st_size);
    void* p = nullptr;
    if (size > 0) {
      p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return PosixError(path, err);
      }
    }
    ::close(fd);
    return std::shared_ptr<MappedFile>(std::make_shared<PosixMappedFile>(p, size));
  }

  Status CopyFile(const std::string& from, const std::string& to) override {
    BATON_ASSIGN_OR_RETURN(std::string data, ReadFile(from));
    return WriteFileAtomic(to, data);
  }

  Result<std::string> ReadFileRange(const std::string& path, uint64_t offset,
                                    uint64_t len) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, errno);
    std::string out;
    char buf[1 << 16];
    while (out.size() < len) {
      size_t want = std::min<uint64_t>(sizeof(buf), len - out.size());
      ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(offset + out.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError(path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(path, errno);
    return Status::Ok();
  }

  Status DeleteDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return PosixError(path, errno);
    return Status::Ok();
  }

  Status DeleteRecursively(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return PosixError(path, errno);
    }
    // lstat, not stat: a symlink to a folder is removed as a link, never followed.
    if (!S_ISDIR(st.st_mode)) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return PosixError(path, errno);
      return Status::Ok();
    }
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
    for (const std::string& name : names) {
      BATON_RETURN_IF_ERROR(DeleteRecursively(JoinPath(path, name)));
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return PosixError(path, errno);
    return Status::Ok();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(fmt::format("rename {} -> {}", from, to), errno);
    }
    return Status::Ok();
  }

  Status ExchangePaths(const std::string& a, const std::string& b) override {
#ifdef RENAME_EXCHANGE
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
      return Status::Ok();
    }
    int err = errno;
    if (err == EINVAL || err == ENOSYS || err == ENOTSUP || err == EOPNOTSUPP) {
      return Unimplemented("exchange {} <-> {}: not supported by this filesystem", a, b);
    }
    return PosixError(fmt::format("exchange {} <-> {}", a, b), err);
#else
    return Unimplemented("exchange {} <-> {}: renameat2 is not available", a, b);
#endif
  }

  Status AppendToFile(const std::string& path, std::string_view data) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(path, errno);
    Status s = WriteAll(fd, data, path);
    if (s.ok() && ::fdatasync(fd) != 0) s = PosixError(path, errno);
    ::close(fd);
    return s;
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, errno);
    // Some filesystems (FUSE mounts among them) refuse fsync on a folder; that is not an error of
    // ours, and the data was already synced file by file.
    if (::fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP) {
      int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    ::close(fd);
    return Status::Ok();
  }

  uint64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void SleepMicros(uint64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }
};

}  // namespace

Result<std::string> Env::ReadFileRange(const std::string& path, uint64_t, uint64_t) {
  return Unimplemented("{}: this Env cannot read ranges", path);
}
Status Env::DeleteFile(const std::string& path) {
  return Unimplemented("{}: this Env cannot delete files", path);
}
Status Env::DeleteDir(const std::string& path) {
  return Unimplemented("{}: this Env cannot delete folders", path);
}
Status Env::DeleteRecursively(const std::string& path) {
  return Unimplemented("{}: this Env cannot delete folders", path);
}
Status Env::RenameFile(const std::string& from, const std::string& to) {
  return Unimplemented("{} -> {}: this Env cannot rename", from, to);
}
Status Env::ExchangePaths(const std::string& a, const std::string& b) {
  return Unimplemented("{} <-> {}: this Env cannot exchange paths", a, b);
}
Status Env::SyncDir(const std::string& path) {
  return Unimplemented("{}: this Env cannot sync folders", path);
}
Status Env::AppendToFile(const std::string& path, std::string_view) {
  return Unimplemented("{}: this Env cannot append to files", path);
}

Status Env::WritePrivateFileAtomic(const std::string& path, std::string_view) {
  return Unimplemented("{}: this Env cannot write private files", path);
}

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return fmt::format("{}{}", a, b);
  return fmt::format("{}/{}", a, b);
}

Result<std::string> ReadFileToString(const std::string& path) {
  return Env::Default()->ReadFile(path);
}

}  // namespace baton
