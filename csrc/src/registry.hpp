// Each kernel family registers its pybind11 bindings from its own translation unit,
// so adding a family is adding one .cpp file: no central list to edit.
#pragma once
#include <functional>
#include <vector>
#include <pybind11/pybind11.h>

namespace loopengine {

using Binder = std::function<void(pybind11::module_ &)>;

inline std::vector<Binder> &binders() {
  static std::vector<Binder> all;
  return all;
}

struct RegisterBindings {
  explicit RegisterBindings(Binder b) { binders().push_back(std::move(b)); }
};

}  // namespace loopengine
