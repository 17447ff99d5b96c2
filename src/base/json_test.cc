#include "base/json.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace baton {
namespace {

TEST(ParseJson, ParsesDocuments) {
  Result<Json> j = ParseJson(R"({"a": [1, 2.5, "x", null, true, {"b": {}}], "c": -3})", "d.json");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(*j, Json::parse(R"({"a": [1, 2.5, "x", null, true, {"b": {}}], "c": -3})"));
  EXPECT_EQ(*ParseJson("7", "d.json"), Json(7));
  // The same key in different objects is fine.
  EXPECT_TRUE(ParseJson(R"({"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 1}, {"k": 2}]})", "d").ok());
}

TEST(ParseJson, NumberOutOfRangeIsAnErrorWithItsPlace) {
  // nlohmann throws out_of_range 406 here, not parse_error.
  Result<Json> j = ParseJson("{\n  \"lr\": 1e99999\n}", "cfg.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("cfg.json:2:", 0), 0u) << j.status().message();
  EXPECT_NE(j.status().message().find("number overflow"), std::string::npos);
  EXPECT_FALSE(ParseJson("[-1e400]", "x").ok());
}

TEST(ParseJson, SyntaxErrorsNameLineAndColumn) {
  Result<Json> j = ParseJson("{\n  \"a\": 1,\n  \"b\" 2\n}", "cfg.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("cfg.json:3:", 0), 0u) << j.status().message();
  // A row of a larger file: its line number is given.
  j = ParseJson("{\"a\": tru}", "rows.jsonl", 7);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("rows.jsonl:7:", 0), 0u) << j.status().message();
}

TEST(ParseJson, InvalidUtf8InAStringIsAnError) {
  Result<Json> j = ParseJson("{\"system\": \"sys\xFE\"}", "row.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("row.json:1:", 0), 0u) << j.status().message();
  EXPECT_NE(j.status().message().find("UTF-8"), std::string::npos) << j.status().message();
}

TEST(ParseJson, DuplicateKeysAreRefusedWithTheirPath) {
  EXPECT_EQ(ParseJson(R"({"a": 1, "a": 2})", "d.json").status().message(),
            "d.json: key 'a' is given twice");
  EXPECT_EQ(ParseJson(R"({"m": {"v": {"x": 1, "y": 2, "x": 3}}})", "t.json").status().message(),
            "t.json: m.v: key 'x' is given twice");
  EXPECT_EQ(ParseJson(R"({"l": [{"k": 1}, {"k": 1, "k": 2}]})", "t.json").status().message(),
            "t.json: l[1]: key 'k' is given twice");
}

TEST(ParseJson, DeepNestingIsRefused) {
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseJson(ok, "d").ok());
  std::string deep(kMaxJsonDepth + 1, '[');
  deep += std::string(kMaxJsonDepth + 1, ']');
  Result<Json> j = ParseJson(deep, "deep.json");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("nested deeper than"), std::string::npos);
}

TEST(DumpJson, NeverThrowsOnInvalidUtf8) {
  Json j = {{"system", std::string("sys\xFE")}, {"n", 1}};
  EXPECT_THROW((void)j.dump(), Json::type_error);  // what DumpJson exists to avoid
  std::string s;
  ASSERT_NO_THROW(s = DumpJson(j));
  EXPECT_EQ(s, "{\"n\":1,\"system\":\"sys\xEF\xBF\xBD\"}");
  EXPECT_EQ(DumpJson(Json{{"a", 1}}, 2), "{\n  \"a\": 1\n}");
  // What it writes parses back.
  EXPECT_TRUE(ParseJson(s, "dumped").ok());
}

Json Doc(const char* text) {
  Result<Json> j = ParseJson(text, "c.json");
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return j.ok() ? *j : Json();
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Issue 15: config.json numbers are range-checked where they are read. An integer is whole and
// fits int64 (an unsigned beyond it used to wrap negative; 1e30 was cast, which is undefined);
// a number is finite (a document built in memory may hold inf or nan).
TEST(JsonReaders, IntegersAreWholeAndInRange) {
  Json j = Doc(R"({"a": 7, "b": 2.0, "c": 2.5, "d": 1e30, "e": 18446744073709551615,
                   "f": -9223372036854775808, "g": "7", "i": 9007199254740992.0})");
  j["h"] = kInf;
  EXPECT_EQ(*JsonInt(j, "a", "c.json"), 7);
  EXPECT_EQ(*JsonInt(j, "b", "c.json"), 2);
  EXPECT_EQ(*JsonInt(j, "f", "c.json"), INT64_MIN);
  EXPECT_EQ(*JsonInt(j, "i", "c.json"), 9007199254740992);
  EXPECT_EQ(JsonInt(j, "c", "c.json").status().message(),
            "c.json: key 'c': expected an integer, got 2.5");
  EXPECT_EQ(JsonInt(j, "d", "c.json").status().message(),
            "c.json: key 'd': 1e+30 is out of range (at most 9007199254740992 in magnitude)");
  EXPECT_EQ(JsonInt(j, "e", "c.json").status().message(),
            "c.json: key 'e': 18446744073709551615 is out of range (at most 9223372036854775807)");
  EXPECT_EQ(JsonInt(j, "g", "c.json").status().message(),
            "c.json: key 'g': expected an integer, got string");
  EXPECT_FALSE(JsonInt(j, "h", "c.json").ok());
  EXPECT_EQ(JsonInt(j, "z", "c.json").status().code(), StatusCode::kNotFound);
}

TEST(JsonReaders, NumbersAreFinite) {
  Json j = Doc(R"({"a": 1e-6, "d": 3, "e": true})");
  j["b"] = kInf;
  j["c"] = -kInf;
  j["n"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(*JsonNumber(j, "a", "c.json"), 1e-6);
  EXPECT_EQ(*JsonNumber(j, "d", "c.json"), 3);
  EXPECT_EQ(JsonNumber(j, "b", "c.json").status().message(),
            "c.json: key 'b': expected a finite number, got inf");
  EXPECT_FALSE(JsonNumber(j, "c", "c.json").ok());
  EXPECT_EQ(JsonNumber(j, "n", "c.json").status().message(),
            "c.json: key 'n': expected a finite number, got nan");
  EXPECT_EQ(JsonNumber(j, "e", "c.json").status().message(),
            "c.json: key 'e': expected a number, got boolean");
  // Values in lists go through the same checks.
  EXPECT_EQ(JsonAsInt(Json(4.5)).status().message(), "expected an integer, got 4.5");
  EXPECT_FALSE(JsonAsNumber(Json(kInf)).ok());
}

TEST(JsonReaders, StringOrFallsBackWithoutThrowing) {
  Json j = Doc(R"({"a": "x", "n": 1, "o": {}, "z": null})");
  EXPECT_EQ(JsonStringOr(j, "a"), "x");
  EXPECT_EQ(JsonStringOr(j, "n"), "");  // nlohmann's j.value("n", "") throws type_error 302
  EXPECT_EQ(JsonStringOr(j, "o", "d"), "d");
  EXPECT_EQ(JsonStringOr(j, "z", "d"), "d");
  EXPECT_EQ(JsonStringOr(j, "missing", "d"), "d");
  EXPECT_EQ(JsonStringOr(Json::array({1}), "a", "d"), "d");  // value() throws 306 here
  EXPECT_EQ(JsonStringOr(Json(3), "a"), "");
}

}  // namespace
}  // namespace baton
