// Checkpoints: a model's parameters, its optimizer state and the step, in
// one safetensors file that can be resumed from or opened in Python.
//
// Each parameter is a tensor under its ParamSpec name ("encoder.down1.downs.0.conv1.weight",
// F32, its own shape), so PyTorch-side tools see ordinary named weights. An
// optimizer state slot (Adam's "m" and "v") has the parameter buffer's layout
// and is stored per parameter as "optimizer.<slot>.<parameter name>". The
// metadata holds the format tag, the step, the model's identity and the
// training configuration as JSON text.
//
// Saving is atomic (atomic_file.hpp) and checksummed (checksum.hpp). Loading
// validates everything -- checksum, format, every name, dtype and shape --
// before it copies a single value, so a failed load leaves the model as it
// was, and the error lists exactly what differs between file and model.
// The core functions take a span of ParamSpec and a flat buffer, so that
// only the thin templates at the bottom are instantiated per model type.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "graft/core/state_slot.hpp"
#include "graft/io/safetensors.hpp"
#include "graft/nn/parameter.hpp"

namespace graft::io {

inline constexpr std::string_view checkpoint_format = "graft-checkpoint-1";

// The metadata keys of a checkpoint (besides checksum_key).
namespace checkpoint_key {
inline constexpr std::string_view format = "graft.format";
inline constexpr std::string_view step = "graft.step";
inline constexpr std::string_view model = "graft.model";
inline constexpr std::string_view config = "graft.config";
inline constexpr std::string_view optimizer = "graft.optimizer";
inline constexpr std::string_view optimizer_steps = "graft.optimizer_steps";
}  // namespace checkpoint_key

using graft::StateSlot;  // optimizer moments and the like (core/state_slot.hpp)

// What a checkpoint says besides its tensors.
struct CheckpointInfo {
  std::int64_t step = 0;
  std::string model;                 // identity of the model, e.g. "saehd-df-128-ud"
  std::string config = "{}";         // the training configuration, as JSON text
  std::string optimizer;             // whose state the slots are, e.g. "adabelief"; empty without optimizer state
  std::int64_t optimizer_steps = 0;  // the optimizer's own step count (Adam's bias correction)
};

// What a loader requires of a checkpoint before it copies anything out of
// it; an empty field is not checked.
struct CheckpointExpectation {
  std::string_view model;
  std::string_view optimizer;
  bool parameters_only = false;  // inference: the file's optimizer state is left unread
};

inline std::string optimizer_tensor_name(std::string_view slot, std::string_view parameter) {
  return std::string("optimizer.").append(slot).append(".").append(parameter);
}

namespace detail {

inline std::vector<std::int64_t> extents(const Shape& shape) { return {shape.dims.begin(), shape.dims.begin() + shape.rank}; }

// The parameter's floats within a buffer of this layout.
template <class T>
std::span<T> slice(std::span<T> buffer, const nn::ParamSpec& spec) {
  return buffer.subspan(static_cast<std::size_t>(spec.offset), static_cast<std::size_t>(spec.shape.numel()));
}

// The buffers must hold every parameter; slots must match the parameter buffer.
inline void check_layout(const std::filesystem::path& path, std::span<const nn::ParamSpec> specs, std::size_t parameter_floats,
                         std::span<const StateSlot> slots) {
  for (const auto& spec : specs)
    if (spec.offset < 0 || static_cast<std::uint64_t>(spec.offset + spec.shape.numel()) > parameter_floats)
      fail_in(path, "parameter '", spec.name.view(), "' at offset ", spec.offset, " with shape ", spec.shape,
              " lies outside the parameter buffer of ", parameter_floats, " floats");
  for (const auto& slot : slots) {
    if (slot.name.empty()) fail_in(path, "an optimizer state slot has no name");
    if (slot.values.size() != parameter_floats)
      fail_in(path, "optimizer state slot '", slot.name, "' has ", slot.values.size(),
              " floats, but the parameter buffer it mirrors has ", parameter_floats);
  }
}

// One expected tensor: its name, shape and where its floats go.
struct ExpectedTensor {
  std::string name;
  Shape shape;
  std::span<float> target;
};

// Lines saying how the file's tensors differ from the expected ones
// (optimizer state is not expected when only the parameters are loaded).
inline std::vector<std::string> differences(const SafetensorsFile& file, std::span<const ExpectedTensor> expected,
                                            bool parameters_only) {
  std::vector<std::string> lines;
  for (const auto& e : expected) {
    const TensorInfo* t = file.find(e.name);
    if (!t) {
      lines.push_back("missing tensor '" + e.name + "' " + to_string(e.shape));
    } else if (t->dtype != "F32") {
      lines.push_back("tensor '" + e.name + "' is " + t->dtype + " in the file, but the model expects F32");
    } else if (t->shape != extents(e.shape)) {
      lines.push_back("tensor '" + e.name + "' has shape " + shape_text(t->shape) + " in the file, but the model expects " +
                      to_string(e.shape));
    }
  }
  for (const auto& t : file.tensors()) {
    if (parameters_only && t.name.starts_with("optimizer.")) continue;
    const bool known = std::any_of(expected.begin(), expected.end(), [&](const ExpectedTensor& e) { return e.name == t.name; });
    if (!known) lines.push_back("unexpected tensor '" + t.name + "' " + shape_text(t.shape));
  }
  return lines;
}

inline const std::string& required_metadata(const SafetensorsFile& file, std::string_view key) {
  const auto it = file.metadata().find(std::string(key));
  if (it == file.metadata().end()) fail_in(file.path(), "the checkpoint has no \"", key, "\" metadata entry");
  return it->second;
}

inline std::int64_t required_count(const SafetensorsFile& file, std::string_view key) {
  const std::string& text = required_metadata(file, key);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0)
    fail_in(file.path(), "\"", key, "\" is '", text, "', not a non-negative integer");
  return value;
}

inline void check_expectation(const SafetensorsFile& file, const CheckpointInfo& info, const CheckpointExpectation& expect) {
  if (!expect.model.empty() && info.model != expect.model)
    fail_in(file.path(), "the checkpoint holds a '", info.model, "' model, but this program trains '", expect.model, "'");
  if (!expect.optimizer.empty() && info.optimizer != expect.optimizer)
    fail_in(file.path(), "the checkpoint holds the state of a '", info.optimizer.empty() ? "(none)" : info.optimizer,
            "' optimizer, but this program uses '", expect.optimizer, "'");
}

inline CheckpointInfo read_checkpoint_info(const SafetensorsFile& file) {
  const std::string& format = required_metadata(file, checkpoint_key::format);
  if (format != checkpoint_format)
    fail_in(file.path(), "\"", checkpoint_key::format, "\" is '", format, "', but this graft reads '", checkpoint_format, "'");
  if (!file.has_checksum()) fail_in(file.path(), "the checkpoint has no \"", checksum_key, "\"; its contents cannot be verified");

  CheckpointInfo info;
  info.step = required_count(file, checkpoint_key::step);
  info.optimizer_steps = required_count(file, checkpoint_key::optimizer_steps);
  info.optimizer = required_metadata(file, checkpoint_key::optimizer);
  info.model = required_metadata(file, checkpoint_key::model);
  info.config = required_metadata(file, checkpoint_key::config);
  if (!nlohmann::json::accept(info.config)) fail_in(file.path(), "\"", checkpoint_key::config, "\" is not valid JSON");
  return info;
}

}  // namespace detail

// Writes parameters (laid out as `specs` describe, in `parameters`), the
// state slots and `info` to `path`, replacing any file there atomically.
inline void save_checkpoint(const std::filesystem::path& path, std::span<const nn::ParamSpec> specs,
                            std::span<const float> parameters, std::span<const StateSlot> slots, const CheckpointInfo& info) {
  detail::check_layout(path, specs, parameters.size(), slots);
  if (info.step < 0 || info.optimizer_steps < 0)
    detail::fail_in(path, "the step is ", info.step, " and the optimizer's step ", info.optimizer_steps,
                    "; neither can be negative");
  if (!slots.empty() && info.optimizer.empty()) detail::fail_in(path, "optimizer state is saved without the optimizer's name");
  if (!nlohmann::json::accept(info.config)) detail::fail_in(path, "the training configuration is not valid JSON: ", info.config);

  std::vector<TensorBytes> tensors;
  tensors.reserve(specs.size() * (1 + slots.size()));
  for (const auto& spec : specs)
    tensors.push_back(f32_tensor(std::string(spec.name.view()), detail::extents(spec.shape), detail::slice(parameters, spec)));
  for (const auto& slot : slots)
    for (const auto& spec : specs)
      tensors.push_back(f32_tensor(optimizer_tensor_name(slot.name, spec.name.view()), detail::extents(spec.shape),
                                   detail::slice(slot.values, spec)));

  const Metadata metadata{{std::string(checkpoint_key::format), std::string(checkpoint_format)},
                          {std::string(checkpoint_key::step), std::to_string(info.step)},
                          {std::string(checkpoint_key::model), info.model},
                          {std::string(checkpoint_key::config), info.config},
                          {std::string(checkpoint_key::optimizer), info.optimizer},
                          {std::string(checkpoint_key::optimizer_steps), std::to_string(info.optimizer_steps)}};
  write_safetensors(path, tensors, metadata);
}

// Reads a checkpoint into `parameters` and the slots and returns its info.
// The file must hold exactly the tensors that specs and slots name, as F32
// with the same shapes; otherwise nothing is copied and the error lists every
// difference.
inline CheckpointInfo load_checkpoint(const std::filesystem::path& path, std::span<const nn::ParamSpec> specs,
                                      std::span<float> parameters, std::span<const StateSlot> slots,
                                      const CheckpointExpectation& expect = {}) {
  detail::check_layout(path, specs, parameters.size(), slots);
  const SafetensorsFile file(path);
  const CheckpointInfo info = detail::read_checkpoint_info(file);
  detail::check_expectation(file, info, expect);

  std::vector<detail::ExpectedTensor> expected;
  expected.reserve(specs.size() * (1 + slots.size()));
  for (const auto& spec : specs) expected.push_back({std::string(spec.name.view()), spec.shape, detail::slice(parameters, spec)});
  for (const auto& slot : slots)
    for (const auto& spec : specs)
      expected.push_back({optimizer_tensor_name(slot.name, spec.name.view()), spec.shape, detail::slice(slot.values, spec)});

  if (const auto lines = detail::differences(file, expected, expect.parameters_only); !lines.empty()) {
    std::string message = "the checkpoint does not match the model (" + std::to_string(lines.size()) + " differences):";
    constexpr std::size_t shown = 20;
    for (std::size_t i = 0; i < std::min(lines.size(), shown); ++i) message += "\n  " + lines[i];
    if (lines.size() > shown) message += "\n  ... and " + std::to_string(lines.size() - shown) + " more";
    detail::fail_in(path, message);
  }

  for (const auto& e : expected) {
    const auto bytes = file.bytes(*file.find(e.name));
    std::memcpy(e.target.data(), bytes.data(), bytes.size());
  }
  return info;
}

// Anything that lists its parameters at compile time and owns a flat
// parameter buffer: nn::Model, DataParallel's replica, ...
template <class M>
concept HasParameterBuffer = requires(M& m, const M& cm) {
  {std::span<const nn::ParamSpec>(M::parameters)};
  { m.parameter_buffer() } -> std::convertible_to<std::span<float>>;
  { cm.parameter_buffer() } -> std::convertible_to<std::span<const float>>;
};

template <HasParameterBuffer M>
void save_checkpoint(const std::filesystem::path& path, const M& model, std::span<const StateSlot> slots,
                     const CheckpointInfo& info) {
  save_checkpoint(path, std::span<const nn::ParamSpec>(M::parameters), model.parameter_buffer(), slots, info);
}

template <HasParameterBuffer M>
CheckpointInfo load_checkpoint(const std::filesystem::path& path, M& model, std::span<const StateSlot> slots = {},
                               const CheckpointExpectation& expect = {}) {
  return load_checkpoint(path, std::span<const nn::ParamSpec>(M::parameters), model.parameter_buffer(), slots, expect);
}

}  // namespace graft::io
