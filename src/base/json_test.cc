#include "base/json.h"

#include <gtest/gtest.h>

#include <limits>

namespace baton {
namespace {

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

}  // namespace
}  // namespace baton
