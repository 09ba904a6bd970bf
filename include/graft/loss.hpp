// Everything in graft/loss: the SAEHD training losses, per sample, with exact gradients.
//
// Each loss returns a LossValue (one value per sample) and has a *_backward
// that adds d(sum_b w_b L_b)/dpred into a gradient buffer, so a total loss
// such as SAEHD's 10*DSSIM + 10*MSE + 300*L1(eyes/mouth) is a sequence of
// calls on one dpred. Masked forms follow DFL's loss(P*M, T*M) convention.
#pragma once

#include "graft/loss/dssim.hpp"
#include "graft/loss/l1.hpp"
#include "graft/loss/loss_value.hpp"
#include "graft/loss/masked.hpp"
#include "graft/loss/mse.hpp"
