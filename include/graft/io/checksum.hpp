// CRC-32 of what graft writes, so that a damaged checkpoint never loads.
//
// A disk error, a truncated copy or a half-finished upload can leave a file
// that still parses. graft stores a CRC-32 in the safetensors metadata
// (`"graft.checksum": "crc32:1a2b3c4d"`) and the reader recomputes it. CRC-32
// is the IEEE 802.3 polynomial of zlib, gzip and PNG, so any language can
// check a file without graft (Python: `zlib.crc32`). Slicing-by-8 tables keep
// it at a few GB/s, which matters for checkpoints of several hundred MB.
// CRC-32C (Castagnoli) uses the same code with another polynomial; it is the
// checksum TensorBoard's event files (TFRecord) require.
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace graft::io {

// The metadata key that holds the checksum of a safetensors file.
inline constexpr std::string_view checksum_key = "graft.checksum";

namespace detail {

using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

// Table s maps a byte to its CRC contribution s bytes further along, for a
// CRC with the given (bit-reversed) polynomial.
constexpr CrcTables make_crc_tables(std::uint32_t polynomial) {
  CrcTables tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ polynomial : c >> 1;
    tables[0][i] = c;
  }
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t s = 1; s < 8; ++s) tables[s][i] = (tables[s - 1][i] >> 8) ^ tables[0][tables[s - 1][i] & 0xFFu];
  return tables;
}

inline constexpr CrcTables crc32_tables = make_crc_tables(0xEDB88320u);
inline constexpr CrcTables crc32c_tables = make_crc_tables(0x82F63B78u);

inline std::uint32_t crc_update(const CrcTables& t, std::span<const std::byte> bytes, std::uint32_t crc) {
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  crc = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint32_t low = 0, high = 0;  // little-endian words, as the tables assume
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + 4, 4);
    low ^= crc;
    crc = t[7][low & 0xFFu] ^ t[6][(low >> 8) & 0xFFu] ^ t[5][(low >> 16) & 0xFFu] ^ t[4][low >> 24] ^ t[3][high & 0xFFu] ^
          t[2][(high >> 8) & 0xFFu] ^ t[1][(high >> 16) & 0xFFu] ^ t[0][high >> 24];
  }
  for (; n; ++p, --n) crc = (crc >> 8) ^ t[0][(crc ^ std::to_integer<std::uint32_t>(*p)) & 0xFFu];
  return ~crc;
}

}  // namespace detail

// CRC-32 (IEEE) of `bytes`, continuing from `crc`: crc32(b, crc32(a)) is the
// CRC of a followed by b, exactly as zlib.crc32.
inline std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0) {
  return detail::crc_update(detail::crc32_tables, bytes, crc);
}

// CRC-32C (Castagnoli), continuing from `crc`.
inline std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) {
  return detail::crc_update(detail::crc32c_tables, bytes, crc);
}

inline std::uint32_t crc32(std::string_view text, std::uint32_t crc = 0) {
  return crc32(std::as_bytes(std::span(text.data(), text.size())), crc);
}

// "crc32:" and eight lower-case hex digits, the form stored in the metadata.
inline std::string checksum_text(std::uint32_t crc) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text = "crc32:";
  for (int shift = 28; shift >= 0; shift -= 4) text += digits[(crc >> shift) & 0xFu];
  return text;
}

// The CRC of a checksum_text string; nothing when the text is not one.
inline std::optional<std::uint32_t> parse_checksum_text(std::string_view text) {
  constexpr std::string_view prefix = "crc32:";
  if (!text.starts_with(prefix) || text.size() != prefix.size() + 8) return std::nullopt;
  std::uint32_t crc = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data() + prefix.size(), end, crc, 16);
  if (error != std::errc{} || at != end) return std::nullopt;
  return crc;
}

}  // namespace graft::io
