// Must NOT compile: Dense takes a flat vector, the convolution gives (C, H, W).
#include <graft/nn.hpp>

namespace nn = graft::nn;
using Broken = nn::Seq<nn::Conv2d<8, 3>, nn::Dense<10>>;
constexpr graft::Shape output = nn::output_shape<Broken, graft::Shape{3, 16, 16}>;
