#include "model/rope.h"

#include <cmath>

namespace baton {

Tensor RopeInvFreq(const ModelConfig& c) {
  int64_t half = c.head_dim / 2;
  Tensor t = Tensor::Empty({half}, DType::kF32);
  float* f = t.f32();
  float base = static_cast<float>(c.rope_theta);
  for (int64_t i = 0; i < half; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    f[i] = 1.0f / std::pow(base, exponent);
  }
  if (c.rope_type == "linear") {
    for (int64_t i = 0; i < half; ++i) f[i] /= static_cast<float>(c.rope_factor);
  } else if (c.rope_type == "llama3") {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth blend between.
    double factor = c.rope_factor, lo = c.rope_low_freq_factor, hi = c.rope_high_freq_factor;
    double old_len = static_cast<double>(c.rope_original_max_position_embeddings);
    double low_wavelen = old_len / lo, high_wavelen = old_len / hi;
    for (int64_t i = 0; i < half; ++i) {
      double inv = f[i];
      double wavelen = 2 * M_PI / inv;
      double out = wavelen > low_wavelen ? inv / factor : inv;
      if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
        double smooth = (old_len / wavelen - lo) / (hi - lo);
        out = (1 - smooth) * out / factor + smooth * out;
      }
      f[i] = static_cast<float>(out);
    }
  }
  return t;
}

}  // namespace baton
