// Helpers shared by the tests: scratch folders and golden-case paths.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "base/env.h"

namespace baton::testing {

// A fresh folder under $TMPDIR (or /tmp), removed at the end unless BATON_KEEP_TMP is set.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/baton_test_XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~ScopedTempDir() {
    if (!getenv("BATON_KEEP_TMP")) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string GoldenDir(const std::string& name) {
  return std::string(BATON_TEST_DATA_DIR) + "/golden/" + name;
}

// Copies every file of folder `from` into `to` (flat).
inline void CopyDir(const std::string& from, const std::string& to) {
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(to).ok());
  auto names = env->ListDir(from);
  ASSERT_TRUE(names.ok());
  for (const std::string& n : *names) {
    ASSERT_TRUE(env->CopyFile(from + "/" + n, to + "/" + n).ok());
  }
}

}  // namespace baton::testing
