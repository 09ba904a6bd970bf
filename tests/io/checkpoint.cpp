// Checkpoints: bit-exact round trips, damaged and mismatched files that fail
// with a clear message and leave the model untouched, saves that fail without
// harming the previous checkpoint, and files Python's safetensors can read.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "graft/io/checkpoint.hpp"
#include "graft/nn.hpp"
#include "scratch_directory.hpp"

namespace io = graft::io;
namespace nn = graft::nn;
using graft::testing::read_bytes;
using graft::testing::ScratchDirectory;
using graft::testing::write_bytes;

namespace {

template <int Channels>
using Net =
    nn::Model<nn::Part<"net", nn::Seq<nn::Named<"conv", nn::Conv2d<Channels, 3>>, nn::Flatten, nn::Named<"fc", nn::Dense<5>>>,
                       graft::Shape{2, 6, 6}>>;
using SmallNet = Net<4>;

// A model and two optimizer moments, all random and non-zero.
template <class Model = SmallNet>
struct TrainingState {
  explicit TrainingState(std::uint64_t seed) : model(seed), m(Model::buffer_size), v(Model::buffer_size) {
    graft::testing::fill_uniform(model.parameter_buffer(), seed);
    graft::testing::fill_uniform(m, seed + 1, 0.1f, 1.0f);
    graft::testing::fill_uniform(v, seed + 2, 1e-8f, 1e-3f);
  }
  std::array<io::StateSlot, 2> slots() { return {io::StateSlot{"m", m}, io::StateSlot{"v", v}}; }
  // Every float the state holds, padding included, to detect any change.
  std::vector<float> snapshot() {
    std::vector<float> all(model.parameter_buffer().begin(), model.parameter_buffer().end());
    all.insert(all.end(), m.begin(), m.end());
    all.insert(all.end(), v.begin(), v.end());
    return all;
  }

  Model model;
  std::vector<float> m, v;
};

const io::CheckpointInfo test_info{1234, "graft-test-net", R"({"lr": 0.001, "name": "caf\u00e9 \"q\"", "batch": 8})", "adam",
                                   1230};

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

// Whether every parameter tensor (padding excluded) is bit-identical.
bool same_tensors(std::span<const float> a, std::span<const float> b) {
  for (const auto& spec : SmallNet::parameters) {
    const auto at = static_cast<std::size_t>(spec.offset), n = static_cast<std::size_t>(spec.shape.numel());
    if (!same_bits(a.subspan(at, n), b.subspan(at, n))) return false;
  }
  return true;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message of the graft::Error that loading `path` into `state` throws.
std::string load_error(const std::filesystem::path& path, TrainingState<>& state, bool with_slots = true) {
  try {
    auto slots = state.slots();
    io::load_checkpoint(path, state.model, with_slots ? std::span<const io::StateSlot>(slots) : std::span<const io::StateSlot>{});
  } catch (const graft::Error& e) {
    return e.what();
  }
  return "";
}

// Loading a damaged or mismatched file fails with `expected` in the message
// and leaves the destination state exactly as it was.
void check_load_fails(const std::filesystem::path& path, const std::vector<std::string>& expected, bool with_slots = true) {
  TrainingState<> target(99);
  const auto before = target.snapshot();
  const std::string message = load_error(path, target, with_slots);
  REQUIRE_MESSAGE(!message.empty(), "loading ", path.string(), " did not throw");
  CHECK_MESSAGE(contains(message, path.string()), message);
  for (const auto& part : expected) CHECK_MESSAGE(contains(message, part), message);
  CHECK(same_bits(target.snapshot(), before));
}

std::filesystem::path saved_checkpoint(const ScratchDirectory& dir, const std::string& name = "ckpt.safetensors") {
  TrainingState<> state(7);
  const auto path = dir / name;
  auto slots = state.slots();
  io::save_checkpoint(path, state.model, slots, test_info);
  return path;
}

}  // namespace

TEST_CASE("a checkpoint round-trips parameters, optimizer slots and metadata bit for bit") {
  ScratchDirectory dir;
  TrainingState<> source(7);
  auto source_slots = source.slots();
  const auto path = dir / "ckpt.safetensors";
  io::save_checkpoint(path, source.model, source_slots, test_info);
  CHECK(dir.entry_count() == 1);

  TrainingState<> target(99);
  CHECK_FALSE(same_tensors(source.model.parameter_buffer(), target.model.parameter_buffer()));
  auto target_slots = target.slots();
  const io::CheckpointInfo info = io::load_checkpoint(path, target.model, target_slots);
  CHECK(info.step == 1234);
  CHECK(info.model == "graft-test-net");
  CHECK(info.config == test_info.config);
  CHECK(info.optimizer == "adam");
  CHECK(info.optimizer_steps == 1230);
  CHECK(same_tensors(source.model.parameter_buffer(), target.model.parameter_buffer()));
  CHECK(same_tensors(source.m, target.m));
  CHECK(same_tensors(source.v, target.v));

  const io::SafetensorsFile file(path);
  CHECK(file.tensors().size() == 3 * SmallNet::parameters.size());
  CHECK(file.metadata().at("graft.format") == "graft-checkpoint-1");
  CHECK(file.find("net.conv.weight")->shape == std::vector<std::int64_t>{4, 2, 3, 3});
  CHECK(file.find("optimizer.v.net.fc.weight")->shape == std::vector<std::int64_t>{5, 144});
}

TEST_CASE("a checkpoint of another model or optimizer is refused before anything is copied") {
  ScratchDirectory dir;
  TrainingState<> source(7), target(8);
  auto source_slots = source.slots();
  const auto path = dir / "ckpt.safetensors";
  io::save_checkpoint(path, source.model, source_slots, test_info);
  auto target_slots = target.slots();
  const std::vector<float> before(target.model.parameter_buffer().begin(), target.model.parameter_buffer().end());
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, target.model, target_slots, {.model = "saehd-df-128"}),
                       doctest::Contains("holds a 'graft-test-net' model, but this program trains 'saehd-df-128'"), graft::Error);
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, target.model, target_slots, {.optimizer = "adabelief"}),
                       doctest::Contains("the state of a 'adam' optimizer, but this program uses 'adabelief'"), graft::Error);
  CHECK(std::equal(before.begin(), before.end(), target.model.parameter_buffer().begin()));
  CHECK_NOTHROW(io::load_checkpoint(path, target.model, target_slots, {.model = "graft-test-net", .optimizer = "adam"}));
}

TEST_CASE("the span-based core saves and loads parameters without optimizer state") {
  ScratchDirectory dir;
  TrainingState<> source(3), target(4);
  const auto path = dir / "params-only.safetensors";
  io::save_checkpoint(path, SmallNet::parameters, source.model.parameter_buffer(), {},
                      {.step = 5, .model = "net", .config = "{}"});
  CHECK(io::load_checkpoint(path, SmallNet::parameters, target.model.parameter_buffer(), {}).step == 5);
  CHECK(same_tensors(source.model.parameter_buffer(), target.model.parameter_buffer()));
}

TEST_CASE("a truncated checkpoint fails naming the file and the tensor, and the model is untouched") {
  ScratchDirectory dir;
  const auto path = saved_checkpoint(dir);
  const auto bytes = read_bytes(path);
  // The last tensor is optimizer.v.net.fc.bias (20 bytes); cutting 100 bytes
  // also cuts into optimizer.v.net.fc.weight, the first one past the end.
  write_bytes(path, bytes.substr(0, bytes.size() - 100));
  check_load_fails(path, {"tensor 'optimizer.v.net.fc.weight'", "the file is truncated"});
  write_bytes(path, bytes.substr(0, 5));
  check_load_fails(path, {"too short"});
  write_bytes(path, bytes.substr(0, 200));
  check_load_fails(path, {"runs past the end of the file (200 bytes)"});
}

TEST_CASE("a corrupted checkpoint fails, and the model is untouched") {
  ScratchDirectory dir;
  const auto path = saved_checkpoint(dir);
  const auto bytes = read_bytes(path);

  SUBCASE("a flipped data byte is a checksum mismatch") {
    auto damaged = bytes;
    damaged[damaged.size() - 1000] ^= 0x01;
    write_bytes(path, damaged);
    check_load_fails(path, {"checksum mismatch: the file is corrupted"});
  }
  SUBCASE("a flipped header byte that breaks the JSON") {
    auto damaged = bytes;
    REQUIRE(damaged[8] == '{');
    damaged[8] ^= 0x40;
    write_bytes(path, damaged);
    check_load_fails(path, {"the header is not valid JSON"});
  }
  SUBCASE("a changed metadata value is a checksum mismatch too") {
    auto damaged = bytes;
    const auto at = damaged.find(R"("graft.step":"1234")");
    REQUIRE(at != std::string::npos);
    damaged[at + 15] = '9';
    write_bytes(path, damaged);
    check_load_fails(path, {"checksum mismatch: the file is corrupted"});
  }
}

TEST_CASE("a checkpoint of another architecture fails listing every difference, and the model is untouched") {
  ScratchDirectory dir;
  const auto path = dir / "wider.safetensors";
  TrainingState<Net<6>> wider(5);
  auto slots = wider.slots();
  io::save_checkpoint(path, wider.model, slots, test_info);
  check_load_fails(path, {"the checkpoint does not match the model (9 differences)",
                          "tensor 'net.conv.weight' has shape (6, 2, 3, 3) in the file, but the model expects (4, 2, 3, 3)",
                          "tensor 'net.conv.bias' has shape (6) in the file, but the model expects (4)",
                          "tensor 'net.fc.weight' has shape (5, 216) in the file, but the model expects (5, 144)",
                          "tensor 'optimizer.m.net.conv.weight' has shape (6, 2, 3, 3)"});
}

TEST_CASE("missing and unexpected tensors are named") {
  ScratchDirectory dir;
  TrainingState<> source(7);
  const auto path = dir / "only-m.safetensors";
  const std::array<io::StateSlot, 1> only_m{io::StateSlot{"m", source.m}};
  io::save_checkpoint(path, source.model, only_m, test_info);
  check_load_fails(path,
                   {"missing tensor 'optimizer.v.net.conv.weight' (4, 2, 3, 3)", "missing tensor 'optimizer.v.net.fc.bias' (5)"});
  check_load_fails(path, {"unexpected tensor 'optimizer.m.net.conv.bias' (4)"}, false);
}

TEST_CASE("a safetensors file that is not a graft checkpoint is refused") {
  ScratchDirectory dir;
  TrainingState<> source(7);
  const auto path = dir / "plain.safetensors";
  std::vector<io::TensorBytes> tensors;
  for (const auto& spec : SmallNet::parameters)
    tensors.push_back(
        io::f32_tensor(std::string(spec.name.view()),
                       std::vector<std::int64_t>(spec.shape.dims.begin(), spec.shape.dims.begin() + spec.shape.rank),
                       source.model.parameter_buffer().subspan(static_cast<std::size_t>(spec.offset),
                                                               static_cast<std::size_t>(spec.shape.numel()))));
  io::write_safetensors(path, tensors);
  check_load_fails(path, {"no \"graft.format\" metadata entry"}, false);
}

TEST_CASE("a failing save throws and leaves the previous checkpoint intact") {
  ScratchDirectory dir;
  const auto path = saved_checkpoint(dir);
  const auto before = read_bytes(path);
  TrainingState<> state(11);

  SUBCASE("an optimizer slot of the wrong size") {
    std::vector<float> short_v(state.v.begin(), state.v.end() - 1);
    const std::array<io::StateSlot, 2> slots{io::StateSlot{"m", state.m}, io::StateSlot{"v", short_v}};
    try {
      io::save_checkpoint(path, state.model, slots, test_info);
      FAIL("save_checkpoint did not throw");
    } catch (const graft::Error& e) {
      CHECK_MESSAGE(contains(e.what(), path.string()), e.what());
      CHECK_MESSAGE(contains(e.what(), "optimizer state slot 'v' has"), e.what());
    }
  }
  SUBCASE("an invalid configuration") {
    CHECK_THROWS_WITH_AS(io::save_checkpoint(path, state.model, {}, {.step = 1, .model = "m", .config = "{lr: 1"}),
                         doctest::Contains("the training configuration is not valid JSON"), graft::Error);
  }
  SUBCASE("a destination whose directory is a regular file") {
    const auto blocked = path / "ckpt.safetensors";
    try {
      io::save_checkpoint(blocked, state.model, {}, test_info);
      FAIL("save_checkpoint did not throw");
    } catch (const graft::Error& e) {
      CHECK_MESSAGE(contains(e.what(), blocked.string()), e.what());
      CHECK_MESSAGE(contains(e.what(), "Not a directory"), e.what());
    }
  }
  CHECK(read_bytes(path) == before);
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("Python's safetensors reads a graft checkpoint: names, shapes, values, metadata and checksum") {
  ScratchDirectory dir;
  std::string output;
  REQUIRE_MESSAGE(graft::testing::python_has_safetensors(dir, output), graft::testing::missing_safetensors_message(output));

  TrainingState<> state(7);
  auto slots = state.slots();
  const auto path = dir / "ckpt.safetensors";
  io::save_checkpoint(path, state.model, slots, test_info);

  // One line per tensor: name, shape, and the bits of four of its values.
  std::ofstream expected(dir / "expected.txt");
  const auto describe = [&](const std::string& name, const nn::ParamSpec& spec, std::span<const float> buffer) {
    const auto values = buffer.subspan(static_cast<std::size_t>(spec.offset), static_cast<std::size_t>(spec.shape.numel()));
    expected << name << '\t';
    for (int i = 0; i < spec.shape.rank; ++i) expected << (i ? "," : "") << spec.shape[i];
    expected << '\t';
    for (const std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{2}, values.size() - 1}) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%zu:%08x ", i, std::bit_cast<std::uint32_t>(values[i]));
      expected << hex;
    }
    expected << '\n';
  };
  for (const auto& spec : SmallNet::parameters) describe(std::string(spec.name.view()), spec, state.model.parameter_buffer());
  for (const auto& slot : slots)
    for (const auto& spec : SmallNet::parameters)
      describe(io::optimizer_tensor_name(slot.name, spec.name.view()), spec, slot.values);
  expected.close();

  write_bytes(dir / "check.py", R"py(
import json, struct, sys, zlib
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path, expected_path = sys.argv[1], sys.argv[2]
tensors = load_file(path)
errors = []
expected = {}
for line in open(expected_path):
    name, shape, values = line.rstrip("\n").split("\t")
    expected[name] = (tuple(int(d) for d in shape.split(",")), values.split())
if set(tensors) != set(expected):
    errors.append(f"names differ: {sorted(set(tensors) ^ set(expected))}")
for name, (shape, values) in expected.items():
    t = tensors.get(name)
    if t is None:
        continue
    if t.dtype != np.float32 or t.shape != shape:
        errors.append(f"{name}: {t.dtype} {t.shape}, expected float32 {shape}")
        continue
    bits = t.reshape(-1).view(np.uint32)
    for entry in values:
        i, b = entry.split(":")
        if int(bits[int(i)]) != int(b, 16):
            errors.append(f"{name}[{i}]: bits {int(bits[int(i)]):08x}, expected {b}")

with safe_open(path, framework="numpy") as f:
    meta = f.metadata()
    if sorted(f.keys()) != sorted(expected):
        errors.append("safe_open lists other names")
if meta.get("graft.format") != "graft-checkpoint-1" or meta.get("graft.step") != "1234" or meta.get("graft.model") != "graft-test-net":
    errors.append(f"metadata: {meta}")
config = json.loads(meta["graft.config"])
if config != {"lr": 0.001, "name": "caf\u00e9 \"q\"", "batch": 8}:
    errors.append(f"config: {config}")

raw = open(path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + n])
stored = header["__metadata__"].pop("graft.checksum")
if not header["__metadata__"]:
    del header["__metadata__"]
text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
computed = "crc32:%08x" % zlib.crc32(raw[8 + n :], zlib.crc32(text))
if computed != stored:
    errors.append(f"checksum: stored {stored}, recomputed {computed}")

print("\n".join(errors) if errors else f"ok: {len(tensors)} tensors")
sys.exit(1 if errors else 0)
)py");
  const int status =
      graft::testing::run_captured("'" + graft::testing::python_executable() + "' '" + (dir / "check.py").string() + "' '" +
                                       path.string() + "' '" + (dir / "expected.txt").string() + "'",
                                   dir / "check.log", output);
  CHECK_MESSAGE(status == 0, output);
  CHECK_MESSAGE(contains(output, "ok: 12 tensors"), output);
}
