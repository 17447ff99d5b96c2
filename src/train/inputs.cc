#include "train/inputs.h"

#include "data/dataset_spec.h"
#include "store/store.h"

namespace baton {

Result<TrainInputs> ResolveTrainInputs(const TrainArgs& args, const CacheOptions& cache, Env* env) {
  TrainInputs in;
  BATON_ASSIGN_OR_RETURN(in.model_dir, FetchToCache(args.model, cache, env));
  for (const std::string& spec : args.dataset) {
    if (!IsRemoteUrl(spec)) {
      in.datasets.push_back(spec);
      continue;
    }
    auto [url, count] = SplitSampleSuffix(spec);
    BATON_ASSIGN_OR_RETURN(std::string local, FetchToCache(url, cache, env));
    in.datasets.push_back(local + count);
  }
  return in;
}

}  // namespace baton
