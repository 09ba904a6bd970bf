// Must NOT compile: the residual body turns 8 channels into 4, so x + body(x)
// has no meaning. The compiler's message must name both shapes.
#include <graft/nn.hpp>

namespace nn = graft::nn;
using Broken = nn::Seq<nn::Conv2d<8, 3>, nn::Residual<nn::Conv2d<4, 3>>>;
constexpr graft::Shape output = nn::output_shape<Broken, graft::Shape{3, 16, 16}>;
