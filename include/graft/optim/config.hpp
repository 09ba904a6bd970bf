// Hyper-parameters as JSON: one to_json / from_json for every config.
//
// Optimizer configs and schedules are aggregates that list their fields once,
// as (key, pointer to member) pairs; the functions below serve them all, so a
// new optimizer gets its JSON round trip, its unknown-key error and its
// type checks by declaring fields(). A misspelt key is an error, not a
// silent default.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "graft/core/error.hpp"

namespace graft::optim {

// A Config lists its fields once, as (key, pointer to member) pairs in a
// static fields() function, names itself in `json_name` and checks its
// values in validate(); to_json and from_json below serve every such
// aggregate (optimizer configs and schedules).

template <class C, class T>
struct Field {
  std::string_view key;
  T C::*member;
};

template <class C>
concept JsonConfig = std::is_aggregate_v<C> && requires(const C& c) {
  { C::json_name } -> std::convertible_to<std::string_view>;
  C::fields();
  c.validate();
};

namespace detail {

// The shortest decimal that reads back as the same float, so a written
// config says 0.9 rather than 0.8999999761581421.
inline double readable(float value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  double out = 0.0;
  std::from_chars(text, end, out);
  return out;
}

inline nlohmann::json to_json_value(float v) { return readable(v); }
inline nlohmann::json to_json_value(bool v) { return v; }
inline nlohmann::json to_json_value(std::int64_t v) { return v; }
inline nlohmann::json to_json_value(std::uint64_t v) { return v; }

inline void from_json_value(const nlohmann::json& j, float& v, std::string_view where, std::string_view key) {
  check(j.is_number(), where, ": key \"", key, "\" must be a number, got ", j.type_name());
  v = j.get<float>();
  check(std::isfinite(v), where, ": key \"", key, "\" must be a finite float, got ", j.dump());
}
inline void from_json_value(const nlohmann::json& j, bool& v, std::string_view where, std::string_view key) {
  check(j.is_boolean(), where, ": key \"", key, "\" must be true or false, got ", j.type_name());
  v = j.get<bool>();
}
inline void from_json_value(const nlohmann::json& j, std::int64_t& v, std::string_view where, std::string_view key) {
  check(j.is_number_integer(), where, ": key \"", key, "\" must be an integer, got ", j.dump());
  v = j.get<std::int64_t>();
}
inline void from_json_value(const nlohmann::json& j, std::uint64_t& v, std::string_view where, std::string_view key) {
  check(j.is_number_unsigned(), where, ": key \"", key, "\" must be a non-negative integer, got ", j.dump());
  v = j.get<std::uint64_t>();
}

template <class C>
std::string known_keys() {
  std::string out;
  std::apply([&](auto... field) { ((out += (out.empty() ? "" : ", ") + std::string(field.key)), ...); }, C::fields());
  return out;
}

}  // namespace detail

template <JsonConfig C>
void to_json(nlohmann::json& j, const C& config) {
  j = nlohmann::json::object();
  std::apply([&](auto... field) { ((j[std::string(field.key)] = detail::to_json_value(config.*field.member)), ...); },
             C::fields());
}

// Keys that are absent keep their defaults; unknown keys, wrong types and
// values that validate() rejects throw.
template <JsonConfig C>
void from_json(const nlohmann::json& j, C& config) {
  const std::string_view where = C::json_name;
  check(j.is_object(), where, ": expected a JSON object, got ", j.type_name());
  for (const auto& [key, value] : j.items()) {
    auto read = [&](auto field) {
      if (field.key != key) return false;
      detail::from_json_value(value, config.*field.member, where, key);
      return true;
    };
    const bool known = std::apply([&](auto... field) { return (read(field) || ...); }, C::fields());
    check(known, where, ": unknown key \"", key, "\" (known keys: ", detail::known_keys<C>(), ")");
  }
  config.validate();
}

}  // namespace graft::optim
