// The road not taken for the CPU convolutions: im2col/col2im plus OpenBLAS
// sgemm, the Caffe way, timed at the same SAEHD-df shapes as bench_conv so the
// choice of oneDNN (graft/backend/cpu/conv.hpp) rests on a measurement. It is
// a fair rival, not a straw man: samples share one GEMM while a feature map is
// too small to keep OpenBLAS busy, the column loops run on OpenMP and each
// direction is checked against graft's oneDNN path before anything is timed.
//
// Two settings decide the result more than the code does, so the output's
// context records both. Debian's OpenBLAS 0.3.21 takes a CPU it does not know
// (Sapphire Rapids, many VMs) for a Prescott and runs SSE3 kernels, five times
// slower: set OPENBLAS_CORETYPE=SkylakeX there. And libgomp's idle workers
// spin on the cores that OpenBLAS's threads need between two GEMMs: set
// OMP_WAIT_POLICY=passive. docs/benchmarks.md gives the numbers.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <graft/backend/cpu/conv.hpp>

#include "saehd_shapes.hpp"

namespace {

using graft::cpu::Conv2dGeometry;
using Index = std::int64_t;

// Samples share a column buffer until a GEMM has this many columns (output
// pixels): one GEMM per sample, Caffe's way, is up to three times as slow on
// the 4x4 maps of encoder.down3, while larger groups gain nothing on the 64x64
// maps and only grow the buffer (75 MB for decoder.res2 at 4 samples).
constexpr Index min_gemm_columns = 16384;

Index samples_per_gemm(const Conv2dGeometry& g) {
  const Index pixels = g.out_h() * g.out_w();
  return std::clamp<Index>((min_gemm_columns + pixels - 1) / pixels, 1, g.batch);
}

// The output columns [lo, hi) whose input column ow * stride - padding + kw
// lies inside the image; the rest read the zero padding.
struct ColumnRange {
  Index lo, hi;
};

ColumnRange valid_columns(const Conv2dGeometry& g, Index kw) {
  const Index first = g.padding - kw;         // iw >= 0  <=>  ow * stride >= first
  const Index end = g.in_w + g.padding - kw;  // iw < W  <=>  ow * stride < end
  const Index lo = first > 0 ? std::min(g.out_w(), (first + g.stride - 1) / g.stride) : 0;
  const Index hi = end > 0 ? std::min(g.out_w(), (end + g.stride - 1) / g.stride) : 0;
  return {lo, std::max(lo, hi)};
}

// col (C*K*K, samples*OH*OW) from x (samples, C, H, W): row (c, kh, kw) holds,
// for every output pixel, the input value that kernel tap multiplies.
void im2col(const Conv2dGeometry& g, const float* x, Index samples, float* col) {
  const Index pixels = g.out_h() * g.out_w(), columns = samples * pixels, ow_n = g.out_w();
#pragma omp parallel for collapse(2) schedule(static)
  for (Index c = 0; c < g.in_channels; ++c)
    for (Index s = 0; s < samples; ++s) {
      const float* plane = x + (s * g.in_channels + c) * g.in_h * g.in_w;  // (H,W)
      for (Index kh = 0; kh < g.kernel; ++kh)
        for (Index kw = 0; kw < g.kernel; ++kw) {
          const ColumnRange cols = valid_columns(g, kw);
          float* row = col + ((c * g.kernel + kh) * g.kernel + kw) * columns + s * pixels;
          for (Index oh = 0; oh < g.out_h(); ++oh) {
            float* out = row + oh * ow_n;
            const Index ih = oh * g.stride - g.padding + kh;
            if (ih < 0 || ih >= g.in_h) {
              std::fill(out, out + ow_n, 0.0f);
              continue;
            }
            const float* in = plane + ih * g.in_w;
            const Index shift = kw - g.padding;
            std::fill(out, out + cols.lo, 0.0f);
            if (g.stride == 1)
              std::copy(in + cols.lo + shift, in + cols.hi + shift, out + cols.lo);
            else
              for (Index ow = cols.lo; ow < cols.hi; ++ow) out[ow] = in[ow * g.stride + shift];
            std::fill(out + cols.hi, out + ow_n, 0.0f);
          }
        }
    }
}

// dx (samples, C, H, W) = the sum of every column entry back onto the input
// pixel it was copied from; one thread owns one (sample, channel) plane, so
// the accumulation needs no atomics.
void col2im(const Conv2dGeometry& g, const float* col, Index samples, float* dx) {
  const Index pixels = g.out_h() * g.out_w(), columns = samples * pixels, ow_n = g.out_w();
#pragma omp parallel for collapse(2) schedule(static)
  for (Index c = 0; c < g.in_channels; ++c)
    for (Index s = 0; s < samples; ++s) {
      float* plane = dx + (s * g.in_channels + c) * g.in_h * g.in_w;  // (H,W)
      std::fill(plane, plane + g.in_h * g.in_w, 0.0f);
      for (Index kh = 0; kh < g.kernel; ++kh)
        for (Index kw = 0; kw < g.kernel; ++kw) {
          const ColumnRange cols = valid_columns(g, kw);
          const float* row = col + ((c * g.kernel + kh) * g.kernel + kw) * columns + s * pixels;
          for (Index oh = 0; oh < g.out_h(); ++oh) {
            const Index ih = oh * g.stride - g.padding + kh;
            if (ih < 0 || ih >= g.in_h) continue;
            const float* in = row + oh * ow_n;
            float* out = plane + ih * g.in_w;
            const Index shift = kw - g.padding;
            for (Index ow = cols.lo; ow < cols.hi; ++ow) out[ow * g.stride + shift] += in[ow];
          }
        }
    }
}

// rows (O, samples*OH*OW) from dy (samples, O, OH, OW): the GEMM operand that
// puts the samples of a group side by side.
void gather_samples(const Conv2dGeometry& g, const float* dy, Index samples, float* rows) {
  const Index pixels = g.out_h() * g.out_w();
#pragma omp parallel for collapse(2) schedule(static)
  for (Index o = 0; o < g.out_channels; ++o)
    for (Index s = 0; s < samples; ++s)
      std::memcpy(rows + (o * samples + s) * pixels, dy + (s * g.out_channels + o) * pixels, sizeof(float) * pixels);
}

// y (samples, O, OH, OW) = rows (O, samples*OH*OW) + b, the inverse of gather_samples.
void scatter_samples_add_bias(const Conv2dGeometry& g, const float* rows, const float* b, Index samples, float* y) {
  const Index pixels = g.out_h() * g.out_w();
#pragma omp parallel for collapse(2) schedule(static)
  for (Index s = 0; s < samples; ++s)
    for (Index o = 0; o < g.out_channels; ++o) {
      const float* in = rows + (o * samples + s) * pixels;
      float* out = y + (s * g.out_channels + o) * pixels;
      const float bias = b ? b[o] : 0.0f;
      for (Index p = 0; p < pixels; ++p) out[p] = in[p] + bias;
    }
}

// The three directions with their workspace, kept across calls as Caffe keeps
// its column buffer: allocating 100 MB per call would time the page faults.
class Im2colConv {
 public:
  explicit Im2colConv(const Conv2dGeometry& g)
      : g_(g),
        group_(samples_per_gemm(g)),
        col_(static_cast<std::size_t>(g.in_channels * g.kernel * g.kernel * group_ * g.out_h() * g.out_w())),
        rows_(static_cast<std::size_t>(g.out_channels * group_ * g.out_h() * g.out_w())) {}

  // y = conv(x, w) + b; b may be null.
  void forward(const float* x, const float* w, const float* b, float* y) {
    for (Index n = 0; n < g_.batch; n += group_) {
      const Index samples = std::min(group_, g_.batch - n), columns = samples * pixels();
      im2col(g_, x + n * input_size(), samples, col_.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g_.out_channels, columns, taps(), 1.0f, w, taps(), col_.data(),
                  columns, 0.0f, rows_.data(), columns);
      scatter_samples_add_bias(g_, rows_.data(), b, samples, y + n * output_size());
    }
  }

  // dx = conv_transpose(dy, w), overwritten.
  void backward_data(const float* dy, const float* w, float* dx) {
    for (Index n = 0; n < g_.batch; n += group_) {
      const Index samples = std::min(group_, g_.batch - n), columns = samples * pixels();
      const float* dy_rows = grouped(dy + n * output_size(), samples);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, taps(), columns, g_.out_channels, 1.0f, w, taps(), dy_rows, columns,
                  0.0f, col_.data(), columns);
      col2im(g_, col_.data(), samples, dx + n * input_size());
    }
  }

  // dw += dy x im2col(x)^T, db += the sum of dy over (N, OH, OW); db may be null.
  void backward_weights(const float* x, const float* dy, float* dw, float* db) {
    for (Index n = 0; n < g_.batch; n += group_) {
      const Index samples = std::min(group_, g_.batch - n), columns = samples * pixels();
      im2col(g_, x + n * input_size(), samples, col_.data());
      const float* dy_rows = grouped(dy + n * output_size(), samples);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g_.out_channels, taps(), columns, 1.0f, dy_rows, columns, col_.data(),
                  columns, 1.0f, dw, taps());
      if (!db) continue;
#pragma omp parallel for schedule(static)
      for (Index o = 0; o < g_.out_channels; ++o) {
        const float* row = dy_rows + o * columns;
        float sum = 0.0f;
        for (Index p = 0; p < columns; ++p) sum += row[p];
        db[o] += sum;
      }
    }
  }

 private:
  Index pixels() const { return g_.out_h() * g_.out_w(); }
  Index taps() const { return g_.in_channels * g_.kernel * g_.kernel; }
  Index input_size() const { return g_.in_channels * g_.in_h * g_.in_w; }
  Index output_size() const { return g_.out_channels * pixels(); }

  // dy of one sample is already (O, OH*OW); a group must be gathered first.
  const float* grouped(const float* dy, Index samples) {
    if (samples == 1) return dy;
    gather_samples(g_, dy, samples, rows_.data());
    return rows_.data();
  }

  Conv2dGeometry g_;
  Index group_;
  std::vector<float> col_, rows_;
};

std::vector<float> random_values(Index n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = uniform(rng);
  return v;
}

// max |got - want| / max |want|: relative to the tensor's scale, because
// entries near zero make an element-wise relative error meaningless.
double relative_difference(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return diff / std::max(scale, 1e-30);
}

void require_close(const std::vector<float>& got, const std::vector<float>& want, std::string_view name, const char* direction) {
  const double d = relative_difference(got, want);
  if (d <= 1e-3) return;
  std::fprintf(stderr, "conv_im2col_openblas: %s %.*s differs from graft::cpu (oneDNN) by %.3g (max relative), limit 1e-3\n",
               direction, static_cast<int>(name.size()), name.data(), d);
  std::abort();
}

// Compares every direction with graft's oneDNN convolution at batch 3: an odd
// batch also takes the partial last group of samples.
void check_against_onednn(std::string_view name, Conv2dGeometry g) {
  g.batch = 3;
  std::mt19937 rng(42);
  const auto x = random_values(g.batch * g.in_channels * g.in_h * g.in_w, rng);             // (N,C,H,W)
  const auto w = random_values(g.out_channels * g.in_channels * g.kernel * g.kernel, rng);  // (O,C,K,K)
  const auto b = random_values(g.out_channels, rng);                                        // (O)
  const auto dy = random_values(g.batch * g.out_channels * g.out_h() * g.out_w(), rng);     // (N,O,OH,OW)
  Im2colConv conv(g);

  std::vector<float> y(dy.size()), y_ref(dy.size());
  conv.forward(x.data(), w.data(), b.data(), y.data());
  graft::cpu::conv2d_forward(g, x.data(), w.data(), b.data(), y_ref.data());
  require_close(y, y_ref, name, "forward");

  std::vector<float> dx(x.size()), dx_ref(x.size());
  conv.backward_data(dy.data(), w.data(), dx.data());
  graft::cpu::conv2d_backward_data(g, dy.data(), w.data(), dx_ref.data());
  require_close(dx, dx_ref, name, "backward_data");

  std::vector<float> dw(w.size(), 0.0f), dw_ref(w.size(), 0.0f), db(b.size(), 0.0f), db_ref(b.size(), 0.0f);
  conv.backward_weights(x.data(), dy.data(), dw.data(), db.data());
  graft::cpu::conv2d_backward_weights(g, x.data(), dy.data(), dw_ref.data(), db_ref.data());
  require_close(dw, dw_ref, name, "backward_weights (dw)");
  require_close(db, db_ref, name, "backward_weights (db)");
}

struct Buffers {
  std::vector<float> x, w, b, y;
  explicit Buffers(const Conv2dGeometry& g)
      : x(static_cast<std::size_t>(g.batch * g.in_channels * g.in_h * g.in_w), 0.5f),
        w(static_cast<std::size_t>(g.out_channels * g.in_channels * g.kernel * g.kernel), 0.01f),
        b(static_cast<std::size_t>(g.out_channels), 0.1f),
        y(static_cast<std::size_t>(g.batch * g.out_channels * g.out_h() * g.out_w()), 0.25f) {}
};

void im2col_forward(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  Im2colConv conv(g);
  for (auto _ : state) conv.forward(t.x.data(), t.w.data(), t.b.data(), t.y.data());
  graft::bench::report_gflops(state, g);
}

void im2col_backward_data(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  Im2colConv conv(g);
  for (auto _ : state) conv.backward_data(t.y.data(), t.w.data(), t.x.data());
  graft::bench::report_gflops(state, g);
}

void im2col_backward_weights(benchmark::State& state, Conv2dGeometry g) {
  Buffers t(g);
  Im2colConv conv(g);
  std::vector<float> dw(t.w.size(), 0.0f), db(t.b.size(), 0.0f);
  for (auto _ : state) conv.backward_weights(t.x.data(), t.y.data(), dw.data(), db.data());
  graft::bench::report_gflops(state, g);
}

// OpenBLAS keeps its own thread pool; give it the thread count that oneDNN
// and the column loops get from OpenMP, so both sides run on the same cores.
void match_openblas_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS"))
    if (const int n = std::atoi(env); n > 0) openblas_set_num_threads(n);
}

void record_settings() {
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("OMP_WAIT_POLICY", wait_policy ? wait_policy : "(unset: libgomp spins)");
}

const bool registered = [] {
  match_openblas_threads();
  record_settings();
  for (const auto& [name, g] : graft::bench::saehd_df64_convolutions) check_against_onednn(name, g);
  graft::bench::register_convolution_benchmarks("im2col", im2col_forward, im2col_backward_data, im2col_backward_weights);
  return true;
}();

}  // namespace
