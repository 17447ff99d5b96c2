// ParseXml (net/xml.h): the tree and its lookups, namespaces, CDATA and character references, and
// hostile input: malformed documents with the line of the fault, DOCTYPEs (billion laughs,
// external entities) refused before any entity is declared, undeclared entities, the depth and
// size caps, and nothing printed by libxml2.
#include "net/xml.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace baton {
namespace {

TEST(XmlTest, ParsesAnEc2AnswerIntoATree) {
  const char* text =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
      "  <requestId>r-1</requestId>\n"
      "  <reservationSet>\n"
      "    <item><instancesSet><item><instanceId>i-1</instanceId></item>"
      "<item><instanceId>i-2</instanceId></item></instancesSet></item>\n"
      "  </reservationSet>\n"
      "</DescribeInstancesResponse>\n";
  Result<XmlElement> root = ParseXml(text, "answer");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->name, "DescribeInstancesResponse");
  EXPECT_EQ(root->ns, "http://ec2.amazonaws.com/doc/2016-11-15/");
  EXPECT_EQ(root->line, 2);
  EXPECT_EQ(root->ChildText("requestId"), "r-1");
  EXPECT_EQ(root->ChildText("absent"), "");
  const XmlElement* set = root->Find({"reservationSet", "item", "instancesSet"});
  ASSERT_NE(set, nullptr);
  std::vector<const XmlElement*> items = set->Children("item");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1]->ChildText("instanceId"), "i-2");
  EXPECT_EQ(root->Find({"reservationSet", "nothing"}), nullptr);
  EXPECT_EQ(root->Find({}), &*root);
}

TEST(XmlTest, PrefixesAreDroppedAndNamespacesKept) {
  Result<XmlElement> root = ParseXml(
      "<a:Root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><b:Code x=\"1\" b:y=\"2\">Throttling</b:Code>"
      "<Plain/></a:Root>",
      "doc");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->name, "Root");
  EXPECT_EQ(root->ns, "urn:a");
  const XmlElement* code = root->Child("Code");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code->ns, "urn:b");
  EXPECT_EQ(code->text, "Throttling");
  EXPECT_EQ(code->Attribute("x"), "1");
  EXPECT_EQ(code->Attribute("y"), "2");
  EXPECT_EQ(root->Child("Plain")->ns, "");
}

TEST(XmlTest, TextJoinsCdataAndKeepsPredefinedAndCharacterReferences) {
  Result<XmlElement> root =
      ParseXml("<m>a &amp; b &lt;c&gt; &#x41;&#66; <![CDATA[<raw & text>]]></m>", "doc");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->text, "a & b <c> AB <raw & text>");
}

TEST(XmlTest, MalformedInputNamesTheSourceAndLine) {
  Result<XmlElement> r = ParseXml("<a>\n<b>\n</a>\n", "ec2 RunInstances answer");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("ec2 RunInstances answer:3:"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().message();

  for (const char* bad : {"", "not xml at all", "<a>", "<a></a><b/>", "<a x=1/>", "<a>\x01</a>"}) {
    Result<XmlElement> e = ParseXml(bad, "doc");
    EXPECT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().message().rfind("doc:", 0), 0u) << e.status().message();
  }
}

TEST(XmlTest, BillionLaughsIsRefusedBeforeAnyEntityIsDeclared) {
  std::string doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n";
  for (int i = 1; i < 10; ++i) {
    doc += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j) doc += "&lol" + (i > 1 ? std::to_string(i - 1) : "") + ";";
    doc += "\">\n";
  }
  doc += "]>\n<lolz>&lol9;</lolz>\n";
  Result<XmlElement> r = ParseXml(doc, "hostile");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "hostile:2: a DOCTYPE is not allowed");
}

TEST(XmlTest, ExternalEntitiesAndSubsetsAreRefused) {
  for (const char* doc : {
           "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
           "<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/evil.dtd\"><r/>",
           "<!DOCTYPE r PUBLIC \"-//x//y\" \"file:///etc/passwd\"><r/>",
       }) {
    Result<XmlElement> r = ParseXml(doc, "hostile");
    ASSERT_FALSE(r.ok()) << doc;
    EXPECT_NE(r.status().message().find("DOCTYPE is not allowed"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(r.status().message().find("root:"), std::string::npos);  // no passwd content
  }
}

TEST(XmlTest, AnUndeclaredEntityIsAnError) {
  Result<XmlElement> r = ParseXml("<r>\n&secret;</r>", "doc");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("doc:2:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("secret"), std::string::npos) << r.status().message();
}

std::string Nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "<e>";
  for (int i = 0; i < depth; ++i) s += "</e>";
  return s;
}

TEST(XmlTest, DepthIsCapped) {
  XmlParseOptions o;
  o.max_depth = 10;
  EXPECT_TRUE(ParseXml(Nested(10), "doc", o).ok());
  Result<XmlElement> r = ParseXml(Nested(11), "doc", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "doc:1: elements nested deeper than 10");
  // The default cap, far below what would exhaust the stack.
  Result<XmlElement> deep = ParseXml(Nested(100000), "doc");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("deeper than 64"), std::string::npos)
      << deep.status().message();
}

TEST(XmlTest, SizeIsCapped) {
  XmlParseOptions o;
  o.max_bytes = 100;
  std::string doc = "<r>" + std::string(200, 'x') + "</r>";
  Result<XmlElement> r = ParseXml(doc, "doc", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "doc: XML document of 207 bytes is over the limit of 100");
  o.max_bytes = doc.size();
  EXPECT_TRUE(ParseXml(doc, "doc", o).ok());
}

TEST(XmlTest, NothingIsPrintedAndThreadsParseIndependently) {
  ::testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  std::vector<int> good(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &good] {
      for (int i = 0; i < 50; ++i) {
        bool ok = (i + t) % 2 == 0;
        Result<XmlElement> r = ParseXml(ok ? "<a><b>1</b></a>" : "<a><b></a>", "doc");
        if (r.ok() == ok && (ok || r.status().message().find("doc:1:") == 0)) ++good[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed, "");
  for (int t = 0; t < 8; ++t) EXPECT_EQ(good[t], 50) << t;
}

}  // namespace
}  // namespace baton
