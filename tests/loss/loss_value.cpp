// Tests of graft/loss/loss_value.hpp: per-sample arithmetic and sample weights.
#include <doctest/doctest.h>

#include <vector>

#include "graft/loss/loss_value.hpp"

using namespace graft;
using namespace graft::loss;

TEST_CASE("loss values add per sample and scale") {
  const LossValue a{{1.0, 2.0}}, b{{0.5, 0.25}};
  const LossValue total = 10.0 * a + b;
  CHECK(total.per_sample == std::vector<double>{10.5, 20.25});
  CHECK_THROWS_AS(a + LossValue{{1.0}}, graft::Error);
}

TEST_CASE("sample weights are one per sample or one for all") {
  const std::vector<float> per_sample{0.5f, 2.0f};
  const SampleWeights shared(3.0f), each(per_sample);
  CHECK(shared[0] == 3.0f);
  CHECK(shared[7] == 3.0f);
  CHECK(each[1] == 2.0f);
  CHECK_NOTHROW(shared.check_batch("test", Shape{5, 1, 2, 2}));
  CHECK_NOTHROW(each.check_batch("test", Shape{2, 1, 2, 2}));
  CHECK_THROWS_WITH_AS(each.check_batch("test", Shape{3, 1, 2, 2}),
                       doctest::Contains("test: 2 sample weights for pred of shape (3, 1, 2, 2)"), graft::Error);
}
