// JSON helpers over nlohmann::json whose errors name the file, line and key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/env.h"
#include "base/status.h"

namespace baton {

using Json = nlohmann::json;

// Objects nested deeper than this are refused (no document Baton reads comes close).
inline constexpr size_t kMaxJsonDepth = 512;

// Parses `text`; on error the message is "<source>:<line>:<column>: <what>" (`first_line` is the
// line number of the text's first line, for a row of a larger file). Besides what is not JSON it
// refuses, as clear errors and never as exceptions: invalid UTF-8 in strings, numbers beyond a
// double's range (1e99999), a key given twice in one object ("<source>: a.b: key 'c' is given
// twice"), and nesting deeper than kMaxJsonDepth.
Result<Json> ParseJson(std::string_view text, std::string_view source, size_t first_line = 1);
Result<Json> ReadJsonFile(Env* env, const std::string& path);

// The one way Baton serialises JSON (`indent` as Json::dump's: -1 is one line). It never throws:
// bytes in strings that are not UTF-8 (which Baton refuses where text enters, so only a bug lets
// one through) are written as U+FFFD, so that no checkpoint, log line or heartbeat is ever lost to
// nlohmann's type_error 316.
std::string DumpJson(const Json& j, int indent = -1);

// Typed access to an object member. A missing key, a wrong type or a value out of range gives an
// error naming `source` and the key, e.g. "model/config.json: key 'hidden_size': expected an
// integer, got string". Numbers are finite; integers fit int64 (see JsonAsInt).
Result<int64_t> JsonInt(const Json& obj, std::string_view key, std::string_view source);
Result<double> JsonNumber(const Json& obj, std::string_view key, std::string_view source);
Result<std::string> JsonString(const Json& obj, std::string_view key, std::string_view source);
Result<bool> JsonBool(const Json& obj, std::string_view key, std::string_view source);

// For optional fields of answers from elsewhere (a cloud API, a cache record), where a missing
// member and one of another type mean the same: the member `key` when `obj` is an object and the
// member is a string, else `fallback`. Never throws, unlike nlohmann's value(), which throws
// type_error 302 on `{"name": 1}` and 306 when `obj` is not an object.
std::string JsonStringOr(const Json& obj, std::string_view key, std::string_view fallback = {});

// The same checks on a value itself (a list item); the error says what is wrong, the caller
// adds where. An integer is a JSON integer in int64's range or a whole float within 2^53
// (2.0, not 2.5 or 1e30); a number is finite (a literal such as 1e999 parses as inf).
inline constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53
Result<int64_t> JsonAsInt(const Json& v);
Result<double> JsonAsNumber(const Json& v);

}  // namespace baton
