#include "base/strings.h"

#include <algorithm>
#include <cctype>

#include "base/utf8.h"

namespace baton {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether a query parameter named `name` holds a secret.
bool IsSecretParameter(std::string_view name) {
  std::string n = Lower(name);
  for (const char* word : {"token", "secret", "pass", "pwd", "sig", "credential", "auth"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  for (const char* end : {"key", "key_id", "keyid", "key-id"}) {
    if (n.ends_with(end)) return true;
  }
  return false;
}

// "user:password@" -> "user:***@"; "token@" -> "***@".
std::string RedactUserInfo(std::string_view info) {
  size_t colon = info.find(':');
  if (colon == std::string_view::npos) return "***";
  return std::string(info.substr(0, colon)) + ":***";
}

std::string RedactQuery(std::string_view query) {
  std::string out;
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out += pair;
    } else {
      std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
      out += name;
      out += '=';
      if (IsSecretParameter(name) && !value.empty()) {
        out += "***";
      } else if (value.find("://") != std::string_view::npos ||
                 value.find("%3A%2F%2F") != std::string_view::npos ||
                 value.find("%3a%2f%2f") != std::string_view::npos) {
        out += RedactUrl(value);
      } else {
        out += value;
      }
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

Status ValidatePathSegment(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 200) {
    return InvalidArgument("{} '{}': want 1 to 200 characters", what, name);
  }
  if (name == "." || name == "..") {
    return InvalidArgument("{} '{}' is not a name: it would name a folder itself", what, name);
  }
  if (name.find_first_of("/\\") != std::string_view::npos || HasControlCharacter(name)) {
    return InvalidArgument("{} '{}': no '/', '\\' or control characters (it becomes a path)", what,
                           Printable(name));
  }
  // It is also written into the run's JSON documents (heartbeats, the lease).
  return CheckUtf8(name, what);
}

std::string RedactUrl(std::string_view url) {
  size_t scheme = url.find("://");
  size_t scheme_len = 3;
  if (scheme == std::string_view::npos) {
    scheme = url.find("%3A%2F%2F");
    if (scheme == std::string_view::npos) scheme = url.find("%3a%2f%2f");
    scheme_len = 9;
  }
  if (scheme == std::string_view::npos) return std::string(url);
  size_t start = scheme + scheme_len;
  std::string out(url.substr(0, start));
  std::string_view rest = url.substr(start);
  // The authority ends at the first '/', '?' or '#' (percent-encoded in a nested URL).
  size_t end = rest.find_first_of("/?#");
  for (const char* enc : {"%2F", "%2f", "%3F", "%3f"}) {
    end = std::min(end, rest.find(enc));
  }
  std::string_view authority = rest.substr(0, end);
  size_t at = authority.rfind('@');
  size_t at_len = 1;
  if (at == std::string_view::npos) {
    at = authority.rfind("%40");
    at_len = 3;
  }
  if (at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    size_t colon = info.find("%3A") != std::string_view::npos ? info.find("%3A") : info.find("%3a");
    if (colon != std::string_view::npos && info.find(':') == std::string_view::npos) {
      out += std::string(info.substr(0, colon)) + "%3A***";
    } else {
      out += RedactUserInfo(info);
    }
    out += authority.substr(at, at_len);
    authority.remove_prefix(at + at_len);
  }
  out += authority;
  if (end == std::string_view::npos) return out;
  rest.remove_prefix(end);
  size_t q = rest.find('?');
  size_t hash = rest.find('#', q == std::string_view::npos ? 0 : q);
  if (q == std::string_view::npos) return out + std::string(rest);
  out += rest.substr(0, q + 1);
  std::string_view query = rest.substr(q + 1, hash == std::string_view::npos ? hash : hash - q - 1);
  out += RedactQuery(query);
  if (hash != std::string_view::npos) out += rest.substr(hash);
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace baton
