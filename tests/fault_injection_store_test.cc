#include "fault_injection_store.h"

#include <gtest/gtest.h>

#include "store/file_store.h"
#include "test_util.h"

namespace baton {
namespace {

Env* env = Env::Default();

class StoreFaultInjectionTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(env->DeleteRecursively(dir_).ok()); }
  testing::ScopedTempDir tmp_;
  std::string dir_ = tmp_.path();
  FileStore base_{env, dir_};
  FaultInjectionStore store_{&base_};
};

TEST_F(StoreFaultInjectionTest, FailsTheNthCallOfAnOperation) {
  store_.FailNth(StoreOp::kPut, 1);
  EXPECT_TRUE(store_.Put("a", "1").ok());
  EXPECT_EQ(store_.Put("b", "2").code(), StatusCode::kIoError);
  EXPECT_TRUE(store_.Put("c", "3").ok());
  EXPECT_TRUE(store_.fault_fired());
  EXPECT_FALSE(store_.crashed());
  EXPECT_EQ(store_.calls(StoreOp::kPut), 3);
  EXPECT_EQ(*base_.List(""), (std::vector<std::string>{"a", "c"}));  // b never reached the base
}

TEST_F(StoreFaultInjectionTest, FailsTheNthCallOfAnyOperation) {
  store_.FailNthCall(2);
  EXPECT_TRUE(store_.Put("a", "1").ok());
  EXPECT_TRUE(store_.Get("a").ok());
  EXPECT_EQ(store_.Head("a").status().code(), StatusCode::kIoError);
  EXPECT_TRUE(store_.Head("a").ok());
  EXPECT_EQ(store_.total_calls(), 4);
  store_.Reset();
  EXPECT_EQ(store_.total_calls(), 0);
  EXPECT_FALSE(store_.fault_fired());
}

TEST_F(StoreFaultInjectionTest, CrashOnPutLeavesATruncatedObjectAndFailsEverythingAfter) {
  store_.CrashOnPut(1, 3);
  EXPECT_TRUE(store_.Put("a", "first").ok());
  EXPECT_FALSE(store_.Put("b", "second").ok());
  EXPECT_TRUE(store_.crashed());
  EXPECT_EQ(*base_.Get("b"), "sec");
  EXPECT_FALSE(store_.Get("a").ok());
  EXPECT_FALSE(store_.List("").ok());
  EXPECT_FALSE(store_.Delete("a").ok());

  store_.Reset();
  store_.CrashOnPut(0, std::nullopt);  // killed before the rename: nothing visible
  EXPECT_FALSE(store_.Put("c", "third").ok());
  EXPECT_EQ(base_.Head("c").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreFaultInjectionTest, DisableRenameLooksLikeAnObjectStore) {
  EXPECT_TRUE(store_.SupportsRename());
  ASSERT_TRUE(store_.Put("x/a", "1").ok());
  ASSERT_TRUE(store_.RenamePrefix("x/", "y/").ok());
  EXPECT_EQ(store_.calls(StoreOp::kRename), 1);
  store_.DisableRename();
  EXPECT_FALSE(store_.SupportsRename());
  EXPECT_EQ(store_.RenamePrefix("y/", "z/").code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace baton
