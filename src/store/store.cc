#include "store/store.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include "base/strings.h"
#include "store/file_store.h"
#include "store/s3_store.h"

namespace baton {

Status Store::Append(const std::string& key, std::string_view) {
  return Unimplemented("{}: this store cannot append", JoinKey(Url(), key));
}

Status Store::RenamePrefix(const std::string& from, const std::string& to) {
  return Unimplemented("{}: cannot rename {} to {} (not a filesystem store)", Url(), from, to);
}

Result<std::vector<Store::ObjectInfo>> Store::ListInfo(const std::string& prefix) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> keys, List(prefix));
  std::vector<ObjectInfo> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) {
    Result<uint64_t> size = Head(key);
    if (size.status().code() == StatusCode::kNotFound) continue;  // deleted since the listing
    if (!size.ok()) return size.status();
    out.push_back(ObjectInfo{key, *size, ""});
  }
  return out;
}

namespace {

// Lowercase hex MD5 of `data`.
std::string Md5Hex(std::string_view data, std::string* raw = nullptr) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
  if (raw) raw->append(reinterpret_cast<const char*>(digest), n);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace

Result<bool> LocalFileMatches(Env* env, const std::string& path, const Store::ObjectInfo& info) {
  if (!env->FileExists(path) || env->IsDirectory(path)) return false;
  BATON_ASSIGN_OR_RETURN(uint64_t size, env->FileSize(path));
  if (size != info.size) return false;
  std::string etag = info.etag;
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  size_t dash = etag.find('-');
  std::string md5 = etag.substr(0, dash);
  if (md5.size() != 32 || md5.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return false;
  }
  BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, env->MapFile(path));
  std::string_view bytes(reinterpret_cast<const char*>(file->data()), file->size());
  if (dash == std::string::npos) return Md5Hex(bytes) == md5;
  const std::string count_text = etag.substr(dash + 1);
  if (count_text.empty() || count_text.size() > 5 ||
      count_text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const uint64_t count = std::stoull(count_text);
  for (uint64_t mib : {16, 8, 5, 32, 64, 128}) {
    const uint64_t part = mib << 20;
    if (count == 0 || (size + part - 1) / part != count) continue;
    std::string raw;
    for (uint64_t off = 0; off < size; off += part) Md5Hex(bytes.substr(off, part), &raw);
    if (Md5Hex(raw) == md5) return true;
  }
  return false;
}

Status Store::GetToFile(const std::string& key, const std::string& path, Env* env,
                        const Progress& progress, std::string* xxh3_64) {
  BATON_ASSIGN_OR_RETURN(std::string data, Get(key));
  // The first report is of bytes already there (none here): more would read as a resume.
  if (progress) progress(0, data.size());
  BATON_RETURN_IF_ERROR(env->WriteFileAtomic(path, data));
  if (xxh3_64) *xxh3_64 = fmt::format("{:016x}", XXH3_64bits(data.data(), data.size()));
  if (progress) progress(data.size(), data.size());
  return Status::Ok();
}

Result<Store::Versioned> Store::GetVersioned(const std::string& key) {
  BATON_ASSIGN_OR_RETURN(std::string data, Get(key));
  return Versioned{std::move(data), ""};
}

Status Store::PutIf(const std::string& key, std::string_view, const std::string&) {
  return Unimplemented("{}: conditional writes are not supported (writing {})", Url(), key);
}

Status ValidateKey(std::string_view key, std::string_view what) {
  if (key.empty()) return InvalidArgument("{} is empty", what);
  if (key.front() == '/') return InvalidArgument("{} '{}' is absolute", what, key);
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) slash = key.size();
    std::string_view part = key.substr(start, slash - start);
    // A trailing '/' is allowed (a "folder" prefix); an empty part elsewhere is not.
    if (part.empty() && slash != key.size()) {
      return InvalidArgument("{} '{}' has an empty path component", what, key);
    }
    if (part == "." || part == "..") {
      return InvalidArgument("{} '{}' has a '{}' component", what, key, part);
    }
    if (part.find('\0') != std::string_view::npos) {
      return InvalidArgument("{} has a NUL byte", what);
    }
    start = slash + 1;
  }
  return Status::Ok();
}

std::string JoinKey(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  if (prefix.back() == '/') return fmt::format("{}{}", prefix, key);
  return fmt::format("{}/{}", prefix, key);
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, OpenMode mode, Env* env) {
  std::string_view path = url;
  if (url.starts_with("s3://") || url.starts_with("oss://")) {
    return OpenS3Store(url, mode, env);
  }
  if (url.starts_with("file://")) {
    path = url.substr(7);
  } else if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    return InvalidArgument("{}: unknown store scheme '{}' (expected file://, s3:// or oss://)",
                           RedactUrl(url), url.substr(0, scheme));
  }
  if (path.empty()) return InvalidArgument("'{}': empty store path", url);
  std::string root(path);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (mode == OpenMode::kMustExist) {
    if (!env->FileExists(root)) return NotFound("{}: no such folder", root);
    if (!env->IsDirectory(root)) return InvalidArgument("{}: not a folder", root);
  } else {
    BATON_RETURN_IF_ERROR(env->CreateDirs(root));
  }
  return std::unique_ptr<Store>(std::make_unique<FileStore>(env, root));
}

}  // namespace baton
