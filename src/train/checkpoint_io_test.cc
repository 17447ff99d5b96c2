// ValidateCheckpoint: the files of a checkpoint must agree with each other, with the step of
// their folder and (given the trainable state) with the job's model and LoRA settings; and a
// checkpoint that does not fit restores nothing.
#include "train/checkpoint_io.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kernels/backend_factory.h"
#include "model/init_model.h"
#include "model/safetensors.h"
#include "run/layout.h"
#include "train/swift_args.h"

namespace baton {
namespace {

using Files = std::map<std::string, std::string>;

class CheckpointIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelConfig model = *ModelPreset("tiny", 0);
    model.num_hidden_layers = 2;
    model_ = model;
    LoraConfig lc;
    lc.r = 4;
    lc.alpha = 8;
    lc.target_modules = {"q_proj", "v_proj"};
    backend_ = std::move(MakeBackend("cpu", DType::kF32)).value();
    adapter_ = std::make_unique<LoraAdapter>(LoraAdapter::Create(model, lc, backend_.get()));
    grads_ = std::make_unique<LoraAdapter>(LoraAdapter::Create(model, lc, backend_.get()));
    ASSERT_TRUE(adapter_->InitLikePeft(3).ok());
    optimizer_ =
        std::make_unique<AdamW>(adapter_->params().numel(), AdamWOptions{}, backend_.get());
    optimizer_->set_step(6);
    state_.global_step = 6;
    state_.max_steps = 10;
    state_.args = Json{{"lora_rank", 4}, {"lora_alpha", 8.0}};
  }
  TrainableState Trainable() {
    return {adapter_.get(), grads_.get(), optimizer_.get(), backend_.get()};
  }
  Files Saved() {
    auto files = SerializeCheckpoint(Trainable(), state_);
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    return Files(files->begin(), files->end());
  }
  // The error of validating `files` as checkpoint `step`, with the trainable state; "" if valid.
  std::string ErrorOf(const Files& files, int64_t step = 6) {
    TrainableState into = Trainable();
    Status s = ValidateCheckpoint(files, "run/checkpoint-6", step, &into);
    if (!s.ok()) EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    return s.ok() ? "" : s.message();
  }
  // Safetensors bytes of `tensors` with `metadata`.
  static std::string Safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                 const std::map<std::string, std::string>& metadata = {}) {
    return *SerializeSafetensors(tensors, metadata);
  }
  std::vector<std::pair<std::string, Tensor>> AdapterTensors(const Files& files) {
    SafetensorsFile f = *SafetensorsFile::FromBytes(files.at(kAdapterWeightsFile), "a");
    std::vector<std::pair<std::string, Tensor>> out;
    for (const std::string& name : f.Names()) out.emplace_back(name, *f.Get(name));
    return out;
  }

  ModelConfig model_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<LoraAdapter> adapter_, grads_;
  std::unique_ptr<AdamW> optimizer_;
  TrainerState state_;
};

void ExpectHas(const std::string& err, const std::string& part) {
  EXPECT_NE(err.find(part), std::string::npos) << "'" << part << "' not in: " << err;
}

TEST_F(CheckpointIoTest, WhatTheTrainerSavesIsValid) {
  Files files = Saved();
  EXPECT_EQ(ErrorOf(files), "");
  EXPECT_TRUE(ValidateCheckpoint(files, "c", 6).ok());  // without the model too
  state_.micro_step = 1;  // mid-accumulation: the accumulated gradients are saved and expected
  EXPECT_EQ(ErrorOf(Saved()), "");
}

TEST_F(CheckpointIoTest, StepsMustAgree) {
  Files files = Saved();
  ExpectHas(ErrorOf(files, 4),
            "run/checkpoint-6/trainer_state.json: global_step is 6, but the "
            "checkpoint is checkpoint-4");
  optimizer_->set_step(5);
  ExpectHas(ErrorOf(Saved()), "optimizer.safetensors: records optimizer step '5'");
}

TEST_F(CheckpointIoTest, EveryFileMustBeThere) {
  for (const char* name :
       {kAdapterWeightsFile, kAdapterConfigFile, kOptimizerFile, kTrainerStateFile}) {
    Files files = Saved();
    files.erase(name);
    ExpectHas(ErrorOf(files), std::string("no ") + name);
  }
}

TEST_F(CheckpointIoTest, WronglyTypedDocumentsAreCorruptionNotExceptions) {
  Files files = Saved();
  files[kTrainerStateFile] = R"({"format": "baton-trainer-state", "version": 1,
      "global_step": "6"})";
  ExpectHas(ErrorOf(files), "'global_step'");
  files = Saved();
  Json config = Json::parse(files[kAdapterConfigFile]);
  for (auto [key, value] : std::map<std::string, Json>{{"use_dora", "no"},
                                                       {"rank_pattern", Json{{"q_proj", "8"}}},
                                                       {"layers_to_transform", Json{"0"}},
                                                       {"alpha_pattern", Json{{"q", Json{}}}},
                                                       {"use_rslora", 1},
                                                       {"r", "4"}}) {
    Json bad = config;
    bad[key] = value;
    files[kAdapterConfigFile] = bad.dump();
    ExpectHas(ErrorOf(files), "'" + key + "'");
  }
  files = Saved();
  files[kAdapterConfigFile] = "[1]";
  ExpectHas(ErrorOf(files), "adapter_config.json");
}

TEST_F(CheckpointIoTest, AdapterConfigMustBeTheJobs) {
  Files files = Saved();
  Json config = Json::parse(files[kAdapterConfigFile]);
  config["lora_alpha"] = 16;
  files[kAdapterConfigFile] = config.dump();
  ExpectHas(ErrorOf(files),
            "adapter_config.json: 'lora_alpha' is 16.0, but the job's LoRA "
            "settings give 8.0");
  // Without the job it still disagrees with the args the trainer state records.
  ExpectHas(ValidateCheckpoint(files, "c", 6).message(), "args.lora_alpha is 8.0");
}

TEST_F(CheckpointIoTest, ImpossibleAdapterShapesAreRefused) {
  Files good = Saved();
  auto tensors = AdapterTensors(good);
  const std::string a_name = tensors[0].first;  // sorted: the first is a lora_A
  ASSERT_NE(a_name.find("lora_A"), std::string::npos);
  const Tensor a = tensors[0].second;

  // Dims swapped (same bytes): rank and in trade places.
  auto swapped = tensors;
  swapped[0].second =
      Tensor::Wrap(const_cast<void*>(a.raw()), {a.shape()[1], a.shape()[0]}, DType::kF32, nullptr);
  Files files = good;
  files[kAdapterWeightsFile] = Safetensors(swapped);
  ExpectHas(ErrorOf(files), "tensor '" + a_name + "'");
  ExpectHas(ValidateCheckpoint(files, "c", 6).message(), "'" + a_name + "'");

  // Wrong rank (3-D).
  auto three_d = tensors;
  three_d[0].second = Tensor::Wrap(const_cast<void*>(a.raw()), {1, a.shape()[0], a.shape()[1]},
                                   DType::kF32, nullptr);
  files[kAdapterWeightsFile] = Safetensors(three_d);
  ExpectHas(ErrorOf(files), "want a 2-D F32 matrix");

  // A consistent adapter of another rank: fine by itself, but not this job's.
  LoraConfig lc = adapter_->config();
  lc.r = 2;
  LoraAdapter other = LoraAdapter::Create(model_, lc);
  files = good;
  files[kAdapterWeightsFile] = *other.SerializeWeights();
  ExpectHas(ErrorOf(files), "rank 2, but adapter_config.json says r = 4");

  // A tensor of a module the job does not adapt.
  auto extra = tensors;
  extra.emplace_back("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", a);
  files[kAdapterWeightsFile] = Safetensors(extra);
  ExpectHas(ErrorOf(files), "has no 'base_model.model.model.layers.0.mlp.up_proj.lora_B.weight'");

  // A truncated data region.
  files = good;
  files[kAdapterWeightsFile].resize(files[kAdapterWeightsFile].size() - 4);
  ExpectHas(ErrorOf(files), "truncated");
}

TEST_F(CheckpointIoTest, OptimizerMustMatchTheAdapter) {
  Files good = Saved();
  const int64_t n = adapter_->params().numel();
  Tensor short_moment = Tensor::Zeros({n - 1}, DType::kF32);
  Tensor moment = Tensor::Zeros({n}, DType::kF32);
  Files files = good;
  files[kOptimizerFile] =
      Safetensors({{"exp_avg", short_moment}, {"exp_avg_sq", moment}}, {{"step", "6"}});
  ExpectHas(ErrorOf(files), "tensor 'exp_avg' is F32[" + std::to_string(n - 1) + "]");
  files[kOptimizerFile] = Safetensors({{"exp_avg", moment}}, {{"step", "6"}});
  ExpectHas(ErrorOf(files), "no tensor 'exp_avg_sq'");
  files[kOptimizerFile] =
      Safetensors({{"exp_avg", moment}, {"exp_avg_sq", moment}, {"accumulated_grads", moment}},
                  {{"step", "6"}});
  ExpectHas(ErrorOf(files), "micro_step 0");
  files[kOptimizerFile] =
      Safetensors({{"exp_avg", moment}, {"exp_avg_sq", moment}}, {{"step", "six"}});
  ExpectHas(ErrorOf(files), "records optimizer step 'six'");
  state_.micro_step = 1;
  files = Saved();
  Files without = files;
  without[kOptimizerFile] =
      Safetensors({{"exp_avg", moment}, {"exp_avg_sq", moment}}, {{"step", "6"}});
  ExpectHas(ErrorOf(without), "no tensor 'accumulated_grads'");
}

TEST_F(CheckpointIoTest, ACheckpointThatDoesNotFitRestoresNothing) {
  Files files = Saved();
  Tensor before = Tensor::Zeros(adapter_->params().shape(), DType::kF32);
  std::memcpy(before.raw(), adapter_->params().raw(), before.nbytes());
  // Another adapter's weights (different values, same layout) with a broken optimizer: before,
  // the weights were copied in and then the optimizer failed.
  LoraAdapter other = LoraAdapter::Create(model_, adapter_->config());
  ASSERT_TRUE(other.InitLikePeft(99).ok());
  files[kAdapterWeightsFile] = *other.SerializeWeights();
  files[kOptimizerFile] = Safetensors({{"exp_avg", Tensor::Zeros({3}, DType::kF32)}});
  TrainerState saved = state_;
  Status s = RestoreCheckpoint(files, "run/checkpoint-6", saved, Trainable());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::memcmp(before.raw(), adapter_->params().raw(), before.nbytes()), 0)
      << "a refused checkpoint changed the adapter";
}

// args.json (ms-swift's run arguments) is part of a checkpoint when present and must say what
// adapter_config.json says; checkpoints written before it existed have none and stay valid.
class CheckpointSwiftArgsTest : public CheckpointIoTest {
 protected:
  Files SavedWithArgs(const std::function<void(Json&)>& edit = {}) {
    TrainArgs args;
    args.model = "/models/tiny";
    args.lora_rank = 4;
    args.lora_alpha = 8;
    args.target_modules = {"q_proj", "v_proj"};
    Json j = *ParseJson(MakeSwiftArgs(args, {"qwen2_5", "qwen2_5"}), "args.json");
    if (edit) edit(j);
    auto files = SerializeCheckpoint(Trainable(), state_, j.dump(2));
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    return Files(files->begin(), files->end());
  }
};

TEST_F(CheckpointSwiftArgsTest, OldCheckpointsWithoutArgsJsonStayValid) {
  Files old = Saved();
  EXPECT_FALSE(old.contains(kSwiftArgsFile));
  EXPECT_EQ(ErrorOf(old), "");
  EXPECT_TRUE(ValidateCheckpoint(old, "run/checkpoint-6", 6).ok());
}

TEST_F(CheckpointSwiftArgsTest, ArgsJsonThatAgreesIsValid) {
  Files files = SavedWithArgs();
  ASSERT_TRUE(files.contains(kSwiftArgsFile));
  EXPECT_EQ(ErrorOf(files), "");
  EXPECT_TRUE(ValidateCheckpoint(files, "run/checkpoint-6", 6).ok());
}

TEST_F(CheckpointSwiftArgsTest, ArgsJsonThatDisagreesIsInvalid) {
  struct Case {
    std::function<void(Json&)> edit;
    const char* want;
  };
  const Case cases[] = {
      {[](Json& j) { j["lora_rank"] = 8; }, "'lora_rank' is 8"},
      {[](Json& j) { j["lora_rank"] = "4"; }, "'lora_rank'"},
      {[](Json& j) { j["lora_alpha"] = 16; }, "'lora_alpha' is 16"},
      {[](Json& j) { j["use_rslora"] = true; }, "'use_rslora'"},
      {[](Json& j) { j["target_modules"] = {"q_proj"}; }, "'target_modules'"},
      {[](Json& j) { j["target_modules"] = {"all-linear"}; }, "'target_modules'"},
      {[](Json& j) { j["train_type"] = "full"; }, "'train_type'"},
      {[](Json& j) { j.erase("model"); }, "'model' is missing"},
      {[](Json& j) { j["template"] = 3; }, "'template' is 3"},
      {[](Json& j) { j = Json::array(); }, "not a JSON object"},
  };
  for (const Case& c : cases) {
    std::string err = ErrorOf(SavedWithArgs(c.edit));
    ExpectHas(err, "run/checkpoint-6/args.json");
    ExpectHas(err, c.want);
  }
  Files torn = SavedWithArgs();
  torn[kSwiftArgsFile].resize(torn[kSwiftArgsFile].size() / 2);
  ExpectHas(ErrorOf(torn), "run/checkpoint-6/args.json");
}

TEST_F(CheckpointSwiftArgsTest, ArgsJsonModelMustBeTheAdaptersBaseModel) {
  LoraConfig lc = adapter_->config();
  lc.base_model_name_or_path = "/models/other";
  *adapter_ = LoraAdapter::Create(model_, lc, backend_.get());
  std::string err = ErrorOf(SavedWithArgs());
  ExpectHas(err, "'model' is \"/models/tiny\"");
  ExpectHas(err, "base_model_name_or_path");
  // The job may name the same base model by another path (a resume on a new machine).
  lc.base_model_name_or_path = "/models/tiny";
  *adapter_ = LoraAdapter::Create(model_, lc, backend_.get());
  Files files = SavedWithArgs();
  LoraConfig job = lc;
  job.base_model_name_or_path = "/mnt/cache/tiny";
  LoraAdapter job_adapter = LoraAdapter::Create(model_, job, backend_.get());
  TrainableState into = Trainable();
  into.adapter = &job_adapter;
  EXPECT_TRUE(ValidateCheckpoint(files, "run/checkpoint-6", 6, &into).ok());
}

}  // namespace
}  // namespace baton
