#include "store/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "base/json.h"
#include "base/process_contract.h"
#include "base/strings.h"
#include "store/progress_bar.h"
#include "store/sigv4.h"
#include "store/store.h"

namespace baton {
namespace {

using Clock = std::chrono::steady_clock;

std::string DefaultCacheDir() {
  if (std::optional<std::string> d = GetEnvVar(EnvVar::kCacheDir)) return *d;
  if (const char* h = std::getenv("HOME"); h && *h) return JoinPath(h, ".cache/baton");
  return "/tmp/baton-cache";
}

// "s3://bkt/a/b?x=y" -> ("s3://bkt/a?x=y", "b"); the query (endpoint, region) stays with the
// parent. No parent (just a bucket): nullopt.
}  // namespace

std::optional<std::pair<std::string, std::string>> SplitStoreUrl(std::string_view url) {
  std::string_view query;
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    query = url.substr(q);
    url = url.substr(0, q);
  }
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  size_t scheme = url.find("://");
  size_t slash = url.rfind('/');
  if (scheme == std::string_view::npos || slash == std::string_view::npos || slash < scheme + 3) {
    return std::nullopt;
  }
  size_t bucket_end = url.find('/', scheme + 3);
  if (bucket_end == std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(url.substr(0, slash)) + std::string(query),
                        std::string(url.substr(slash + 1)));
}

namespace {

std::string BaseNameOf(std::string_view url) {
  if (size_t q = url.find('?'); q != std::string_view::npos) url = url.substr(0, q);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  size_t slash = url.rfind('/');
  std::string name(slash == std::string_view::npos ? url : url.substr(slash + 1));
  // A bare bucket's authority may carry "user:pass@": the host only.
  if (size_t at = name.rfind('@'); at != std::string::npos) name = name.substr(at + 1);
  // The name becomes a folder of the cache: one that could climb out of it, or hide a newline,
  // is replaced.
  if (!ValidatePathSegment(name, "cache entry").ok()) name = "object";
  return name;
}

Result<std::string> FileDigest(Env* env, const std::string& path) {
  BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, env->MapFile(path));
  return fmt::format("{:016x}", XXH3_64bits(f->data(), f->size()));
}

// One flock'd file per cache entry, so two processes on one machine never download into the
// same entry at once (the second waits, then finds the entry complete).
class EntryLock {
 public:
  Status Lock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError("{}: {}", path, std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return IoError("{}: cannot lock: {}", path, std::strerror(errno));
    }
    return Status::Ok();
  }
  ~EntryLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

struct CachedFile {
  uint64_t size = 0;
  std::string etag, xxh3;
};

// `source` is the Store::Identity of what the entry copies.
Result<std::map<std::string, CachedFile>> ReadEntry(Env* env, const std::string& path,
                                                    const std::string& source) {
  std::map<std::string, CachedFile> out;
  if (!env->FileExists(path)) return out;
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  Json j = Json::parse(text, nullptr, false);
  // A cache record we cannot read is no reason to fail: everything is downloaded again. The
  // record names its source by digest (and shows it redacted), never with secrets.
  if (j.is_discarded() || !j.is_object() || JsonStringOr(j, "source_sha256") != Sha256Hex(source) ||
      !j.contains("files") || !j["files"].is_object()) {
    return out;
  }
  for (auto& [key, v] : j["files"].items()) {
    // A record is a file on disk like any other: a key that could name a path outside the
    // entry ("../../x") is not one this cache wrote, and is never deleted or trusted.
    if (!ValidateKey(key).ok() || key.back() == '/') continue;
    if (!v.is_object() || !v.contains("size") || !v["size"].is_number_unsigned()) continue;
    out[key] =
        CachedFile{v["size"].get<uint64_t>(), JsonStringOr(v, "etag"), JsonStringOr(v, "xxh3_64")};
  }
  return out;
}

Status WriteEntry(Env* env, const std::string& path, const std::string& source,
                  const std::map<std::string, CachedFile>& files) {
  Json j = {{"format", "baton-cache"},
            {"version", 1},
            {"source", RedactUrl(source)},
            {"source_sha256", Sha256Hex(source)},
            {"files", Json::object()}};
  for (const auto& [key, f] : files) {
    j["files"][key] = {{"size", f.size}, {"etag", f.etag}, {"xxh3_64", f.xxh3}};
  }
  return env->WriteFileAtomic(path, DumpJson(j, 2) + "\n");
}

}  // namespace

std::string CacheEntryDir(const std::string& cache_dir, std::string_view source) {
  // A one-way digest: a fast 64-bit hash of a name that held a password could be searched.
  return JoinPath(cache_dir, Sha256Hex(source).substr(0, 32));
}

bool IsRemoteUrl(std::string_view s) { return s.starts_with("s3://") || s.starts_with("oss://"); }

std::string HumanBytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1e3) return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{:.0f} B", bytes);
}

Result<std::string> FetchToCache(std::string_view url_view, const CacheOptions& options, Env* env) {
  std::string url(url_view);
  const std::string shown = RedactUrl(url);  // what messages show
  if (url.starts_with("file://")) return url.substr(7);
  if (!IsRemoteUrl(url)) return url;
  auto print = [&](const std::string& s) {
    if (options.print)
      options.print(s);
    else
      std::fprintf(stderr, "%s\n", s.c_str());
  };

  // What the URL names: a "folder" (objects under URL/) or one object.
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(url, OpenMode::kMustExist, env));
  BATON_ASSIGN_OR_RETURN(std::vector<Store::ObjectInfo> objects, store->ListInfo(""));
  bool folder = !objects.empty();
  if (!folder) {
    auto split = SplitStoreUrl(url);
    if (!split) return NotFound("{}: the bucket holds no objects", shown);
    BATON_ASSIGN_OR_RETURN(store, OpenStore(split->first, OpenMode::kMustExist, env));
    BATON_ASSIGN_OR_RETURN(std::vector<Store::ObjectInfo> under, store->ListInfo(split->second));
    for (const Store::ObjectInfo& o : under) {
      if (o.key == split->second) objects.push_back(o);
    }
    if (objects.empty()) return NotFound("{}: no such object or folder", shown);
  }

  std::string cache = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  // Keyed by where the bytes live, not by the URL's spelling: ?endpoint=E and AWS_ENDPOINT_URL=E
  // share one entry.
  const std::string source =
      folder ? store->Identity() : JoinKey(store->Identity(), SplitStoreUrl(url)->second);
  std::string entry_dir = CacheEntryDir(cache, source);
  std::string root = JoinPath(entry_dir, BaseNameOf(url));
  std::string record_path = JoinPath(entry_dir, "entry.json");
  BATON_RETURN_IF_ERROR(env->CreateDirs(entry_dir));
  EntryLock lock;
  BATON_RETURN_IF_ERROR(lock.Lock(JoinPath(entry_dir, "lock")));
  BATON_ASSIGN_OR_RETURN(auto recorded, ReadEntry(env, record_path, source));

  FetchStats stats;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  // Added to the caller's record however the fetch ends.
  struct AddStats {
    FetchStats& from;
    FetchStats* to;
    ~AddStats() {
      if (!to) return;
      to->download_seconds += from.download_seconds;
      to->digest_seconds += from.digest_seconds;
      to->bytes_downloaded += from.bytes_downloaded;
      to->bytes_cached += from.bytes_cached;
    }
  } add_stats{stats, options.stats};
  auto local_path = [&](const std::string& key) { return folder ? JoinPath(root, key) : root; };
  // Which objects the cache holds as the store lists them now, with their bytes intact.
  std::vector<const Store::ObjectInfo*> missing;
  uint64_t total = 0, to_fetch = 0;
  std::map<std::string, CachedFile> kept;
  for (const Store::ObjectInfo& o : objects) {
    BATON_RETURN_IF_ERROR(ValidateKey(o.key, fmt::format("object name under {}", shown)));
    total += o.size;
    std::string path = local_path(o.key);
    auto it = recorded.find(o.key);
    bool ok = it != recorded.end() && it->second.size == o.size && it->second.etag == o.etag &&
              env->FileExists(path);
    if (ok) {
      Result<uint64_t> size = env->FileSize(path);
      ok = size.ok() && *size == o.size;
    }
    if (ok) {
      auto t = Clock::now();
      BATON_ASSIGN_OR_RETURN(std::string digest, FileDigest(env, path));
      stats.digest_seconds += seconds_since(t);
      ok = digest == it->second.xxh3;
    }
    if (ok) {
      kept[o.key] = it->second;
      stats.bytes_cached += o.size;
    } else {
      missing.push_back(&o);
      to_fetch += o.size;
    }
  }
  for (const auto& entry : recorded) {
    const std::string& key = entry.first;  // a plain name: clang 14 cannot capture a binding
    if (!kept.count(key) &&
        std::none_of(objects.begin(), objects.end(),
                     [&](const Store::ObjectInfo& o) { return o.key == key; })) {
      (void)env->DeleteFile(local_path(key));  // gone from the store: not part of the copy
    }
  }
  if (missing.empty()) {
    print(fmt::format("{}: using the cached copy in {} ({} file{}, {}, digests checked)", shown,
                      root, objects.size(), objects.size() == 1 ? "" : "s",
                      HumanBytes(static_cast<double>(total))));
    return root;
  }

  auto t0 = Clock::now();
  ProgressBar bar(
      "downloading",
      fmt::format("{} ({} file{})", shown, missing.size(), missing.size() == 1 ? "" : "s"),
      to_fetch, options.print);
  uint64_t done_before = 0;
  for (const Store::ObjectInfo* o : missing) {
    std::string path = local_path(o->key);
    size_t slash = path.rfind('/');
    if (slash != std::string::npos) BATON_RETURN_IF_ERROR(env->CreateDirs(path.substr(0, slash)));
    std::string digest;  // computed on the way
    auto t = Clock::now();
    Status s = store->GetToFile(
        o->key, path, env,
        bar.ForObject(done_before,
                      [&](uint64_t done, uint64_t) {
                        print(fmt::format("{}: resuming {} with {} already downloaded", shown,
                                          o->key, HumanBytes(static_cast<double>(done))));
                      }),
        &digest);
    stats.download_seconds += seconds_since(t);
    if (!s.ok()) return s.WithContext(fmt::format("downloading {} into {}", shown, path));
    BATON_ASSIGN_OR_RETURN(uint64_t size, env->FileSize(path));
    if (size != o->size) {
      return Corruption("{}: {} has {} bytes, but the store listed {}", shown, o->key, size,
                        o->size);
    }
    if (digest.empty()) {  // a store that does not hash on the way
      t = Clock::now();
      BATON_ASSIGN_OR_RETURN(digest, FileDigest(env, path));
      stats.digest_seconds += seconds_since(t);
    }
    stats.bytes_downloaded += o->size;
    kept[o->key] = CachedFile{o->size, o->etag, digest};
    // Recorded after every file, so an interrupted download resumes where it stopped.
    BATON_RETURN_IF_ERROR(WriteEntry(env, record_path, source, kept));
    done_before += o->size;
    bar.Update(done_before);
  }
  bar.Update(done_before, /*force=*/true);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  print(fmt::format("{}: downloaded {} file{} ({}) into {} in {:.1f} s ({}/s)", shown,
                    missing.size(), missing.size() == 1 ? "" : "s",
                    HumanBytes(static_cast<double>(to_fetch)), root, secs,
                    HumanBytes(secs > 0 ? static_cast<double>(to_fetch) / secs : 0)));
  return root;
}

}  // namespace baton
