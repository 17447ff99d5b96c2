#include "store/store.h"

#include "store/file_store.h"

namespace baton {

Status Store::RenamePrefix(const std::string& from, const std::string& to) {
  return Unimplemented("{}: cannot rename {} to {} (not a filesystem store)", Url(), from, to);
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
    return Unimplemented(
        "{}: s3:// and oss:// support arrives with the object-store issue; use a local folder "
        "or an ossfs/s3fs mount for now",
        url);
  }
  if (url.starts_with("file://")) {
    path = url.substr(7);
  } else if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    return InvalidArgument("{}: unknown store scheme '{}' (expected file://, s3:// or oss://)", url,
                           url.substr(0, scheme));
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
