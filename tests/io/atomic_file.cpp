// AtomicFile: the destination holds the old contents or the new, never a mix,
// and no temporary file outlives a failure.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "graft/io/atomic_file.hpp"
#include "scratch_directory.hpp"

namespace io = graft::io;
using graft::testing::read_bytes;
using graft::testing::ScratchDirectory;
using graft::testing::write_bytes;

namespace {
std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
}  // namespace

TEST_CASE("write_file_atomically creates and replaces a file") {
  ScratchDirectory dir;
  const auto path = dir / "out.bin";
  io::write_file_atomically(path, bytes_of("first"));
  CHECK(read_bytes(path) == "first");
  io::write_file_atomically(path, bytes_of("second, longer"));
  CHECK(read_bytes(path) == "second, longer");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("an AtomicFile abandoned mid-write leaves the old file and no temporary") {
  ScratchDirectory dir;
  const auto path = dir / "out.bin";
  write_bytes(path, "old contents");
  CHECK_THROWS_AS(
      [&] {
        io::AtomicFile file(path);
        file.write(bytes_of("half of the new"));
        CHECK(std::filesystem::exists(file.temporary()));
        throw std::runtime_error("killed while writing");
      }(),
      std::runtime_error);
  CHECK(read_bytes(path) == "old contents");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("a destination whose parent is a regular file fails with the path and the reason") {
  ScratchDirectory dir;
  write_bytes(dir / "plain", "not a directory");
  const auto path = dir / "plain" / "out.bin";
  try {
    io::write_file_atomically(path, bytes_of("x"));
    FAIL("write_file_atomically did not throw");
  } catch (const graft::Error& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find(path.string()) != std::string::npos, message);
    CHECK_MESSAGE(message.find("Not a directory") != std::string::npos, message);
  }
  CHECK(read_bytes(dir / "plain") == "not a directory");
}

TEST_CASE("renaming over a directory fails and removes the temporary file") {
  ScratchDirectory dir;
  std::filesystem::create_directory(dir / "taken");
  write_bytes(dir / "taken" / "inside", "keep");
  CHECK_THROWS_AS(io::write_file_atomically(dir / "taken", bytes_of("x")), graft::Error);
  CHECK(read_bytes(dir / "taken" / "inside") == "keep");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("two saves to one destination at once never share a temporary file") {
  ScratchDirectory dir;
  const auto path = dir / "out.bin";
  write_bytes(path, "old");
  io::AtomicFile a(path), b(path);
  CHECK(a.temporary() != b.temporary());
  a.write(bytes_of("from a"));
  b.write(bytes_of("from b, longer"));
  a.commit();
  CHECK(read_bytes(path) == "from a");
  b.commit();
  CHECK(read_bytes(path) == "from b, longer");
}
