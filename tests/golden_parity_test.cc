// The three golden cases (HF transformers + PEFT outputs, copied from shared/golden) must pass
// parity on both CPU matrix engines: the naive reference and OpenBLAS.
#include <gtest/gtest.h>

#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"
#include "train/parity.h"

namespace baton {
namespace {

struct Case {
  const char* name;
  CpuGemm gemm;
};

class GoldenParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(GoldenParityTest, MatchesTransformers) {
  std::string dir = testing::GoldenDir(GetParam().name);
  ParityOptions o;
  o.model_dir = dir + "/model";
  o.adapter_dir = dir + "/adapter";
  o.reference_path = dir + "/reference.safetensors";
  std::unique_ptr<Backend> backend = MakeCpuBackend({GetParam().gemm, 2});
  Result<ParityReport> report = RunParity(Env::Default(), backend.get(), o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::printf("%s", report->ToText().c_str());
  for (const ParityItem& item : report->items) {
    EXPECT_EQ(item.state, ParityItem::State::kPassed) << item.name << ": " << item.note;
  }
  EXPECT_TRUE(report->ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllCases, GoldenParityTest,
    ::testing::Values(Case{"qwen2", CpuGemm::kBlas}, Case{"qwen2-tied", CpuGemm::kBlas},
                      Case{"llama", CpuGemm::kBlas}, Case{"qwen2", CpuGemm::kNaive},
                      Case{"qwen2-tied", CpuGemm::kNaive}, Case{"llama", CpuGemm::kNaive}),
    [](const auto& info) {
      std::string n =
          std::string(info.param.name) + (info.param.gemm == CpuGemm::kBlas ? "_blas" : "_naive");
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

}  // namespace
}  // namespace baton
