#include "store/file_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "ckpt/checkpoint_manager.h"
#include "store/store.h"
#include "test_util.h"

namespace baton {
namespace {

Env* env = Env::Default();

bool IsSymlinkAt(const std::string& path) {
  char buf[16];
  return ::readlink(path.c_str(), buf, sizeof(buf)) >= 0;
}

// The real Env on a filesystem that cannot exchange paths, like a FUSE mount.
class NoExchangeEnv : public ForwardingEnv {
 public:
  Status ExchangePaths(const std::string& a, const std::string& b) override {
    return Env::ExchangePaths(a, b);  // the default: Unimplemented
  }
};

class StoreFileTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(env->DeleteRecursively(dir_).ok()); }
  std::string Get(const std::string& key) {
    Result<std::string> r = store_.Get(key);
    return r.ok() ? *r : "<" + r.status().ToString() + ">";
  }
  std::vector<std::string> List(const std::string& prefix) {
    Result<std::vector<std::string>> r = store_.List(prefix);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{};
  }

  testing::ScopedTempDir tmp_;
  std::string dir_ = tmp_.path();
  FileStore store_{env, dir_};
};

TEST_F(StoreFileTest, PutGetHeadRange) {
  ASSERT_TRUE(store_.Put("a/b/c.bin", "hello world").ok());
  EXPECT_EQ(Get("a/b/c.bin"), "hello world");
  EXPECT_EQ(*store_.Head("a/b/c.bin"), 11u);
  EXPECT_EQ(*store_.GetRange("a/b/c.bin", 6, 3), "wor");
  EXPECT_EQ(*store_.GetRange("a/b/c.bin", 6, 100), "world");
  EXPECT_EQ(*store_.GetRange("a/b/c.bin", 50, 3), "");
  ASSERT_TRUE(store_.Put("a/b/c.bin", "").ok());  // overwrite, empty object
  EXPECT_EQ(Get("a/b/c.bin"), "");
  EXPECT_EQ(*store_.Head("a/b/c.bin"), 0u);
  EXPECT_EQ(store_.Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Head("nope").status().code(), StatusCode::kNotFound);
  // A folder is not an object.
  EXPECT_EQ(store_.Get("a/b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Head("a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Url(), "file://" + dir_);
}

TEST_F(StoreFileTest, RejectsKeysThatEscapeTheRoot) {
  for (const char* key : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/"}) {
    EXPECT_EQ(store_.Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store_.Get("../x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.List("../").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreFileTest, ListIsSortedByStringPrefixAndHidesTempFiles) {
  for (const char* key : {"run/b/2", "run/a/1", "run/ab", "run/a.x/3", "other/4", "top"}) {
    ASSERT_TRUE(store_.Put(key, key).ok());
  }
  EXPECT_EQ(List(""), (std::vector<std::string>{"other/4", "run/a.x/3", "run/a/1", "run/ab",
                                                "run/b/2", "top"}));
  EXPECT_EQ(List("run/a"), (std::vector<std::string>{"run/a.x/3", "run/a/1", "run/ab"}));
  EXPECT_EQ(List("run/a/"), (std::vector<std::string>{"run/a/1"}));
  EXPECT_TRUE(List("missing/").empty());
  EXPECT_TRUE(List("run/zz").empty());
  // What a Put killed before its rename leaves is not an object.
  ASSERT_TRUE(env->WriteFileAtomic(dir_ + "/run/a/1.tmp.4242", "torn").ok());
  EXPECT_EQ(List("run/a/"), (std::vector<std::string>{"run/a/1"}));
}

TEST_F(StoreFileTest, DeleteAndDeletePrefixPruneEmptyFolders) {
  ASSERT_TRUE(store_.Put("run/ck/x", "1").ok());
  ASSERT_TRUE(store_.Put("run/ck/sub/y", "2").ok());
  ASSERT_TRUE(store_.Put("run/keep", "3").ok());
  ASSERT_TRUE(env->WriteFileAtomic(dir_ + "/run/ck/z.tmp.99", "torn").ok());
  EXPECT_TRUE(store_.Delete("run/missing").ok());
  ASSERT_TRUE(store_.Delete("run/ck/sub/y").ok());
  EXPECT_FALSE(env->FileExists(dir_ + "/run/ck/sub"));  // emptied folder is pruned
  ASSERT_TRUE(store_.DeletePrefix("run/ck/").ok());
  EXPECT_FALSE(env->FileExists(dir_ + "/run/ck"));  // temp files go too
  EXPECT_EQ(List(""), (std::vector<std::string>{"run/keep"}));
  ASSERT_TRUE(store_.Delete("run/keep").ok());
  EXPECT_FALSE(env->FileExists(dir_ + "/run"));
  EXPECT_TRUE(env->IsDirectory(dir_));  // never the root itself
  EXPECT_TRUE(store_.DeletePrefix("nothing/").ok());
}

TEST_F(StoreFileTest, RenamePrefixMovesAndReplacesAtomically) {
  ASSERT_TRUE(store_.SupportsRename());
  ASSERT_TRUE(store_.Put("r/new.tmp/a", "A1").ok());
  ASSERT_TRUE(store_.RenamePrefix("r/new.tmp/", "r/final/").ok());
  EXPECT_EQ(List("r/"), (std::vector<std::string>{"r/final/a"}));
  // Replacing: the old objects (including ones the new folder lacks) are gone afterwards.
  ASSERT_TRUE(store_.Put("r/new2/a", "A2").ok());
  ASSERT_TRUE(store_.Put("r/final/old_only", "x").ok());
  ASSERT_TRUE(store_.RenamePrefix("r/new2/", "r/final/").ok());
  EXPECT_EQ(List("r/"), (std::vector<std::string>{"r/final/a"}));
  EXPECT_EQ(Get("r/final/a"), "A2");
  EXPECT_EQ(store_.RenamePrefix("r/none/", "r/final/").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.RenamePrefix("r/final", "r/x/").code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreFileTest, RenamePrefixWithoutExchangeMovesTheOldFolderAside) {
  NoExchangeEnv no_exchange;
  FileStore store(&no_exchange, dir_);
  ASSERT_TRUE(store.Put("r/final/a", "old").ok());
  ASSERT_TRUE(store.Put("r/final/b", "old").ok());
  ASSERT_TRUE(store.Put("r/new/a", "new").ok());
  ASSERT_TRUE(store.RenamePrefix("r/new/", "r/final/").ok());
  EXPECT_EQ(*store.List("r/"), (std::vector<std::string>{"r/final/a"}));
  EXPECT_EQ(*store.Get("r/final/a"), "new");
}

// A bucket folder where `checkpoint-9 -> <a folder outside the store>` (and a link to a file
// outside): nothing lists, reads, writes or deletes through the links; deleting the prefix
// unlinks the link only.
TEST_F(StoreFileTest, SymlinksOutOfTheRootAreNeverFollowed) {
  testing::ScopedTempDir outside;
  const std::string home = outside.path();
  ASSERT_TRUE(env->WriteFileAtomic(JoinPath(home, "precious.txt"), "mine").ok());
  ASSERT_TRUE(env->WriteFileAtomic(JoinPath(home, "adapter_model.safetensors"), "mine too").ok());
  ASSERT_TRUE(env->WriteFileAtomic(JoinPath(home, "MANIFEST.json"), "{}").ok());
  ASSERT_TRUE(store_.Put("checkpoint-5/a.bin", "ours").ok());
  ASSERT_EQ(::symlink(home.c_str(), (dir_ + "/checkpoint-9").c_str()), 0);
  ASSERT_EQ(::symlink((home + "/precious.txt").c_str(), (dir_ + "/notes.txt").c_str()), 0);
  ASSERT_TRUE(env->CreateDirs(dir_ + "/agents").ok());
  ASSERT_EQ(::symlink(home.c_str(), (dir_ + "/agents/linked").c_str()), 0);

  EXPECT_EQ(List(""), std::vector<std::string>{"checkpoint-5/a.bin"});
  EXPECT_EQ(List("checkpoint-9/"), std::vector<std::string>{});
  EXPECT_EQ(List("agents/"), std::vector<std::string>{});
  for (const char* key : {"checkpoint-9/precious.txt", "notes.txt", "agents/linked/precious.txt"}) {
    Result<std::string> got = store_.Get(key);
    ASSERT_FALSE(got.ok()) << key;
    EXPECT_NE(got.status().message().find("symbolic link"), std::string::npos)
        << got.status().ToString();
    EXPECT_FALSE(store_.Head(key).ok()) << key;
  }
  Status put = store_.Put("checkpoint-9/new.bin", "x");
  EXPECT_FALSE(put.ok());
  EXPECT_FALSE(env->FileExists(JoinPath(home, "new.bin")));
  EXPECT_FALSE(store_.Append("agents/linked/log.txt", "x").ok());
  EXPECT_FALSE(store_.Delete("checkpoint-9/precious.txt").ok());
  EXPECT_FALSE(store_.RenamePrefix("checkpoint-9/", "checkpoint-10/").ok());

  // gc through the checkpoint manager, as `baton ckpt gc` runs it: the link is no checkpoint.
  CheckpointManager manager(&store_, "");
  ASSERT_TRUE(manager.DeleteInvalid(100).ok());
  EXPECT_TRUE(env->FileExists(JoinPath(home, "precious.txt")));
  EXPECT_TRUE(env->FileExists(JoinPath(home, "adapter_model.safetensors")));

  // Deleting the prefix (or the whole run) unlinks the links and keeps what they led to.
  ASSERT_TRUE(store_.DeletePrefix("checkpoint-9/").ok());
  EXPECT_FALSE(IsSymlinkAt(dir_ + "/checkpoint-9"));
  ASSERT_TRUE(store_.DeletePrefix("").ok());
  EXPECT_FALSE(IsSymlinkAt(dir_ + "/notes.txt"));
  EXPECT_FALSE(IsSymlinkAt(dir_ + "/agents/linked"));
  EXPECT_EQ(*env->ReadFile(JoinPath(home, "precious.txt")), "mine");
  EXPECT_EQ(*env->ReadFile(JoinPath(home, "adapter_model.safetensors")), "mine too");
  EXPECT_TRUE(env->FileExists(JoinPath(home, "MANIFEST.json")));
}

// Links that stay inside the root: one to a file is an object; one to a folder is not walked
// (its objects are listed once, where they are), and deleting it unlinks it.
TEST_F(StoreFileTest, SymlinksInsideTheRoot) {
  ASSERT_TRUE(store_.Put("real/a.bin", "a").ok());
  ASSERT_EQ(::symlink((dir_ + "/real/a.bin").c_str(), (dir_ + "/alias.bin").c_str()), 0);
  ASSERT_EQ(::symlink((dir_ + "/real").c_str(), (dir_ + "/linked").c_str()), 0);
  EXPECT_EQ(List(""), (std::vector<std::string>{"alias.bin", "real/a.bin"}));
  EXPECT_EQ(Get("alias.bin"), "a");
  EXPECT_FALSE(store_.Get("linked").ok());
  ASSERT_TRUE(store_.DeletePrefix("linked/").ok());
  EXPECT_FALSE(IsSymlinkAt(dir_ + "/linked"));
  EXPECT_EQ(Get("real/a.bin"), "a");
}

TEST(StoreOpenTest, Urls) {
  testing::ScopedTempDir tmp;
  std::string dir = tmp.path();
  Result<std::unique_ptr<Store>> s = OpenStore("file://" + dir + "/run1");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->Url(), "file://" + dir + "/run1");
  EXPECT_TRUE(env->IsDirectory(dir + "/run1"));  // kCreateIfMissing
  ASSERT_TRUE((*s)->Put("x", "1").ok());
  s = OpenStore(dir + "/run1/", OpenMode::kMustExist);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*(*s)->Get("x"), "1");

  Result<std::unique_ptr<Store>> missing = OpenStore(dir + "/nope", OpenMode::kMustExist);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir + "/nope"), std::string::npos);
  EXPECT_EQ(OpenStore(dir + "/run1/x", OpenMode::kMustExist).status().code(),
            StatusCode::kInvalidArgument);
  // Object stores open lazily for writers; a bad URL is an error at once.
  EXPECT_TRUE(OpenStore("s3://bucket/run?endpoint=http://127.0.0.1:1").ok());
  Result<std::unique_ptr<Store>> oss = OpenStore("oss://bucket/run?region=cn-hangzhou");
  ASSERT_TRUE(oss.ok());
  EXPECT_EQ((*oss)->Url(), "oss://bucket/run");
  EXPECT_EQ(OpenStore("s3://bucket/run?colour=blue").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("gs://b/r").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("").status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(env->DeleteRecursively(dir).ok());
}

TEST(StoreKeyTest, JoinAndValidate) {
  EXPECT_EQ(JoinKey("", "a"), "a");
  EXPECT_EQ(JoinKey("run", "a"), "run/a");
  EXPECT_EQ(JoinKey("run/", "a"), "run/a");
  EXPECT_TRUE(ValidateKey("a/b.c/d").ok());
  EXPECT_TRUE(ValidateKey("a/b/").ok());
  EXPECT_FALSE(ValidateKey("a/./b").ok());
  EXPECT_FALSE(ValidateKey(std::string("a\0b", 3)).ok());
}

}  // namespace
}  // namespace baton
