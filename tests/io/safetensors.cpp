// safetensors reader and writer: round trips, strict validation of damaged
// headers (each error names the file and the tensor), and files written by
// Python's reference implementation.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "graft/io/safetensors.hpp"
#include "scratch_directory.hpp"

namespace io = graft::io;
using graft::testing::read_bytes;
using graft::testing::ScratchDirectory;
using graft::testing::write_bytes;

namespace {

// A safetensors file from its header text and data bytes.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  const std::uint64_t length = header.size();
  std::string out(reinterpret_cast<const char*>(&length), 8);
  return out + header + data;
}

// The message of the graft::Error that reading `path` throws ("" if none).
std::string read_error(const std::filesystem::path& path) {
  try {
    io::SafetensorsFile file(path);
  } catch (const graft::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("write_safetensors and SafetensorsFile round-trip tensors and metadata") {
  ScratchDirectory dir;
  const auto path = dir / "t.safetensors";
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  const std::vector<std::uint16_t> b{0x3F80, 0xC000};  // bf16 1, -2
  const std::vector<std::int64_t> c{-7, 1ll << 40};
  const std::vector<io::TensorBytes> tensors{
      io::f32_tensor("layer.a", {2, 3}, a),
      {"layer.b", "BF16", {2}, std::as_bytes(std::span(b))},
      {"c", "I64", {1, 2, 1}, std::as_bytes(std::span(c))},
      {"empty", "F32", {0, 4}, {}},
  };
  io::write_safetensors(path, tensors, {{"owner", "graft"}, {"note", "quote \" and\nnewline"}});

  const auto raw = read_bytes(path);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, raw.data(), 8);
  CHECK(header_length % 8 == 0);

  const io::SafetensorsFile file(path);
  REQUIRE(file.tensors().size() == 4);
  CHECK(file.has_checksum());
  CHECK(file.metadata().at("owner") == "graft");
  CHECK(file.metadata().at("note") == "quote \" and\nnewline");
  CHECK(file.f32_values("layer.a") == a);
  const auto* tb = file.find("layer.b");
  REQUIRE(tb);
  CHECK(tb->dtype == "BF16");
  CHECK(tb->shape == std::vector<std::int64_t>{2});
  CHECK(std::memcmp(file.bytes(*tb).data(), b.data(), 4) == 0);
  const auto* tc = file.find("c");
  REQUIRE(tc);
  CHECK(tc->shape == std::vector<std::int64_t>{1, 2, 1});
  CHECK(std::memcmp(file.bytes(*tc).data(), c.data(), 16) == 0);
  CHECK(file.find("empty")->shape == std::vector<std::int64_t>{0, 4});
  CHECK(file.find("missing") == nullptr);
}

TEST_CASE("write_safetensors refuses bad tensors before touching the destination") {
  ScratchDirectory dir;
  const auto path = dir / "t.safetensors";
  write_bytes(path, "previous");
  const std::vector<float> six(6, 1.0f);
  const auto error_of = [&](std::vector<io::TensorBytes> tensors) -> std::string {
    try {
      io::write_safetensors(path, tensors);
    } catch (const graft::Error& e) {
      return e.what();
    }
    return "";
  };
  const auto wrong_size = error_of({io::f32_tensor("w", {2, 2}, six)});
  CHECK_MESSAGE(contains(wrong_size, path.string()), wrong_size);
  CHECK_MESSAGE(contains(wrong_size, "'w' has 24 bytes, but shape (2, 2) of F32 needs 16"), wrong_size);
  CHECK(contains(error_of({{"w", "F33", {6}, std::as_bytes(std::span(six))}}), "unknown dtype 'F33'"));
  CHECK(contains(error_of({io::f32_tensor("w", {6}, six), io::f32_tensor("w", {6}, six)}), "'w' is used twice"));
  CHECK(contains(error_of({io::f32_tensor("__metadata__", {6}, six)}), "reserved"));
  CHECK(read_bytes(path) == "previous");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("damaged safetensors files give errors naming the file and the tensor") {
  ScratchDirectory dir;
  const auto path = dir / "damaged.safetensors";
  const std::string eight(8, '\0');
  struct Case {
    const char* what;
    std::string bytes;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"shorter than 8 bytes", "abc", "too short for the 8-byte safetensors header length"},
      {"header length beyond the file", std::string("\x40\0\0\0\0\0\0\0{}", 10),
       "the header length 64 runs past the end of the file (10 bytes); it is truncated or not safetensors"},
      {"invalid JSON", safetensors_bytes("{\"w\": {\"dtype\": ", ""), "the header is not valid JSON"},
      {"header not an object", safetensors_bytes("[1, 2]", ""), "not a JSON object"},
      {"unknown dtype", safetensors_bytes(R"({"w": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})", eight),
       "tensor 'w': unknown dtype 'F33'"},
      {"negative extent", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", eight),
       "tensor 'w': shape [-2] has an entry that is not a non-negative integer"},
      {"missing offsets", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2]}})", eight),
       "tensor 'w': \"data_offsets\" must be"},
      {"offsets reversed", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", eight),
       "tensor 'w': data_offsets [8, 0] end before they begin"},
      {"size does not match the shape",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", eight),
       "tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape (3) of F32 needs 12"},
      {"offsets beyond the data", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", eight),
       "tensor 'w': data_offsets [0, 16] run past the end of the data section (8 bytes); the file is truncated"},
      {"overlapping tensors",
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                         eight),
       "tensor 'b': data_offsets [4, 8] overlap tensor 'a'"},
      {"a gap between tensors", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", eight),
       "tensor 'w': data_offsets [4, 8] leave bytes [0, 4) of the data section unused"},
      {"trailing bytes", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", eight),
       "bytes [4, 8) at the end of the data section belong to no tensor"},
      {"metadata not strings", safetensors_bytes(R"({"__metadata__": {"step": 3}})", ""),
       "metadata entry 'step' is not a string"},
      {"malformed checksum", safetensors_bytes(R"({"__metadata__": {"graft.checksum": "md5:00"}})", ""),
       "not crc32:<8 hex digits>"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    write_bytes(path, c.bytes);
    const std::string message = read_error(path);
    CHECK_MESSAGE(contains(message, path.string()), message);
    CHECK_MESSAGE(contains(message, c.expected), message);
  }
  CHECK(contains(read_error(dir / "no-such-file"), "no-such-file: cannot open: No such file or directory"));
}

TEST_CASE("a flipped data byte is a checksum mismatch") {
  ScratchDirectory dir;
  const auto path = dir / "t.safetensors";
  const std::vector<float> values{1.0f, 2.0f, 3.0f, 4.0f};
  io::write_safetensors(path, std::vector{io::f32_tensor("w", {4}, values)});
  auto bytes = read_bytes(path);
  bytes[bytes.size() - 3] ^= 0x10;
  write_bytes(path, bytes);
  const auto message = read_error(path);
  CHECK_MESSAGE(contains(message, path.string() + ": checksum mismatch: the file is corrupted"), message);
}

TEST_CASE("files written by Python's safetensors are read by graft") {
  ScratchDirectory dir;
  std::string output;
  REQUIRE_MESSAGE(graft::testing::python_has_safetensors(dir, output), graft::testing::missing_safetensors_message(output));
  const auto path = dir / "from_python.safetensors";
  const std::string script =
      "import sys, numpy as np\n"
      "from safetensors.numpy import save_file\n"
      "save_file({'enc.w': (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3),\n"
      "           'count': np.array([3, -4, 5], dtype=np.int64),\n"
      "           'half': np.ones((1, 1, 2), dtype=np.float16)}, sys.argv[1], metadata={'made_by': 'python'})\n";
  write_bytes(dir / "write.py", script);
  const int status = graft::testing::run_captured(
      "'" + graft::testing::python_executable() + "' '" + (dir / "write.py").string() + "' '" + path.string() + "'",
      dir / "write.log", output);
  REQUIRE_MESSAGE(status == 0, output);

  const io::SafetensorsFile file(path);
  CHECK(file.tensors().size() == 3);
  CHECK_FALSE(file.has_checksum());
  CHECK(file.metadata().at("made_by") == "python");
  CHECK(file.find("enc.w")->shape == std::vector<std::int64_t>{2, 3});
  CHECK(file.f32_values("enc.w") == std::vector<float>{-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f});
  CHECK(file.find("count")->dtype == "I64");
  CHECK(file.find("half")->dtype == "F16");
  CHECK(file.find("half")->shape == std::vector<std::int64_t>{1, 1, 2});
}
