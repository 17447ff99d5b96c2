// A small XML reader over libxml2 for the answers of XML APIs (AWS EC2, Auto Scaling, IAM): the
// document becomes an owned tree of elements (local name without a namespace prefix, the
// namespace URI, attributes, the element's own text, children in order) with a few lookups.
//
// The input is treated as hostile: a document over max_bytes or nested deeper than max_depth is
// refused, and so is any DOCTYPE (no DTD is loaded or even read, so no entity is ever declared or
// expanded: billion-laughs and external entities cannot happen); the network is never used
// (XML_PARSE_NONET) and entity substitution (XML_PARSE_NOENT) is never asked for. libxml2 never
// prints: its errors are collected per parse, on the calling thread, and the first one becomes
// the Status, "<source>:<line>: <libxml2's message>". Thread-safe: each parse has its own parser
// context. Built against libxml2 2.9.14 (Debian 12).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace baton {

struct XmlElement {
  std::string name;  // local name: "Error" for <aws:Error>
  std::string ns;    // namespace URI, "" when none
  int line = 0;      // where the start tag is
  std::string text;  // the concatenated text and CDATA directly inside, as is (not trimmed)
  std::vector<std::pair<std::string, std::string>> attributes;  // local names, in order
  std::vector<XmlElement> children;

  // The first child named `name`, or null.
  const XmlElement* Child(std::string_view name) const;
  // Every child named `name`, in order.
  std::vector<const XmlElement*> Children(std::string_view name) const;
  // The text of the first child named `name`, or "" when there is none.
  std::string ChildText(std::string_view name) const;
  // Follows a path of child names ({"reservationSet", "item"}: the first of each); null where one
  // is missing. An empty path is this element.
  const XmlElement* Find(std::initializer_list<std::string_view> path) const;
  // The value of attribute `name`, or "".
  std::string Attribute(std::string_view name) const;
};

struct XmlParseOptions {
  size_t max_bytes = 16 << 20;  // AWS answers are pages of at most a few MiB
  int max_depth = 64;           // the root is depth 1; EC2's deepest answers are about 10
};

// Parses a whole document. `source` names it in errors ("ec2 DescribeInstances answer").
// InvalidArgument for a malformed, oversized, too deep or DOCTYPE-bearing document.
Result<XmlElement> ParseXml(std::string_view text, std::string_view source,
                            const XmlParseOptions& options = {});

}  // namespace baton
