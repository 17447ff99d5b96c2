// The two timestamp shapes that instance metadata services use, to and from Unix milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace baton {

// RFC 3339 / ISO 8601 in UTC or with an offset, as Alibaba ("2015-01-05T18:02:00Z") and AWS
// ("2017-09-18T08:22:00Z") write it; fractional seconds are allowed.
Result<int64_t> ParseRfc3339Ms(std::string_view text);
// "2015-01-05T18:02:00Z" (whole seconds, UTC).
std::string FormatRfc3339(int64_t unix_ms);

// RFC 1123 (the HTTP date), as Azure writes NotBefore: "Mon, 19 Sep 2016 18:29:47 GMT". The day
// name is optional and not checked against the date.
Result<int64_t> ParseRfc1123Ms(std::string_view text);
std::string FormatRfc1123(int64_t unix_ms);

}  // namespace baton
