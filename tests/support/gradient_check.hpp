// The one gradient checker every layer and every loss goes through.
//
// check_gradient compares an analytic gradient with central finite
// differences of a scalar function, probing up to max_probes coordinates
// spread over the vector. Inputs are random (never zeros), and the reported
// figure is the relative error ||analytic - numeric|| / max(||analytic||,
// ||numeric||) over the probed coordinates.
//
// check_layer<L, In> checks a layer's float backward against finite
// differences in DOUBLE precision: the scalar is sum(r * f(x)) with fixed
// random weights r, where f is the layer's double-precision reference forward
// (reference_model.hpp, textbook loops sharing no kernel with graft), stepped
// by 1e-6. It also reports how far graft's float forward is from that
// reference. With no float rounding in the differences and steps too small to
// cross a LeakyReLU kink, the bound is tight (1e-3) for single layers and
// whole SAEHD blocks alike.
//
// The losses are checked the same way against direct double formulas
// (tests/loss: DSSIM, masked MSE and L1), and also through graft's own
// float functions. Whole training steps are differentiated through graft's
// float functions only (check_gradient_direction below).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "graft/core/philox.hpp"
#include "graft/nn/model.hpp"
#include "random_fill.hpp"
#include "reference_model.hpp"

namespace graft::testing {

struct GradientReport {
  double relative_error = 0.0;
  double analytic_norm = 0.0;
  std::int64_t probed = 0;
};

// Probes at most `max_probes` coordinates of x (spread evenly), each with
// step h * max(1, |x_i|). T is float (graft's own function) or double (a
// reference function).
template <class T>
GradientReport check_gradient(std::span<T> x, std::span<const float> analytic, const std::function<double()>& loss,
                              std::int64_t max_probes = 64, double h = 1e-3) {
  GradientReport report;
  const auto n = static_cast<std::int64_t>(x.size());
  const std::int64_t stride = std::max<std::int64_t>(1, n / max_probes);
  double diff2 = 0.0, a2 = 0.0, n2 = 0.0;
  for (std::int64_t i = (n > max_probes ? 7 % stride : 0); i < n; i += stride) {
    const float saved = x[static_cast<std::size_t>(i)];
    const double step = h * std::max(1.0, std::fabs(static_cast<double>(saved)));
    x[static_cast<std::size_t>(i)] = static_cast<float>(saved + step);
    const double up = loss();
    x[static_cast<std::size_t>(i)] = static_cast<float>(saved - step);
    const double down = loss();
    x[static_cast<std::size_t>(i)] = saved;
    // The actual float step, which is what the function saw.
    const double actual =
        static_cast<double>(static_cast<float>(saved + step)) - static_cast<double>(static_cast<float>(saved - step));
    const double numeric = (up - down) / actual;
    const double a = analytic[static_cast<std::size_t>(i)];
    diff2 += (a - numeric) * (a - numeric);
    a2 += a * a;
    n2 += numeric * numeric;
    ++report.probed;
  }
  const double scale = std::sqrt(std::max(a2, n2));
  report.relative_error = scale > 0 ? std::sqrt(diff2) / scale : 0.0;
  report.analytic_norm = std::sqrt(a2);
  return report;
}

// Checks the analytic gradient g of a whole model along its own direction:
// d/dt loss(x + t g/|g|) at t = 0 must equal |g|. Deep layers of a real model
// have per-weight gradients near float noise (1e-5 and below), where
// coordinate-wise differences say nothing; a step along g moves the loss by
// |g| h, far above the noise, and any error e in g shows, because the
// derivative along g is (|g|^2 - <e, g>) / |g|. Returns |numeric - |g|| / |g|.
inline double check_gradient_direction(std::span<float> x, std::span<const float> analytic, const std::function<double()>& loss,
                                       double h) {
  double norm2 = 0.0;
  for (float g : analytic) norm2 += static_cast<double>(g) * g;
  const double norm = std::sqrt(norm2);
  if (norm == 0.0) return 0.0;
  const std::vector<float> saved(x.begin(), x.end());
  auto moved = [&](double t) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(saved[i] + t * analytic[i] / norm);
    const double value = loss();
    std::copy(saved.begin(), saved.end(), x.begin());
    return value;
  };
  const double numeric = (moved(h) - moved(-h)) / (2.0 * h);
  return std::abs(numeric - norm) / norm;
}

struct LayerReport {
  double forward_error = 0.0;  // max |graft - reference| / max(1, max |reference|)
  GradientReport input;
  std::vector<std::pair<std::string, GradientReport>> parameters;
  double worst() const {
    double w = input.relative_error;
    for (const auto& [name, r] : parameters) w = std::max(w, r.relative_error);
    return w;
  }
};

// Checks layer L on input shape In with random parameters (uniform in
// [-0.5, 0.5)) and a random batch: graft's forward against the double
// reference, and graft's backward against double finite differences of it.
template <class L, Shape In>
LayerReport check_layer(std::int64_t batch = 2, std::uint64_t seed = 1, std::int64_t max_probes = 48) {
  using Impl = nn::Bound<L, In>;
  using M = nn::Model<nn::Part<"layer", L, In>>;
  M model(seed);
  fill_uniform(model.parameter_buffer(), seed + 100, -0.5f, 0.5f);
  auto module = model.template part<"layer">();

  Tensor x(batched(batch, In));
  fill_uniform(x.span(), seed + 200);
  Tensor weights(batched(batch, Impl::out));
  fill_uniform(weights.span(), seed + 300);

  model.zero_gradients();
  auto out = module.forward(x.view());
  Tensor dx = module.backward(out, weights.view());

  std::vector<double> p(model.parameter_buffer().begin(), model.parameter_buffer().end());
  std::vector<double> xd(x.span().begin(), x.span().end());
  const auto reference_forward = [&] { return reference::Of<L, In>::forward(p.data(), xd, batch); };
  const auto scalar = [&] {
    const auto y = reference_forward();
    double s = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * weights[static_cast<std::int64_t>(i)];
    return s;
  };

  LayerReport report;
  const auto y = reference_forward();
  double largest = 1.0, worst = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    largest = std::max(largest, std::abs(y[i]));
    worst = std::max(worst, std::abs(y[i] - out.value[static_cast<std::int64_t>(i)]));
  }
  report.forward_error = y.size() == static_cast<std::size_t>(out.value.numel()) ? worst / largest : 1.0;

  constexpr double h = 1e-6;
  report.input = check_gradient(std::span<double>(xd), std::span<const float>(dx.span()), scalar, max_probes, h);
  for (const auto& spec : M::parameters) {
    const auto offset = static_cast<std::size_t>(spec.offset), count = static_cast<std::size_t>(spec.shape.numel());
    report.parameters.emplace_back(std::string(spec.name.view()),
                                   check_gradient(std::span<double>(p).subspan(offset, count),
                                                  std::span<const float>(model.gradient_buffer()).subspan(offset, count), scalar,
                                                  max_probes, h));
  }
  return report;
}

}  // namespace graft::testing
