// Local search for graphs with no 4-cycle (PatternBoost's flagship problem).
//
// A graph on n <= 128 vertices is one row of its upper-triangle edge indicator
// (pairs (0,1), (0,2), ..., (n-2,n-1)). Inside, adjacency is W 64-bit words per vertex
// (W = 1 up to n = 64, W = 2 up to n = 128), so "common neighbours of a and b" is W ANDs
// and popcounts. The search body is a template on W; n <= 64 keeps the one-word code.
//
// Stage 1 is the search of the PatternBoost paper: repair (delete the edge lying on the
// most 4-cycles until none remain), then greedy growth (add non-edges in random order
// when they close no 4-cycle). One pass of growth is already maximal: an edge rejected
// once stays rejected because paths only grow as edges are added.
//
// Stage 2 (rounds > 0) is an iterated local search on that maximal graph. A round removes
// `round_kick` random edges and regrows, rechecking only the pairs the removal can have
// freed (see freed_pairs), not every non-edge. Results of equal size are accepted (maximal
// C4-free graphs of one size form wide plateaus); `tabu` forbids re-adding a removed edge
// for that many rounds, so a one-edge kick cannot simply undo itself and every accepted
// round is a real swap ("remove one edge, add one") or a gain ("remove one, add two");
// `accept_worse` = p accepts a round that lost d edges with probability p^d (annealing at
// a fixed temperature). The best graph seen is returned, grown to maximal.
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "loopengine/kernel.hpp"
#include "loopengine/parallel.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace {

constexpr int kMaxVertices = 128;

// The hot helpers are forced inline into search_row, which is compiled twice (with and
// without the POPCNT instruction, picked at load time): the default x86-64 target has no
// POPCNT, and with a software popcount the kernel ran about 1.5x slower.
#if defined(__GNUC__)
#define C4_HOT [[gnu::always_inline]] inline
#else
#define C4_HOT inline
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define C4_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define C4_CLONES
#endif

// One vertex's neighbourhood (or any vertex set) as W words.
template <int W>
struct Row {
  std::array<uint64_t, W> w{};

  C4_HOT bool test(int i) const { return (w[i >> 6] >> (i & 63)) & 1ULL; }
  C4_HOT void set(int i) { w[i >> 6] |= 1ULL << (i & 63); }
  C4_HOT void reset(int i) { w[i >> 6] &= ~(1ULL << (i & 63)); }
  C4_HOT Row operator&(const Row &o) const {
    Row r;
    for (int k = 0; k < W; ++k) r.w[k] = w[k] & o.w[k];
    return r;
  }
  C4_HOT Row &operator|=(const Row &o) {
    for (int k = 0; k < W; ++k) w[k] |= o.w[k];
    return *this;
  }
  C4_HOT bool any() const {
    uint64_t x = 0;
    for (int k = 0; k < W; ++k) x |= w[k];
    return x != 0;
  }
  C4_HOT bool intersects(const Row &o) const {
    for (int k = 0; k < W; ++k)
      if (w[k] & o.w[k]) return true;
    return false;
  }
  C4_HOT int count() const {
    int c = 0;
    for (int k = 0; k < W; ++k) c += __builtin_popcountll(w[k]);
    return c;
  }
  // Bits only above position i (used to visit each pair u < v once).
  C4_HOT Row above(int i) const {
    Row r = *this;
    for (int k = 0; k < W; ++k) {
      const int lo = k * 64;
      if (i + 1 >= lo + 64) r.w[k] = 0;
      else if (i + 1 > lo) r.w[k] &= ~((1ULL << (i + 1 - lo)) - 1);
    }
    return r;
  }
};

// fn(i) for every set bit i of `r`, in increasing order.
template <int W, class Fn>
C4_HOT void each_bit(const Row<W> &r, Fn fn) {
  for (int k = 0; k < W; ++k) {
    uint64_t x = r.w[k];
    while (x) {
      fn(k * 64 + __builtin_ctzll(x));
      x &= x - 1;
    }
  }
}

template <int W>
using Adj = std::vector<Row<W>>;

template <int W>
C4_HOT void unpack(const uint8_t *row, int n, Adj<W> &adj) {
  adj.assign(n, Row<W>{});
  int64_t k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j, ++k)
      if (row[k]) adj[i].set(j), adj[j].set(i);
}

template <int W>
C4_HOT void pack(const Adj<W> &adj, int n, uint8_t *row) {
  int64_t k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j, ++k) row[k] = adj[i].test(j);
}

template <int W>
C4_HOT void add_edge(Adj<W> &adj, int u, int v) {
  adj[u].set(v);
  adj[v].set(u);
}

template <int W>
C4_HOT void remove_edge(Adj<W> &adj, int u, int v) {
  adj[u].reset(v);
  adj[v].reset(u);
}

// Number of 4-cycles through edge uv: sum over x in N(v)\{u} of |N(x) & N(u)| - 1
// (v itself is always a common neighbour of x and u, hence the -1).
template <int W>
C4_HOT int64_t cycles_through(const Adj<W> &adj, int u, int v) {
  int64_t total = 0;
  Row<W> xs = adj[v];
  xs.reset(u);
  each_bit(xs, [&](int x) { total += (adj[x] & adj[u]).count() - 1; });
  return total;
}

template <int W>
C4_HOT void repair(Adj<W> &adj, int n, loopengine::Rng &rng) {
  // Each edge's 4-cycle count is computed once, then kept exact by subtracting, on every
  // deletion, the cycles through the deleted edge: the scan below only reads numbers, and
  // picks the same edge (same order, same ties) as recounting every time would.
  std::vector<int32_t> cyc(size_t(n) * n, 0);
  auto at = [&](int a, int b) -> int32_t & { return a < b ? cyc[a * n + b] : cyc[b * n + a]; };
  for (int u = 0; u < n; ++u)
    each_bit(adj[u].above(u), [&](int v) { at(u, v) = static_cast<int32_t>(cycles_through(adj, u, v)); });
  // A 4-cycle exists iff some edge lies on one, so the scan doubles as the stopping test.
  for (;;) {
    int64_t best = 0, ties = 0;
    int bu = -1, bv = -1;
    for (int u = 0; u < n; ++u) {
      each_bit(adj[u].above(u), [&](int v) {
        int64_t c = cyc[u * n + v];
        if (c > best) {
          best = c, bu = u, bv = v, ties = 1;
        } else if (c == best && c > 0 && rng.below(++ties) == 0) {
          bu = u, bv = v;  // reservoir choice among equally bad edges
        }
      });
    }
    if (best == 0) return;
    // every 4-cycle bu-bv-x-y-bu dies with the edge: its other three edges lose one each
    Row<W> xs = adj[bv];
    xs.reset(bu);
    each_bit(xs, [&](int x) {
      Row<W> ys = adj[x] & adj[bu];
      ys.reset(bv);
      each_bit(ys, [&](int y) { --at(bv, x), --at(x, y), --at(y, bu); });
    });
    at(bu, bv) = 0;
    remove_edge(adj, bu, bv);
  }
}

// Adding uv closes a 4-cycle iff some a in N(u) and b in N(v) are adjacent.
template <int W>
C4_HOT bool closes_c4(const Adj<W> &adj, int u, int v) {
  const Row<W> &nv = adj[v];
  Row<W> as = adj[u];
  for (int k = 0; k < W; ++k) {
    uint64_t x = as.w[k];
    while (x) {
      if (adj[k * 64 + __builtin_ctzll(x)].intersects(nv)) return true;
      x &= x - 1;
    }
  }
  return false;
}

using Pairs = std::vector<std::pair<uint8_t, uint8_t>>;

C4_HOT void shuffle(Pairs &pairs, loopengine::Rng &rng) {
  for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng.below(i)]);
}

// Full growth: every non-edge, in random order (stage 1, and the final maximality pass).
template <int W>
C4_HOT void grow(Adj<W> &adj, int n, loopengine::Rng &rng) {
  Pairs non_edges;
  for (int u = 0; u < n; ++u)
    for (int v = u + 1; v < n; ++v)
      if (!adj[u].test(v)) non_edges.emplace_back(u, v);
  shuffle(non_edges, rng);
  for (auto [u, v] : non_edges)
    if (!closes_c4(adj, u, v)) add_edge(adj, int(u), int(v));
}

// The pairs whose addition removing edge uv (from the graph `adj`, before the removal)
// can have made possible, marked symmetrically in `freed`. A pair xy is blocked by a path
// x-a-b-y; the removal breaks that path only when uv is one of its edges:
//   uv = xa: x in {u, v} and y two steps from the other endpoint;
//   uv = ab: x in N(u) and y in N(v).
// Every other blocked pair keeps its blocking path, so it stays blocked.
template <int W>
C4_HOT void freed_pairs(const Adj<W> &adj, int u, int v, Adj<W> &freed) {
  for (int side = 0; side < 2; ++side) {
    const int a = side ? v : u, b = side ? u : v;  // the pair (a, y), y two steps from b
    Row<W> near_b = adj[b];
    near_b.reset(a);
    Row<W> two_steps;
    each_bit(near_b, [&](int c) { two_steps |= adj[c]; });
    two_steps.set(b);  // the removed edge itself
    freed[a] |= two_steps;
    each_bit(two_steps, [&](int y) { freed[y].set(a); });
  }
  Row<W> nu = adj[u], nv = adj[v];
  nu.reset(v);
  nv.reset(u);
  each_bit(nu, [&](int x) { freed[x] |= nv; });
  each_bit(nv, [&](int y) { freed[y] |= nu; });
}

template <int W>
C4_HOT int edge_count(const Adj<W> &adj, int n) {
  int total = 0;
  for (int u = 0; u < n; ++u) total += adj[u].count();
  return total / 2;
}

// Remove `kick` distinct random edges from a graph (stage-1 kick of an elite, and the
// first half of every round). Returns the removed edges.
template <int W>
C4_HOT Pairs kick_edges(Adj<W> &adj, int n, int kick, loopengine::Rng &rng) {
  Pairs edges;
  for (int u = 0; u < n; ++u) each_bit(adj[u].above(u), [&](int v) { edges.emplace_back(u, v); });
  Pairs removed;
  for (int t = 0; t < kick && !edges.empty(); ++t) {
    const size_t pick = rng.below(edges.size());
    removed.push_back(edges[pick]);
    edges[pick] = edges.back();
    edges.pop_back();
  }
  for (auto [u, v] : removed) remove_edge(adj, int(u), int(v));
  return removed;
}

struct SearchParams {
  int kick = 0, rounds = 0, round_kick = 2, tabu = 0;
  double accept_worse = 0.0;
};

// A maximal graph being walked, plus the pairs it skipped only because they were tabu
// (they are rechecked every round until added or blocked, so nothing addable is lost).
template <int W>
struct State {
  Adj<W> adj, pending;
  int size = 0;
};

template <int W>
C4_HOT void iterate(Adj<W> &adj, int n, const SearchParams &p, loopengine::Rng &rng) {
  State<W> current{adj, Adj<W>(n), edge_count(adj, n)};
  Adj<W> best = adj;
  int best_size = current.size;
  std::vector<int> tabu_until(size_t(n) * n, 0);  // round before which a pair may not be re-added
  State<W> trial;
  Adj<W> freed(n);
  Pairs candidates;
  for (int r = 1; r <= p.rounds; ++r) {
    trial.adj = current.adj;
    const Pairs removed = kick_edges(trial.adj, n, p.round_kick, rng);
    freed = current.pending;
    for (auto [u, v] : removed) {
      freed_pairs(current.adj, int(u), int(v), freed);
      if (p.tabu > 0) tabu_until[u * n + v] = r + p.tabu;
    }
    candidates.clear();
    for (int x = 0; x < n; ++x) each_bit(freed[x].above(x), [&](int y) { candidates.emplace_back(x, y); });
    shuffle(candidates, rng);
    trial.pending.assign(n, Row<W>{});
    for (auto [x, y] : candidates) {
      if (trial.adj[x].test(y) || closes_c4(trial.adj, x, y)) continue;
      if (tabu_until[x * n + y] > r) {
        trial.pending[x].set(y), trial.pending[y].set(x);
        continue;
      }
      add_edge(trial.adj, int(x), int(y));
    }
    trial.size = edge_count(trial.adj, n);
    const int loss = current.size - trial.size;
    if (loss <= 0 || (p.accept_worse > 0 && rng.uniform() < std::pow(p.accept_worse, loss))) {
      std::swap(current, trial);
      if (current.size > best_size) best = current.adj, best_size = current.size;
    }
  }
  grow(best, n, rng);  // tabu may have left the best graph one legal edge short of maximal
  adj.swap(best);
}

template <int W>
C4_HOT void search_body(const uint8_t *in, uint8_t *out, int n, uint64_t seed, int64_t row,
                        const SearchParams &p) {
  loopengine::Rng rng(seed, static_cast<uint64_t>(row));
  Adj<W> adj;
  unpack(in, n, adj);
  if (p.kick > 0) kick_edges(adj, n, p.kick, rng);
  repair(adj, n, rng);
  grow(adj, n, rng);
  if (p.rounds > 0) iterate(adj, n, p, rng);
  pack(adj, n, out);
}

C4_CLONES void search_row_1(const uint8_t *in, uint8_t *out, int n, uint64_t seed, int64_t row,
                            const SearchParams &p) {
  search_body<1>(in, out, n, seed, row, p);
}

C4_CLONES void search_row_2(const uint8_t *in, uint8_t *out, int n, uint64_t seed, int64_t row,
                            const SearchParams &p) {
  search_body<2>(in, out, n, seed, row, p);
}

void search_row(const uint8_t *in, uint8_t *out, int n, uint64_t seed, int64_t row, const SearchParams &p) {
  if (n <= 64) search_row_1(in, out, n, seed, row, p);
  else search_row_2(in, out, n, seed, row, p);
}

int vertices_for_pairs(int64_t pairs) {
  for (int n = 1; n <= kMaxVertices; ++n)
    if (int64_t(n) * (n - 1) / 2 == pairs) return n;
  throw std::invalid_argument("c4free: row width " + std::to_string(pairs) + " is not n*(n-1)/2 for any n in 1.." +
                              std::to_string(kMaxVertices));
}

void check(const SearchParams &p) {
  if (p.kick < 0 || p.rounds < 0 || p.round_kick < 0 || p.tabu < 0)
    throw std::invalid_argument("c4free: kick, rounds, round_kick and tabu must be >= 0");
  if (!(p.accept_worse >= 0.0 && p.accept_worse <= 1.0))
    throw std::invalid_argument("c4free: accept_worse must be in [0, 1]");
}

py::array_t<uint8_t> c4_local_search(py::array_t<uint8_t, py::array::c_style | py::array::forcecast> batch,
                                     uint64_t seed, int threads, int kick, int rounds, int round_kick, int tabu,
                                     double accept_worse) {
  if (batch.ndim() != 2) throw std::invalid_argument("c4free: batch must be 2-D (graphs x pairs)");
  const int64_t rows = batch.shape(0), width = batch.shape(1);
  const int n = vertices_for_pairs(width);
  const SearchParams p{kick, rounds, round_kick, tabu, accept_worse};
  check(p);
  py::array_t<uint8_t> out({rows, width});
  const uint8_t *in = batch.data();
  uint8_t *res = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    loopengine::parallel_rows(rows, threads, [&](int64_t r) {
      search_row(in + r * width, res + r * width, n, seed, r, p);
    });
  }
  return out;
}

loopengine::RegisterBindings bind_c4([](py::module_ &m) {
  m.def("c4_local_search", &c4_local_search, py::arg("batch"), py::arg("seed"), py::arg("threads") = 0,
        py::arg("kick") = 0, py::arg("rounds") = 0, py::arg("round_kick") = 2, py::arg("tabu") = 0,
        py::arg("accept_worse") = 0.0,
        "Repair every graph to C4-free (drop the edge on most 4-cycles) then grow it to maximal.\n"
        "batch: uint8 (graphs, n*(n-1)/2) upper-triangle edge indicators, n <= 128.\n"
        "kick: random edges removed first (moves a maximal graph to a neighbouring optimum).\n"
        "rounds: then this many iterated-local-search rounds (remove round_kick random edges,\n"
        "regrow the pairs that removal freed, keep the result unless it lost edges); 0 = plain\n"
        "repair + growth. tabu: rounds during which a removed edge may not come back.\n"
        "accept_worse: p, accept a round that lost d edges with probability p^d (best kept).\n"
        "Deterministic for a given seed whatever the thread count.");
});

}  // namespace

// The same search in the public kernel form (loopengine/kernel.hpp): loopengine._core.c4free_batch.
// benchmarks/plugin_overhead.py also compiles this very file as a user kernel and times the
// two against each other, so the plugin path is measured on identical code.
namespace {

void c4free_batch(loopengine::Batch<uint8_t> &batch) {
  const int n = vertices_for_pairs(batch.width);
  const SearchParams p{int(batch.integer("kick")), int(batch.integer("rounds")), int(batch.integer("round_kick")),
                       int(batch.integer("tabu")), batch.param("accept_worse")};
  check(p);
  batch.for_each_row([&](int64_t r, loopengine::Rng &) {
    uint8_t *row = batch.row(r);
    search_row(row, row, n, batch.seed, r, p);
    int64_t edges = 0;
    for (int64_t k = 0; k < batch.width; ++k) edges += row[k];
    batch.scores[r] = double(edges);
  });
}

}  // namespace

LOOPENGINE_KERNEL(c4free_batch, {"kick", 0, 0}, {"rounds", 0, 0}, {"round_kick", 2, 0}, {"tabu", 0, 0},
                  {"accept_worse", 0, 0})
