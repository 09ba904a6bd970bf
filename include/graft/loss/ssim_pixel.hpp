// SSIM at one pixel and its partial derivatives: the one formula the CPU's
// DSSIM (dssim.hpp) and the CUDA backend's DSSIM kernels both evaluate.
#pragma once

#include "graft/core/host_device.hpp"

namespace graft::loss::detail {

// SSIM = lum * cs at one pixel of the valid map, from the filtered moments
// mx = G*x, my = G*y, sq = G*(x^2 + y^2), xy = G*(x y), and its partial
// derivatives with respect to mx, sq and xy (the ones that depend on x).
struct SsimPixel {
  double value, d_mx, d_sq, d_xy;
};

GRAFT_HOST_DEVICE inline SsimPixel ssim_pixel(double mx, double my, double sq, double xy, double c1, double c2) {
  const double lum_num = 2.0 * mx * my + c1, lum_den = mx * mx + my * my + c1;
  const double cs_num = 2.0 * xy - 2.0 * mx * my + c2, cs_den = sq - mx * mx - my * my + c2;
  const double lum = lum_num / lum_den, cs = cs_num / cs_den;
  return {lum * cs, cs * (2.0 * my - 2.0 * mx * lum) / lum_den + lum * (2.0 * mx * cs - 2.0 * my) / cs_den, -lum * cs / cs_den,
          2.0 * lum / cs_den};
}

}  // namespace graft::loss::detail
