// Lyapunov functions for polynomial systems x' = f(x): the fast falsifier and local search.
//
// An object row is self-describing (see loopengine/lyapunov/polynomials.py):
//   [n, n_max, f_degree, v_degree, coef_bound, max_terms, f (n_max blocks over the f basis), V (over the V basis)]
// where the f basis is every monomial of degree 1..f_degree in n_max variables and the V basis
// every monomial of degree 2..v_degree, both in graded order (degree, then x0's exponent
// largest first, recursively). Both sides enumerate the bases, so rows carry no tables.
//
// The check samples points (given by the caller, so a Python reference can use the same
// ones) and looks for x with V(x) <= 0 or V'(x) = grad V . f > 0. Rounding makes "= 0"
// meaningless, so each value is compared with the sum of the absolute values of its terms:
// a point violates when V <= tol * |V|_terms or V' > tol * |V'|_terms. This is a falsifier:
// passing proves nothing, the SOS certificate (loopengine/lyapunov/sos.py) does.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "loopengine/parallel.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace {

constexpr int kHeader = 6;
constexpr int kMaxVars = 5;
constexpr int kMaxDegree = 16;  // f up to 15 (the BPoly benchmark), V up to 16

void compositions(int total, int parts, std::vector<int> &cur, std::vector<int> &out) {
  if (parts == 1) {
    cur.push_back(total);
    out.insert(out.end(), cur.begin(), cur.end());
    cur.pop_back();
    return;
  }
  for (int first = total; first >= 0; --first) {
    cur.push_back(first);
    compositions(total - first, parts - 1, cur, out);
    cur.pop_back();
  }
}

// Flat (M * nvars) exponent table, same order as polynomials.monomial_basis.
std::vector<int> basis(int nvars, int lo, int hi) {
  std::vector<int> out, cur;
  for (int d = lo; d <= hi; ++d) compositions(d, nvars, cur, out);
  return out;
}

struct Layout {
  int n_max, df, dv, mf, mv;
  int64_t width;
  std::vector<int> fexp, vexp;
};

Layout layout_of(const double *row, int64_t width) {
  Layout L;
  L.n_max = static_cast<int>(row[1]);
  L.df = static_cast<int>(row[2]);
  L.dv = static_cast<int>(row[3]);
  if (L.n_max < 1 || L.n_max > kMaxVars || L.df < 1 || L.df > kMaxDegree || L.dv < 2 || L.dv > kMaxDegree)
    throw std::invalid_argument("lyapunov: row header (n, n_max, f_degree, v_degree) out of range");
  L.fexp = basis(L.n_max, 1, L.df);
  L.vexp = basis(L.n_max, 2, L.dv);
  L.mf = static_cast<int>(L.fexp.size()) / L.n_max;
  L.mv = static_cast<int>(L.vexp.size()) / L.n_max;
  L.width = kHeader + int64_t(L.n_max) * L.mf + L.mv;
  if (L.width != width)
    throw std::invalid_argument("lyapunov: row width " + std::to_string(width) + " does not match its header (expected " +
                                std::to_string(L.width) + ")");
  return L;
}

struct Term {
  double c;
  int e[kMaxVars];
};

// One system and one V, in sparse form over the first n variables.
struct Instance {
  int n = 0;
  std::vector<Term> f[kMaxVars];
  std::vector<Term> v;
};

void load_terms(const double *coef, const std::vector<int> &exps, int m, int n_max, int n, std::vector<Term> &out) {
  out.clear();
  for (int k = 0; k < m; ++k) {
    if (coef[k] == 0.0) continue;
    const int *e = &exps[size_t(k) * n_max];
    bool inside = true;
    for (int i = n; i < n_max; ++i) inside &= (e[i] == 0);
    if (!inside) continue;  // a monomial in a variable the system does not have is 0 on R^n
    Term t{coef[k], {0, 0, 0, 0, 0}};
    for (int i = 0; i < n; ++i) t.e[i] = e[i];
    out.push_back(t);
  }
}

Instance load(const double *row, const Layout &L) {
  Instance I;
  I.n = static_cast<int>(row[0]);
  if (I.n < 1 || I.n > L.n_max) throw std::invalid_argument("lyapunov: row dimension n outside 1..n_max");
  for (int j = 0; j < I.n; ++j)
    load_terms(row + kHeader + int64_t(j) * L.mf, L.fexp, L.mf, L.n_max, I.n, I.f[j]);
  load_terms(row + kHeader + int64_t(L.n_max) * L.mf, L.vexp, L.mv, L.n_max, I.n, I.v);
  return I;
}

struct PointStats {
  int64_t violations = 0;
  double penalty = 0, margin_v = 1, margin_d = 1;
};

// The sample points of one batch, shared by all its rows (and by every local-search step):
// power tables x_i^k laid out point-contiguous, so a monomial's values over a block of points
// are products of whole rows of the table (vectorisable, no per-point exponent loops).
struct Points {
  int n_max = 0, kmax = 0;
  int64_t count = 0, real = 0;
  std::vector<double> pw;                   // [(i * (kmax + 1) + k) * count + p] = x_i^k at point p
  std::vector<uint8_t> active[kMaxVars + 1];  // active[n][p]: point p is not 0 in R^n

  // count is rounded up to whole chunks of 8 (padding points are 0 and never judged)
  Points(const double *x, int64_t np_, int n_max_, int kmax_)
      : n_max(n_max_), kmax(kmax_), count((np_ + 7) / 8 * 8), real(np_) {
    pw.assign(size_t(n_max) * (kmax + 1) * count, 0.0);
    for (int i = 0; i < n_max; ++i) {
      double *p0 = pw.data() + int64_t(i) * (kmax + 1) * count;
      for (int64_t p = 0; p < real; ++p) {
        double v = 1.0;
        p0[p] = v;
        for (int k = 1; k <= kmax; ++k) p0[k * count + p] = v = v * x[p * n_max + i];
      }
    }
    for (int n = 1; n <= n_max; ++n) {
      active[n].assign(count, 0);
      for (int64_t p = 0; p < real; ++p) {
        double norm = 0;
        for (int i = 0; i < n; ++i) norm += x[p * n_max + i] * x[p * n_max + i];
        active[n][p] = norm != 0;
      }
    }
  }
  const double *power(int i, int k) const { return pw.data() + (int64_t(i) * (kmax + 1) + k) * count; }
};

// A monomial with its coefficient c and the sum a of the absolute values of the terms merged
// into it (a >= |c|): the tolerance scale is the sum of |terms| before cancellation.
struct Mono {
  double c, a;
  int e[kMaxVars];
};

// V and V' = sum_j dV/dx_j f_j, both expanded once per candidate. Summing a * |x^e| over V''s
// monomials gives exactly sum_j (sum |terms of dV/dx_j|)(sum |terms of f_j|), the scale the
// falsifier has always used, so only rounding differs from evaluating the factors per point.
struct Compiled {
  int n = 0;
  std::vector<Mono> v, d;
};

uint64_t exponent_key(const int *e) {
  uint64_t key = 0;
  for (int i = 0; i < kMaxVars; ++i) key = key << 8 | uint64_t(e[i]);
  return key;
}

// Reused across calls (local search recompiles V' at every step), so compiling allocates
// only while the buffers grow.
struct Compiler {
  std::vector<std::pair<uint64_t, Mono>> products;

  void operator()(const Instance &I, Compiled &C) {
    C.n = I.n;
    C.v.clear();
    C.d.clear();
    products.clear();
    for (const Term &t : I.v) {
      Mono m{t.c, std::fabs(t.c), {0, 0, 0, 0, 0}};
      std::copy(t.e, t.e + kMaxVars, m.e);
      C.v.push_back(m);
    }
    for (const Term &t : I.v)
      for (int j = 0; j < I.n; ++j) {
        if (t.e[j] == 0) continue;
        const double dc = t.c * t.e[j];
        for (const Term &s : I.f[j]) {
          Mono m{dc * s.c, 0, {0, 0, 0, 0, 0}};
          for (int i = 0; i < I.n; ++i) m.e[i] = t.e[i] + s.e[i] - (i == j);
          m.a = std::fabs(m.c);
          products.emplace_back(exponent_key(m.e), m);
        }
      }
    // stable: equal monomials are summed in the order they were produced (deterministic rounding)
    std::stable_sort(products.begin(), products.end(),
                     [](const auto &x, const auto &y) { return x.first < y.first; });
    for (size_t k = 0; k < products.size(); ++k) {
      if (k > 0 && products[k].first == products[k - 1].first) {
        C.d.back().c += products[k].second.c;
        C.d.back().a += products[k].second.a;
      } else {
        C.d.push_back(products[k].second);
      }
    }
  }
};

// A monomial as the power-table rows it multiplies (offsets into Points::pw), ready for the
// point loop: factors are looked up once per candidate, not once per point.
struct Factors {
  double c, a;
  int nf;
  int64_t off[kMaxVars];
};

void factors_of(const std::vector<Mono> &monos, int n, const Points &P, std::vector<Factors> &out) {
  out.clear();
  for (const Mono &m : monos) {
    Factors f{m.c, m.a, 0, {0, 0, 0, 0, 0}};
    for (int i = 0; i < n; ++i)
      if (m.e[i]) f.off[f.nf++] = P.power(i, m.e[i]) - P.pw.data();
    if (f.nf == 0) f.off[f.nf++] = P.power(0, 0) - P.pw.data();  // a constant: the row of x0^0 = 1
    out.push_back(f);
  }
}

constexpr int kChunk = 8;  // points whose sums stay in registers across all monomials

// The per-point loops are element-wise (no reduction across points), so wider vectors change
// nothing in the results; AVX2 without FMA keeps every rounding step as in the SSE2 build.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define LYAP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LYAP_VECTOR_CLONES
#endif

// sum[q] = sum_m c_m x^m and abs_sum[q] = sum_m a_m |x^m| for the kChunk points from p0
// (the table is padded, so a chunk may run past the last point).
LYAP_VECTOR_CLONES void chunk_sums(const std::vector<Factors> &monos, const double *pw, int64_t p0, double *sum,
                                   double *abs_sum) {
  double s[kChunk] = {0}, as[kChunk] = {0};
  for (const Factors &m : monos) {
    double x[kChunk];
    const double *f0 = pw + m.off[0] + p0;
    for (int q = 0; q < kChunk; ++q) x[q] = f0[q];
    for (int k = 1; k < m.nf; ++k) {
      const double *fk = pw + m.off[k] + p0;
      for (int q = 0; q < kChunk; ++q) x[q] *= fk[q];
    }
    for (int q = 0; q < kChunk; ++q) {
      s[q] += m.c * x[q];
      as[q] += m.a * std::fabs(x[q]);
    }
  }
  std::copy(s, s + kChunk, sum);
  std::copy(as, as + kChunk, abs_sum);
}

struct Evaluator {
  std::vector<Factors> v, d;
};

PointStats check(const Compiled &C, const Points &P, double tol, Evaluator &E) {
  PointStats s;
  factors_of(C.v, C.n, P, E.v);
  factors_of(C.d, C.n, P, E.d);
  const uint8_t *active = P.active[C.n].data();
  const double *pw = P.pw.data();
  for (int64_t p0 = 0; p0 < P.count; p0 += kChunk) {
    double V[kChunk], aV[kChunk], D[kChunk], aD[kChunk];
    chunk_sums(E.v, pw, p0, V, aV);
    chunk_sums(E.d, pw, p0, D, aD);
    const int len = static_cast<int>(std::min<int64_t>(kChunk, P.count - p0));
    for (int p = 0; p < len; ++p) {
      if (!active[p0 + p]) continue;  // the point lies outside this system's R^n
      const double rv = aV[p] > 0 ? V[p] / aV[p] : -1.0;  // V identically 0 here counts as the worst case
      const double rd = aD[p] > 0 ? -D[p] / aD[p] : 0.0;  // V' identically 0 is allowed (V' <= 0)
      s.margin_v = std::min(s.margin_v, rv);
      s.margin_d = std::min(s.margin_d, rd);
      bool bad = false;
      if (!(V[p] > tol * aV[p])) {
        bad = true;
        s.penalty += 1.0 + std::min(1.0, std::max(0.0, -rv));
      }
      if (D[p] > tol * aD[p]) {
        bad = true;
        s.penalty += 1.0 + std::min(1.0, -rd);
      }
      s.violations += bad;
    }
  }
  return s;
}

using Batch = py::array_t<double, py::array::c_style | py::array::forcecast>;

void check_inputs(const Batch &objects, const Batch &points, Layout &L) {
  if (objects.ndim() != 2 || objects.shape(0) == 0 && objects.shape(1) < kHeader)
    throw std::invalid_argument("lyapunov: objects must be a 2-D float64 array (rows x width)");
  if (points.ndim() != 2) throw std::invalid_argument("lyapunov: points must be a 2-D float64 array (points x n_max)");
  if (objects.shape(0) == 0) return;
  L = layout_of(objects.data(), objects.shape(1));
  if (points.shape(1) != L.n_max)
    throw std::invalid_argument("lyapunov: points have " + std::to_string(points.shape(1)) + " columns, rows say n_max = " +
                                std::to_string(L.n_max));
}

py::array_t<double> lyapunov_check(Batch objects, Batch points, int threads, double tol) {
  Layout L{};
  check_inputs(objects, points, L);
  const int64_t rows = objects.shape(0), width = objects.shape(1), np_ = points.shape(0);
  py::array_t<double> out({rows, int64_t(4)});
  const double *in = objects.data(), *pts = points.data();
  double *res = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    const Points P(pts, np_, L.n_max, L.dv + L.df);
    loopengine::parallel_rows(rows, threads, [&](int64_t r) {
      Compiled C;
      Compiler compile;
      compile(load(in + r * width, L), C);
      Evaluator E;
      PointStats s = check(C, P, tol, E);
      double *o = res + r * 4;
      o[0] = double(s.violations), o[1] = s.penalty, o[2] = s.margin_v, o[3] = s.margin_d;
    });
  }
  return out;
}

// ---- local search --------------------------------------------------------------------------
// Hill climbing on V's integer coefficients against the sample: nudge a coefficient by +-1,
// take a bigger step, drop a monomial, add one (even pure powers with a positive sign are
// favoured: they are what makes V proper), or double every coefficient (finer relative
// steps). A move is kept when the score (-penalty, minus a small cost per term) does not drop.

double score_of(const PointStats &s, int terms) { return -s.penalty - 1e-3 * terms; }

void local_search_row(double *row, const Layout &L, const Points &P, int steps, double bound, int max_terms,
                      double tol, loopengine::Rng &rng) {
  Instance I = load(row, L);
  double *v = row + kHeader + int64_t(L.n_max) * L.mf;
  std::vector<int> allowed, pure_even;  // V monomials within x0..x(n-1)
  for (int k = 0; k < L.mv; ++k) {
    const int *e = &L.vexp[size_t(k) * L.n_max];
    bool inside = true;
    int nz = 0, deg = 0;
    for (int i = 0; i < L.n_max; ++i) {
      if (i >= I.n) inside &= (e[i] == 0);
      nz += e[i] > 0, deg += e[i];
    }
    if (!inside) {
      v[k] = 0;  // V may only use the system's variables
      continue;
    }
    allowed.push_back(k);
    if (nz == 1 && deg % 2 == 0) pure_even.push_back(k);
  }
  Compiled C;
  Compiler compile;
  auto rebuild = [&]() {
    load_terms(v, L.vexp, L.mv, L.n_max, I.n, I.v);
    compile(I, C);
  };
  rebuild();
  auto nterms = [&]() { return static_cast<int>(I.v.size()); };
  Evaluator E;
  PointStats cur = check(C, P, tol, E);
  double cur_score = score_of(cur, nterms());
  std::vector<double> saved(v, v + L.mv);
  for (int step = 0; step < steps && cur.violations > 0; ++step) {
    std::copy(v, v + L.mv, saved.begin());
    std::vector<int> nonzero;
    for (int k : allowed)
      if (v[k] != 0) nonzero.push_back(k);
    const double r = rng.uniform();
    const double sign = rng.below(2) ? 1.0 : -1.0;
    if (!nonzero.empty() && r < 0.35) {
      v[nonzero[rng.below(nonzero.size())]] += sign;
    } else if (!nonzero.empty() && r < 0.45) {
      v[nonzero[rng.below(nonzero.size())]] = 0;
    } else if (!nonzero.empty() && r < 0.55) {
      v[nonzero[rng.below(nonzero.size())]] += sign * double(2 + rng.below(std::max<uint64_t>(1, uint64_t(bound / 4))));
    } else if (!nonzero.empty() && r < 0.6) {
      for (int k : nonzero) v[k] *= 2;
    } else if (nterms() < max_terms) {
      if (rng.uniform() < 0.4 && !pure_even.empty())
        v[pure_even[rng.below(pure_even.size())]] += 1 + double(rng.below(2));
      else
        v[allowed[rng.below(allowed.size())]] += sign * double(1 + rng.below(2));
    } else {
      continue;
    }
    bool ok = true;
    for (int k : allowed) ok &= std::fabs(v[k]) <= bound;
    if (ok) {
      rebuild();
      ok = nterms() <= max_terms;
    }
    if (ok) {
      PointStats s = check(C, P, tol, E);
      const double sc = score_of(s, nterms());
      if (sc >= cur_score) {
        cur = s, cur_score = sc;
        continue;
      }
    }
    std::copy(saved.begin(), saved.end(), v);
    rebuild();
  }
  // V and c*V are the same answer: divide out the gcd of the (integer) coefficients.
  long long g = 0;
  for (int k : allowed)
    if (v[k] != 0) {
      if (v[k] != std::floor(v[k]) || std::fabs(v[k]) > 1e15) return;
      g = std::gcd(g, static_cast<long long>(std::fabs(v[k])));
    }
  if (g > 1)
    for (int k : allowed) v[k] /= double(g);
}

py::array_t<double> lyapunov_local_search(Batch objects, Batch points, uint64_t seed, int threads, int steps,
                                          double coef_bound, int max_terms, double tol) {
  Layout L{};
  check_inputs(objects, points, L);
  const int64_t rows = objects.shape(0), width = objects.shape(1), np_ = points.shape(0);
  py::array_t<double> out({rows, width});
  std::copy(objects.data(), objects.data() + rows * width, out.mutable_data());
  double *res = out.mutable_data();
  const double *pts = points.data();
  {
    py::gil_scoped_release nogil;
    const Points P(pts, np_, L.n_max, L.dv + L.df);
    loopengine::parallel_rows(rows, threads, [&](int64_t r) {
      loopengine::Rng rng(seed, static_cast<uint64_t>(r));
      double *row = res + r * width;
      const double bound = coef_bound > 0 ? coef_bound : row[4];
      const int terms = max_terms > 0 ? max_terms : static_cast<int>(row[5]);
      local_search_row(row, L, P, steps, bound, terms, tol, rng);
    });
  }
  return out;
}

loopengine::RegisterBindings bind_lyapunov([](py::module_ &m) {
  m.def("lyapunov_check", &lyapunov_check, py::arg("objects"), py::arg("points"), py::arg("threads") = 0,
        py::arg("tol") = 1e-9,
        "Falsify candidate Lyapunov functions on sample points.\n"
        "objects: float64 (rows, width) rows [n, n_max, f_degree, v_degree, coef_bound, max_terms, f..., V...].\n"
        "points: float64 (P, n_max); coordinates past a row's n are ignored (points that vanish on R^n skipped).\n"
        "Returns float64 (rows, 4): violating points, penalty (sum over violations of 1 + relative size),\n"
        "min V/|V|_terms, min -V'/|V'|_terms over the points.");
  m.def("lyapunov_local_search", &lyapunov_local_search, py::arg("objects"), py::arg("points"), py::arg("seed"),
        py::arg("threads") = 0, py::arg("steps") = 1000, py::arg("coef_bound") = 0.0, py::arg("max_terms") = 0,
        py::arg("tol") = 1e-9,
        "coef_bound / max_terms <= 0 mean: take them from each row's header.\n"
        "Hill-climb the V part of each row (integer coefficient moves, add/drop monomials) to remove\n"
        "sample-point violations; stops early at none. Deterministic for a given seed whatever the thread count.");
});

}  // namespace
