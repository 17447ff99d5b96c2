// LocalFileMatches: whether a local file already holds an object, by size and S3's ETag (the
// MD5 of the bytes, or of the parts' MD5s with "-N"). The expected ETags were computed with
// Python's hashlib, independently of this code, for the bytes Pattern() makes.
#include "store/store.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace baton {
namespace {

std::string Pattern() {
  std::string block(256, '\0');
  for (int i = 0; i < 256; ++i) block[i] = static_cast<char>((i * 7 + 3) % 256);
  std::string out;
  for (int i = 0; i < 21 * 4096; ++i) out += block;  // 21 MiB
  return out;
}

TEST(LocalFileMatches, SizeAndEtagOneOrManyParts) {
  Env* env = Env::Default();
  testing::ScopedTempDir tmp;
  const std::string path = tmp.Sub("big.bin");
  ASSERT_TRUE(env->WriteFileAtomic(path, Pattern()).ok());
  auto matches = [&](uint64_t size, const std::string& etag) {
    Result<bool> r = LocalFileMatches(env, path, {"big.bin", size, etag});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  };
  const uint64_t n = 22020096;
  EXPECT_TRUE(matches(n, "\"ddd0ff361c04cc659959bc7264f2eb08\""));       // one PUT
  EXPECT_TRUE(matches(n, "ddd0ff361c04cc659959bc7264f2eb08"));           // unquoted
  EXPECT_TRUE(matches(n, "\"731d04de18c6c8bd5e0b3ff98fc35642-5\""));     // 5 MiB parts
  EXPECT_TRUE(matches(n, "\"c5a8461208f7c3e36525a9502543d291-3\""));     // awscli's 8 MiB
  EXPECT_TRUE(matches(n, "\"5b2813570e40a01f81c2f73684ec41e2-2\""));     // Baton's 16 MiB
  EXPECT_FALSE(matches(n, "\"5b2813570e40a01f81c2f73684ec41e3-2\""));    // another digest
  EXPECT_FALSE(matches(n, "\"731d04de18c6c8bd5e0b3ff98fc35642-4\""));    // no part size gives 4
  EXPECT_FALSE(matches(n - 1, "\"ddd0ff361c04cc659959bc7264f2eb08\""));  // another size
  EXPECT_FALSE(matches(n, ""));                                          // no ETag: copy again
  EXPECT_FALSE(matches(n, "\"xyz\""));
  Result<bool> missing = LocalFileMatches(env, tmp.Sub("none"), {"none", 1, "\"x\""});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(*missing);
}

}  // namespace
}  // namespace baton
