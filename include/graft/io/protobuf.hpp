// The protobuf wire format, as much of it as graft writes: varints, keys,
// length-delimited fields and fixed 32/64-bit values.
//
// ONNX models (onnx.hpp) and TensorBoard event files (train/metrics.hpp) are
// protobuf messages; graft encodes the few fields it needs directly instead
// of depending on the protobuf library and generated code.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace graft::io {

namespace protobuf {

inline void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += char((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += char(v);
}
inline void key(std::string& out, int field, int wire_type) { varint(out, std::uint64_t(field) << 3 | std::uint64_t(wire_type)); }
inline void integer(std::string& out, int field, std::int64_t v) {
  key(out, field, 0);
  varint(out, std::uint64_t(v));
}
inline void bytes(std::string& out, int field, std::string_view b) {
  key(out, field, 2);
  varint(out, b.size());
  out += b;
}
// The little-endian bytes of a 4- or 8-byte value (fixed32, fixed64, float, double).
template <class T>
void little_endian(std::string& out, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  const auto bits = std::bit_cast<std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) out += char((bits >> (8 * i)) & 0xFF);
}
inline void float32(std::string& out, int field, float v) {
  key(out, field, 5);
  little_endian(out, v);
}
inline void float64(std::string& out, int field, double v) {
  key(out, field, 1);
  little_endian(out, v);
}

}  // namespace protobuf

}  // namespace graft::io
