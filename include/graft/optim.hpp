// Everything of graft::optim: the Optimizer concept, SGD, Adam(W), RMSprop,
// AdaBelief, learning-rate schedules and clipping by global norm.
#pragma once

#include "graft/optim/adabelief.hpp"
#include "graft/optim/adam.hpp"
#include "graft/optim/clip.hpp"
#include "graft/optim/config.hpp"
#include "graft/optim/optimizer.hpp"
#include "graft/optim/rmsprop.hpp"
#include "graft/optim/schedule.hpp"
#include "graft/optim/sgd.hpp"
