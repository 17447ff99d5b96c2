#include "net/xml.h"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <climits>
#include <mutex>

#include "base/strings.h"

namespace baton {
namespace {

// What one parse learned; reached from libxml2's callbacks through the context's _private.
struct ParseState {
  int max_depth = 0;
  bool failed = false;
  int line = 0;
  std::string message;

  void Fail(int at_line, std::string text) {
    if (failed) return;  // the first error is the cause; the rest follow from it
    failed = true;
    line = at_line;
    message = std::move(text);
  }
};

ParseState* StateOf(void* ctx) {
  return static_cast<ParseState*>(static_cast<xmlParserCtxtPtr>(ctx)->_private);
}

std::string TrimmedMessage(const char* m) {
  std::string s = Printable(m != nullptr ? m : "malformed XML");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The parser context's structured error channel: `ctx` is the context (its userData).
void OnContextError(void* ctx, xmlErrorPtr error) {
  if (error == nullptr || error->level == XML_ERR_WARNING) return;
  StateOf(ctx)->Fail(error->line, TrimmedMessage(error->message));
}

// The calling thread's channels while a parse runs (libxml2 keeps them per thread), for errors
// raised without the context: they are kept, never printed.
void OnThreadError(void* data, xmlErrorPtr error) {
  if (error == nullptr || error->level == XML_ERR_WARNING) return;
  static_cast<ParseState*>(data)->Fail(error->line, TrimmedMessage(error->message));
}
void OnGenericError(void*, const char*, ...) {}

// A DOCTYPE is where entities (and external subsets) would be declared: refuse it before its
// internal subset is even read.
void OnDoctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  StateOf(ctx)->Fail(xmlSAX2GetLineNumber(ctx), "a DOCTYPE is not allowed");
  xmlStopParser(ctxt);
}

void OnStartElement(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri,
                    int nb_namespaces, const xmlChar** namespaces, int nb_attributes,
                    int nb_defaulted, const xmlChar** attributes) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  ParseState* state = StateOf(ctx);
  // nameNr counts the open elements around this one.
  if (ctxt->nameNr + 1 > state->max_depth) {
    state->Fail(xmlSAX2GetLineNumber(ctx),
                fmt::format("elements nested deeper than {}", state->max_depth));
    xmlStopParser(ctxt);
    return;
  }
  xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                        nb_defaulted, attributes);
}

// Sets the calling thread's error channels for the life of a parse, then puts back the old ones.
class ThreadErrorChannels {
 public:
  explicit ThreadErrorChannels(ParseState* state)
      : structured_(xmlStructuredError),
        structured_ctx_(xmlStructuredErrorContext),
        generic_(xmlGenericError),
        generic_ctx_(xmlGenericErrorContext) {
    xmlSetStructuredErrorFunc(state, OnThreadError);
    xmlSetGenericErrorFunc(nullptr, OnGenericError);
  }
  ~ThreadErrorChannels() {
    xmlSetStructuredErrorFunc(structured_ctx_, structured_);
    xmlSetGenericErrorFunc(generic_ctx_, generic_);
  }

 private:
  xmlStructuredErrorFunc structured_;
  void* structured_ctx_;
  xmlGenericErrorFunc generic_;
  void* generic_ctx_;
};

const char* Str(const xmlChar* s) { return reinterpret_cast<const char*>(s); }

void Convert(const xmlNode* node, XmlElement* out) {
  out->name = Str(node->name);
  if (node->ns != nullptr && node->ns->href != nullptr) out->ns = Str(node->ns->href);
  out->line = static_cast<int>(xmlGetLineNo(node));
  for (const xmlAttr* a = node->properties; a != nullptr; a = a->next) {
    xmlChar* value = xmlNodeListGetString(node->doc, a->children, 1);
    out->attributes.emplace_back(Str(a->name), value != nullptr ? Str(value) : "");
    xmlFree(value);
  }
  for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) {
      out->children.emplace_back();
      Convert(c, &out->children.back());
    } else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
               c->content != nullptr) {
      out->text += Str(c->content);
    }
  }
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child) const {
  for (const XmlElement& c : children) {
    if (c.name == child) return &c;
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children) {
    if (c.name == child) out.push_back(&c);
  }
  return out;
}

std::string XmlElement::ChildText(std::string_view child) const {
  const XmlElement* c = Child(child);
  return c != nullptr ? c->text : "";
}

const XmlElement* XmlElement::Find(std::initializer_list<std::string_view> path) const {
  const XmlElement* at = this;
  for (std::string_view step : path) {
    at = at->Child(step);
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::string XmlElement::Attribute(std::string_view attribute) const {
  for (const auto& [k, v] : attributes) {
    if (k == attribute) return v;
  }
  return "";
}

Result<XmlElement> ParseXml(std::string_view text, std::string_view source,
                            const XmlParseOptions& options) {
  if (text.size() > options.max_bytes || text.size() > size_t{INT_MAX}) {
    return InvalidArgument("{}: XML document of {} bytes is over the limit of {}", source,
                           text.size(), options.max_bytes);
  }
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });

  ParseState state;
  state.max_depth = options.max_depth;
  ThreadErrorChannels channels(&state);
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr) return Internal("{}: cannot allocate an XML parser", source);
  ctxt->_private = &state;
  ctxt->sax->serror = OnContextError;
  ctxt->sax->internalSubset = OnDoctype;
  ctxt->sax->externalSubset = OnDoctype;
  ctxt->sax->startElementNs = OnStartElement;
  // No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR/XINCLUDE, no HUGE (libxml2
  // keeps its own limits on names and text nodes); NOERROR/NOWARNING: the plain channels stay
  // quiet.
  int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  xmlDocPtr doc =
      xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()), nullptr, nullptr, flags);
  if (doc == nullptr && !state.failed) {
    const xmlError* last = xmlCtxtGetLastError(ctxt);
    state.Fail(last != nullptr ? last->line : 0,
               TrimmedMessage(last != nullptr ? last->message : nullptr));
  }
  xmlFreeParserCtxt(ctxt);
  if (state.failed) {
    xmlFreeDoc(doc);
    return InvalidArgument("{}:{}: {}", source, state.line, state.message);
  }
  const xmlNode* root = xmlDocGetRootElement(doc);
  if (root == nullptr) {
    xmlFreeDoc(doc);
    return InvalidArgument("{}: XML document has no root element", source);
  }
  XmlElement out;
  Convert(root, &out);
  xmlFreeDoc(doc);
  return out;
}

}  // namespace baton
