// The trainer's inputs made local before training starts: --model and every --dataset given as a
// store URL (s3://, oss://) are fetched into the local cache (store/cache.h) once; local paths
// and built-in datasets pass through. A dataset's "#N" sample count stays with its local path.
#pragma once

#include <string>
#include <vector>

#include "base/env.h"
#include "store/cache.h"
#include "train/train_args.h"

namespace baton {

struct TrainInputs {
  std::string model_dir;              // a local folder
  std::vector<std::string> datasets;  // --dataset values with local paths
};

Result<TrainInputs> ResolveTrainInputs(const TrainArgs& args, const CacheOptions& cache, Env* env);

}  // namespace baton
