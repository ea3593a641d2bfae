// Integer arithmetic kernels: seeded example generators and batch verifiers for the GCD
// and modular-arithmetic tasks ("Learning the greatest common divisor", Charton 2023;
// "Emergent properties with repeated examples", Charton & Kempe 2024).
//
// Rows are split into contiguous blocks, not strided, so two threads never write the
// same cache line of the output (a strided split made the verifiers slower than numpy).
// Generators seed one Rng per row, so a batch is identical whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "loopengine/parallel.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace {

using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
constexpr int64_t kBlock = 8192;

// Run fn(lo, hi) over [0, rows) in contiguous blocks on up to `threads` threads.
template <class Fn>
void parallel_blocks(int64_t rows, int threads, Fn fn) {
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  loopengine::parallel_rows(blocks, threads, [&](int64_t b) {
    fn(b * kBlock, std::min(rows, (b + 1) * kBlock));
  });
}

// parallel_blocks with the GIL released: the batch functions read and write only raw
// buffers inside fn, and their arrays are created and returned while the GIL is held.
template <class Fn>
void blocks_without_gil(int64_t rows, int threads, Fn fn) {
  py::gil_scoped_release nogil;
  parallel_blocks(rows, threads, fn);
}

inline uint64_t magnitude(int64_t x) { return x < 0 ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x); }

// Binary GCD in the form whose loop carries only one short dependency chain (the shift
// of the next difference is computed while min/abs are): about 2x the textbook loop.
inline uint64_t gcd_u64(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  int az = __builtin_ctzll(a);
  const int bz = __builtin_ctzll(b);
  const int shift = std::min(az, bz);
  b >>= bz;
  while (a != 0) {
    a >>= az;
    const int64_t diff = static_cast<int64_t>(b - a);
    az = __builtin_ctzll(static_cast<uint64_t>(diff) | (uint64_t(1) << 63));
    b = std::min(a, b);
    a = static_cast<uint64_t>(diff < 0 ? -diff : diff);
  }
  return b << shift;
}

// gcd of every pair in [lo, hi): load(i, a, b) reads pair i, store(i, g) writes its gcd.
// (Interleaving several pairs per loop to hide latency was measured: no faster.)
template <class Load, class Store>
void gcd_range(int64_t lo, int64_t hi, Load load, Store store) {
  for (int64_t i = lo; i < hi; ++i) {
    uint64_t a, b;
    load(i, a, b);
    store(i, gcd_u64(a, b));
  }
}

// Remainder by a fixed modulus p < 2^32 without a hardware division per element:
// q = high64(x * m) underestimates x / p by at most 2, so at most two corrections.
struct FastMod {
  uint64_t p, m;
  explicit FastMod(uint64_t p_) : p(p_), m(~uint64_t(0) / p_) {}
  uint64_t operator()(uint64_t x) const {
    const uint64_t q = static_cast<uint64_t>((static_cast<unsigned __int128>(x) * m) >> 64);
    uint64_t r = x - q * p;
    while (r >= p) r -= p;
    return r;
  }
  // Least non-negative residue of a signed value.
  uint64_t signed_residue(int64_t x) const {
    const uint64_t r = (*this)(magnitude(x));
    return (x < 0 && r) ? p - r : r;
  }
};

enum class Op { Mul, Add };

Op parse_op(const std::string &op) {
  if (op == "mul") return Op::Mul;
  if (op == "add") return Op::Add;
  throw std::invalid_argument("integer: op must be \"mul\" or \"add\" (got \"" + op + "\")");
}

void check_modulus(int64_t modulus) {
  if (modulus < 2 || modulus > (int64_t(1) << 32))
    throw std::invalid_argument("integer: modulus must be in [2, 2^32] (got " + std::to_string(modulus) + ")");
}

// Both operands reduced first, so the product of residues is below p^2 <= 2^64.
inline int64_t mod_apply(const FastMod &fm, Op op, int64_t a, int64_t b) {
  // Common case (small non-negative operands): one reduction of the exact result.
  if ((static_cast<uint64_t>(a) | static_cast<uint64_t>(b)) < (uint64_t(1) << 31))
    return static_cast<int64_t>(fm(op == Op::Mul ? static_cast<uint64_t>(a) * static_cast<uint64_t>(b)
                                                 : static_cast<uint64_t>(a) + static_cast<uint64_t>(b)));
  const uint64_t ra = fm.signed_residue(a), rb = fm.signed_residue(b);
  return static_cast<int64_t>(op == Op::Mul ? fm(ra * rb) : fm(ra + rb));
}

enum class Dist { Uniform, LogUniform };

Dist parse_dist(const std::string &name, const char *what) {
  if (name == "uniform") return Dist::Uniform;
  if (name == "loguniform") return Dist::LogUniform;
  throw std::invalid_argument(std::string("integer: ") + what + " must be \"uniform\" or \"loguniform\" (got \"" +
                              name + "\")");
}

// An integer in [lo, hi]; log-uniform means log(x - lo + 1) is uniform, so small values
// are as frequent per decade as large ones.
inline int64_t draw(loopengine::Rng &rng, int64_t lo, int64_t hi, Dist dist) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  if (dist == Dist::Uniform) return lo + static_cast<int64_t>(rng.below(span));
  const double x = std::exp(rng.uniform() * std::log(static_cast<double>(span) + 1.0));
  const uint64_t k = std::min<uint64_t>(span, std::max<uint64_t>(1, static_cast<uint64_t>(x)));
  return lo + static_cast<int64_t>(k - 1);
}

void check_range(int64_t max_operand) {
  if (max_operand < 1 || max_operand > (int64_t(1) << 62))
    throw std::invalid_argument("integer: max_operand must be in [1, 2^62] (got " + std::to_string(max_operand) + ")");
}

struct Triple {
  int64_t a, b, c;
};

// A (rows, 3) table whose row r is draw_row(rng) with rng seeded from (seed, r): the same
// table for any thread count.
template <class DrawRow>
I64Array generate_rows(int64_t rows, uint64_t seed, int threads, DrawRow draw_row) {
  if (rows < 0) throw std::invalid_argument("integer: rows must be >= 0");
  I64Array out({rows, int64_t(3)});
  int64_t *res = out.mutable_data();
  blocks_without_gil(rows, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      loopengine::Rng rng(seed, static_cast<uint64_t>(r));
      const Triple t = draw_row(rng);
      res[3 * r] = t.a;
      res[3 * r + 1] = t.b;
      res[3 * r + 2] = t.c;
    }
  });
  return out;
}

// ---- GCD ----------------------------------------------------------------------------

// Rows (a, b, gcd(a, b)) with 1 <= a, b <= max_operand.
// outcomes "natural": a and b drawn directly, so gcd k has its natural frequency ~ 1/k^2.
// outcomes "loguniform": k drawn with P(k) ~ 1/k on [1, max_gcd], then a coprime pair
// (a', b') with a', b' <= max_operand / k, giving (k a', k b').
I64Array gcd_generate(int64_t rows, uint64_t seed, int64_t max_operand, const std::string &operands,
                      const std::string &outcomes, int64_t max_gcd, int threads) {
  check_range(max_operand);
  const Dist dist = parse_dist(operands, "operands");
  if (outcomes != "natural" && outcomes != "loguniform")
    throw std::invalid_argument("integer: outcomes must be \"natural\" or \"loguniform\" (got \"" + outcomes + "\")");
  const bool natural = outcomes == "natural";
  if (!natural && (max_gcd < 1 || max_gcd > max_operand || max_gcd > 10000000))
    throw std::invalid_argument("integer: max_gcd must be in [1, min(max_operand, 1e7)] (got " +
                                std::to_string(max_gcd) + ")");
  std::vector<double> cdf;
  if (!natural) {
    cdf.resize(max_gcd);
    double total = 0;
    for (int64_t k = 1; k <= max_gcd; ++k) cdf[k - 1] = (total += 1.0 / k);
    for (auto &c : cdf) c /= total;
  }
  return generate_rows(rows, seed, threads, [&](loopengine::Rng &rng) {
    if (natural) {
      const int64_t a = draw(rng, 1, max_operand, dist), b = draw(rng, 1, max_operand, dist);
      return Triple{a, b, static_cast<int64_t>(gcd_u64(a, b))};
    }
    const double u = rng.uniform();
    int64_t g = 1 + (std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    g = std::min(g, max_gcd);
    const int64_t top = max_operand / g;
    int64_t a, b;
    do {  // coprime pairs have density 6/pi^2, so ~1.6 tries on average
      a = draw(rng, 1, top, dist);
      b = draw(rng, 1, top, dist);
    } while (gcd_u64(a, b) != 1);
    return Triple{a * g, b * g, g};
  });
}

void check_pairs(const I64Array &a, const I64Array &b, const char *what) {
  if (a.size() != b.size())
    throw std::invalid_argument(std::string("integer: ") + what + ": arrays differ in size (" +
                                std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")");
}

I64Array gcd_batch(I64Array a, I64Array b, int threads) {
  check_pairs(a, b, "gcd_batch");
  const int64_t n = a.size();
  I64Array out(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  const int64_t *pa = a.data(), *pb = b.data();
  int64_t *po = out.mutable_data();
  blocks_without_gil(n, threads, [&](int64_t lo, int64_t hi) {
    gcd_range(
        lo, hi, [&](int64_t i, uint64_t &x, uint64_t &y) { x = magnitude(pa[i]), y = magnitude(pb[i]); },
        [&](int64_t i, uint64_t g) { po[i] = static_cast<int64_t>(g); });
  });
  return out;
}

// prompts (N, >=2): columns 0 and 1 are the operands; answers: N values.
void check_verify_shapes(const I64Array &prompts, const I64Array &answers, const char *what) {
  if (prompts.ndim() != 2 || prompts.shape(1) < 2)
    throw std::invalid_argument(std::string("integer: ") + what + ": prompts must be (N, 2+) int64");
  if (answers.size() != prompts.shape(0))
    throw std::invalid_argument(std::string("integer: ") + what + ": need one answer per prompt (" +
                                std::to_string(answers.size()) + " answers, " + std::to_string(prompts.shape(0)) +
                                " prompts)");
}

py::array_t<bool> gcd_verify(I64Array prompts, I64Array answers, int threads) {
  check_verify_shapes(prompts, answers, "gcd_verify");
  const int64_t n = prompts.shape(0), w = prompts.shape(1);
  py::array_t<bool> ok(n);
  const int64_t *pp = prompts.data(), *pa = answers.data();
  bool *po = ok.mutable_data();
  blocks_without_gil(n, threads, [&](int64_t lo, int64_t hi) {
    gcd_range(
        lo, hi, [&](int64_t i, uint64_t &x, uint64_t &y) { x = magnitude(pp[i * w]), y = magnitude(pp[i * w + 1]); },
        [&](int64_t i, uint64_t g) { po[i] = pa[i] >= 0 && static_cast<uint64_t>(pa[i]) == g; });
  });
  return ok;
}

// ---- modular arithmetic -------------------------------------------------------------

// Rows (a, b, a op b mod p) with 0 <= a, b <= max_operand.
I64Array mod_generate(int64_t rows, uint64_t seed, int64_t max_operand, int64_t modulus, const std::string &op,
                      const std::string &operands, int threads) {
  check_range(max_operand);
  check_modulus(modulus);
  const Dist dist = parse_dist(operands, "operands");
  const Op o = parse_op(op);
  const FastMod fm(static_cast<uint64_t>(modulus));
  return generate_rows(rows, seed, threads, [&](loopengine::Rng &rng) {
    const int64_t a = draw(rng, 0, max_operand, dist), b = draw(rng, 0, max_operand, dist);
    return Triple{a, b, mod_apply(fm, o, a, b)};
  });
}

I64Array mod_batch(I64Array a, I64Array b, int64_t modulus, const std::string &op, int threads) {
  check_pairs(a, b, "mod_batch");
  check_modulus(modulus);
  const Op o = parse_op(op);
  const FastMod fm(static_cast<uint64_t>(modulus));
  const int64_t n = a.size();
  I64Array out(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  const int64_t *pa = a.data(), *pb = b.data();
  int64_t *po = out.mutable_data();
  blocks_without_gil(n, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = mod_apply(fm, o, pa[i], pb[i]);
  });
  return out;
}

py::array_t<bool> mod_verify(I64Array prompts, I64Array answers, int64_t modulus, const std::string &op, int threads) {
  check_verify_shapes(prompts, answers, "mod_verify");
  check_modulus(modulus);
  const Op o = parse_op(op);
  const FastMod fm(static_cast<uint64_t>(modulus));
  const int64_t n = prompts.shape(0), w = prompts.shape(1);
  py::array_t<bool> ok(n);
  const int64_t *pp = prompts.data(), *pa = answers.data();
  bool *po = ok.mutable_data();
  blocks_without_gil(n, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = pa[i] == mod_apply(fm, o, pp[i * w], pp[i * w + 1]);
  });
  return ok;
}

// ---- tokens -------------------------------------------------------------------------

// Token rows for training, written straight from (a, b, answer) rows in the layout of
// intcode.py (0 = "+", 1 = "-", 2 + d = digit d): prompts are both operands zero-padded to
// prompt_digits, answers are their shortest form, right-padded with -1 to 1 + answer_digits.
// One call per batch of rows replaces a Python loop over examples.
inline int write_number(int64_t value, int base, int width, bool fixed, int64_t *out) {
  uint64_t mag = magnitude(value);
  int64_t digits[64];
  int n = 0;
  do {
    digits[n++] = static_cast<int64_t>(mag % static_cast<uint64_t>(base));
    mag /= static_cast<uint64_t>(base);
  } while (mag != 0 && n < 64);
  if (mag != 0 || n > width) return -1;
  out[0] = value < 0 ? 1 : 0;
  int k = 1;
  if (fixed)
    for (; k <= width - n; ++k) out[k] = 2;
  for (int i = n - 1; i >= 0; --i) out[k++] = 2 + digits[i];
  return k;
}

py::tuple encode_tokens(I64Array rows, int base, int prompt_digits, int answer_digits, int64_t malformed,
                        int threads) {
  if (rows.ndim() != 2 || rows.shape(1) < 3)
    throw std::invalid_argument("integer: encode_tokens: rows must be (N, 3+) int64 of (a, b, answer)");
  if (base < 2) throw std::invalid_argument("integer: encode_tokens: base must be >= 2");
  if (prompt_digits < 1 || prompt_digits > 64 || answer_digits < 1 || answer_digits > 64)
    throw std::invalid_argument("integer: encode_tokens: digit widths must be in [1, 64]");
  const int64_t n = rows.shape(0), w = rows.shape(1);
  const int pw = 1 + prompt_digits, aw = 1 + answer_digits;
  I64Array prompts({n, int64_t(2 * pw)}), answers({n, int64_t(aw)}), lens(n);
  const int64_t *pr = rows.data();
  int64_t *pp = prompts.mutable_data(), *pa = answers.mutable_data(), *pl = lens.mutable_data();
  int64_t bad = -1;  // first row that does not fit (reported after the threads join)
  {
    py::gil_scoped_release nogil;
    std::vector<int64_t> first_bad(static_cast<size_t>((n + kBlock - 1) / kBlock), -1);
    parallel_blocks(n, threads, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t *row = pr + r * w;
        int64_t *p = pp + r * 2 * pw, *a = pa + r * aw;
        const int64_t answer = row[2] == malformed ? 0 : row[2];  // only verified rows are trained on
        const int la = write_number(answer, base, answer_digits, false, a);
        if (write_number(row[0], base, prompt_digits, true, p) < 0 ||
            write_number(row[1], base, prompt_digits, true, p + pw) < 0 || la < 0) {
          int64_t &slot = first_bad[static_cast<size_t>(lo / kBlock)];
          if (slot < 0) slot = r;
          continue;
        }
        for (int k = la; k < aw; ++k) a[k] = -1;
        pl[r] = la;
      }
    });
    for (int64_t b : first_bad)
      if (b >= 0) {
        bad = b;
        break;
      }
  }
  if (bad >= 0)
    throw std::invalid_argument("integer: encode_tokens: row " + std::to_string(bad) +
                                " has a value with more digits than its width");
  return py::make_tuple(prompts, answers, lens);
}

loopengine::RegisterBindings bind_integer([](py::module_ &m) {
  m.def("int_gcd_generate", &gcd_generate, py::arg("rows"), py::arg("seed"), py::arg("max_operand"),
        py::arg("operands") = "uniform", py::arg("outcomes") = "natural", py::arg("max_gcd") = 100,
        py::arg("threads") = 0,
        "int64 (rows, 3) of (a, b, gcd) with 1 <= a, b <= max_operand.\n"
        "operands: \"uniform\" or \"loguniform\"; outcomes: \"natural\" or \"loguniform\" (P(gcd=k) ~ 1/k,\n"
        "k <= max_gcd). Deterministic for a given seed whatever the thread count.");
  m.def("int_gcd_batch", &gcd_batch, py::arg("a"), py::arg("b"), py::arg("threads") = 0,
        "Element-wise gcd(|a|, |b|) of two int64 arrays of the same size (like np.gcd).");
  m.def("int_gcd_verify", &gcd_verify, py::arg("prompts"), py::arg("answers"), py::arg("threads") = 0,
        "bool (N,): answers[i] == gcd(prompts[i, 0], prompts[i, 1]).");
  m.def("int_mod_generate", &mod_generate, py::arg("rows"), py::arg("seed"), py::arg("max_operand"),
        py::arg("modulus"), py::arg("op") = "mul", py::arg("operands") = "uniform", py::arg("threads") = 0,
        "int64 (rows, 3) of (a, b, a op b mod modulus) with 0 <= a, b <= max_operand; op \"mul\" or \"add\".");
  m.def("int_mod_batch", &mod_batch, py::arg("a"), py::arg("b"), py::arg("modulus"), py::arg("op") = "mul",
        py::arg("threads") = 0,
        "Element-wise least non-negative residue of a*b (or a+b) mod modulus, without overflow.");
  m.def("int_mod_verify", &mod_verify, py::arg("prompts"), py::arg("answers"), py::arg("modulus"),
        py::arg("op") = "mul", py::arg("threads") = 0,
        "bool (N,): answers[i] == prompts[i, 0] op prompts[i, 1] mod modulus (least non-negative residue).");
  m.def("int_encode_tokens", &encode_tokens, py::arg("rows"), py::arg("base"), py::arg("prompt_digits"),
        py::arg("answer_digits"), py::arg("malformed"), py::arg("threads") = 0,
        "(prompts (N, 2 + 2 prompt_digits), answers (N, 1 + answer_digits) padded with -1, answer lengths (N,))\n"
        "token ids of (a, b, answer) rows: operands zero-padded, answers shortest; malformed answers encode as 0.");
});

}  // namespace
