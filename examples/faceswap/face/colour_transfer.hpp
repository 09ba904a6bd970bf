// Colour transfer: bring an image's colours to those of a reference, as
// DeepFaceLab's modes do. Training uses it to bring src faces towards dst
// colours (the whole face); swap uses it, with statistics taken inside the
// face mask, to match the drawn face to the original it replaces.
//
// The modes differ in how much of the colour distribution they match and
// how far they move colours to do it:
//   rct  Reinhard: mean and standard deviation of each L*a*b* channel.
//   lct  linear: the mean and the full 3 x 3 covariance in RGB, through the
//        symmetric square roots (C_ref^1/2 C_img^-1/2).
//   mkl  Monge-Kantorovich linear: the same mean and covariance by the
//        linear map that moves colours least (the optimal transport map
//        between Gaussians): no hue rotation that lct can bring in.
//   idt  iterative distribution transfer (Pitie et al.): the whole 3-D
//        distribution, matching 1-D distributions along the axes of random
//        rotations, 20 times.
//   sot  sliced optimal transport: the whole distribution along random
//        directions, averaged, 10 times; the colour change is then smoothed
//        over the image so that skin noise is not amplified.
// Images are float BGR in [0, 1]; the result is clipped to [0, 1]. A mask
// (8-bit, optional, the same for both images) picks the pixels the
// statistics come from; every pixel of the image is transformed.
#pragma once

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace faceswap {

enum class ColourTransfer { none, rct, lct, mkl, idt, sot };

inline constexpr std::array<std::string_view, 6> colour_transfer_names{"none", "rct", "lct", "mkl", "idt", "sot"};

std::optional<ColourTransfer> parse_colour_transfer(std::string_view name);
std::string_view name_of(ColourTransfer mode);
// "none, rct, lct, mkl, idt or sot", for messages and --help.
std::string colour_transfer_list();

// `seed` draws the directions of idt and sot (the others are deterministic).
void transfer_colour(ColourTransfer mode, cv::Mat& image, const cv::Mat& reference, const cv::Mat& mask = cv::Mat(),
                     std::uint64_t seed = 0);

}  // namespace faceswap
