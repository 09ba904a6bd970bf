// Looking up a named preset (a recipe, an interconnect) with an error that
// lists the ones there are.
#pragma once

#include <graft/core/error.hpp>
#include <string>
#include <vector>

namespace graft_bench {

// The item whose .name is `name`; otherwise fails with
// "<unknown> (<known>: a, b<hint>)", e.g. "no recipe 'x' (recipes: demo-64)".
template <class Item>
const Item& find_by_name(const std::vector<Item>& items, const std::string& name, const std::string& unknown,
                         const char* known_as, const char* hint = "") {
  std::string known;
  for (const Item& item : items) {
    if (item.name == name) return item;
    known += (known.empty() ? "" : ", ") + item.name;
  }
  graft::fail(unknown, " (", known_as, ": ", known, hint, ")");
}

}  // namespace graft_bench
