// The SAEHD and Quick96 parameter counts of DeepFaceLab, checked at compile
// time against the numbers of shared/reference/faceswap_models.md.
#include <doctest/doctest.h>

#include "saehd.hpp"

namespace {
using namespace faceswap;
constexpr Options df{};
constexpr Options ud{.u = true, .d = true};

static_assert(DF<df>::Model::parameter_count == 57'538'432);
static_assert(LIAE<df>::Model::parameter_count == 94'963'328);
static_assert(DF<ud>::Model::parameter_count == 54'470'998);
static_assert(LIAE<ud>::Model::parameter_count == 82'376'555);
static_assert(Quick96::Model::parameter_count == 38'294'330);
static_assert(graft::nn::parameter_count<Encoder<df>, image_shape<df>> == 4'306'560);
static_assert(code_shape<df> == Shape{32768});
static_assert(DF<df>::inter_out == Shape{256, 16, 16});
static_assert(graft::nn::output_shape<Decoder<df>, DF<df>::inter_out> == Shape{4, 128, 128});
static_assert(graft::nn::output_shape<Decoder<ud>, DF<ud>::inter_out> == Shape{4, 128, 128});
}  // namespace

TEST_CASE("SAEHD checkpoint names follow DeepFaceLab's layer paths") {
  constexpr auto& p = DF<df>::Model::parameters;
  CHECK(p.front().name.view() == "encoder.down1.downs.0.conv1.weight");
  CHECK(p.front().shape == Shape{64, 3, 5, 5});
  bool found = false;
  for (const auto& s : p)
    if (s.name.view() == "decoder_dst.res2.conv2.bias") found = true;
  CHECK(found);
  CHECK(p.back().name.view() == "decoder_dst.out_convm.bias");
  for (std::size_t i = 1; i < p.size(); ++i) CHECK(p[i].offset >= p[i - 1].offset + p[i - 1].shape.numel());
}
