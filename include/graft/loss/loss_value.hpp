// What every loss in graft/loss returns and takes: per-sample values, per-sample weights.
//
// DeepFaceLab's losses are B-vectors: each term is reduced over (C,H,W) but
// not over the batch. The progress line shows the batch mean, while the
// gradient is that of the batch SUM (tf.gradients of a vector), so a loss
// here returns its per-sample values and lets the trainer decide. Every
// `*_backward` takes one weight per sample (or one for all) and ADDS
// d(sum_b w_b L_b)/dpred into dpred: a total loss is a sum of terms that
// share one gradient buffer, so overwriting would force a temporary per term.
#pragma once

#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/tensor.hpp"

namespace graft::loss {

struct LossValue {
  std::vector<double> per_sample;  // (B,)

  std::int64_t batch() const { return static_cast<std::int64_t>(per_sample.size()); }
  double sum() const { return std::accumulate(per_sample.begin(), per_sample.end(), 0.0); }
  // What DFL prints as src_loss / dst_loss.
  double mean() const { return per_sample.empty() ? 0.0 : sum() / static_cast<double>(per_sample.size()); }
};

// Terms of a total loss add per sample: `10 * dssim(...) + 10 * mse(...)`.
inline LossValue operator+(const LossValue& a, const LossValue& b) {
  check(a.batch() == b.batch(), "graft::loss: cannot add a loss of batch ", a.batch(), " to one of batch ", b.batch());
  LossValue out = a;
  for (std::size_t i = 0; i < out.per_sample.size(); ++i) out.per_sample[i] += b.per_sample[i];
  return out;
}

inline LossValue operator*(double scale, LossValue v) {
  for (double& x : v.per_sample) x *= scale;
  return v;
}

// The upstream weights w_b of d(sum_b w_b L_b)/dpred: one per sample, or one
// shared by all (the usual case: DFL weights every sample of a term alike).
// A view: the span must outlive the call it is passed to.
class SampleWeights {
 public:
  SampleWeights(float all) : all_(all) {}
  SampleWeights(std::span<const float> per_sample) : per_sample_(per_sample), shared_(false) {}
  SampleWeights(const std::vector<float>& per_sample) : SampleWeights(std::span<const float>(per_sample)) {}

  float operator[](std::int64_t b) const { return shared_ ? all_ : per_sample_[static_cast<std::size_t>(b)]; }

  void check_batch(const char* where, const Shape& pred) const {
    check(shared_ || static_cast<std::int64_t>(per_sample_.size()) == pred[0], where, ": ", per_sample_.size(),
          " sample weights for pred of shape ", pred, " (one per sample expected)");
  }

 private:
  float all_ = 0.0f;
  std::span<const float> per_sample_;
  bool shared_ = true;
};

namespace detail {

// pred and target: the same (B, C, H, W) shape with non-empty samples.
inline void check_images(const char* where, ConstView pred, ConstView target) {
  check(pred.shape.rank == 4 && pred.shape[1] > 0 && pred.shape[2] > 0 && pred.shape[3] > 0, where, ": pred has shape ",
        pred.shape, ", expected (B, C, H, W) with C, H, W >= 1");
  check(pred.shape == target.shape, where, ": pred has shape ", pred.shape, " but target has shape ", target.shape);
}

inline void check_gradient_buffer(const char* where, ConstView pred, View dpred) {
  check(dpred.shape == pred.shape, where, ": dpred has shape ", dpred.shape, " but pred has shape ", pred.shape);
}

}  // namespace detail
}  // namespace graft::loss
