#include "text/unicode.h"

#include <gtest/gtest.h>

#include "text/byte_level.h"

namespace baton {
namespace {

TEST(UnicodeTest, Categories) {
  EXPECT_EQ(GetCategory(U'A'), GeneralCategory::kLu);
  EXPECT_EQ(GetCategory(U'z'), GeneralCategory::kLl);
  EXPECT_EQ(GetCategory(U'5'), GeneralCategory::kNd);
  EXPECT_EQ(GetCategory(U'中'), GeneralCategory::kLo);
  EXPECT_EQ(GetCategory(U'Ⅻ'), GeneralCategory::kNl);
  EXPECT_EQ(GetCategory(U'½'), GeneralCategory::kNo);
  EXPECT_EQ(GetCategory(0x0301), GeneralCategory::kMn);
  EXPECT_EQ(GetCategory(U'😀'), GeneralCategory::kSo);
  EXPECT_EQ(GetCategory(0x10FFFF), GeneralCategory::kCn);
  CategoryMask letters = CategoryMaskFromName("L");
  EXPECT_TRUE(InCategories(U'ß', letters));
  EXPECT_TRUE(InCategories(U'ア', letters));
  EXPECT_FALSE(InCategories(U'!', letters));
  EXPECT_EQ(CategoryMaskFromName("Letter"), letters);
  EXPECT_EQ(CategoryMaskFromName("Nope"), 0u);
}

TEST(UnicodeTest, WhiteSpaceAndFolding) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', char32_t{0x85}, char32_t{0xA0},
                     char32_t{0x3000}, char32_t{0x2028}}) {
    EXPECT_TRUE(IsWhiteSpace(c)) << static_cast<uint32_t>(c);
  }
  EXPECT_FALSE(IsWhiteSpace(0x200B));  // zero width space is Cf, not White_Space
  EXPECT_FALSE(IsWhiteSpace(U'x'));
  EXPECT_EQ(SimpleCaseFold(U'A'), U'a');
  EXPECT_EQ(SimpleCaseFold(U'a'), U'a');
  EXPECT_EQ(SimpleCaseFold(0x212A), U'k');   // KELVIN SIGN
  EXPECT_EQ(SimpleCaseFold(0x017F), U's');   // LATIN SMALL LETTER LONG S
  EXPECT_EQ(SimpleCaseFold(0x1E9E), 0xDFu);  // capital sharp s folds to ß (status S)
  std::vector<char32_t> eq = CaseEquivalents(U'k');
  EXPECT_EQ(eq.size(), 3u);  // k, K, KELVIN SIGN
}

TEST(UnicodeTest, Utf8Lossy) {
  EXPECT_EQ(ToValidUtf8("abc"), "abc");
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a\uFFFD"
            "b");
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), "\uFFFD");  // truncated: one maximal subpart
  EXPECT_EQ(ToValidUtf8("\xE2\x82"
                        "A"),
            "\uFFFD"
            "A");
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), "\uFFFD\uFFFD");            // overlong
  EXPECT_EQ(ToValidUtf8("\uFFFD"), "\uFFFD");
  EXPECT_EQ(Utf8ToCodePoints("a€😀"), (std::u32string{U'a', U'€', U'😀'}));
  EXPECT_EQ(CodePointsToUtf8(U"a€😀"), "a€😀");
}

TEST(UnicodeTest, CompleteUtf8Prefix) {
  std::string emoji = "😀";  // F0 9F 98 80
  EXPECT_EQ(CompleteUtf8Prefix("ab"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + emoji.substr(0, 1)), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + emoji.substr(0, 2)), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + emoji.substr(0, 3)), 1u);
  EXPECT_EQ(CompleteUtf8Prefix("a" + emoji), 5u);
  EXPECT_EQ(CompleteUtf8Prefix("a\xF0\x41"), 3u);  // already invalid: nothing to wait for
  EXPECT_EQ(CompleteUtf8Prefix("\x80"), 1u);
}

TEST(UnicodeTest, Nfc) {
  EXPECT_EQ(NormalizeNfc("plain ascii"), "plain ascii");
  EXPECT_EQ(NormalizeNfc("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(NormalizeNfc("A\u030a"), "\u00c5");
  EXPECT_EQ(NormalizeNfc("\u212b"), "\u00c5");  // ANGSTROM SIGN: singleton decomposition
  EXPECT_EQ(NormalizeNfc("\u2126"), "\u03a9");  // OHM SIGN
  // Canonical reordering: dot below (220) sorts before dot above (230), then composes.
  EXPECT_EQ(NormalizeNfc("q\u0307\u0323"), "q\u0323\u0307");
  EXPECT_EQ(NormalizeNfc("s\u0323\u0307"), "\u1e69");
  EXPECT_EQ(NormalizeNfc("s\u0307\u0323"), "\u1e69");
  // Hangul: conjoining jamo compose arithmetically.
  EXPECT_EQ(NormalizeNfc("\u1100\u1161\u11a8"), "\uac01");
  EXPECT_EQ(NormalizeNfc("\uac00\u11a8"), "\uac01");
  // Composition exclusions stay decomposed; blocked marks do not compose.
  EXPECT_EQ(NormalizeNfc("\u0958"), "\u0915\u093c");
  EXPECT_EQ(NormalizeNfc("a\u0301\u0301"), "\u00e1\u0301");
  EXPECT_EQ(NormalizeNfc("\u0301a"), "\u0301a");
  EXPECT_EQ(NormalizeNfc("\u0344"), "\u0308\u0301");
  EXPECT_EQ(NormalizeNfc("Vie\u0323\u0302t"), "Vi\u1ec7t");
  EXPECT_EQ(NormalizeNfc("\xFF"), "\uFFFD");
}

TEST(UnicodeTest, ByteLevelAlphabet) {
  EXPECT_EQ(ByteToChar(' '), U'Ġ');
  EXPECT_EQ(ByteToChar('\n'), U'Ċ');
  EXPECT_EQ(ByteToChar('a'), U'a');
  EXPECT_EQ(CharToByte(U'Ġ'), ' ');
  EXPECT_EQ(CharToByte(U'中'), -1);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(ByteLevelToBytes(BytesToByteLevel(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(BytesToByteLevel("a b\n"), "aĠbĊ");
  EXPECT_FALSE(ByteLevelToBytes("<｜User｜>", &back));
}

}  // namespace
}  // namespace baton
