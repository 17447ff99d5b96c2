// Small string helpers shared across layers: replacing, quoting for a shell, checking a name
// that becomes one path segment, and hiding credentials in URLs before they are printed.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace baton {

// Replaces every occurrence of `from` in *s with `to`, left to right, never rescanning what was
// put in (so `to` may contain `from`). An empty `from` changes nothing.
void ReplaceAll(std::string* s, std::string_view from, std::string_view to);

// `s` with ASCII letters lower-cased (other bytes, UTF-8 included, as they are).
std::string AsciiLower(std::string_view s);

// `s` as one word of a POSIX shell command line: single-quoted, a ' inside as '\''.
// ShellQuote("a b's") == "'a b'\\''s'"; ShellQuote("") == "''".
std::string ShellQuote(std::string_view s);

// Whether `name` may become one segment of a path or key (a job's name, an instance id, a cache
// entry): 1 to 200 bytes, not "." or "..", no '/', '\\' or control characters (newlines, NUL,
// DEL). `what` names it in the message ("job name"). Anything else could climb out of the folder
// it is joined to ("../../victim") or break the line it is printed on.
Status ValidatePathSegment(std::string_view name, std::string_view what);

// Whether `s` holds a control character (bytes below 0x20, and DEL), newlines and tabs included.
bool HasControlCharacter(std::string_view s);
// `s` with each control character as '?': a value shown in a message keeps to its line.
std::string Printable(std::string_view s);

// The URL with its credentials hidden, for every message that shows a URL: the password of a
// "user:password@" (and a user given without a password, which is a token then) becomes "***",
// as do the values of query parameters whose names say secret (token, secret, password, sig...,
// key, *_key, *key_id; access_token=, X-Amz-Signature=, sign=); a parameter whose value is
// itself a URL (endpoint=http://u:p@host) is redacted the same way. Text that is no URL comes
// back unchanged.
std::string RedactUrl(std::string_view url);

}  // namespace baton
