#include <gtest/gtest.h>

#include "ckpt/manifest.h"

namespace baton {
namespace {

TEST(CkptManifestTest, DigestIsXxh3Hex) {
  EXPECT_EQ(DigestHex(""), "2d06800538d394c2");  // the XXH3-64 test vector of no input
  EXPECT_EQ(DigestHex("a").size(), 16u);
  EXPECT_NE(DigestHex("a"), DigestHex("b"));
}

TEST(CkptManifestTest, RoundTripAndFieldOrder) {
  Manifest m;
  m.step = 93;
  m.files["adapter_model.safetensors"] = {123, DigestHex("x")};
  m.files["sub/extra.bin"] = {0, DigestHex("")};
  m.created_unix_ms = 1700000000123;
  std::string text = SerializeManifest(m);
  EXPECT_LT(text.find("\"format\""), text.find("\"version\""));
  EXPECT_LT(text.find("\"step\""), text.find("\"files\""));
  Result<Manifest> back = ParseManifest(text, "M");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->step, 93);
  EXPECT_EQ(back->version, kManifestVersion);
  EXPECT_EQ(back->created_unix_ms, 1700000000123);
  ASSERT_EQ(back->files.size(), 2u);
  EXPECT_EQ(back->files["adapter_model.safetensors"].size, 123u);
  EXPECT_EQ(back->files["adapter_model.safetensors"].xxh3_64, DigestHex("x"));
}

TEST(CkptManifestTest, UnknownFieldsAreIgnored) {
  std::string text = R"({"format": "baton-checkpoint", "version": 1, "step": 5, "lease_epoch": 9,
    "files": {"a": {"size": 1, "xxh3_64": "0123456789abcdef", "sha256": "..."}},
    "created_unix_ms": 1, "future": [1, 2]})";
  Result<Manifest> m = ParseManifest(text, "M");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version, 1);
  EXPECT_EQ(m->files.at("a").size, 1u);
}

TEST(CkptManifestTest, NewerVersionsAreRefused) {
  // A newer version may change what makes a checkpoint valid: it is not taken for version 1.
  for (int version : {2, 3}) {
    std::string text = fmt::format(
        R"({{"format": "baton-checkpoint", "version": {}, "step": 5,
        "files": {{"a": {{"size": 1, "xxh3_64": "0123456789abcdef"}}}}}})",
        version);
    Result<Manifest> m = ParseManifest(text, "ckpt/MANIFEST.json");
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.status().code(), StatusCode::kCorruption);
    EXPECT_NE(m.status().message().find(fmt::format(
                  "ckpt/MANIFEST.json: manifest version {} is newer than this baton understands "
                  "(1)",
                  version)),
              std::string::npos)
        << m.status().message();
  }
}

TEST(CkptManifestTest, MalformedManifestsAreCorruption) {
  const char* bad[] = {
      "",
      "not json",
      "[1, 2]",
      R"({"version": 1, "step": 1, "files": {}})",
      R"({"format": "other", "version": 1, "step": 1, "files": {}})",
      R"({"format": "baton-checkpoint", "version": 0, "step": 1, "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": -1, "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": "1", "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1, "files": []})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"a": {"size": -1, "xxh3_64": "0123456789abcdef"}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"a": {"size": 1, "xxh3_64": "0123456789ABCDEF"}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"a": {"size": 1}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"../a": {"size": 1, "xxh3_64": "0123456789abcdef"}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"MANIFEST.json": {"size": 1, "xxh3_64": "0123456789abcdef"}}})",
      // Wrongly typed or out-of-range fields: errors, never an exception.
      R"({"format": "baton-checkpoint", "version": "1", "step": 1, "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 9223372036854775808,
          "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1e300, "files": {}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1, "files": {},
          "created_unix_ms": "yesterday"})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"a": {"size": "1", "xxh3_64": "0123456789abcdef"}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1,
          "files": {"a": {"size": 1, "xxh3_64": 12}}})",
      R"({"format": "baton-checkpoint", "version": 1, "step": 1, "files": {"a": 1}})",
      R"({"format": 1, "version": 1, "step": 1, "files": {}})",
  };
  for (const char* text : bad) {
    Result<Manifest> m = ParseManifest(text, "ckpt/MANIFEST.json");
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.status().code(), StatusCode::kCorruption) << text;
    EXPECT_NE(m.status().message().find("ckpt/MANIFEST.json"), std::string::npos)
        << m.status().message();
  }
}

TEST(CkptManifestTest, FileNames) {
  EXPECT_TRUE(ValidateCheckpointFileName("adapter_model.safetensors").ok());
  EXPECT_TRUE(ValidateCheckpointFileName("sub/x.bin").ok());
  for (const char* name : {"", "MANIFEST.json", "../x", "/abs", "a//b", "dir/"}) {
    EXPECT_FALSE(ValidateCheckpointFileName(name).ok()) << name;
  }
}

}  // namespace
}  // namespace baton
