// Writing ONNX models: a small graph builder over the protobuf wire format.
//
// A trained graft model leaves graft as an ONNX file that onnxruntime,
// TensorRT or a compositing package's ML node can run. ONNX files are
// protobuf messages (onnx.proto: ModelProto > GraphProto > NodeProto,
// TensorProto, ValueInfoProto); graft encodes the handful of fields a
// feed-forward graph needs directly, rather than depend on protobuf.
// Operators are those of opset 13; weights are float32 initializers.
#pragma once

#include <bit>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "graft/core/shape.hpp"
#include "graft/io/atomic_file.hpp"
#include "graft/io/protobuf.hpp"

namespace graft::io {

// One attribute of a node: an int, a float, a string or a list of ints.
struct OnnxAttribute {
  std::string name;
  enum class Kind { integer, real, text, integers } kind;
  std::int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<std::int64_t> ints;

  static OnnxAttribute of(std::string n, std::int64_t v) { return {std::move(n), Kind::integer, v, 0, {}, {}}; }
  static OnnxAttribute of(std::string n, float v) { return {std::move(n), Kind::real, 0, v, {}, {}}; }
  static OnnxAttribute of(std::string n, std::string v) { return {std::move(n), Kind::text, 0, 0, std::move(v), {}}; }
  static OnnxAttribute of(std::string n, std::vector<std::int64_t> v) {
    return {std::move(n), Kind::integers, 0, 0, {}, std::move(v)};
  }

  std::string encode() const {
    std::string a;
    protobuf::bytes(a, 1, name);
    switch (kind) {
      case Kind::real:
        protobuf::float32(a, 2, f);
        protobuf::integer(a, 20, 1);  // AttributeProto.FLOAT
        break;
      case Kind::integer:
        protobuf::integer(a, 3, i);
        protobuf::integer(a, 20, 2);  // INT
        break;
      case Kind::text:
        protobuf::bytes(a, 4, s);
        protobuf::integer(a, 20, 3);  // STRING
        break;
      case Kind::integers:
        for (std::int64_t v : ints) protobuf::integer(a, 8, v);
        protobuf::integer(a, 20, 7);  // INTS
        break;
    }
    return a;
  }
};

class OnnxGraph {
 public:
  explicit OnnxGraph(std::string name) : name_(std::move(name)) {}

  // A fresh tensor name, "<stem>_<n>".
  std::string name(std::string_view stem) { return std::string(stem) + "_" + std::to_string(counter_++); }

  // A float32 initializer holding `values`, shaped `dims`; returns its name.
  std::string weights(std::string_view stem, std::vector<std::int64_t> dims, std::span<const float> values) {
    std::string t, n = name(stem);
    for (std::int64_t d : dims) protobuf::integer(t, 1, d);
    protobuf::integer(t, 2, 1);  // FLOAT
    protobuf::bytes(t, 8, n);
    protobuf::bytes(t, 9, std::string_view(reinterpret_cast<const char*>(values.data()), values.size_bytes()));
    protobuf::bytes(graph_, 5, t);
    return n;
  }

  // An int64 initializer (shapes, split sizes).
  std::string int64s(std::string_view stem, const std::vector<std::int64_t>& values) {
    std::string t, n = name(stem);
    protobuf::integer(t, 1, std::int64_t(values.size()));
    protobuf::integer(t, 2, 7);  // INT64
    protobuf::bytes(t, 8, n);
    protobuf::bytes(t, 9, std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int64_t)));
    protobuf::bytes(graph_, 5, t);
    return n;
  }

  // Adds a node; returns the names of its outputs (`outputs` fresh ones when none are given).
  std::vector<std::string> node(std::string_view op, const std::vector<std::string>& inputs,
                                const std::vector<OnnxAttribute>& attributes = {}, int outputs = 1,
                                std::vector<std::string> output_names = {}) {
    if (output_names.empty())
      for (int i = 0; i < outputs; ++i) output_names.push_back(name(op));
    std::string n;
    for (const auto& i : inputs) protobuf::bytes(n, 1, i);
    for (const auto& o : output_names) protobuf::bytes(n, 2, o);
    protobuf::bytes(n, 3, name(std::string(op) + "_node"));
    protobuf::bytes(n, 4, op);
    for (const auto& a : attributes) protobuf::bytes(n, 5, a.encode());
    protobuf::bytes(graph_, 1, n);
    return output_names;
  }
  std::string op(std::string_view op, const std::vector<std::string>& inputs, const std::vector<OnnxAttribute>& attributes = {}) {
    return node(op, inputs, attributes).front();
  }

  // Declares a float32 graph input or output of shape (batch, per_sample...), the batch dimension symbolic.
  void input(const std::string& n, const Shape& per_sample) { value_info(11, n, per_sample); }
  void output(const std::string& n, const Shape& per_sample) { value_info(12, n, per_sample); }

  // The whole ModelProto, written atomically.
  void save(const std::filesystem::path& path) const {
    std::string model, graph = graph_, opset;
    protobuf::bytes(graph, 2, name_);
    graph += declared_;
    protobuf::integer(model, 1, 8);  // ir_version 8 (ONNX 1.10+)
    protobuf::bytes(model, 2, "graft");
    protobuf::bytes(opset, 1, "");
    protobuf::integer(opset, 2, 13);
    protobuf::bytes(model, 8, opset);
    protobuf::bytes(model, 7, graph);
    write_file_atomically(path, std::as_bytes(std::span(model.data(), model.size())));
  }

 private:
  void value_info(int field, const std::string& n, const Shape& per_sample) {
    std::string shape, dim;
    protobuf::bytes(dim, 2, "batch");
    protobuf::bytes(shape, 1, dim);
    for (int i = 0; i < per_sample.rank; ++i) {
      std::string d;
      protobuf::integer(d, 1, per_sample[i]);
      protobuf::bytes(shape, 1, d);
    }
    std::string tensor_type, type, info;
    protobuf::integer(tensor_type, 1, 1);  // FLOAT
    protobuf::bytes(tensor_type, 2, shape);
    protobuf::bytes(type, 1, tensor_type);
    protobuf::bytes(info, 1, n);
    protobuf::bytes(info, 2, type);
    protobuf::bytes(declared_, field, info);
  }

  std::string name_, graph_, declared_;
  int counter_ = 0;
};

}  // namespace graft::io
