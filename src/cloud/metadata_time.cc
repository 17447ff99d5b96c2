#include "cloud/metadata_time.h"

#include <array>
#include <chrono>
#include <cstdlib>

namespace baton {
namespace {

constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<const char*, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// Reads exactly `n` digits at `*pos`.
bool Digits(std::string_view s, size_t* pos, int n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// Milliseconds since the epoch of a UTC civil time; false when the date or time is invalid.
bool CivilToMs(int year, int month, int day, int hour, int minute, int second, int64_t* out) {
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                     std::chrono::day{static_cast<unsigned>(day)}};
  // Second 60 (a leap second) is accepted and folds into the next minute.
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return false;
  sys_days days{ymd};
  *out = duration_cast<milliseconds>(days.time_since_epoch()).count() +
         ((hour * 60 + minute) * 60 + second) * int64_t{1000};
  return true;
}

struct Civil {
  int year, month, day, hour, minute, second, weekday;
};

Civil ToCivil(int64_t unix_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> t{milliseconds{unix_ms}};
  sys_days days = floor<std::chrono::days>(t);
  year_month_day ymd{days};
  int64_t secs = duration_cast<seconds>(t - days).count();
  return {static_cast<int>(ymd.year()),
          static_cast<int>(static_cast<unsigned>(ymd.month())),
          static_cast<int>(static_cast<unsigned>(ymd.day())),
          static_cast<int>(secs / 3600),
          static_cast<int>(secs / 60 % 60),
          static_cast<int>(secs % 60),
          static_cast<int>(weekday{days}.c_encoding())};
}

}  // namespace

Result<int64_t> ParseRfc3339Ms(std::string_view text) {
  auto bad = [&] { return InvalidArgument("not an RFC 3339 time: '{}'", text); };
  size_t p = 0;
  int y, mo, d, h, mi, s;
  if (!Digits(text, &p, 4, &y) || !Expect(text, &p, '-') || !Digits(text, &p, 2, &mo) ||
      !Expect(text, &p, '-') || !Digits(text, &p, 2, &d)) {
    return bad();
  }
  if (p >= text.size() || (text[p] != 'T' && text[p] != 't' && text[p] != ' ')) return bad();
  ++p;
  if (!Digits(text, &p, 2, &h) || !Expect(text, &p, ':') || !Digits(text, &p, 2, &mi) ||
      !Expect(text, &p, ':') || !Digits(text, &p, 2, &s)) {
    return bad();
  }
  int64_t frac_ms = 0;
  if (p < text.size() && text[p] == '.') {
    ++p;
    size_t start = p;
    int64_t scale = 100;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      frac_ms += (text[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (p == start) return bad();
  }
  int64_t offset_minutes = 0;
  if (p < text.size() && (text[p] == 'Z' || text[p] == 'z')) {
    ++p;
  } else if (p < text.size() && (text[p] == '+' || text[p] == '-')) {
    int sign = text[p] == '-' ? -1 : 1;
    ++p;
    int oh, om;
    if (!Digits(text, &p, 2, &oh) || !Expect(text, &p, ':') || !Digits(text, &p, 2, &om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return bad();  // a time without a zone is ambiguous
  }
  if (p != text.size()) return bad();
  int64_t ms;
  if (!CivilToMs(y, mo, d, h, mi, s, &ms)) return bad();
  return ms + frac_ms - offset_minutes * 60 * 1000;
}

std::string FormatRfc3339(int64_t unix_ms) {
  Civil c = ToCivil(unix_ms);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour,
                     c.minute, c.second);
}

Result<int64_t> ParseRfc1123Ms(std::string_view text) {
  auto bad = [&] { return InvalidArgument("not an RFC 1123 date: '{}'", text); };
  std::string_view s = text;
  if (size_t comma = s.find(','); comma != std::string_view::npos) {
    s.remove_prefix(comma + 1);
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  // "19 Sep 2016 18:29:47 GMT" (the day may have one digit).
  size_t p = 0;
  int d, y, h, mi, sec;
  if (!Digits(s, &p, 2, &d) && !Digits(s, &p, 1, &d)) return bad();
  if (!Expect(s, &p, ' ') || p + 3 > s.size()) return bad();
  std::string_view mon = s.substr(p, 3);
  int mo = 0;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (mon == kMonths[i]) mo = static_cast<int>(i) + 1;
  }
  if (mo == 0) return bad();
  p += 3;
  if (!Expect(s, &p, ' ') || !Digits(s, &p, 4, &y) || !Expect(s, &p, ' ') ||
      !Digits(s, &p, 2, &h) || !Expect(s, &p, ':') || !Digits(s, &p, 2, &mi) ||
      !Expect(s, &p, ':') || !Digits(s, &p, 2, &sec) || !Expect(s, &p, ' ')) {
    return bad();
  }
  std::string_view zone = s.substr(p);
  if (zone != "GMT" && zone != "UTC" && zone != "+0000" && zone != "Z") return bad();
  int64_t ms;
  if (!CivilToMs(y, mo, d, h, mi, sec, &ms)) return bad();
  return ms;
}

std::string FormatRfc1123(int64_t unix_ms) {
  Civil c = ToCivil(unix_ms);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kWeekdays[c.weekday], c.day,
                     kMonths[c.month - 1], c.year, c.hour, c.minute, c.second);
}

}  // namespace baton
