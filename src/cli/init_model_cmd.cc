// baton init-model --preset tiny --tokenizer tokenizer.json --out DIR
// Writes a randomly initialised Qwen2 model folder with the given tokenizer: config, weights,
// generation config, tokenizer.json and a tokenizer_config.json carrying a ChatML chat template,
// so HF transformers and `baton infer` both load it as is.
#include <cstdio>

#include "cli/commands.h"
#include "model/init_model.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace baton::cli {
namespace {

// ChatML as Qwen2's tokenizer_config.json writes it (Jinja, for HF tools), with Qwen2's default
// system prompt; `baton infer` recognises it and renders the same text natively.
constexpr const char* kChatMLJinja =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

struct InitModelFlags {
  std::string preset = "tiny";
  std::string tokenizer;
  std::string out;
  std::string dtype = "float32";
  uint64_t seed = 1234;
  int64_t max_shard_size_mb = 2048;
};

Status InitModel(const InitModelFlags& f) {
  Env* env = Env::Default();
  BATON_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::FromFile(env, f.tokenizer));
  BATON_ASSIGN_OR_RETURN(DType dtype, DTypeFromTorchName(f.dtype));
  BATON_ASSIGN_OR_RETURN(ModelConfig config, ModelPreset(f.preset, 0));
  if (config.vocab_size < tok.vocab_size()) {
    config.vocab_size = (tok.vocab_size() + 127) / 128 * 128;  // pad like HF checkpoints do
  }
  // ChatML's end-of-turn ends generation; <|endoftext|> pads.
  std::optional<int32_t> im_end = tok.TokenToId("<|im_end|>");
  std::optional<int32_t> eot = tok.TokenToId("<|endoftext|>");
  if (!im_end || !eot) {
    return InvalidArgument(
        "{}: the tokenizer has no <|im_end|>/<|endoftext|> tokens; init-model "
        "writes ChatML models and needs a Qwen-family tokenizer.json",
        f.tokenizer);
  }
  config.eos_token_ids = {*im_end};
  config.bos_token_id = *eot;
  config.pad_token_id = *eot;
  InitModelOptions o;
  o.seed = f.seed;
  o.dtype = dtype;
  o.max_shard_bytes = static_cast<uint64_t>(f.max_shard_size_mb) << 20;
  std::fprintf(stderr, "init-model: %s, %s weights, seed %llu -> %s\n", config.Summary().c_str(),
               f.dtype.c_str(), static_cast<unsigned long long>(f.seed), f.out.c_str());
  BATON_RETURN_IF_ERROR(WriteRandomModel(env, config, o, f.out));
  Json gen = {{"eos_token_id", {*im_end, *eot}},
              {"pad_token_id", *eot},
              {"bos_token_id", *eot},
              {"do_sample", false},
              {"max_new_tokens", 512}};
  BATON_RETURN_IF_ERROR(
      env->WriteFileAtomic(JoinPath(f.out, "generation_config.json"), DumpJson(gen, 2)));
  Json tc = {{"tokenizer_class", "Qwen2Tokenizer"},
             {"chat_template", kChatMLJinja},
             {"eos_token", "<|im_end|>"},
             {"pad_token", "<|endoftext|>"},
             {"bos_token", nullptr},
             {"add_bos_token", false},
             {"add_prefix_space", false},
             {"clean_up_tokenization_spaces", false},
             {"errors", "replace"},
             {"split_special_tokens", false},
             {"model_max_length", config.max_position_embeddings}};
  BATON_RETURN_IF_ERROR(
      env->WriteFileAtomic(JoinPath(f.out, "tokenizer_config.json"), DumpJson(tc, 2)));
  BATON_RETURN_IF_ERROR(env->CopyFile(f.tokenizer, JoinPath(f.out, "tokenizer.json")));
  std::fprintf(stderr, "init-model: wrote %s\n", f.out.c_str());
  return Status::Ok();
}

}  // namespace

void AddInitModelCommand(CLI::App& root, Action& action) {
  auto f = std::make_shared<InitModelFlags>();
  std::string presets;
  for (const std::string& p : ModelPresetNames()) presets += (presets.empty() ? "" : ", ") + p;
  CLI::App* cmd = root.add_subcommand(
      "init-model",
      "Write a randomly initialised Qwen2 model folder (for demos, tests, benchmarks)");
  cmd->add_option("--preset", f->preset, "model shape: " + presets)->capture_default_str();
  cmd->add_option("--tokenizer", f->tokenizer, "Hugging Face tokenizer.json (Qwen family)")
      ->required();
  cmd->add_option("--out", f->out, "output folder")->required();
  cmd->add_option("--torch_dtype,--dtype", f->dtype, "float32, bfloat16 or float16")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "random seed")->capture_default_str();
  cmd->add_option("--max_shard_size_mb", f->max_shard_size_mb,
                  "split weights into shards of at most this size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->callback([&action, f] {
    action = [f] {
      Status s = InitModel(*f);
      return s.ok() ? 0 : ReportError(s);
    };
  });
}

}  // namespace baton::cli
