#include "registry.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "loopengine's built-in C++ kernels: batched, GIL-free, deterministic per seed.";
  for (auto &bind : loopengine::binders()) bind(m);
}
