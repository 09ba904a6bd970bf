// What swap needs to know about an OpenEXR plate before OpenCV decodes it,
// read from the file's header: that OpenCV will give the plate as it is
// (red, green and blue channels; one part; the data window is the display
// window, since OpenCV returns the data window alone) and how its colour
// channels are stored (half or 32-bit float), to write the swapped plate
// the same way.
#pragma once

#include <filesystem>

namespace faceswap {

struct ExrPlateLayout {
  bool half = false;  // R, G and B stored as half floats
};

// Reads the header of `path` (only the header) and throws naming the
// file for anything but a single-part scanline or tiled image with R, G and
// B channels whose data window is its display window.
ExrPlateLayout read_exr_plate_layout(const std::filesystem::path& path);

}  // namespace faceswap
