// The fused GPU loss's per-tile work (graft/loss/dssim_tiles.hpp), run here
// on the CPU, against the CPU's masked DSSIM and MSE: the same code the CUDA
// kernels run, so that it is checked where there is no GPU.
//  - One thread per tile checks the indexing (loaded squares, output regions,
//    the window's `first` offset, the MSE's partition of pixels, the scratch
//    layouts) and the per-sample sums of the values kernel's last block. The
//    scratch is NaN outside what each phase writes and around the layout,
//    so a read out of place or before its write shows up.
//  - A block of 256 threads (the kernels' size) and one of 100, run by
//    SerialBlock in ascending and in descending order, checks the threads'
//    partition and the barriers: a phase that reads what another thread
//    writes in the same phase reads NaN in one of the two orders. The
//    per-sample sums run on 32 lanes there, with the warp's butterfly sum.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "graft/loss/dssim.hpp"
#include "graft/loss/dssim_tiles.hpp"
#include "graft/loss/mse.hpp"
#include "loss_testing.hpp"
#include "serial_block.hpp"

namespace tiles = graft::loss::tiles;
using graft::Shape;
using graft::Tensor;
using graft::testing::SerialBlock;
using graft::testing::ThreadOrder;

namespace {

// A block of one thread: each phase runs to its end before the next starts, so its barrier does nothing.
struct OneThread {
  struct NoBarrier {
    void operator()() const {}
  };
  int threads() const { return 1; }
  template <class Body>
  void run(const Body& body) const {
    body(0, NoBarrier{});
  }
};

constexpr std::int64_t guard = 256;

// `floats` of scratch with NaN guards on both sides; the guards must survive.
struct Scratch {
  std::vector<float> v;
  explicit Scratch(int floats) : v(std::size_t(floats + 2 * guard)) {}
  float* fresh() {
    std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN());
    return v.data() + guard;
  }
  bool guards_intact() const {
    for (std::int64_t i = 0; i < guard; ++i)
      if (!std::isnan(v[std::size_t(i)]) || !std::isnan(v[v.size() - 1 - std::size_t(i)])) return false;
    return true;
  }
};

struct Case {
  std::int64_t side;
  int filter;
  bool masked;
};

constexpr float dssim_weight = 5.0f, mse_weight = 10.0f;

// Random (B, C, side, side) images and (B, 1, side, side) masks (all ones when unmasked).
struct Problem {
  Case k;
  std::int64_t batch, channels;
  Tensor pred, target, mask;
  tiles::Window window;
  Problem(Case k_, std::int64_t batch_, std::int64_t channels_)
      : k(k_),
        batch(batch_),
        channels(channels_),
        pred(graft::loss::testing::random_image({batch, channels, k.side, k.side}, 90)),
        target(graft::loss::testing::random_image({batch, channels, k.side, k.side}, 91)),
        mask(graft::loss::testing::random_image({batch, 1, k.side, k.side}, 92)),
        window(tiles::window_for(k.side, k.side, k.filter, "test")) {
    if (!k.masked) std::fill(mask.span().begin(), mask.span().end(), 1.0f);
  }
  std::int64_t plane_size() const { return k.side * k.side; }
  tiles::Plane plane(std::int64_t p) const {
    const std::int64_t n = plane_size();
    return {pred.data() + p * n, target.data() + p * n, k.masked ? mask.data() + (p / channels) * n : nullptr, k.side, k.side};
  }
};

// What the kernels compute: per-sample DSSIM and MSE, and the gradient of
// dssim_weight * DSSIM + mse_weight * MSE.
struct Fused {
  std::vector<double> dssim, mse;
  Tensor gradient;
  int values_barriers = 0, gradient_barriers = 0;
};

// The GPU's warp sum (__shfl_xor_sync's butterfly) over a block of `count`
// lanes: each round every lane posts its value, then adds its partner's.
template <class Barrier>
struct ButterflySum {
  std::vector<double>& posted;
  int lane, count;
  Barrier barrier;
  double operator()(double v) const {
    for (int offset = count / 2; offset > 0; offset /= 2) {
      posted[std::size_t(lane)] = v;
      barrier();
      v += posted[std::size_t(lane ^ offset)];
      barrier();
    }
    return v;
  }
};

// Every tile of every plane, each as one block would run it, then each
// sample's values from the tiles' slots by a group of `lanes` (one lane, or
// 32 as a warp).
template <class Block, class Lanes>
Fused run_tiles(const Problem& q, Block& block, Lanes& lanes) {
  const tiles::Window& w = q.window;
  const std::int64_t planes = q.batch * q.channels, n = q.plane_size();
  Fused out{std::vector<double>(std::size_t(q.batch)), std::vector<double>(std::size_t(q.batch)), Tensor::zeros(q.pred.shape())};
  const auto barriers = [&] {
    if constexpr (std::is_same_v<Block, SerialBlock>) return block.barriers();
    return 0;
  };

  // Values: tiles over the valid map, each block's sum in its slot (the
  // threads' shares added in their order), then each sample's from its slots.
  Scratch values_scratch(tiles::ValuesLayout(w.count).floats());
  const int tiles_y = tiles::tiles_over(w.ho), tiles_x = tiles::tiles_over(w.wo), per_plane = tiles_y * tiles_x;
  std::vector<double> ssim_slots(std::size_t(planes * per_plane), 0.0), squares_slots(ssim_slots.size(), 0.0);
  for (std::int64_t p = 0; p < planes; ++p)
    for (int t = 0; t < per_plane; ++t) {
      float* scratch = values_scratch.fresh();
      block.run([&](int rank, auto barrier) {
        double ssim = 0, squares = 0;
        tiles::values_tile({rank, block.threads()}, barrier, q.plane(p), w, t / tiles_x, t % tiles_x, tiles_y, tiles_x, true, scratch,
                           ssim, squares);
        ssim_slots[std::size_t(p * per_plane + t)] += ssim;  // the block's threads run one at a time
        squares_slots[std::size_t(p * per_plane + t)] += squares;
      });
      out.values_barriers = barriers();
      REQUIRE(values_scratch.guards_intact());
    }
  // Each sample by a group of lanes, as a warp of the last block does it: every lane must end with the same bits.
  std::vector<double> posted(std::size_t(lanes.threads()));
  for (std::int64_t b = 0; b < q.batch; ++b) {
    std::vector<double> dssim(posted.size()), mse(posted.size());
    lanes.run([&](int lane, auto barrier) {
      tiles::sample_values(
          {lane, lanes.threads()}, ButterflySum<decltype(barrier)>{posted, lane, lanes.threads(), barrier}, b, q.channels, n,
          per_plane, w, [&](std::int64_t i) { return ssim_slots[std::size_t(i)]; },
          [&](std::int64_t i) { return squares_slots[std::size_t(i)]; }, dssim[std::size_t(lane)], mse[std::size_t(lane)]);
    });
    for (std::size_t lane = 1; lane < posted.size(); ++lane) {
      CHECK(dssim[lane] == dssim[0]);
      CHECK(mse[lane] == mse[0]);
    }
    out.dssim[std::size_t(b)] = dssim[0];
    out.mse[std::size_t(b)] = mse[0];
  }

  // Gradients: tiles over the input.
  Scratch gradient_scratch(tiles::GradientLayout(w.count).floats());
  const double dssim_scale = tiles::dssim_scale(q.channels, w, dssim_weight), mse_scale = double(mse_weight) / double(q.channels * n);
  for (std::int64_t p = 0; p < planes; ++p)
    for (int ty = 0; ty < tiles::tiles_over(q.k.side); ++ty)
      for (int tx = 0; tx < tiles::tiles_over(q.k.side); ++tx) {
        float* scratch = gradient_scratch.fresh();
        block.run([&](int rank, auto barrier) {
          tiles::gradient_tile({rank, block.threads()}, barrier, q.plane(p), w, ty, tx, dssim_scale, mse_scale, scratch,
                               out.gradient.data() + p * n);
        });
        out.gradient_barriers = barriers();
        REQUIRE(gradient_scratch.guards_intact());
      }
  return out;
}

}  // namespace

TEST_CASE("The fused loss's tiles, run on the CPU, give the CPU's masked DSSIM and MSE: values and gradients") {
  // SAEHD's windows at 64, 128 and 256 (5, 11, 22 taps), a tiny one, partial
  // tiles, no mask, and windows wider than their taps (23, 49, 55 keep 21
  // taps from index 1, 14 and 17: `first` > 0).
  for (const Case k : {Case{64, 5, true}, Case{45, 11, true}, Case{40, 11, false}, Case{33, 2, true}, Case{70, 23, true},
                       Case{80, 49, true}, Case{96, 55, true}, Case{128, 22, true}}) {
    CAPTURE(k.side);
    CAPTURE(k.filter);
    CAPTURE(k.masked);
    const Problem q(k, 2, 3);
    Tensor expected = Tensor::zeros(q.pred.shape()), mse_gradient = Tensor::zeros(q.pred.shape());
    const auto dssim =
        graft::loss::masked_dssim_backward(q.pred.view(), q.target.view(), q.mask.view(), k.filter, dssim_weight, expected.view());
    const auto mse = graft::loss::masked_mse_backward(q.pred.view(), q.target.view(), q.mask.view(), mse_weight, mse_gradient.view());
    for (std::int64_t i = 0; i < expected.numel(); ++i) expected.data()[i] += mse_gradient.data()[i];

    OneThread one;
    const Fused fused = run_tiles(q, one, one);
    for (std::int64_t b = 0; b < q.batch; ++b) {
      CHECK(fused.dssim[std::size_t(b)] == doctest::Approx(dssim.per_sample[std::size_t(b)]).epsilon(1e-12));
      CHECK(fused.mse[std::size_t(b)] == doctest::Approx(mse.per_sample[std::size_t(b)]).epsilon(1e-12));  // each pixel once
    }
    // f32 sums in another order than the CPU's (its column adjoint runs the
    // taps backwards): ~1e-4 where SSIM's terms cancel. An index error is of order 1.
    double largest = 0, worst = 0;
    for (std::int64_t i = 0; i < expected.numel(); ++i) largest = std::max(largest, double(std::abs(expected.data()[i])));
    for (std::int64_t i = 0; i < expected.numel(); ++i) {
      const double e = std::abs(double(fused.gradient.data()[i]) - expected.data()[i]) /
                       std::max(std::abs(double(expected.data()[i])), 1e-3 * largest);
      worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    }
    CHECK(worst < 2e-3);
  }
}

TEST_CASE("The fused loss's tiles on a block of 256 or 100 threads, in either order, give what one thread gives") {
  // Each gradient pixel and each SSIM output is computed whole by one thread
  // with the same arithmetic whoever it is, so the gradients are the same
  // bits; the values differ only by the order of the threads' shares.
  for (const Case k : {Case{45, 11, true}, Case{33, 2, true}, Case{70, 23, false}}) {
    CAPTURE(k.side);
    CAPTURE(k.filter);
    const Problem q(k, 1, 2);
    OneThread one;
    const Fused reference = run_tiles(q, one, one);
    for (const int threads : {256, 100})
      for (const ThreadOrder order : {ThreadOrder::ascending, ThreadOrder::descending}) {
        CAPTURE(threads);
        CAPTURE(order == ThreadOrder::ascending ? "ascending" : "descending");
        SerialBlock block(threads, order), warp(32, order);
        const Fused fused = run_tiles(q, block, warp);
        CHECK(fused.values_barriers == 2);  // after the load, after the row pass
        CHECK(fused.gradient_barriers == 4);
        CHECK(fused.dssim[0] == doctest::Approx(reference.dssim[0]).epsilon(1e-13));
        CHECK(fused.mse[0] == doctest::Approx(reference.mse[0]).epsilon(1e-13));
        std::int64_t differ = 0;
        for (std::int64_t i = 0; i < reference.gradient.numel(); ++i)
          differ += fused.gradient.data()[i] == reference.gradient.data()[i] ? 0 : 1;  // NaN differs
        CHECK(differ == 0);
      }
  }
}

TEST_CASE("SerialBlock turns a missing barrier into a wrong result in one order, and refuses divergent barriers") {
  // Each thread writes its slot, then reads the next thread's.
  const auto neighbours = [](SerialBlock& block, bool with_barrier) {
    const std::size_t n = std::size_t(block.threads());
    std::vector<int> slots(n, -1), seen(n, -1);
    block.run([&](int rank, SerialBlock::Barrier barrier) {
      slots[std::size_t(rank)] = rank;
      if (with_barrier) barrier();
      if (std::size_t(rank) + 1 < n) seen[std::size_t(rank)] = slots[std::size_t(rank) + 1];
    });
    for (std::size_t r = 0; r + 1 < n; ++r)
      if (seen[r] != int(r) + 1) return false;
    return true;
  };
  SerialBlock ascending(32, ThreadOrder::ascending), descending(32, ThreadOrder::descending);
  CHECK(neighbours(ascending, true));
  CHECK(neighbours(descending, true));
  CHECK(ascending.barriers() == 1);
  CHECK_FALSE(neighbours(ascending, false));  // thread 0 reads thread 1's slot before thread 1 ran
  CHECK(neighbours(descending, false));       // the other order hides it: both orders are needed

  CHECK_THROWS_WITH_AS(ascending.run([](int rank, SerialBlock::Barrier barrier) {
                         if (rank != 3) barrier();
                       }),
                       doctest::Contains("threads reach different numbers of barriers (1 of 32 returned after 0 barriers, the others wait at barrier 1)"),
                       graft::Error);
  CHECK_THROWS_WITH_AS(descending.run([](int rank, SerialBlock::Barrier barrier) {
                         barrier();
                         if (rank == 5) throw std::runtime_error("thread 5 failed");
                         barrier();
                       }),
                       "thread 5 failed", std::runtime_error);
  CHECK(neighbours(descending, true));  // usable again after a failed run
}
