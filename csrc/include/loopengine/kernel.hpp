// loopengine/kernel.hpp: write a local-search kernel as ONE plain C++ function.
//
//   #include <loopengine/kernel.hpp>
//
//   void my_search(loopengine::Batch<uint8_t> &batch) {
//     const int64_t kick = batch.integer("kick");
//     batch.for_each_row([&](int64_t r, loopengine::Rng &rng) {
//       uint8_t *row = batch.row(r);      // improve this candidate in place
//       ...
//       batch.scores[r] = ...;            // optional: your own estimate of its score
//     });
//   }
//   LOOPENGINE_KERNEL(my_search, {"kick", 0, 0})   // parameters: name, default, optional minimum
//
// Name the file in a task file (`[kernel] local_search = "my_search.cpp"`) and the engine
// compiles it on first use (`loopengine kernels build my_search.cpp` does it up front).
// No pybind11 code is needed: LOOPENGINE_KERNEL writes the Python module.
//
// THE BATCH (what a kernel receives)
//   objects       rows x width candidates, row-major and contiguous, in the problem's own
//                 encoding (Pool.objects). It is the kernel's private copy: overwrite rows
//                 in place with the improved candidates; that is what the kernel returns.
//                 T is the element type, and it must equal the numpy dtype of the problem's
//                 objects exactly (uint8_t <-> uint8, int32_t <-> int32, double <-> float64...);
//                 a mismatch is reported by name before the kernel runs, never cast silently.
//   prompts       rows x prompt_width, read-only, for conditional problems (nullptr and 0
//                 otherwise). P (second template argument, default T) is its element type.
//   scores        one double per row, NaN on entry. Optional output: the kernel's own view
//                 of each result (Python callers of the compiled module get it back, and
//                 benchmarks use it). The loop does NOT rank by it: every candidate is
//                 scored and verified by the problem's `evaluate`, so a kernel bug can
//                 never make an invalid object count as valid.
//   seed          this batch's seed. Use batch.rng(r) (or the rng for_each_row hands you)
//                 for row r: seeding by row, never by thread, makes results identical for
//                 any thread count, and identical across resumes of a run.
//   threads       how many threads the engine grants (0 = all cores); for_each_row obeys it.
//   params        the task file's `[kernel] params` (or `elite_params`) table. Only names
//                 declared in LOOPENGINE_KERNEL are accepted, all as numbers; a misspelt or
//                 non-numeric parameter is an error naming the kernel, before it runs.
//                 Each declaration is {name, default} or {name, default, minimum}: with a
//                 minimum, a smaller value is refused too. The engine reads the declarations
//                 (the module's `info["params"]` and `info["minimum"]`) to check a task file's
//                 parameters before a run writes anything, naming `kernel.params.<name>`.
//
// ERRORS: throw any std::exception (std::invalid_argument for bad parameters or shapes).
// Inside for_each_row the first exception stops the remaining rows and is rethrown on the
// calling thread, so the run stops with the kernel's name and message and no generation
// is half-written.
//
// THREADS: the kernel runs without the Python GIL; it must not touch Python objects.
//
// Compiled with the system C++ compiler (C++17, -O3) and the pybind11 headers installed
// with loopengine. Builds are cached by the content of the file, of these headers, of the
// compiler, its flags and the Python ABI, and used only while every header the compiler saw
// the file include is unchanged (see loopengine/kernel_build.py).
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "loopengine/parallel.hpp"

namespace loopengine {

// Bumped when the Batch layout or the generated module's Python interface changes.
inline constexpr int kKernelAbi = 1;

// One parameter a kernel accepts: its name, its value when the task file omits it, and
// the smallest value it accepts (-infinity, i.e. none, unless given).
struct Param {
  const char *name;
  double fallback;
  double minimum = -std::numeric_limits<double>::infinity();
};

// The task file's parameters, already checked against the declared names.
class Params {
 public:
  Params() = default;
  explicit Params(std::vector<std::pair<std::string, double>> values) : values_(std::move(values)) {}

  // Value of a declared parameter. Asking for an undeclared name is a bug in the kernel.
  double get(const std::string &name) const {
    for (const auto &kv : values_)
      if (kv.first == name) return kv.second;
    throw std::logic_error("parameter '" + name + "' is not declared in LOOPENGINE_KERNEL(...)");
  }

  const std::vector<std::pair<std::string, double>> &all() const { return values_; }

 private:
  std::vector<std::pair<std::string, double>> values_;
};

template <class T, class P = T>
struct Batch {
  T *objects = nullptr;
  int64_t rows = 0;
  int64_t width = 0;
  const P *prompts = nullptr;
  int64_t prompt_width = 0;
  double *scores = nullptr;
  uint64_t seed = 0;
  int threads = 0;
  Params params;

  T *row(int64_t r) const { return objects + r * width; }
  const P *prompt(int64_t r) const { return prompts ? prompts + r * prompt_width : nullptr; }
  Rng rng(int64_t r) const { return Rng(seed, static_cast<uint64_t>(r)); }

  double param(const std::string &name) const { return params.get(name); }
  // An integer parameter; a fractional value (kick = 1.5) is an error, not a truncation.
  int64_t integer(const std::string &name) const {
    const double v = params.get(name);
    if (v != std::floor(v) || std::fabs(v) > 9.0e15)
      throw std::invalid_argument("parameter '" + name + "' must be an integer (got " + std::to_string(v) + ")");
    return static_cast<int64_t>(v);
  }

  // fn(row, rng) for every row, on up to `threads` threads, each row with its own rng.
  template <class Fn>
  void for_each_row(Fn fn) const {
    std::exception_ptr first;
    std::mutex guard;
    std::atomic<bool> failed{false};
    parallel_rows(rows, threads, [&](int64_t r) {
      if (failed.load(std::memory_order_relaxed)) return;
      try {
        Rng generator = rng(r);
        fn(r, generator);
      } catch (...) {
        // an exception escaping a std::thread would terminate Python: keep it for later
        std::lock_guard<std::mutex> lock(guard);
        if (!first) first = std::current_exception();
        failed = true;
      }
    });
    if (first) std::rethrow_exception(first);
  }
};

}  // namespace loopengine

// ---------------------------------------------------------------------------------------
// Everything below turns the function into a Python module; kernel authors can skip it.
// ---------------------------------------------------------------------------------------
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace loopengine {
namespace detail {

namespace py = pybind11;

template <class>
inline constexpr bool always_false = false;

inline std::string dtype_name(const py::dtype &d) { return py::str(d).cast<std::string>(); }

// Same element type: compared by kind and size, never by object identity (an array that
// crossed a process boundary, e.g. to a Ray worker, carries an equal but distinct dtype
// object, possibly with an explicit byte order; ensure() below makes it native).
template <class E>
bool same_element(const py::dtype &given) {
  const py::dtype want = py::dtype::of<E>();
  return given.kind() == want.kind() && given.itemsize() == want.itemsize();
}

template <class E>
py::array_t<E, py::array::c_style> checked_2d(const py::handle &arr, const char *what, const char *kernel) {
  if (!py::isinstance<py::array>(arr))
    throw py::type_error(std::string(kernel) + ": " + what + " must be a numpy array");
  auto a = py::reinterpret_borrow<py::array>(arr);
  if (!same_element<E>(a.dtype()))
    throw py::type_error(std::string(kernel) + " takes " + dtype_name(py::dtype::of<E>()) + " " + what +
                         " but was given " + dtype_name(a.dtype()) +
                         "; change the element type of its Batch<...> to match the problem's encoding");
  if (a.ndim() != 2)
    throw py::value_error(std::string(kernel) + ": " + what + " must be 2-D (rows x width), got " +
                          std::to_string(a.ndim()) + "-D");
  return py::array_t<E, py::array::c_style>::ensure(a);
}

inline Params parse_params(const py::dict &given, const std::vector<Param> &declared, const char *kernel) {
  std::vector<std::pair<std::string, double>> values;
  for (const auto &p : declared) values.emplace_back(p.name, p.fallback);
  for (auto item : given) {
    const std::string name = py::str(item.first).cast<std::string>();
    auto it = values.begin();
    while (it != values.end() && it->first != name) ++it;
    if (it == values.end()) {
      std::string known;
      for (const auto &p : declared) known += (known.empty() ? "" : ", ") + std::string(p.name);
      throw py::value_error(std::string(kernel) + ": unknown parameter '" + name + "' (it accepts: " +
                            (known.empty() ? "none" : known) + ")");
    }
    py::handle v = item.second;
    if (!(py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v) || py::isinstance<py::bool_>(v)))
      throw py::type_error(std::string(kernel) + ": parameter '" + name + "' must be a number, got " +
                           py::repr(v).cast<std::string>());
    it->second = v.cast<double>();
    const auto &decl = declared[static_cast<size_t>(it - values.begin())];
    if (it->second < decl.minimum)
      throw py::value_error(std::string(kernel) + ": parameter '" + name + "' must be >= " +
                            py::repr(py::float_(decl.minimum)).cast<std::string>() + " (got " +
                            py::repr(v).cast<std::string>() + ")");
  }
  return Params(std::move(values));
}

// Defines `run(objects, prompts, seed, threads, params) -> (objects, scores)` and `info`
// on `m`: the same interface whether `m` is a user module or a submodule of loopengine._core.
template <class T, class P>
void define(py::module_ &m, const char *name, void (*fn)(Batch<T, P> &), std::vector<Param> declared) {
  py::dict params_info, minimum_info;
  for (const auto &p : declared) {
    params_info[py::str(p.name)] = p.fallback;
    if (p.minimum > -std::numeric_limits<double>::infinity()) minimum_info[py::str(p.name)] = p.minimum;
  }
  py::dict info;
  info["function"] = name;
  info["dtype"] = py::dtype::of<T>();
  info["prompt_dtype"] = py::dtype::of<P>();
  info["params"] = params_info;
  info["minimum"] = minimum_info;
  info["abi"] = kKernelAbi;
  m.attr("info") = info;
  const std::string kernel = name;
  m.def(
      "run",
      [fn, declared, kernel](py::handle objects, py::handle prompts, uint64_t seed, int threads,
                             py::dict params) {
        const char *k = kernel.c_str();
        auto in = checked_2d<T>(objects, "objects", k);
        Batch<T, P> batch;
        batch.rows = in.shape(0);
        batch.width = in.shape(1);
        py::array_t<P, py::array::c_style> prompt_arr;
        if (!prompts.is_none()) {
          prompt_arr = checked_2d<P>(prompts, "prompts", k);
          if (prompt_arr.shape(0) != batch.rows)
            throw py::value_error(kernel + ": " + std::to_string(prompt_arr.shape(0)) + " prompts for " +
                                  std::to_string(batch.rows) + " objects");
          batch.prompts = prompt_arr.data();
          batch.prompt_width = prompt_arr.shape(1);
        }
        batch.params = parse_params(params, declared, k);
        py::array_t<T> out({batch.rows, batch.width});
        py::array_t<double> scores(batch.rows);
        if (batch.rows * batch.width > 0)
          std::memcpy(out.mutable_data(), in.data(), sizeof(T) * batch.rows * batch.width);
        double *s = scores.mutable_data();
        for (int64_t r = 0; r < batch.rows; ++r) s[r] = std::numeric_limits<double>::quiet_NaN();
        batch.objects = out.mutable_data();
        batch.scores = s;
        batch.seed = seed;
        batch.threads = threads;
        {
          py::gil_scoped_release nogil;
          fn(batch);
        }
        return py::make_tuple(out, scores);
      },
      py::arg("objects"), py::arg("prompts"), py::arg("seed"), py::arg("threads"), py::arg("params"),
      "Run the kernel on a copy of `objects`; returns (improved objects, scores).");
}

// A function of any other shape ends here, with a message instead of a template error.
template <class F>
void define(py::module_ &, const char *, F, std::vector<Param>) {
  static_assert(always_false<F>,
                "LOOPENGINE_KERNEL(fn, ...): fn must be declared `void fn(loopengine::Batch<T> &batch)` "
                "(or Batch<T, P> for prompts of another type)");
}

}  // namespace detail
}  // namespace loopengine

#if defined(LOOPENGINE_USER_MODULE)
// Compiled by loopengine.kernels.build: the file becomes its own Python module.
#define LOOPENGINE_KERNEL(fn, ...)                                                        \
  PYBIND11_MODULE(LOOPENGINE_USER_MODULE, loopengine_module_) {                           \
    loopengine::detail::define(loopengine_module_, #fn, fn,                               \
                               std::vector<loopengine::Param>{__VA_ARGS__});              \
  }
#elif __has_include("registry.hpp")
// Compiled into loopengine._core (csrc/src/*.cpp): the kernel becomes the submodule
// loopengine._core.<fn>, with the very same run/info interface as a user build.
#include "registry.hpp"
#define LOOPENGINE_KERNEL(fn, ...)                                                        \
  static loopengine::RegisterBindings loopengine_register_##fn([](pybind11::module_ &m) { \
    auto sub = m.def_submodule(#fn, "built-in kernel in the public kernel form");         \
    loopengine::detail::define(sub, #fn, fn, std::vector<loopengine::Param>{__VA_ARGS__}); \
  });
#else
#error "compile kernels with `loopengine kernels build FILE` (or name the file in a task file)"
#endif
