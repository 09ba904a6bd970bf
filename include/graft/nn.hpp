// Everything of graft::nn: layers, combinators, modules and models.
#pragma once

#include "graft/nn/activation.hpp"
#include "graft/nn/concat.hpp"
#include "graft/nn/conv2d.hpp"
#include "graft/nn/dense.hpp"
#include "graft/nn/depth_to_space.hpp"
#include "graft/nn/model.hpp"
#include "graft/nn/module.hpp"
#include "graft/nn/pixel_norm.hpp"
#include "graft/nn/reshape.hpp"
#include "graft/nn/residual.hpp"
#include "graft/nn/sequential.hpp"
