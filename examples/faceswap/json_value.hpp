// Reading one value of a JSON object with an error that names the file and
// the key: face metadata (required keys) and train configs (optional keys)
// share it, so a wrong type reads the same everywhere.
#pragma once

#include <graft/core/error.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace faceswap {

// j[key] as T; `where` names the file and `what` the object ("the face
// metadata") in the error when the key is missing.
template <class T>
T json_value(const nlohmann::json& j, const char* key, const std::string& where, std::string_view what = "the JSON object") {
  graft::check(j.is_object() && j.contains(key), where, ": ", what, " has no \"", key, "\"");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    graft::fail(where, ": \"", key, "\" has the wrong type (", j.at(key).type_name(), ")");
  }
}

// Overwrites `into` with j[key] when the key is there.
template <class T>
void read_json_value(const nlohmann::json& j, const char* key, T& into, const std::string& where) {
  if (j.contains(key)) into = json_value<T>(j, key, where);
}

}  // namespace faceswap
