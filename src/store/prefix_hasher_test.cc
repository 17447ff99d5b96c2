#include "store/prefix_hasher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "s3_test_server.h"
#include "test_util.h"

namespace baton {
namespace {

std::string Hex(std::string_view data) {
  return fmt::format("{:016x}", XXH3_64bits(data.data(), data.size()));
}

class PrefixHasherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = ::open(tmp_.Sub("f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override { ::close(fd_); }
  // Writes data[offset, offset + len) into the file and tells the hasher.
  Status Write(PrefixHasher& h, const std::string& data, uint64_t offset, uint64_t len) {
    EXPECT_EQ(::pwrite(fd_, data.data() + offset, len, static_cast<off_t>(offset)),
              static_cast<ssize_t>(len));
    return h.Written(offset, std::string_view(data).substr(offset, len));
  }

  testing::ScopedTempDir tmp_;
  int fd_ = -1;
};

TEST_F(PrefixHasherTest, RangesInAnyOrderWithRestartsGiveTheWholeFilesDigest) {
  const std::string data = testing::Blob(1000003, 5);
  const uint64_t range = 100000;
  PrefixHasher h(fd_, "f", data.size(), range);
  // Ranges back to front, each in pieces of 777 bytes; range 3 starts over halfway.
  for (int64_t r = static_cast<int64_t>((data.size() + range - 1) / range) - 1; r >= 0; --r) {
    const uint64_t start = static_cast<uint64_t>(r) * range;
    const uint64_t end = std::min<uint64_t>(start + range, data.size());
    for (int pass = 0; pass < (r == 3 ? 2 : 1); ++pass) {
      const uint64_t stop = (r == 3 && pass == 0) ? start + range / 2 : end;
      for (uint64_t off = start; off < stop; off += 777) {
        ASSERT_TRUE(Write(h, data, off, std::min<uint64_t>(777, stop - off)).ok());
      }
    }
  }
  Result<std::string> d = h.Digest();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, Hex(data));
  // Range 0 came last and was hashed from the writer's buffers; the rest was read back once.
  EXPECT_EQ(h.bytes_read_back(), data.size() - range);
}

TEST_F(PrefixHasherTest, InOrderWritesAreNeverReadBack) {
  const std::string data = testing::Blob(300000, 6);
  PrefixHasher h(fd_, "f", data.size(), 65536);
  for (uint64_t off = 0; off < data.size(); off += 4096) {
    ASSERT_TRUE(Write(h, data, off, std::min<uint64_t>(4096, data.size() - off)).ok());
  }
  Result<std::string> d = h.Digest();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Hex(data));
  EXPECT_EQ(h.bytes_read_back(), 0u);
}

TEST_F(PrefixHasherTest, PartsOnDiskBeforeAreReadBackOnce) {
  // A resumed download: ranges 0 and 2 are on disk already, 1 and 3 arrive from four threads.
  const std::string data = testing::Blob(4 * 65536 - 10, 7);
  ASSERT_EQ(::pwrite(fd_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  PrefixHasher h(fd_, "f", data.size(), 65536);
  ASSERT_TRUE(h.WrittenBefore(0, 65536).ok());
  ASSERT_TRUE(h.WrittenBefore(2 * 65536, 65536).ok());
  std::vector<std::thread> threads;
  std::vector<Status> results(2);
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      const uint64_t start = (2 * i + 1) * 65536ull;
      const uint64_t end = std::min<uint64_t>(start + 65536, data.size());
      for (uint64_t off = start; off < end && results[i].ok(); off += 1000) {
        results[i] =
            h.Written(off, std::string_view(data).substr(off, std::min<uint64_t>(1000, end - off)));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : results) ASSERT_TRUE(s.ok()) << s.ToString();
  Result<std::string> d = h.Digest();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Hex(data));
  EXPECT_LE(h.bytes_read_back(), data.size());
}

TEST_F(PrefixHasherTest, AMissingOrMisplacedPieceIsAnError) {
  const std::string data = testing::Blob(200000, 8);
  {
    PrefixHasher h(fd_, "f", data.size(), 100000);
    ASSERT_TRUE(Write(h, data, 0, 100000).ok());
    ASSERT_TRUE(Write(h, data, 100000, 50000).ok());
    Result<std::string> d = h.Digest();  // the last 50000 bytes never came
    EXPECT_EQ(d.status().code(), StatusCode::kInternal);
    EXPECT_NE(d.status().message().find("150000 of 200000"), std::string::npos)
        << d.status().message();
  }
  PrefixHasher h(fd_, "f", data.size(), 100000);
  // A piece that leaves a gap in its range, or crosses into the next one.
  EXPECT_EQ(Write(h, data, 10, 5).code(), StatusCode::kInternal);
  EXPECT_EQ(Write(h, data, 0, 100001).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace baton
