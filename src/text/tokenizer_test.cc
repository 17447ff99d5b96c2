#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace baton {
namespace {

const std::string kDataDir = std::string(BATON_TEST_DATA_DIR) + "/tokenizer/";

Tokenizer LoadTiny(const std::string& name) {
  auto tok = Tokenizer::FromFile(Env::Default(), kDataDir + name);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return std::move(tok).value();
}

using Ids = std::vector<int32_t>;

class TinyTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyTokenizerTest, EncodesByMergeRank) {
  Tokenizer tok = LoadTiny(GetParam());
  EXPECT_EQ(tok.vocab_size(), 22);
  // "abcd": (a,b) has rank 0, then (ab,c) rank 1 beats (c,d) rank 4.
  EXPECT_EQ(tok.Encode("abcd"), (Ids{7, 3}));
  EXPECT_EQ(tok.Encode("abcd abc!"), (Ids{7, 3, 4, 7, 5}));
  EXPECT_EQ(tok.Encode(" a"), (Ids{8}));
  EXPECT_EQ(tok.Encode("cd\n"), (Ids{10, 11}));
  // 'z' has no token and there is no unk: it is dropped, as in HF, and "ab" then merges.
  EXPECT_EQ(tok.Encode("azb"), (Ids{6}));
  EXPECT_EQ(tok.Encode(""), Ids{});
  EXPECT_EQ(tok.Decode(Ids{7, 3, 4, 7, 5}), "abcd abc!");
  EXPECT_EQ(tok.TokenToId("Ġab"), 9);
  EXPECT_EQ(tok.TokenToId("<s>"), 20);
  EXPECT_EQ(tok.TokenToId("zzz"), std::nullopt);
  EXPECT_EQ(tok.IdToToken(8), "Ġa");
  EXPECT_EQ(tok.IdToToken(21), "<tool>");
  EXPECT_EQ(tok.IdToToken(17), "");  // a hole in the vocabulary
  EXPECT_EQ(tok.TokenBytes(4), " ");
}

TEST_P(TinyTokenizerTest, AddedTokens) {
  Tokenizer tok = LoadTiny(GetParam());
  EXPECT_EQ(tok.Encode("ab<s>cd"), (Ids{6, 20, 10}));
  EXPECT_TRUE(tok.IsSpecial(20));
  EXPECT_FALSE(tok.IsSpecial(21));
  EXPECT_FALSE(tok.IsSpecial(6));
  // Not parsed as special: "<s>" is plain text, cut by the regex into "<s" and ">".
  EXPECT_EQ(tok.Encode("ab<s>cd", /*parse_special_tokens=*/false), (Ids{6, 12, 14, 13, 10}));
  // Non-special added tokens are matched either way; lstrip swallows the spaces before it.
  EXPECT_EQ(tok.Encode("a  <tool>b", false), (Ids{0, 21, 1}));
  EXPECT_EQ(tok.Decode(Ids{6, 20, 10}), "ab<s>cd");
  EXPECT_EQ(tok.Decode(Ids{6, 20, 10}, /*skip_special_tokens=*/true), "abcd");
}

TEST_P(TinyTokenizerTest, NfcAndStreaming) {
  Tokenizer tok = LoadTiny(GetParam());
  // "e" + COMBINING ACUTE becomes U+00E9 = bytes C3 A9 = byte-level tokens "Ã" "©".
  Ids ids = tok.Encode("e\u0301");
  EXPECT_EQ(ids, (Ids{15, 16}));
  EXPECT_EQ(tok.Decode(ids), "\u00e9");
  EXPECT_EQ(tok.Decode(Ids{15}), "\uFFFD");  // half a character
  StreamDecoder stream(&tok);
  EXPECT_EQ(stream.Add(0), "a");
  EXPECT_EQ(stream.Add(15), "");  // held until the character completes
  EXPECT_EQ(stream.Add(16), "\u00e9");
  EXPECT_EQ(stream.Add(15), "");
  EXPECT_EQ(stream.Add(0),
            "\uFFFD"
            "a");  // the sequence can no longer complete
  EXPECT_EQ(stream.Add(15), "");
  EXPECT_EQ(stream.Flush(), "\uFFFD");
  StreamDecoder skipping(&tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(skipping.Add(20), "");
  EXPECT_EQ(skipping.Add(6), "ab");
}

INSTANTIATE_TEST_SUITE_P(MergeFormats, TinyTokenizerTest,
                         ::testing::Values("tiny_pair_merges.json", "tiny_string_merges.json"));

// Writes `json` (possibly edited) to a file in this test binary's scratch folder and returns
// its path.
std::string WriteTemp(const std::string& name, const std::string& text) {
  static testing::ScopedTempDir tmp;
  std::string path = tmp.Sub(name);
  std::ofstream(path) << text;
  return path;
}

Json TinyJson() {
  auto j = ReadJsonFile(Env::Default(), kDataDir + "tiny_pair_merges.json");
  EXPECT_TRUE(j.ok());
  return *j;
}

std::string LoadError(const std::string& name, const Json& j) {
  auto tok = Tokenizer::FromFile(Env::Default(), WriteTemp(name, j.dump(1)));
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : tok.status().ToString();
}

Tokenizer LoadEdited(const std::string& name, const Json& j) {
  auto tok = Tokenizer::FromFile(Env::Default(), WriteTemp(name, j.dump(1)));
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return std::move(tok).value();
}

TEST(TokenizerOptionsTest, IgnoreMerges) {
  Json j = TinyJson();
  EXPECT_EQ(LoadEdited("merges.json", j).Encode(" ab"), (Ids{4, 6}));
  j["model"]["ignore_merges"] = true;  // Llama-3: a word that is a token is taken whole
  EXPECT_EQ(LoadEdited("ignore.json", j).Encode(" ab"), (Ids{9}));
}

TEST(TokenizerOptionsTest, SplitBehaviors) {
  auto encode_with = [](const char* behavior, bool invert) {
    Json j = TinyJson();
    j["model"]["vocab"]["ĠĠ"] = 17;
    j["model"]["merges"].push_back(Json::array({"Ġ", "Ġ"}));
    j["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Split"},
                                              {"pattern", {{"String", " "}}},
                                              {"behavior", behavior},
                                              {"invert", invert}};
    return LoadEdited("split.json", j).Encode("a  a");
  };
  EXPECT_EQ(encode_with("Isolated", false), (Ids{0, 4, 4, 0}));
  EXPECT_EQ(encode_with("Contiguous", false), (Ids{0, 17, 0}));
  EXPECT_EQ(encode_with("MergedWithNext", false), (Ids{0, 4, 8}));
  EXPECT_EQ(encode_with("MergedWithPrevious", false), (Ids{0, 4, 4, 0}));
  EXPECT_EQ(encode_with("Removed", false), (Ids{0, 0}));
  EXPECT_EQ(encode_with("Removed", true), (Ids{4, 4}));  // inverted: the letters are removed
}

TEST(TokenizerErrorsTest, MissingFileAndBadJson) {
  auto missing = Tokenizer::FromFile(Env::Default(), "/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("/nonexistent/tokenizer.json"), std::string::npos);

  std::string path = WriteTemp("bad.json", "{\n  \"model\": {\n    \"vocab\": {,\n  }\n}\n");
  auto bad = Tokenizer::FromFile(Env::Default(), path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.json:3:"), std::string::npos)
      << bad.status().ToString();
}

TEST(TokenizerErrorsTest, UnsupportedTypes) {
  Json j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Punctuation";
  std::string e = LoadError("pre.json", j);
  EXPECT_NE(e.find("Punctuation"), std::string::npos) << e;
  EXPECT_NE(e.find("pre.json"), std::string::npos) << e;

  j = TinyJson();
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", Json::array({Json{{"type", "Lowercase"}}})}};
  e = LoadError("norm.json", j);
  EXPECT_NE(e.find("Lowercase"), std::string::npos) << e;

  j = TinyJson();
  j["model"]["type"] = "WordPiece";
  e = LoadError("model.json", j);
  EXPECT_NE(e.find("WordPiece"), std::string::npos) << e;

  j = TinyJson();
  j["decoder"] = {{"type", "Metaspace"}};
  e = LoadError("dec.json", j);
  EXPECT_NE(e.find("Metaspace"), std::string::npos) << e;

  j = TinyJson();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(?<=x)y";
  e = LoadError("regex.json", j);
  EXPECT_NE(e.find("(?<=x)y"), std::string::npos) << e;
  EXPECT_NE(e.find("regex.json"), std::string::npos) << e;

  j = TinyJson();
  j["pre_tokenizer"] = nullptr;  // without ByteLevel the vocabulary is not byte-level
  e = LoadError("nobl.json", j);
  EXPECT_NE(e.find("ByteLevel"), std::string::npos) << e;
}

TEST(TokenizerErrorsTest, MergeNotInVocab) {
  Json j = TinyJson();
  j["model"]["merges"][1] = Json::array({"ab", "q"});
  std::string e = LoadError("merge.json", j);
  EXPECT_NE(e.find("model.merges[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("'q'"), std::string::npos) << e;

  j = TinyJson();
  j["model"]["merges"][4] = Json::array({"d", "a"});  // "da" is not in the vocab
  e = LoadError("merge2.json", j);
  EXPECT_NE(e.find("'da'"), std::string::npos) << e;

  j = TinyJson();
  j["model"]["merges"] = Json::array({"a b c"});
  e = LoadError("merge3.json", j);
  EXPECT_NE(e.find("model.merges[0]"), std::string::npos) << e;
}

// Issue 15: a token id sizes the id table, so one absurd id (here 2^31 - 1, which used to pass)
// ran out of memory; ids are bounded, and a tokenizer whose ids pass the model's vocabulary is
// refused where a model meets it.
TEST(TokenizerErrorsTest, IdsAreBoundedAndMustFitTheModel) {
  Json j = TinyJson();
  j["model"]["vocab"]["ab"] = 2147483647;
  std::string e = LoadError("vocab_id.json", j);
  EXPECT_NE(e.find("vocab_id.json: key 'model.vocab': token 'ab' has a bad id 2147483647 (ids are "
                   "0..16777215)"),
            std::string::npos)
      << e;
  j = TinyJson();
  j["added_tokens"][0]["id"] = 1000000000;
  e = LoadError("added_id.json", j);
  EXPECT_NE(e.find("added_id.json: added_tokens[0]: bad id 1000000000"), std::string::npos) << e;

  Tokenizer tok = LoadTiny("tiny_pair_merges.json");  // ids 0..21, the largest an added token
  EXPECT_TRUE(tok.CheckFitsModel(22, "t.json", "m/config.json").ok());
  EXPECT_EQ(tok.CheckFitsModel(21, "t.json", "m/config.json").message(),
            "t.json: added token '<tool>' has token id 21, beyond the model's vocab_size 21 "
            "(m/config.json): the tokenizer does not belong to this model");
}

}  // namespace
}  // namespace baton
