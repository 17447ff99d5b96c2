#include "store/s3_object_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "base/json.h"
#include "base/kill_point.h"
#include "base/process_contract.h"
#include "base/strings.h"
#include "net/http_client.h"
#include "store/cloud_credentials.h"
#include "store/prefix_hasher.h"
#include "store/sigv4.h"

namespace baton {
namespace {

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string AmzDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Decodes the five XML entities and numeric references S3 uses in keys.
std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out += '&';
    else if (ent == "lt")
      out += '<';
    else if (ent == "gt")
      out += '>';
    else if (ent == "quot")
      out += '"';
    else if (ent == "apos")
      out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      uint32_t cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                        ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                        : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// The Content-Type an upload carries, by the key's extension: JSON documents (manifests, args,
// configs, the lease, COMPLETE) as application/json, the log as JSON Lines, text as text; the rest
// (safetensors, anything unknown) as bytes. What browsers and consoles show for the object.
std::string ContentTypeOf(std::string_view key) {
  auto ends = [&](std::string_view ext) { return key.ends_with(ext); };
  if (ends(".json") || key == "COMPLETE" || ends("/COMPLETE")) return "application/json";
  if (ends(".jsonl")) return "application/x-ndjson";
  if (ends(".txt") || ends(".md")) return "text/plain; charset=utf-8";
  if (ends(".yaml") || ends(".yml")) return "application/yaml";
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

// Partial downloads (S3ObjectStore::GetToFile). Temporary files of Baton before resumable
// downloads, "<path>.tmp.<pid>", whose process is gone, are removed: nothing can resume them.
void RemoveDeadTemps(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  Result<std::vector<std::string>> names = Env::Default()->ListDir(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    if (!n.starts_with(prefix)) continue;
    std::string pid = n.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    long p = std::strtol(pid.c_str(), nullptr, 10);
    if (p > 0 && ::kill(static_cast<pid_t>(p), 0) != 0 && errno == ESRCH) {
      ::unlink((dir + "/" + n).c_str());
    }
  }
}

// Opens and locks `partial` (created when absent), waiting while another process downloads
// into it. The lock is taken on the file the name still points to: a download that finished
// meanwhile has renamed its partial file, and that one is not ours to truncate.
Result<int> LockPartial(const std::string& partial) {
  for (;;) {
    int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("{}: {}", partial, std::strerror(errno));
    if (::flock(fd, LOCK_EX) != 0) {
      int e = errno;
      ::close(fd);
      return IoError("{}: lock failed: {}", partial, std::strerror(e));
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::stat(partial.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return fd;
    }
    ::close(fd);  // renamed or removed while we waited: open the name again
  }
}

// The parts a record says are on disk, for this version of the object; none when the record is
// missing, unreadable, or about another ETag, size or part size (the partial file is stale).
std::vector<bool> ReadPartialRecord(Env* env, const std::string& record, const std::string& etag,
                                    uint64_t size, uint64_t part_size, uint64_t parts) {
  std::vector<bool> have(parts, false);
  if (etag.empty() || !env->FileExists(record)) return have;
  Result<std::string> text = env->ReadFile(record);
  if (!text.ok()) return have;
  Result<Json> j = ParseJson(*text, record);
  if (!j.ok() || JsonStringOr(*j, "etag") != etag) return have;
  Result<int64_t> s = JsonInt(*j, "size", record), p = JsonInt(*j, "part_size", record);
  if (!s.ok() || !p.ok() || static_cast<uint64_t>(*s) != size ||
      static_cast<uint64_t>(*p) != part_size || !(*j)["parts"].is_array()) {
    return have;
  }
  for (const Json& v : (*j)["parts"]) {
    Result<int64_t> i = JsonAsInt(v);
    if (!i.ok() || *i < 0 || static_cast<uint64_t>(*i) >= parts) return std::vector<bool>(parts);
    have[static_cast<size_t>(*i)] = true;
  }
  return have;
}

Status WritePartialRecord(Env* env, const std::string& record, const std::string& etag,
                          uint64_t size, uint64_t part_size, const std::vector<bool>& have) {
  Json parts = Json::array();
  for (size_t i = 0; i < have.size(); ++i) {
    if (have[i]) parts.push_back(i);
  }
  Json j = {{"format", "baton-partial-download"},
            {"etag", etag},
            {"size", size},
            {"part_size", part_size},
            {"parts", std::move(parts)}};
  return env->WriteFileAtomic(record, DumpJson(j));
}

// The text of every <tag>...</tag> in `xml` (within [from, to)), in order.
std::vector<std::string_view> XmlAll(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t start = pos + open.size();
    size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(start, end - start));
    pos = end + close.size();
  }
  return out;
}

std::string XmlFirst(std::string_view xml, std::string_view tag) {
  auto all = XmlAll(xml, tag);
  return all.empty() ? "" : XmlUnescape(all[0]);
}

// S3 error codes that mean "try again" whatever the HTTP status (RequestTimeout comes as 400).
bool IsRetryableCode(std::string_view code) {
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable" || code == "Throttling" || code == "ThrottlingException";
}

// The ETag S3 gives an object made of parts with these ETags: the MD5 of their binary MD5s,
// "-<count>". "" when a part's ETag is not a plain MD5 (encrypted with KMS, other servers).
std::string MultipartETag(const std::vector<std::string>& part_etags) {
  std::string md5s;
  for (std::string e : part_etags) {
    if (e.size() == 34 && e.front() == '"' && e.back() == '"') e = e.substr(1, 32);
    if (e.size() != 32 || e.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return "";
    }
    for (size_t i = 0; i < 32; i += 2) {
      md5s += static_cast<char>(std::strtol(e.substr(i, 2).c_str(), nullptr, 16));
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(md5s.data(), md5s.size(), digest, &n, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return fmt::format("\"{}-{}\"", hex, part_etags.size());
}

Result<uint64_t> ParseSize(std::string_view name, std::string_view value) {
  if (value.empty()) return InvalidArgument("store URL parameter {} is empty", name);
  uint64_t mult = 1;
  std::string v(value);
  auto ends = [&](std::string_view suf) {
    if (v.size() > suf.size() && v.compare(v.size() - suf.size(), suf.size(), suf) == 0) {
      v.resize(v.size() - suf.size());
      return true;
    }
    return false;
  };
  if (ends("GiB"))
    mult = 1ull << 30;
  else if (ends("MiB"))
    mult = 1ull << 20;
  else if (ends("KiB"))
    mult = 1ull << 10;
  if (v.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("store URL parameter {}={}: expected bytes like 16MiB", name, value);
  }
  return std::strtoull(v.c_str(), nullptr, 10) * mult;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

class S3ObjectStore : public Store {
 public:
  S3ObjectStore(S3Options o, Env* env)
      : o_(std::move(o)),
        env_(env),
        creds_(o_.oss ? CredentialsProvider::Cloud::kAlibaba : CredentialsProvider::Cloud::kAws),
        rng_(std::random_device{}()) {
    for (int i = 0; i < std::max(1, o_.parallel); ++i) {
      http_.push_back(std::make_unique<HttpClient>());
    }
    std::string ep = o_.endpoint;
    size_t scheme = ep.find("://");
    scheme_ = ep.substr(0, scheme);
    host_ = ep.substr(scheme + 3);
    // "user:pass@" in an endpoint means nothing to a signed request: never sent, nor signed.
    if (size_t at = host_.rfind('@'); at != std::string::npos) host_ = host_.substr(at + 1);
  }

  std::string Url() const override {
    std::string u = fmt::format("{}://{}", o_.oss ? "oss" : "s3", o_.bucket);
    if (!o_.prefix.empty()) u += "/" + o_.prefix;
    return u;
  }

  std::string Identity() const override {
    // The endpoint's authority (no user info), then the bucket and prefix: the addressing style
    // and the spelling of the URL do not matter.
    std::string u =
        fmt::format("{}://{}/{}", o_.oss ? "oss" : "s3", UrlAuthority(o_.endpoint), o_.bucket);
    if (!o_.prefix.empty()) u += "/" + o_.prefix;
    return u;
  }

  Status Put(const std::string& key, std::string_view data) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    if (data.size() > o_.multipart_threshold) return PutMultipart(key, data);
    return PutSingle(key, data, {}).status();
  }

  Result<std::string> Get(const std::string& key) override {
    BATON_ASSIGN_OR_RETURN(Versioned v, GetVersioned(key));
    return std::move(v.data);
  }

  Result<Versioned> GetVersioned(const std::string& key) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Call("GET", key, {}, {}, {}));
    return Versioned{std::move(r.body), r.Header("etag")};
  }

  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    return ReadRange(key, offset, len, "");
  }

  Result<uint64_t> Head(const std::string& key) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    BATON_ASSIGN_OR_RETURN(HttpResponse r, Call("HEAD", key, {}, {}, {}));
    return std::strtoull(r.Header("content-length").c_str(), nullptr, 10);
  }

  Result<std::vector<std::string>> List(const std::string& prefix) override {
    BATON_ASSIGN_OR_RETURN(std::vector<ObjectInfo> infos, ListInfo(prefix));
    std::vector<std::string> keys;
    for (ObjectInfo& i : infos) keys.push_back(std::move(i.key));
    return keys;
  }

  Result<std::vector<ObjectInfo>> ListInfo(const std::string& prefix) override {
    std::string full = FullKey(prefix);
    std::string root = o_.prefix.empty() ? "" : o_.prefix + "/";
    std::vector<ObjectInfo> out;
    std::string token;
    for (int page = 0;; ++page) {
      std::vector<std::pair<std::string, std::string>> q = {
          {"list-type", "2"}, {"max-keys", std::to_string(o_.max_keys)}, {"prefix", full}};
      if (!token.empty()) q.emplace_back("continuation-token", token);
      BATON_ASSIGN_OR_RETURN(HttpResponse r, CallBucket("GET", q, prefix));
      for (std::string_view c : XmlAll(r.body, "Contents")) {
        std::string key = XmlFirst(c, "Key");
        // Only keys under what was asked for: a server that ignores `prefix` (some
        // S3-compatible ones do) must not make DeletePrefix("checkpoint-5/") delete the run.
        // Keys that no Store call could name ("a//b", "../x") are not ours either.
        if (!key.starts_with(full) || !ValidateKey(key.substr(root.size())).ok()) continue;
        ObjectInfo info;
        info.key = key.substr(root.size());
        info.size = std::strtoull(XmlFirst(c, "Size").c_str(), nullptr, 10);
        info.etag = XmlFirst(c, "ETag");
        out.push_back(std::move(info));
      }
      if (XmlFirst(r.body, "IsTruncated") != "true") break;
      token = XmlFirst(r.body, "NextContinuationToken");
      if (token.empty()) {
        return Corruption("{}: listing is truncated but has no continuation token", Url());
      }
    }
    std::sort(out.begin(), out.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
  }

  Status Delete(const std::string& key) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    Result<HttpResponse> r = Call("DELETE", key, {}, {}, {});
    if (r.status().code() == StatusCode::kNotFound) return Status::Ok();
    return r.status();
  }

  Status DeletePrefix(const std::string& prefix) override {
    BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, List(prefix));
    for (const std::string& k : keys) BATON_RETURN_IF_ERROR(Delete(k));
    return Status::Ok();
  }

  // Downloads into "<path>.partial" and renames it to `path` when whole. Resumable: after every
  // part, "<path>.partial.json" records the object's ETag and size and the parts already on
  // disk (after fdatasync, so a record never claims bytes the disk may not hold). A rerun that
  // finds a record for the same ETag, size and part size fetches only the missing parts; any
  // other partial file is stale and starts over. Parts are read with If-Match on the ETag, so a
  // resumed file is never a mix of two versions. One download per path at a time: the partial
  // file is locked (flock), and a second download of the same path waits for the first.
  Status GetToFile(const std::string& key, const std::string& path, Env* env,
                   const Progress& progress, std::string* xxh3_64) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    BATON_ASSIGN_OR_RETURN(HttpResponse head, Call("HEAD", key, {}, {}, {}));
    uint64_t size = std::strtoull(head.Header("content-length").c_str(), nullptr, 10);
    // Every range must come from the version measured here.
    std::string etag = head.Header("etag");
    const std::string partial = path + ".partial", record = path + ".partial.json";
    RemoveDeadTemps(path);
    BATON_ASSIGN_OR_RETURN(int fd, LockPartial(partial));
    const uint64_t parts = (size + o_.part_size - 1) / o_.part_size;
    std::vector<bool> have = ReadPartialRecord(env, record, etag, size, o_.part_size, parts);
    uint64_t resumed = 0;
    for (uint64_t i = 0; i < parts; ++i) {
      if (have[i]) resumed += std::min<uint64_t>(o_.part_size, size - i * o_.part_size);
    }
    std::unique_ptr<PrefixHasher> hasher;
    if (xxh3_64) hasher = std::make_unique<PrefixHasher>(fd, partial, size, o_.part_size);
    Status s = [&]() -> Status {
      if (resumed == 0 && ::ftruncate(fd, 0) != 0) {
        return IoError("{}: truncate failed: {}", partial, std::strerror(errno));
      }
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        return IoError("{}: truncate failed: {}", partial, std::strerror(errno));
      }
      if (progress) progress(resumed, size);  // > 0: resumed (the caller says so)
      // A resumed file's parts on disk are read back once, as the hashed prefix reaches them.
      if (hasher) {
        for (uint64_t i = 0; i < parts; ++i) {
          if (!have[i]) continue;
          uint64_t off = i * o_.part_size;
          BATON_RETURN_IF_ERROR(
              hasher->WrittenBefore(off, std::min<uint64_t>(o_.part_size, size - off)));
        }
      }
      std::vector<uint64_t> todo;
      for (uint64_t i = 0; i < parts; ++i) {
        if (!have[i]) todo.push_back(i);
      }
      // Ranged reads of part_size on several connections, each retried on its own: a dropped
      // connection costs one part, an interrupted download the parts not yet recorded.
      std::mutex mu;
      uint64_t done = resumed;
      return ParallelFor(todo.size(), [&](uint64_t t) -> Status {
        const uint64_t i = todo[t];
        uint64_t off = i * o_.part_size;
        uint64_t len = std::min<uint64_t>(o_.part_size, size - off);
        BATON_RETURN_IF_ERROR(ReadRangeTo(fd, partial, key, off, len, etag, hasher.get()));
        std::lock_guard<std::mutex> lock(mu);
        if (::fdatasync(fd) != 0) {
          return IoError("{}: fdatasync failed: {}", partial, std::strerror(errno));
        }
        have[i] = true;
        BATON_RETURN_IF_ERROR(WritePartialRecord(env, record, etag, size, o_.part_size, have));
        done += len;
        if (progress) progress(done, size);
        KillPoint("store.download_part");
        return Status::Ok();
      });
    }();
    if (s.ok() && hasher) {
      Result<std::string> digest = hasher->Digest();
      if (digest.ok()) *xxh3_64 = *digest;
      s = digest.status();
    }
    if (s.ok() && ::fsync(fd) != 0)
      s = IoError("{}: fsync failed: {}", partial, std::strerror(errno));
    if (s.ok()) s = env->RenameFile(partial, path);
    if (s.ok() || s.code() == StatusCode::kCorruption) {
      // Whole, or of a version that is gone: nothing to resume.
      if (!s.ok()) ::unlink(partial.c_str());
      (void)env->DeleteFile(record);
    }
    ::close(fd);  // releases the lock, after the rename
    return s;
  }

  // One listing page of at most one key: fails when the endpoint, the bucket or the
  // credentials are not right.
  Status Probe() {
    BATON_ASSIGN_OR_RETURN(
        HttpResponse r,
        CallBucket("GET", {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", FullKey("")}}, ""));
    (void)r;
    return Status::Ok();
  }

  bool SupportsConditionalPut() const override { return o_.conditional; }

  Status PutIf(const std::string& key, std::string_view data,
               const std::string& if_match) override {
    BATON_RETURN_IF_ERROR(ValidateKey(key));
    if (!o_.conditional) return Store::PutIf(key, data, if_match);
    if (if_match.empty()) return PutSingle(key, data, {{"If-None-Match", "*"}}).status();
    // ETags travel quoted (RFC 7232), as S3 gives them out; some servers (Ceph radosgw 16)
    // compare If-Match on PUT with the bare tag and refuse a quoted one that matches. A 412
    // for a tag that HEAD still shows is that, and the write is retried, still conditional,
    // with the bare tag (remembered for this store).
    bool quoted = if_match.size() >= 2 && if_match.front() == '"' && if_match.back() == '"';
    std::string bare = quoted ? if_match.substr(1, if_match.size() - 2) : if_match;
    Status s = PutSingle(key, data, {{"If-Match", bare_if_match_ ? bare : if_match}}).status();
    if (s.code() == StatusCode::kFailedPrecondition && quoted && !bare_if_match_) {
      Result<HttpResponse> head = Call("HEAD", key, {}, {}, {});
      if (head.ok() && head->Header("etag") == if_match) {
        bare_if_match_ = true;
        s = PutSingle(key, data, {{"If-Match", bare}}).status();
      }
    }
    if (s.code() == StatusCode::kNotFound) {
      return FailedPrecondition("{}: condition failed (the object was deleted since it was read)",
                                Where(key));
    }
    return s;
  }

 private:
  std::string FullKey(const std::string& key) const {
    if (o_.prefix.empty()) return key;
    return o_.prefix + "/" + key;
  }
  std::string Where(const std::string& key) const {
    return key.empty() ? Url() : JoinKey(Url(), key);
  }

  // Runs fn(0..n-1) on up to o_.parallel threads; the first error stops the others from taking
  // more work and is returned.
  Status ParallelFor(uint64_t n, const std::function<Status(uint64_t)>& fn) {
    int threads = static_cast<int>(std::min<uint64_t>(n, std::max(1, o_.parallel)));
    if (threads <= 1) {
      for (uint64_t i = 0; i < n; ++i) BATON_RETURN_IF_ERROR(fn(i));
      return Status::Ok();
    }
    std::atomic<uint64_t> next{0};
    std::mutex mu;
    Status first;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (;;) {
          {
            std::lock_guard<std::mutex> lock(mu);
            if (!first.ok()) return;
          }
          uint64_t i = next.fetch_add(1);
          if (i >= n) return;
          Status s = fn(i);
          if (!s.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            if (first.ok()) first = s;
            return;
          }
        }
      });
    }
    for (std::thread& t : pool) t.join();
    return first;
  }

  // At most `len` bytes at `offset`; with an `etag`, only of that version of the object (a
  // replaced object fails with Corruption). The answer is checked against its Content-Range, and
  // one shorter than the object has there is retried like a dropped connection: a cut body is
  // never returned as data.
  Result<std::string> ReadRange(const std::string& key, uint64_t offset, uint64_t len,
                                const std::string& etag) {
    if (len == 0) return std::string();
    std::vector<std::pair<std::string, std::string>> h = {
        {"Range", fmt::format("bytes={}-{}", offset, offset + len - 1)}};
    if (!etag.empty()) h.emplace_back("If-Match", etag);
    auto check = [&](const HttpResponse& r) -> Status {
      if (r.status != 206) return Status::Ok();
      unsigned long long first = 0, last = 0, total = 0;
      std::string range = r.Header("content-range");
      if (std::sscanf(range.c_str(), "bytes %llu-%llu/%llu", &first, &last, &total) != 3) {
        if (r.body.size() <= len) return Status::Ok();  // no total to check against
        return Unavailable("{}: range read got {} bytes, asked {}", Where(key), r.body.size(), len);
      }
      uint64_t want = total > offset ? std::min<uint64_t>(len, total - offset) : 0;
      if (first != offset || r.body.size() != want || last + 1 - first != want) {
        return Unavailable("{}: range read at {} got {} bytes ({}), want {}", Where(key), offset,
                           r.body.size(), range, want);
      }
      return Status::Ok();
    };
    Result<HttpResponse> r = Call("GET", key, {}, h, {}, /*range_ok=*/true, check);
    if (r.status().code() == StatusCode::kFailedPrecondition && !etag.empty()) {
      return Corruption("{}: the object was replaced while it was being downloaded", Where(key));
    }
    if (!r.ok()) return r.status();
    if (r->status == 416) return std::string();  // at or past the end
    if (r->status == 200) return r->body.substr(std::min<uint64_t>(offset, r->body.size()), len);
    return std::move(r->body);
  }

  // The range [offset, offset + len) of the object's version `etag`, written into `fd` at the
  // same offset as it arrives: each piece curl hands over (tens of KiB) is still in the CPU's
  // cache when pwrite copies it into the page cache (and `hasher`, if any, hashes it), where a
  // whole part gathered in memory first (16 MiB) is not. An answer is checked before its first
  // byte is written (206 for exactly this range), so no byte lands at the wrong place; a server
  // that ignored Range (200, the whole object) is read the buffered way instead.
  Status ReadRangeTo(int fd, const std::string& file, const std::string& key, uint64_t offset,
                     uint64_t len, const std::string& etag, PrefixHasher* hasher) {
    if (len == 0) return Status::Ok();
    std::vector<std::pair<std::string, std::string>> h = {
        {"Range", fmt::format("bytes={}-{}", offset, offset + len - 1)}};
    if (!etag.empty()) h.emplace_back("If-Match", etag);
    uint64_t received = 0;
    bool too_long = false;
    Stream stream;
    auto is_range = [&](const HttpResponse& r) {
      unsigned long long first = 0, last = 0, total = 0;
      return r.status == 206 &&
             std::sscanf(r.Header("content-range").c_str(), "bytes %llu-%llu/%llu", &first, &last,
                         &total) == 3 &&
             first == offset && last + 1 - first == len;
    };
    stream.restart = [&] { received = 0; };
    stream.begin = [&](const HttpResponse& r) -> Status {
      if (is_range(r)) return Status::Ok();
      if (r.status == 200) {
        too_long = true;
        return FailedPrecondition("{}: the server ignored the range asked", Where(key));
      }
      return Unavailable("{}: range read at {} got {} (HTTP {}), want {} bytes", Where(key), offset,
                         r.Header("content-range"), r.status, len);
    };
    stream.write = [&](std::string_view d) -> Status {
      if (received + d.size() > len) {
        too_long = true;
        return FailedPrecondition("{}: the answer is longer than the range asked", Where(key));
      }
      const uint64_t at = offset + received;
      const std::string_view piece = d;
      while (!d.empty()) {
        ssize_t n = ::pwrite(fd, d.data(), d.size(), static_cast<off_t>(offset + received));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return IoError("{}: write failed: {}", file, std::strerror(errno));
        received += static_cast<uint64_t>(n);
        d.remove_prefix(static_cast<size_t>(n));
      }
      return hasher ? hasher->Written(at, piece) : Status::Ok();
    };
    auto check = [&](const HttpResponse& r) -> Status {
      if (!is_range(r) || received != len) {
        return Unavailable("{}: range read at {} got {} bytes ({}, HTTP {}), want {}", Where(key),
                           offset, received, r.Header("content-range"), r.status, len);
      }
      return Status::Ok();
    };
    Result<HttpResponse> r = Call("GET", key, {}, h, {}, /*range_ok=*/false, check, &stream);
    if (too_long) {
      BATON_ASSIGN_OR_RETURN(std::string chunk, ReadRange(key, offset, len, etag));
      if (chunk.size() != len) {
        return Corruption("{}: object changed while downloading ({} bytes at {}, want {})",
                          Where(key), chunk.size(), offset, len);
      }
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset)) !=
          static_cast<ssize_t>(chunk.size())) {
        return IoError("{}: write failed: {}", file, std::strerror(errno));
      }
      return hasher ? hasher->Written(offset, chunk) : Status::Ok();
    }
    if (r.status().code() == StatusCode::kFailedPrecondition && !etag.empty()) {
      return Corruption("{}: the object was replaced while it was being downloaded", Where(key));
    }
    return r.status();
  }

  Result<HttpResponse> PutSingle(const std::string& key, std::string_view data,
                                 std::vector<std::pair<std::string, std::string>> headers) {
    headers.emplace_back("Content-Type", ContentTypeOf(key));
    return Call("PUT", key, {}, std::move(headers), data);
  }

  Status PutMultipart(const std::string& key, std::string_view data) {
    BATON_ASSIGN_OR_RETURN(HttpResponse init, Call("POST", key, {{"uploads", ""}},
                                                   {{"Content-Type", ContentTypeOf(key)}}, {}));
    std::string upload_id = XmlFirst(init.body, "UploadId");
    if (upload_id.empty())
      return Corruption("{}: multipart upload started without an UploadId", Where(key));
    Status s = [&]() -> Status {
      uint64_t parts = (data.size() + o_.part_size - 1) / o_.part_size;
      std::vector<std::string> etags(parts);
      BATON_RETURN_IF_ERROR(ParallelFor(parts, [&](uint64_t i) -> Status {
        std::string_view chunk = data.substr(i * o_.part_size, o_.part_size);
        BATON_ASSIGN_OR_RETURN(
            HttpResponse r,
            Call("PUT", key, {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}}, {},
                 chunk));
        etags[i] = r.Header("etag");
        if (etags[i].empty()) {
          return Corruption("{}: part {} uploaded without an ETag", Where(key), i + 1);
        }
        return Status::Ok();
      }));
      std::string complete = "<CompleteMultipartUpload>";
      for (uint64_t i = 0; i < parts; ++i) {
        complete +=
            fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, etags[i]);
      }
      complete += "</CompleteMultipartUpload>";
      // S3 may answer 200 and still report an error in the body.
      auto check = [&](const HttpResponse& r) -> Status {
        if (r.body.find("<Error>") == std::string::npos) return Status::Ok();
        std::string code = XmlFirst(r.body, "Code");
        std::string detail = fmt::format("{}: {}", code, XmlFirst(r.body, "Message"));
        if (IsRetryableCode(code)) {
          return Unavailable("{}: completing the multipart upload: {}", Where(key), detail);
        }
        return IoError("{}: completing the multipart upload failed: {}", Where(key), detail);
      };
      Result<HttpResponse> done = Call("POST", key, {{"uploadId", upload_id}},
                                       {{"Content-Type", "application/xml"}}, complete,
                                       /*range_ok=*/false, check);
      if (done.status().code() == StatusCode::kNotFound &&
          done.status().message().find("NoSuchUpload") != std::string::npos) {
        // A retry after an answer that was lost: the first attempt may have completed the
        // upload. Only an object with exactly this upload's ETag counts as done.
        std::string want = MultipartETag(etags);
        Result<HttpResponse> head = Call("HEAD", key, {}, {}, {});
        if (!want.empty() && head.ok() &&
            strcasecmp(head->Header("etag").c_str(), want.c_str()) == 0) {
          return Status::Ok();
        }
      }
      return done.status();
    }();
    if (!s.ok()) {
      (void)Call("DELETE", key, {{"uploadId", upload_id}}, {}, {});  // abort: free the parts
      return s;
    }
    return Status::Ok();
  }

  // One request on an object (or, with an empty key, on the bucket), retried as the header
  // describes; a non-2xx status becomes an error naming the object.
  // `check` judges a 2xx answer (and a 416 with `range_ok`): Unavailable retries the request,
  // any other error fails it.
  // With `stream`, a 2xx answer's body goes to stream->write as it arrives (not into the
  // response); stream->restart runs before every attempt, so a retry starts over.
  using Check = std::function<Status(const HttpResponse&)>;
  struct Stream {
    std::function<Status(std::string_view)> write;
    std::function<void()> restart;
    std::function<Status(const HttpResponse&)> begin;  // a 2xx answer's status and headers
  };
  Result<HttpResponse> Call(const std::string& method, const std::string& key,
                            std::vector<std::pair<std::string, std::string>> query,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string_view body, bool range_ok = false,
                            const Check& check = nullptr, const Stream* stream = nullptr) {
    std::string path = "/";
    if (o_.path_style)
      path += UriEncode(o_.bucket, true) + (key.empty() && !query.empty() ? "" : "/");
    if (!key.empty()) path += UriEncode(FullKey(key), false);
    return Send(method, path, std::move(query), std::move(headers), body,
                key.empty() ? Url() : Where(key), range_ok, check, stream);
  }

  Result<HttpResponse> CallBucket(const std::string& method,
                                  std::vector<std::pair<std::string, std::string>> query,
                                  const std::string& what) {
    std::string path = o_.path_style ? "/" + UriEncode(o_.bucket, true) : "/";
    return Send(method, path, std::move(query), {}, {}, Where(what), false, nullptr);
  }

  Result<HttpResponse> Send(const std::string& method, const std::string& path,
                            std::vector<std::pair<std::string, std::string>> query,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string_view body, const std::string& where, bool range_ok,
                            const Check& check, const Stream* stream = nullptr) {
    std::string host = o_.path_style ? host_ : o_.bucket + "." + host_;
    std::vector<std::pair<std::string, std::string>> encoded_query;
    std::string query_string;
    for (const auto& [k, v] : query) {
      encoded_query.emplace_back(UriEncode(k, true), UriEncode(v, true));
      query_string += (query_string.empty() ? "?" : "&") + encoded_query.back().first;
      if (!v.empty() || k != "uploads") query_string += "=" + encoded_query.back().second;
    }
    std::string payload_hash = Sha256Hex(body);
    Status last;
    bool token_refreshed = false;
    int no_answers = 0;
    for (int attempt = 0; attempt < std::max(1, o_.retries); ++attempt) {
      if (attempt > 0) {
        uint64_t cap = std::min<uint64_t>(
            o_.backoff_cap_ms, static_cast<uint64_t>(o_.backoff_base_ms) << std::min(attempt, 20));
        uint64_t ms;
        {
          std::lock_guard<std::mutex> lock(rng_mu_);
          ms = std::uniform_int_distribution<uint64_t>(0, cap)(rng_);
        }
        env_->SleepMicros(ms * 1000);
      }
      BATON_ASSIGN_OR_RETURN(SigV4Credentials creds, creds_.Get());
      HttpRequestToSign sign;
      sign.method = method;
      sign.path = path;
      sign.query = encoded_query;
      sign.headers = {{"host", host}, {"x-amz-content-sha256", payload_hash}};
      for (const auto& h : headers) sign.headers.push_back(h);
      sign.payload_sha256_hex = payload_hash;
      SigV4Params params;
      params.region = o_.region;
      params.service = "s3";
      params.amz_date = AmzDate();
      params.normalize_path = false;
      BATON_RETURN_IF_ERROR(SignRequest(&sign, params, creds));
      HttpRequest req;
      req.method = method;
      req.url = fmt::format("{}://{}{}{}", scheme_, host, path, query_string);
      req.headers = sign.headers;
      req.body = body;
      req.stall_timeout_ms = o_.stall_timeout_ms;
      if (stream) {
        stream->restart();
        req.sink = stream->write;
        req.sink_begin = stream->begin;
      }
      // Connections are taken in turn; concurrent requests (parallel parts) get different ones.
      HttpClient& http = *http_[next_client_.fetch_add(1) % http_.size()];
      bool no_answer = false;
      Result<HttpResponse> r = http.Send(req, &no_answer);
      if (!r.ok()) {
        last = r.status();
        // The transport's failures are Unavailable; another code is the stream's own verdict
        // (a disk that is full, an answer longer than asked): retrying would not change it.
        if (last.code() != StatusCode::kUnavailable) return last;
        if (no_answer && ++no_answers >= 2) {
          return Unavailable(
              "{}: {}: the server at {} takes requests and does not answer them ({} times, {} s "
              "each): it is holding requests (overloaded, or a full cluster?); giving up without "
              "the other {} attempts",
              where, method, RedactUrl(o_.endpoint), no_answers,
              std::max(1, o_.stall_timeout_ms / 1000), std::max(1, o_.retries) - attempt - 1);
        }
        continue;  // transport error: retry
      }
      long st = r->status;
      if ((st >= 200 && st < 300) || (range_ok && st == 416)) {
        Status checked = check ? check(*r) : Status::Ok();
        if (checked.code() == StatusCode::kUnavailable) {
          last = checked;
          continue;
        }
        if (!checked.ok()) return checked;
        return r;
      }
      std::string code = XmlFirst(r->body, "Code"), message = XmlFirst(r->body, "Message");
      std::string detail = code.empty() ? fmt::format("HTTP {}", st)
                                        : fmt::format("HTTP {} {}: {}", st, code, message);
      if (st >= 500 || st == 429 || IsRetryableCode(code)) {
        last = Unavailable("{}: {} {}", where, method, detail);
        continue;
      }
      if ((code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") &&
          !token_refreshed) {
        // Temporary keys that expired early: fetch them again and retry once.
        creds_.Invalidate();
        token_refreshed = true;
        last = Unavailable("{}: {} {}", where, method, detail);
        continue;
      }
      if (st == 404 && code == "NoSuchBucket") {
        return NotFound("{}: bucket '{}' does not exist at {} ({})", where, o_.bucket,
                        RedactUrl(o_.endpoint), detail);
      }
      if (st == 404) return NotFound("{}: no such object ({})", where, detail);
      if (st == 412 || (st == 409 && code == "ConditionalRequestConflict")) {
        return FailedPrecondition("{}: condition failed ({})", where, detail);
      }
      if (st == 403) {
        return IoError(
            "{}: access denied ({}); check the credentials (from {}) and the bucket policy", where,
            detail, creds_.source());
      }
      // A bucket in another region than the one signed for says where it is.
      std::string bucket_region = r->Header("x-amz-bucket-region");
      if (!bucket_region.empty() && bucket_region != o_.region) {
        return IoError("{}: {} failed ({}); the bucket is in region {}: add ?region={}", where,
                       method, detail, bucket_region, bucket_region);
      }
      return IoError("{}: {} failed ({})", where, method, detail);
    }
    return Unavailable("{}: giving up after {} attempts at {}: {}", where, std::max(1, o_.retries),
                       RedactUrl(o_.endpoint), last.message());
  }

  S3Options o_;
  Env* env_;
  CredentialsProvider creds_;
  std::vector<std::unique_ptr<HttpClient>> http_;
  std::atomic<uint64_t> next_client_{0};
  std::mutex rng_mu_;
  std::atomic<bool> bare_if_match_{false};  // the server wants If-Match without quotes
  std::mt19937_64 rng_;
  std::string scheme_, host_;
};

// S3's bucket naming rules, loosened for older buckets and test servers (upper case, '_').
bool IsBucketName(std::string_view b) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (b.empty() || b.size() > 255 || !alnum(b.front()) || !alnum(b.back())) return false;
  if (b.find("..") != std::string_view::npos) return false;
  return std::all_of(b.begin(), b.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '-' || c == '_'; });
}

}  // namespace

Result<S3Options> S3Options::FromUrl(std::string_view url) {
  const std::string shown = RedactUrl(url);  // messages never show credentials
  S3Options o;
  std::string_view rest;
  if (url.starts_with("s3://")) {
    rest = url.substr(5);
  } else if (url.starts_with("oss://")) {
    o.oss = true;
    rest = url.substr(6);
  } else {
    return InvalidArgument("'{}' is not an s3:// or oss:// URL", shown);
  }
  std::map<std::string, std::string> params;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    std::string_view qs = rest.substr(q + 1);
    rest = rest.substr(0, q);
    while (!qs.empty()) {
      size_t amp = qs.find('&');
      std::string_view pair = qs.substr(0, amp);
      qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string k = PercentDecode(pair.substr(0, eq));
      std::string v = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
      params[k] = v;
    }
  }
  size_t slash = rest.find('/');
  o.bucket = std::string(rest.substr(0, slash));
  if (o.bucket.empty()) return InvalidArgument("{}: no bucket name", shown);
  // The bucket becomes a host name or the first segment of the path: "..", "a/b" or a newline
  // would address another bucket or break the request.
  if (!IsBucketName(o.bucket)) {
    return InvalidArgument(
        "{}: bucket '{}' is not a bucket name (letters, digits, '.', '-', '_'; starts and ends "
        "with a letter or digit; no '..')",
        shown, o.bucket);
  }
  if (slash != std::string_view::npos) o.prefix = std::string(rest.substr(slash + 1));
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  if (!o.prefix.empty())
    BATON_RETURN_IF_ERROR(ValidateKey(o.prefix, fmt::format("{}: prefix", shown)));

  auto take = [&](const char* name) -> std::optional<std::string> {
    auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    std::string v = it->second;
    params.erase(it);
    return v;
  };
  auto first_env = [](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      std::string v = GetEnv(n);
      if (!v.empty()) return v;
    }
    return std::string();
  };
  std::string region =
      take("region").value_or(o.oss ? first_env({"OSS_REGION", "ALIBABA_CLOUD_REGION_ID"})
                                    : first_env({"AWS_REGION", "AWS_DEFAULT_REGION"}));
  if (o.oss) {
    if (region.empty()) {
      return InvalidArgument("{}: no region: add ?region=cn-hangzhou or set OSS_REGION", shown);
    }
    if (region.starts_with("oss-")) region = region.substr(4);
  } else if (region.empty()) {
    region = "us-east-1";
  }
  o.region = region;
  std::string endpoint =
      take("endpoint")
          .value_or(o.oss ? first_env({"OSS_ENDPOINT"})
                          : first_env({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}));
  bool custom = !endpoint.empty();
  if (endpoint.empty()) {
    endpoint = o.oss ? fmt::format("https://s3.oss-{}.aliyuncs.com", region)
                     : fmt::format("https://s3.{}.amazonaws.com", region);
  }
  if (endpoint.find("://") == std::string::npos) endpoint = "https://" + endpoint;
  while (endpoint.back() == '/') endpoint.pop_back();
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return InvalidArgument("{}: endpoint '{}' must be http:// or https://", shown,
                           RedactUrl(endpoint));
  }
  o.endpoint = endpoint;
  bool cloud = endpoint.find("amazonaws.com") != std::string::npos ||
               endpoint.find("aliyuncs.com") != std::string::npos;
  (void)custom;
  std::string addressing =
      take("addressing").value_or(GetEnvVar(EnvVar::kS3Addressing).value_or(""));
  if (addressing.empty()) addressing = cloud ? "virtual" : "path";
  if (addressing != "path" && addressing != "virtual") {
    return InvalidArgument("{}: addressing={} (want path or virtual)", shown, addressing);
  }
  o.path_style = addressing == "path";
  std::string conditional =
      take("conditional")
          .value_or(endpoint.find("amazonaws.com") != std::string::npos ? "true" : "false");
  if (conditional != "true" && conditional != "false") {
    return InvalidArgument("{}: conditional={} (want true or false)", shown, conditional);
  }
  o.conditional = conditional == "true";
  if (auto v = take("part_size")) {
    BATON_ASSIGN_OR_RETURN(o.part_size, ParseSize("part_size", *v));
    if (o.part_size < (5ull << 20)) {
      return InvalidArgument("{}: part_size must be at least 5MiB (S3's minimum)", shown);
    }
  }
  if (auto v = take("multipart_threshold")) {
    BATON_ASSIGN_OR_RETURN(o.multipart_threshold, ParseSize("multipart_threshold", *v));
  }
  auto int_param = [&](const char* name, int* into, int lo, int hi) -> Status {
    if (auto v = take(name)) {
      char* end = nullptr;
      long x = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || x < lo || x > hi) {
        return InvalidArgument("{}: {}={} (want an integer in [{}, {}])", shown, name, *v, lo, hi);
      }
      *into = static_cast<int>(x);
    }
    return Status::Ok();
  };
  BATON_RETURN_IF_ERROR(int_param("max_keys", &o.max_keys, 1, 1000));
  BATON_RETURN_IF_ERROR(int_param("parallel", &o.parallel, 1, 64));
  BATON_RETURN_IF_ERROR(int_param("retries", &o.retries, 1, 100));
  BATON_RETURN_IF_ERROR(int_param("backoff_ms", &o.backoff_base_ms, 0, 60000));
  BATON_RETURN_IF_ERROR(int_param("stall_timeout_ms", &o.stall_timeout_ms, 1000, 3600000));
  if (!params.empty()) {
    return InvalidArgument(
        "{}: unknown store URL parameter '{}' (known: endpoint, region, addressing, conditional, "
        "part_size, multipart_threshold, max_keys, parallel, retries, backoff_ms, "
        "stall_timeout_ms)",
        shown, params.begin()->first);
  }
  return o;
}

Result<std::unique_ptr<Store>> MakeS3ObjectStore(const S3Options& options, Env* env, bool probe) {
  auto store = std::make_unique<S3ObjectStore>(options, env);
  if (probe) BATON_RETURN_IF_ERROR(store->Probe());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace baton
