// The job spec: one YAML file that describes a run for `baton agent` (and the fleet controller).
//
//   name: self-cognition-demo          # optional; default: the file name without extension;
//                                      # it names folders, so one path segment: no '/', '..',
//                                      # or control characters
//   model: s3://bkt/models/qwen2-7b    # local folder or store URL
//   datasets: [self-cognition#500, s3://bkt/data/train.jsonl]   # a list or one string
//   store: s3://bkt/runs/demo          # the run's folder (--output_dir)
//   train:                             # `baton train` flags (ms-swift names), without dashes
//     lora_rank: 8
//     model_name: [小巴, Baton]
//   agent:
//     cloud: aws                       # preemption notices: aws | alibaba | gcp | azure | none
//     metadata_url: http://169.254.169.254   # optional override (tests: a local fake)
//     heartbeat_seconds: 5
//   hooks:
//     scale_to_zero: true              # on completion, set the group's desired capacity to 0
//     webhooks:
//       - {url: https://oapi.dingtalk.com/robot/send?access_token=..., format: dingtalk}
//   fleet: {...}                       # the fleet controller's section (fleet/spec.h)
//   command: "swift sft ... --resume_from_checkpoint {resume_from}"
//                                      # optional: supervise this trainer instead of training
//                                      # in-process (then model/datasets/train are not needed)
//
// Every error names the file, line and column and the key path ("train.lora_rnak: unknown key"),
// the fleet section's included: one reader (base/spec_node.h) reads the whole file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/json.h"
#include "base/spec_node.h"
#include "base/status.h"
#include "train/train_args.h"

namespace baton {

struct WebhookSpec {
  std::string url;
  std::string format = "generic";  // generic | dingtalk | slack
};

struct JobSpec {
  std::string name;
  TrainArgs train;  // model, dataset and output_dir come from model / datasets / store
  std::string cloud = "none";
  std::string metadata_url;
  double heartbeat_seconds = 5;
  bool scale_to_zero = true;
  std::vector<WebhookSpec> webhooks;
  SpecNode fleet;       // the `fleet` section, read by fleet::ParseFleetSpec (IsNull: none)
  std::string command;  // external trainer command line (sh -c), or "" to train in-process
};

// Parses a job spec; `source` names it in errors ("examples/demo.yaml").
Result<JobSpec> ParseJobSpec(std::string_view text, const std::string& source);

// The whole job spec document as JSON (YAML scalars that look like numbers or booleans become
// numbers or booleans), for tools that rewrite a job for others, as `baton run` does for its
// agents. JSON is YAML, so the result's dump() parses back with ParseJobSpec.
Result<Json> JobSpecDocument(std::string_view text, const std::string& source);

// Reads a job spec from a local file or a store URL (s3://bkt/jobs/demo.yaml). A job from a store
// is read into memory only, never copied to disk (it may hold webhook tokens).
Result<JobSpec> LoadJobSpec(const std::string& path_or_url, Env* env = Env::Default());

}  // namespace baton
