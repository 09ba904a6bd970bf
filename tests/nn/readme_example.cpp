// The code shown at the top of README.md, kept compiling and true.
#include <doctest/doctest.h>

#include <graft/nn.hpp>

namespace readme {
namespace nn = graft::nn;

template <int C>
using Downscale = nn::Seq<nn::Named<"conv1", nn::Conv2d<C, 5, 2>>, nn::LeakyReLU<0.1f>>;
using Encoder = nn::Seq<Downscale<64>, Downscale<128>, Downscale<256>, Downscale<512>, nn::Flatten>;

static_assert(nn::output_shape<Encoder, graft::Shape{3, 128, 128}> == graft::Shape{32768});
static_assert(nn::parameter_count<Encoder, graft::Shape{3, 128, 128}> == 4'306'560);
}  // namespace readme

TEST_CASE("README's encoder names its parameters by position and Named name") {
  constexpr auto& params = graft::nn::Bound<readme::Encoder, graft::Shape{3, 128, 128}>::params;
  CHECK(params.front().name.view() == "0.conv1.weight");
  CHECK(params.back().name.view() == "3.conv1.bias");
}
