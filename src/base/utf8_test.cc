#include "base/utf8.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_EQ(FindInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("plain ascii\n"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("小巴 Baton é \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("\xEF\xBB\xBF"
                            "bom"),
            std::nullopt);
}

TEST(Utf8, FindsTheFirstBadByte) {
  EXPECT_EQ(FindInvalidUtf8("sys\xFE"), 3u);           // never in UTF-8
  EXPECT_EQ(FindInvalidUtf8("ab\x80"), 2u);            // a lone continuation byte
  EXPECT_EQ(FindInvalidUtf8("\xC0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(FindInvalidUtf8("\xE0\x80\x80"), 1u);      // overlong three-byte form
  EXPECT_EQ(FindInvalidUtf8("x\xED\xA0\x80"), 2u);     // a surrogate (U+D800)
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 1u);  // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xE5\xB0"), 2u);          // cut off at the end
  EXPECT_EQ(FindInvalidUtf8("\xE5"
                            "a"),
            1u);  // cut off by an ASCII byte
}

TEST(Utf8, CheckNamesWhatAndWhere) {
  EXPECT_TRUE(CheckUtf8("ok", "--system").ok());
  EXPECT_EQ(CheckUtf8("sys\xFE", "--system").message(),
            "--system: not valid UTF-8: byte 0xFE at offset 3");
  EXPECT_EQ(CheckUtf8("\xE5\xB0", "--system").message(),
            "--system: not valid UTF-8: a multi-byte character is cut off at the end (offset 2)");
}

}  // namespace
}  // namespace baton
