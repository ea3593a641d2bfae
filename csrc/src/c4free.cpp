// Local search for graphs with no 4-cycle (PatternBoost's flagship problem).
//
// A graph on n <= 64 vertices is one row of its upper-triangle edge indicator
// (pairs (0,1), (0,2), ..., (n-2,n-1)). Inside, adjacency is one 64-bit word per vertex,
// so "common neighbours of a and b" is a single AND + popcount.
//
// The search is the one from the PatternBoost paper: repair (delete the edge lying on
// the most 4-cycles until none remain), then greedy growth (add non-edges in random
// order when they close no 4-cycle). One pass of growth is already maximal: an edge
// rejected once stays rejected because paths only grow as edges are added.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "loopengine/kernel.hpp"
#include "loopengine/parallel.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace {

using Adj = std::vector<uint64_t>;

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

C4_HOT int popcount(uint64_t x) { return __builtin_popcountll(x); }

C4_HOT void unpack(const uint8_t *row, int n, Adj &adj) {
  adj.assign(n, 0);
  int64_t k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j, ++k)
      if (row[k]) {
        adj[i] |= 1ULL << j;
        adj[j] |= 1ULL << i;
      }
}

C4_HOT void pack(const Adj &adj, int n, uint8_t *row) {
  int64_t k = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j, ++k) row[k] = (adj[i] >> j) & 1ULL;
}

// Number of 4-cycles through edge uv: sum over x in N(v)\{u} of |N(x) & N(u)| - 1
// (v itself is always a common neighbour of x and u, hence the -1).
C4_HOT int64_t cycles_through(const Adj &adj, int u, int v) {
  int64_t total = 0;
  uint64_t xs = adj[v] & ~(1ULL << u);
  while (xs) {
    int x = __builtin_ctzll(xs);
    xs &= xs - 1;
    total += popcount(adj[x] & adj[u]) - 1;
  }
  return total;
}

C4_HOT void repair(Adj &adj, int n, loopengine::Rng &rng) {
  // Each edge's 4-cycle count is computed once, then kept exact by subtracting, on every
  // deletion, the cycles through the deleted edge: the scan below only reads numbers, and
  // picks the same edge (same order, same ties) as recounting every time would.
  std::vector<int32_t> cyc(size_t(n) * n, 0);
  auto at = [&](int a, int b) -> int32_t & { return a < b ? cyc[a * n + b] : cyc[b * n + a]; };
  for (int u = 0; u < n; ++u) {
    uint64_t vs = adj[u] & ~((2ULL << u) - 1);  // v > u
    while (vs) {
      int v = __builtin_ctzll(vs);
      vs &= vs - 1;
      at(u, v) = static_cast<int32_t>(cycles_through(adj, u, v));
    }
  }
  // A 4-cycle exists iff some edge lies on one, so the scan doubles as the stopping test.
  for (;;) {
    int64_t best = 0, ties = 0;
    int bu = -1, bv = -1;
    for (int u = 0; u < n; ++u) {
      uint64_t vs = adj[u] & ~((2ULL << u) - 1);
      while (vs) {
        int v = __builtin_ctzll(vs);
        vs &= vs - 1;
        int64_t c = cyc[u * n + v];
        if (c > best) {
          best = c, bu = u, bv = v, ties = 1;
        } else if (c == best && c > 0 && rng.below(++ties) == 0) {
          bu = u, bv = v;  // reservoir choice among equally bad edges
        }
      }
    }
    if (best == 0) return;
    // every 4-cycle bu-bv-x-y-bu dies with the edge: its other three edges lose one each
    uint64_t xs = adj[bv] & ~(1ULL << bu);
    while (xs) {
      int x = __builtin_ctzll(xs);
      xs &= xs - 1;
      uint64_t ys = adj[x] & adj[bu] & ~(1ULL << bv);
      while (ys) {
        int y = __builtin_ctzll(ys);
        ys &= ys - 1;
        --at(bv, x), --at(x, y), --at(y, bu);
      }
    }
    at(bu, bv) = 0;
    adj[bu] &= ~(1ULL << bv);
    adj[bv] &= ~(1ULL << bu);
  }
}

// Adding uv closes a 4-cycle iff some a in N(u) and b in N(v) are adjacent.
C4_HOT bool closes_c4(const Adj &adj, int u, int v) {
  uint64_t as = adj[u];
  while (as) {
    int a = __builtin_ctzll(as);
    as &= as - 1;
    if (adj[a] & adj[v]) return true;
  }
  return false;
}

C4_HOT void grow(Adj &adj, int n, loopengine::Rng &rng) {
  std::vector<std::pair<uint8_t, uint8_t>> non_edges;
  for (int u = 0; u < n; ++u)
    for (int v = u + 1; v < n; ++v)
      if (!((adj[u] >> v) & 1ULL)) non_edges.emplace_back(u, v);
  for (size_t i = non_edges.size(); i > 1; --i) std::swap(non_edges[i - 1], non_edges[rng.below(i)]);
  for (auto [u, v] : non_edges) {
    if (!closes_c4(adj, u, v)) {
      adj[u] |= 1ULL << v;
      adj[v] |= 1ULL << u;
    }
  }
}

// Remove `kick` random edges: lets an already-maximal elite move to a neighbouring optimum.
C4_HOT void kick_edges(Adj &adj, int n, int kick, loopengine::Rng &rng) {
  for (int t = 0; t < kick; ++t) {
    std::vector<std::pair<uint8_t, uint8_t>> edges;
    for (int u = 0; u < n; ++u)
      for (int v = u + 1; v < n; ++v)
        if ((adj[u] >> v) & 1ULL) edges.emplace_back(u, v);
    if (edges.empty()) return;
    auto [u, v] = edges[rng.below(edges.size())];
    adj[u] &= ~(1ULL << v);
    adj[v] &= ~(1ULL << u);
  }
}

C4_HOT int edge_count(const Adj &adj, int n) {
  int total = 0;
  for (int u = 0; u < n; ++u) total += popcount(adj[u]);
  return total / 2;
}

// Iterated local search on one maximal graph: each round kicks `round_kick` random edges
// and regrows. Equal-size results are accepted too: maximal C4-free graphs of the same
// size form wide plateaus, and walking them is what reaches the rare larger optima.
C4_HOT void iterate(Adj &adj, int n, int rounds, int round_kick, loopengine::Rng &rng) {
  int current = edge_count(adj, n);
  Adj trial;
  for (int r = 0; r < rounds; ++r) {
    trial = adj;
    kick_edges(trial, n, round_kick, rng);
    grow(trial, n, rng);
    int size = edge_count(trial, n);
    if (size >= current) adj.swap(trial), current = size;
  }
}

C4_CLONES void search_row(const uint8_t *in, uint8_t *out, int n, uint64_t seed, int64_t row, int kick,
                          int rounds, int round_kick) {
  loopengine::Rng rng(seed, static_cast<uint64_t>(row));
  Adj adj;
  unpack(in, n, adj);
  if (kick > 0) kick_edges(adj, n, kick, rng);
  repair(adj, n, rng);
  grow(adj, n, rng);
  if (rounds > 0) iterate(adj, n, rounds, round_kick, rng);
  pack(adj, n, out);
}

int vertices_for_pairs(int64_t pairs) {
  for (int n = 1; n <= 64; ++n)
    if (int64_t(n) * (n - 1) / 2 == pairs) return n;
  throw std::invalid_argument("c4free: row width " + std::to_string(pairs) +
                              " is not n*(n-1)/2 for any n in 1..64");
}

py::array_t<uint8_t> c4_local_search(py::array_t<uint8_t, py::array::c_style | py::array::forcecast> batch,
                                     uint64_t seed, int threads, int kick, int rounds, int round_kick) {
  if (batch.ndim() != 2) throw std::invalid_argument("c4free: batch must be 2-D (graphs x pairs)");
  const int64_t rows = batch.shape(0), width = batch.shape(1);
  const int n = vertices_for_pairs(width);
  if (kick < 0 || rounds < 0 || round_kick < 0)
    throw std::invalid_argument("c4free: kick, rounds and round_kick must be >= 0");
  py::array_t<uint8_t> out({rows, width});
  const uint8_t *in = batch.data();
  uint8_t *res = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    loopengine::parallel_rows(rows, threads, [&](int64_t r) {
      search_row(in + r * width, res + r * width, n, seed, r, kick, rounds, round_kick);
    });
  }
  return out;
}

loopengine::RegisterBindings bind_c4([](py::module_ &m) {
  m.def("c4_local_search", &c4_local_search, py::arg("batch"), py::arg("seed"), py::arg("threads") = 0,
        py::arg("kick") = 0, py::arg("rounds") = 0, py::arg("round_kick") = 2,
        "Repair every graph to C4-free (drop the edge on most 4-cycles) then grow it to maximal.\n"
        "batch: uint8 (graphs, n*(n-1)/2) upper-triangle edge indicators, n <= 64.\n"
        "kick: random edges removed first (moves a maximal graph to a neighbouring optimum).\n"
        "rounds: then this many iterated-local-search rounds (kick round_kick random edges, regrow,\n"
        "keep the result unless it lost edges); 0 = plain repair + growth.\n"
        "Deterministic for a given seed whatever the thread count.");
});

}  // namespace

// The same search in the public kernel form (loopengine/kernel.hpp): loopengine._core.c4free_batch.
// benchmarks/plugin_overhead.py also compiles this very file as a user kernel and times the
// two against each other, so the plugin path is measured on identical code.
namespace {

void c4free_batch(loopengine::Batch<uint8_t> &batch) {
  const int n = vertices_for_pairs(batch.width);
  const int64_t kick = batch.integer("kick"), rounds = batch.integer("rounds"),
                round_kick = batch.integer("round_kick");
  if (kick < 0 || rounds < 0 || round_kick < 0)
    throw std::invalid_argument("c4free: kick, rounds and round_kick must be >= 0");
  batch.for_each_row([&](int64_t r, loopengine::Rng &) {
    uint8_t *row = batch.row(r);
    search_row(row, row, n, batch.seed, r, int(kick), int(rounds), int(round_kick));
    int64_t edges = 0;
    for (int64_t k = 0; k < batch.width; ++k) edges += row[k];
    batch.scores[r] = double(edges);
  });
}

}  // namespace

LOOPENGINE_KERNEL(c4free_batch, {"kick", 0, 0}, {"rounds", 0, 0}, {"round_kick", 2, 0})
