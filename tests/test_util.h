// Helpers shared by the tests: scratch folders and golden-case paths.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/process_contract.h"
#include "test_paths.h"

namespace baton::testing {

// A fresh folder under $TMPDIR (or /tmp), removed at the end unless EnvVar::kKeepTmp is set.
// The one scratch-folder helper of the tests: use it instead of mkdtemp or ::testing::TempDir(),
// so parallel test processes never share a file name and EnvVar::kKeepTmp keeps every test's files.
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
    if (!GetEnvVar(EnvVar::kKeepTmp)) (void)Env::Default()->DeleteRecursively(path_);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string GoldenDir(const std::string& name) { return TestDataDir() + "/golden/" + name; }

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

// Sets environment variables for one test and puts the old values back.
class ScopedEnv {
 public:
  void Set(const char* name, const std::string& value) {
    Save(name);
    setenv(name, value.c_str(), 1);
  }
  void Unset(const char* name) {
    Save(name);
    unsetenv(name);
  }
  void Set(EnvVar var, const std::string& value) { Set(EnvVarName(var), value); }
  void Unset(EnvVar var) { Unset(EnvVarName(var)); }
  ~ScopedEnv() {
    for (auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  void Save(const char* name) {
    if (saved_.count(name)) return;
    const char* v = getenv(name);
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace baton::testing
