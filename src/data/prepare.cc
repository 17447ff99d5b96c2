#include "data/prepare.h"

#include "data/dataset_spec.h"
#include "data/sampling.h"
#include "data/self_cognition.h"
#include "data/shuffle.h"

namespace baton {
namespace {

struct RowRef {
  size_t dataset;
  int64_t row;
};

// --system replaces the default system prompt. The templates other than ChatML have no default
// to replace, so the prompt is given to rows without a system message as one of their own.
std::vector<ChatMessage> WithSystem(const std::vector<ChatMessage>& messages,
                                    const std::optional<std::string>& system) {
  if (!system || system->empty() || (!messages.empty() && messages[0].role == "system")) {
    return messages;
  }
  std::vector<ChatMessage> out;
  out.reserve(messages.size() + 1);
  out.push_back({"system", *system});
  out.insert(out.end(), messages.begin(), messages.end());
  return out;
}

Status EncodeAll(const ExampleEncoder& encoder, const std::vector<std::vector<Conversation>>& rows,
                 const std::vector<RowRef>& refs, const std::optional<std::string>& system,
                 std::vector<TrainExample>* out, SplitSummary* summary) {
  out->reserve(refs.size());
  for (const RowRef& ref : refs) {
    const Conversation& conv = rows[ref.dataset][ref.row];
    Result<EncodedExample> enc = encoder.Encode(WithSystem(conv.messages, system));
    if (!enc.ok()) return enc.status().WithContext(conv.origin);
    switch (enc->outcome) {
      case EncodeOutcome::kDroppedTooLong:
        ++summary->dropped_too_long;
        continue;
      case EncodeOutcome::kDroppedNoAnswer:
        ++summary->dropped_no_answer;
        continue;
      case EncodeOutcome::kTruncated:
        ++summary->truncated;
        break;
      case EncodeOutcome::kKept:
        break;
    }
    TrainExample& ex = enc->example;
    ++summary->examples;
    summary->tokens += static_cast<int64_t>(ex.input_ids.size());
    for (int32_t l : ex.labels) summary->trainable_tokens += l != kIgnoreLabel;
    summary->longest = std::max<int64_t>(summary->longest, ex.input_ids.size());
    out->push_back(std::move(ex));
  }
  return Status::Ok();
}

std::string SplitLine(std::string_view name, const SplitSummary& s) {
  return fmt::format(
      "{}: {} examples, {} tokens ({} trainable), longest {}; truncated {}, dropped {} (too "
      "long: {}, no answer left: {})",
      name, s.examples, s.tokens, s.trainable_tokens, s.longest, s.truncated,
      s.dropped_too_long + s.dropped_no_answer, s.dropped_too_long, s.dropped_no_answer);
}

}  // namespace

std::string DataSummary::ToString() const {
  std::string out;
  for (const DatasetSummary& d : datasets) {
    out += fmt::format("dataset {} ({}): {} rows -> {} train, {} val\n", d.spec, d.source, d.rows,
                       d.train_rows, d.val_rows);
  }
  out += SplitLine("train", train) + "\n";
  out += SplitLine("val", val) + "\n";
  return out;
}

Result<PreparedData> PrepareDatasets(Env* env, const DataOptions& options,
                                     const Tokenizer& tokenizer, ChatTemplateKind kind,
                                     const ChatRenderOptions& render) {
  BATON_ASSIGN_OR_RETURN(std::vector<DatasetSpec> specs, ParseDatasetSpecs(env, options.datasets));
  PreparedData data;
  DataRng rng(options.seed);
  std::vector<std::vector<Conversation>> rows;
  std::vector<RowRef> train_refs, val_refs;
  for (size_t d = 0; d < specs.size(); ++d) {
    const DatasetSpec& spec = specs[d];
    if (std::optional<std::string> notice = FolderRuleNotice(spec)) {
      data.summary.notices.push_back(std::move(*notice));
    }
    BATON_ASSIGN_OR_RETURN(std::vector<Conversation> ds,
                           LoadDatasetRows(env, spec, options.columns));
    if (spec.self_cognition) {
      BATON_RETURN_IF_ERROR(FillSelfCognition(options.model_name, options.model_author, &ds));
    }
    auto len = static_cast<int64_t>(ds.size());
    Result<SplitIndices> split =
        SplitAndSample(len, spec.sample, options.split_dataset_ratio, &rng);
    if (!split.ok()) return split.status().WithContext(fmt::format("--dataset '{}'", spec.text));
    for (int64_t i : split->train) train_refs.push_back({d, i});
    for (int64_t i : split->val) val_refs.push_back({d, i});
    data.summary.datasets.push_back(
        {spec.text, spec.builtin.empty() ? spec.path : spec.builtin + " (built in)", len,
         static_cast<int64_t>(split->train.size()), static_cast<int64_t>(split->val.size())});
    rows.push_back(std::move(ds));
  }
  if (options.dataset_shuffle) {
    std::vector<int64_t> order = RandomPermutation(static_cast<int64_t>(train_refs.size()), &rng);
    std::vector<RowRef> shuffled;
    shuffled.reserve(order.size());
    for (int64_t i : order) shuffled.push_back(train_refs[i]);
    train_refs = std::move(shuffled);
  }

  ChatRenderOptions opts = render;
  if (options.system) opts.default_system = *options.system;
  ExampleEncoder encoder(&tokenizer, kind, opts, options.max_length, options.truncation_strategy);
  BATON_RETURN_IF_ERROR(
      EncodeAll(encoder, rows, train_refs, options.system, &data.train, &data.summary.train));
  BATON_RETURN_IF_ERROR(
      EncodeAll(encoder, rows, val_refs, options.system, &data.val, &data.summary.val));
  if (data.train.empty()) {
    return InvalidArgument(
        "no training examples left: {} were longer than --max_length {} (truncation_strategy "
        "{}), {} had no answer tokens left",
        data.summary.train.dropped_too_long, options.max_length,
        TruncationStrategyName(options.truncation_strategy), data.summary.train.dropped_no_answer);
  }
  return data;
}

}  // namespace baton
