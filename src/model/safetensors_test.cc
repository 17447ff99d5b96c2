// SafetensorsFile refuses headers that would make it hand out tensors the bytes do not hold:
// every case is a Corruption naming the file (and the tensor, where there is one), never a
// crash, an exception or a tensor with a negative or overflowed size.
#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace baton {
namespace {

// A safetensors file of `header` (JSON text) followed by `data_bytes` zero bytes.
std::string File(const std::string& header, size_t data_bytes) {
  std::string out;
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  out += header;
  out.append(data_bytes, '\0');
  return out;
}

// The error of parsing `bytes` as "w.safetensors"; fails the test when it parses.
std::string ErrorOf(const std::string& bytes) {
  Result<SafetensorsFile> f = SafetensorsFile::FromBytes(bytes, "w.safetensors");
  if (f.ok()) {
    ADD_FAILURE() << "parsed, want an error";
    return "";
  }
  EXPECT_EQ(f.status().code(), StatusCode::kCorruption) << f.status().message();
  return f.status().message();
}

void ExpectMentions(const std::string& err, const std::string& what) {
  EXPECT_NE(err.find("w.safetensors"), std::string::npos) << err;
  EXPECT_NE(err.find(what), std::string::npos) << err;
}

TEST(Safetensors, WellFormedFileParses) {
  Result<SafetensorsFile> f =
      SafetensorsFile::FromBytes(File(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                      R"("b":{"dtype":"F32","shape":[0],"data_offsets":[24,24]}})",
                                      24),
                                 "w.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*f->GetShape("a"), (Shape{2, 3}));
}

TEST(Safetensors, HugeDimensionsAreRefusedNotNegative) {
  // 2^63: read as int64 it was INT64_MIN.
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[9223372036854775808],)"
                              R"("data_offsets":[0,0]}})",
                              0)),
                 "tensor 't'");
  // 2^64 - 1.
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[18446744073709551615],)"
                              R"("data_offsets":[0,4]}})",
                              4)),
                 "tensor 't'");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)),
                 "tensor 't'");
}

TEST(Safetensors, ElementCountOverflowIsRefused) {
  // 2^32 * 2^32 * 4 bytes wraps to 0, which matched empty data_offsets before.
  std::string err = ErrorOf(File(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],)"
                                 R"("data_offsets":[0,0]}})",
                                 0));
  ExpectMentions(err, "tensor 't'");
  EXPECT_NE(err.find("overflows"), std::string::npos) << err;
  // 2^62 elements of 4 bytes: only the byte count overflows.
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[4611686018427387904],)"
                              R"("data_offsets":[0,0]}})",
                              0)),
                 "overflows");
}

TEST(Safetensors, OffsetsMustMatchDtypeAndShapeAndTheFile) {
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24)),
                 "needs 24");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[8,0]}})", 24)),
                 "tensor 't'");
  // A truncated data region.
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 23)),
                 "truncated");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}})", 8)),
                 "data_offsets");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 9)),
                 "data_offsets");
}

TEST(Safetensors, HeaderLengthBeyondCapOrFileIsRefused) {
  std::string huge(8, '\0');
  huge[4] = 1;  // 2^32 bytes of header
  ExpectMentions(ErrorOf(huge + "{}"), "over the limit");
  std::string beyond = File("{}", 0);
  beyond[0] = 100;  // 100 bytes of header in a 10-byte file
  ExpectMentions(ErrorOf(beyond), "does not fit");
  ExpectMentions(ErrorOf("abc"), "too short");
}

TEST(Safetensors, DuplicateTensorNamesAreRefused) {
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                              8)),
                 "'t' appears twice");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[1],"shape":[2],)"
                              R"("data_offsets":[0,4]}})",
                              8)),
                 "'shape' appears twice");
}

TEST(Safetensors, OverlappingTensorsAreRefusedByName) {
  std::string err = ErrorOf(File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 12));
  ExpectMentions(err, "overlap");
  EXPECT_NE(err.find("'a'"), std::string::npos) << err;
  EXPECT_NE(err.find("'b'"), std::string::npos) << err;
}

TEST(Safetensors, WronglyTypedEntriesAreErrorsNotExceptions) {
  ExpectMentions(ErrorOf(File(R"({"t":[1,2]})", 0)), "tensor 't'");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4)),
                 "dtype");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4)),
                 "shape");
  ExpectMentions(ErrorOf(File(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4)),
                 "shape");
  ExpectMentions(ErrorOf(File(R"({"__metadata__":[1]})", 0)), "__metadata__");
  ExpectMentions(ErrorOf(File("[1,2]", 0)), "not a JSON object");
}

}  // namespace
}  // namespace baton
