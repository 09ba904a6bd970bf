// CRC-32 against the standard check value and zlib's incremental behaviour.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "graft/io/checksum.hpp"

namespace io = graft::io;

TEST_CASE("crc32 gives the IEEE check value and the value of the empty input") {
  CHECK(io::crc32(std::string_view("123456789")) == 0xCBF43926u);
  CHECK(io::crc32(std::string_view("")) == 0u);
  CHECK(io::crc32(std::string_view("The quick brown fox jumps over the lazy dog")) == 0x414FA339u);
}

TEST_CASE("crc32 continued over pieces equals crc32 of the whole, at every split") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += static_cast<char>((i * 37 + 11) & 0xFF);
  const std::uint32_t whole = io::crc32(std::string_view(text));
  for (std::size_t split = 0; split <= text.size(); ++split) {
    const std::string_view all(text);
    CHECK(io::crc32(all.substr(split), io::crc32(all.substr(0, split))) == whole);
  }
}

TEST_CASE("checksum text round-trips and rejects other forms") {
  CHECK(io::checksum_text(0xCBF43926u) == "crc32:cbf43926");
  CHECK(io::checksum_text(0x1u) == "crc32:00000001");
  CHECK(io::parse_checksum_text("crc32:cbf43926") == 0xCBF43926u);
  CHECK_FALSE(io::parse_checksum_text("crc32:cbf4392"));
  CHECK_FALSE(io::parse_checksum_text("crc32:cbf4392g"));
  CHECK_FALSE(io::parse_checksum_text("xxh64:cbf43926"));
  CHECK_FALSE(io::parse_checksum_text(""));
}

TEST_CASE("crc32c gives the Castagnoli check values") {
  auto bytes = [](std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); };
  CHECK(io::crc32c(bytes("123456789")) == 0xE3069283u);
  CHECK(io::crc32c(bytes("")) == 0u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros.
  const std::string zeros(32, '\0');
  CHECK(io::crc32c(bytes(zeros)) == 0x8A9136AAu);
  // Continued over pieces.
  const std::string text = "The quick brown fox jumps over the lazy dog";
  CHECK(io::crc32c(bytes(text.substr(10)), io::crc32c(bytes(text.substr(0, 10)))) == io::crc32c(bytes(text)));
}
