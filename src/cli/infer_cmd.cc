// baton infer [--model DIR] [--adapters DIR] [--query Q | interactive] [--stream true] ...
// ms-swift's `swift infer` flag names. Interactive mode keeps the conversation; `clear` resets
// it and `exit` (or end of input) leaves. `--device auto` generates on the GPU when this build
// has CUDA and one is visible (weights and the KV cache on the device), else on the CPU.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/adapter_source.h"
#include "cli/commands.h"
#include "kernels/backend_factory.h"
#include "model/generate.h"
#include "run/layout.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace baton::cli {
namespace {

struct InferFlags {
  std::string model;
  std::string adapters;
  std::string system;
  bool system_given = false;
  std::string query;
  std::string template_name;
  bool template_from_args = false;  // taken from the adapter's args.json
  std::string infer_backend = "pt";
  bool stream = true;
  bool verbose = false;
  std::optional<float> temperature, top_p, repetition_penalty;
  std::optional<int64_t> top_k, max_new_tokens;
  uint64_t seed = 42;
  std::string device = "auto";
  std::string torch_dtype = "float32";
};

class Chat {
 public:
  static Result<std::unique_ptr<Chat>> Create(InferFlags f) {
    auto chat = std::make_unique<Chat>();
    Env* env = Env::Default();
    if (f.infer_backend != "pt") {
      return InvalidArgument("--infer_backend {}: not supported (only pt, Baton's own engine)",
                             f.infer_backend);
    }
    // Store URLs are fetched into the cache; an adapter's args.json names the model, template
    // and system prompt the flags leave out, as `swift infer --adapters` reads them.
    BATON_ASSIGN_OR_RETURN(ModelAndAdapter where, ResolveModelAndAdapter(f.model, f.adapters, env));
    f.model = where.model_dir;
    f.adapters = where.adapter_dir;
    if (where.args && f.template_name.empty() && where.args->template_name) {
      f.template_name = *where.args->template_name;
      f.template_from_args = true;
    }
    if (where.args && !f.system_given && where.args->system) {
      f.system = *where.args->system;
      f.system_given = true;
    }
    chat->flags_ = f;
    BATON_ASSIGN_OR_RETURN(chat->backend_, MakeBackend(f.device, f.torch_dtype));
    auto t0 = std::chrono::steady_clock::now();
    BATON_ASSIGN_OR_RETURN(chat->model_, Transformer::Load(env, f.model, chat->backend_.get()));
    if (!f.adapters.empty()) {
      BATON_ASSIGN_OR_RETURN(LoraAdapter a,
                             LoraAdapter::Load(env, f.adapters, chat->model_->config()));
      if (chat->backend_->device() != Device::kCpu) {
        BATON_ASSIGN_OR_RETURN(a, a.ToBackend(chat->backend_.get()));
      }
      chat->adapter_ = std::make_unique<LoraAdapter>(std::move(a));
      chat->model_->SetAdapter(chat->adapter_.get());
    }
    std::string tok_path = JoinPath(f.model, "tokenizer.json");
    BATON_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::FromFile(env, tok_path));
    BATON_RETURN_IF_ERROR(tok.CheckFitsModel(chat->model_->config().vocab_size, tok_path,
                                             JoinPath(f.model, "config.json")));
    chat->tokenizer_ = std::make_unique<Tokenizer>(std::move(tok));
    if (!f.template_name.empty()) {
      // ms-swift's template names; chatml chosen by flag behaves as ms-swift's qwen template.
      bool flag_chatml = f.template_name == "chatml" && !f.template_from_args;
      Result<SwiftTemplate> t = ParseSwiftTemplate(flag_chatml ? "qwen" : f.template_name);
      if (!t.ok()) {
        return t.status().WithContext(f.template_from_args ? JoinPath(f.adapters, kSwiftArgsFile)
                                                           : std::string("--template"));
      }
      chat->template_ = t->kind;
      chat->render_.default_system = t->default_system;
    } else {
      BATON_ASSIGN_OR_RETURN(DetectedChatTemplate d, DetectChatTemplateInDir(env, f.model));
      chat->template_ = d.kind;
      chat->render_.default_system = d.default_system;
    }
    chat->render_.add_generation_prompt = true;
    BATON_ASSIGN_OR_RETURN(chat->gen_, GenerationOptions::FromModelDir(env, f.model));
    GenerationOptions& g = chat->gen_;
    if (f.temperature) g.temperature = *f.temperature;
    if (f.top_p) g.top_p = *f.top_p;
    if (f.top_k) g.top_k = *f.top_k;
    if (f.repetition_penalty) g.repetition_penalty = *f.repetition_penalty;
    if (f.max_new_tokens) g.max_new_tokens = *f.max_new_tokens;
    g.seed = f.seed;
    // The file's values were checked as it was read; what is left to fail came from a flag.
    BATON_RETURN_IF_ERROR(g.Validate([](const char* key) { return fmt::format("--{}", key); }));
    for (int32_t id : ChatStopTokenIds(chat->template_, *chat->tokenizer_)) {
      g.stop_ids.push_back(id);
    }
    double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (f.verbose) {
      std::fprintf(stderr, "[%s; %s; template %s; loaded in %.2f s]\n",
                   chat->model_->config().Summary().c_str(), chat->backend_->name().c_str(),
                   std::string(ChatTemplateName(chat->template_)).c_str(), load);
    }
    return chat;
  }

  // Answers `query` given the conversation so far, streaming to stdout when asked.
  Result<std::string> Ask(const std::string& query) {
    messages_.push_back({"user", query});
    std::vector<ChatMessage> conv;
    if (flags_.system_given) conv.push_back({"system", flags_.system});
    conv.insert(conv.end(), messages_.begin(), messages_.end());
    BATON_ASSIGN_OR_RETURN(std::string prompt, RenderChat(template_, conv, render_));
    std::vector<int32_t> ids = tokenizer_->Encode(prompt);
    StreamDecoder stream(tokenizer_.get(), /*skip_special_tokens=*/true);
    std::string answer;
    auto on_token = [&](int32_t id) {
      std::string piece = stream.Add(id);  // special (stop) tokens are not shown
      answer += piece;
      if (flags_.stream && !piece.empty()) {
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
      }
      return true;
    };
    BATON_ASSIGN_OR_RETURN(GenerationResult r, Generate(*model_, ids, gen_, on_token));
    std::string rest = stream.Flush();
    answer += rest;
    if (flags_.stream)
      std::fputs((rest + "\n").c_str(), stdout);
    else
      std::printf("%s\n", answer.c_str());
    std::fflush(stdout);
    if (flags_.verbose) {
      size_t n = r.tokens.size();
      std::fprintf(
          stderr,
          "[prompt %zu tokens in %.3f s (%.1f tok/s); %zu new tokens, decode %.1f tok/s%s]\n",
          ids.size(), r.prefill_seconds, ids.size() / r.prefill_seconds, n,
          n > 1 ? (n - 1) / r.decode_seconds : 0.0, r.stopped ? "" : "; hit max_new_tokens");
    }
    messages_.push_back({"assistant", answer});
    return answer;
  }

  void Clear() { messages_.clear(); }

 private:
  InferFlags flags_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<LoraAdapter> adapter_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ChatRenderOptions render_;
  ChatTemplateKind template_ = ChatTemplateKind::kChatML;
  GenerationOptions gen_;
  std::vector<ChatMessage> messages_;
};

int RunInfer(const InferFlags& f) {
  Result<std::unique_ptr<Chat>> chat = Chat::Create(f);
  if (!chat.ok()) return ReportError(chat.status());
  if (!f.query.empty()) {
    Result<std::string> a = (*chat)->Ask(f.query);
    return a.ok() ? 0 : ReportError(a.status());
  }
  std::fprintf(
      stderr,
      "Interactive chat: type a message; 'clear' resets the conversation, 'exit' leaves.\n");
  std::string line;
  while (true) {
    std::fputs("<<< ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "exit" || line == "quit") break;
    if (line == "clear") {
      (*chat)->Clear();
      continue;
    }
    if (line.empty()) continue;
    Result<std::string> a = (*chat)->Ask(line);
    if (!a.ok()) return ReportError(a.status());
  }
  return 0;
}

}  // namespace

void AddInferCommand(CLI::App& root, Action& action) {
  auto f = std::make_shared<InferFlags>();
  CLI::App* cmd = root.add_subcommand("infer", "Chat with a model (and optional LoRA adapter)");
  cmd->add_option("--model", f->model,
                  "Hugging Face model folder or store URL (default: the adapter's args.json)");
  cmd->add_option("--infer_backend", f->infer_backend, "pt (Baton's engine; vllm etc. are not)")
      ->capture_default_str();
  cmd->add_option("--adapters", f->adapters,
                  "PEFT LoRA adapter folder or store URL (a checkpoint)");
  cmd->add_option("--system", f->system, "system prompt");
  cmd->add_option("--query", f->query, "answer this one message and exit (else interactive)");
  cmd->add_option(
      "--template", f->template_name,
      "chat template: chatml (qwen), qwen2_5, deepseek_r1, llama3 (default: the adapter's "
      "args.json, else from the model)");
  cmd->add_option("--stream", f->stream, "print tokens as they come (true/false)")
      ->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "0 = greedy (default: generation_config.json)");
  cmd->add_option("--top_k", f->top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top_p", f->top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--repetition_penalty", f->repetition_penalty, "HF repetition penalty (1 = off)");
  cmd->add_option("--max_new_tokens", f->max_new_tokens, "most tokens per answer");
  cmd->add_option("--seed", f->seed, "sampling seed")->capture_default_str();
  cmd->add_option("--device", f->device,
                  "auto (the GPU when this build has CUDA and one is visible), cpu or cuda")
      ->capture_default_str();
  cmd->add_option("--torch_dtype", f->torch_dtype,
                  "activations: float32, or bfloat16 (GPU only; halves the KV cache)")
      ->capture_default_str();
  cmd->add_option("--verbose", f->verbose, "print load time and tokens/s to stderr (true/false)");
  cmd->callback([&action, f, cmd] {
    f->system_given = cmd->count("--system") > 0;
    action = [f] { return RunInfer(*f); };
  });
}

}  // namespace baton::cli
