// Trees whose independence sequence is not log-concave.
//
// A tree on n <= 128 vertices is one int32 row of its parent array in a recursive labelling:
// row[0] = -1 (vertex 0 is the root) and 0 <= row[i] < i for i >= 1. Every such row is a
// tree, and every tree has such labellings (any breadth-first order from any vertex).
//
// The independence sequence s_0..s_alpha (s_k = independent sets of size k) comes from the
// usual tree DP: for each vertex v, In_v(x) counts the independent sets of v's subtree that
// contain v, Out_v(x) those that do not; In_v = x * prod_c Out_c, Out_v = prod_c (In_c + Out_c),
// and I(T; x) = In_root + Out_root. All counts are exact unsigned 128-bit integers: a tree
// on n vertices has at most 2^(n-1) + 1 independent sets (the star), so n <= 128 fits.
//
// The score of a tree is max over 1 <= k < alpha of r_k = s_(k-1) s_(k+1) / s_k^2 - 1: at most
// 0 when the sequence is log-concave, positive exactly when it breaks at k. The products
// s_(k-1) s_(k+1) and s_k^2 are formed exactly in 256 bits (U256 below), so whether r_k > 0
// is decided without rounding; only its size is rounded to a double.
//
// The local search (trees_search) is simulated annealing on that score (or on the b-th
// largest r_k, `breaks` = b, to aim at b breaks) with two moves: a leaf move (a random leaf
// goes to a random other vertex) and a subtree regraft (cut a random edge uv, attach the part
// holding v to a random vertex of the other part, by v). Both keep a tree. The temperature
// falls geometrically from t_start to t_end over `steps` moves; `kick` random moves come first
// (to move an elite off its optimum). Each row returns the best tree it met, or with
// `stop_at_break` the first tree whose score is positive (measured at n = 30: twice the
// distinct counterexamples per second of running on to the optimum, where rows converge on a
// few favourites). Rows come back relabelled canonically (canonical_labelling): equal rows
// <=> isomorphic trees, so the model sees one spelling per tree.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "loopengine/kernel.hpp"
#include "loopengine/parallel.hpp"
#include "registry.hpp"

namespace py = pybind11;

namespace {

using u128 = unsigned __int128;
constexpr int kMaxVertices = 128;

// ---- exact 256-bit products ------------------------------------------------------------

struct U256 {
  uint64_t w[4] = {0, 0, 0, 0};  // little-endian 64-bit words
};

U256 mul(u128 a, u128 b) {
  const uint64_t a0 = uint64_t(a), a1 = uint64_t(a >> 64), b0 = uint64_t(b), b1 = uint64_t(b >> 64);
  const u128 p00 = u128(a0) * b0, p01 = u128(a0) * b1, p10 = u128(a1) * b0, p11 = u128(a1) * b1;
  U256 r;
  r.w[0] = uint64_t(p00);
  const u128 mid = (p00 >> 64) + uint64_t(p01) + uint64_t(p10);  // < 3 * 2^64: no overflow
  r.w[1] = uint64_t(mid);
  const u128 high = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + uint64_t(p11);
  r.w[2] = uint64_t(high);
  r.w[3] = uint64_t((high >> 64) + (p11 >> 64));
  return r;
}

int compare(const U256 &a, const U256 &b) {
  for (int i = 3; i >= 0; --i)
    if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
  return 0;
}

U256 minus(const U256 &a, const U256 &b) {  // a - b for a >= b
  U256 r;
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const uint64_t d = a.w[i] - b.w[i] - borrow;
    borrow = (a.w[i] < b.w[i] || (a.w[i] == b.w[i] && borrow)) ? 1 : 0;
    r.w[i] = d;
  }
  return r;
}

long double to_ld(const U256 &a) {
  long double x = 0;
  for (int i = 3; i >= 0; --i) x = std::ldexp(x, 64) + static_cast<long double>(a.w[i]);
  return x;
}

// r_k = s_(k-1) s_(k+1) / s_k^2 - 1 from the exact difference; its sign is exact.
double exact_ratio(const std::vector<u128> &s, size_t k) {
  const U256 product = mul(s[k - 1], s[k + 1]), square = mul(s[k], s[k]);
  const int c = compare(product, square);
  if (c == 0) return 0.0;
  const long double size = c > 0 ? to_ld(minus(product, square)) : to_ld(minus(square, product));
  // size >= 1 and square < 2^256, so |r_k| >= 2^-256: never rounded to zero, the sign survives
  const double r = static_cast<double>(size / to_ld(square));
  return c > 0 ? r : -r;
}

bool breaks_at(const std::vector<u128> &s, size_t k) { return compare(mul(s[k - 1], s[k + 1]), mul(s[k], s[k])) > 0; }

// The b-th largest of the values (b >= 1); -1 (the least any r_k can be) when there are fewer.
double bth_largest(std::vector<double> &values, int b) {
  if (int(values.size()) < b) return -1.0;
  std::nth_element(values.begin(), values.begin() + (b - 1), values.end(), std::greater<double>());
  return values[b - 1];
}

// ---- trees ---------------------------------------------------------------------------

using Adj = std::vector<std::vector<int>>;

// The row's tree, or an exception naming what is wrong with it.
Adj tree_from_row(const int32_t *row, int n) {
  if (n < 1 || n > kMaxVertices)
    throw std::invalid_argument("trees: n must be in 1.." + std::to_string(kMaxVertices) + " (got " +
                                std::to_string(n) + ")");
  if (row[0] != -1) throw std::invalid_argument("trees: row[0] must be -1 (the root has no parent)");
  Adj adj(n);
  for (int i = 1; i < n; ++i) {
    const int p = row[i];
    if (p < 0 || p >= i)
      throw std::invalid_argument("trees: row[" + std::to_string(i) + "] = " + std::to_string(p) +
                                  " is not a parent label in 0.." + std::to_string(i - 1));
    adj[i].push_back(p);
    adj[p].push_back(i);
  }
  return adj;
}

bool row_is_tree(const int32_t *row, int n) {
  if (n < 1 || n > kMaxVertices || row[0] != -1) return false;
  for (int i = 1; i < n; ++i)
    if (row[i] < 0 || row[i] >= i) return false;
  return true;
}

// The independence sequence of a tree, with buffers kept between calls (the search calls it
// once per move).
class IndependenceDP {
 public:
  // s_0..s_alpha of the tree `adj` into `seq`.
  void run(const Adj &adj, std::vector<u128> &seq) {
    const int n = int(adj.size());
    stride_ = n + 2;
    in_.assign(size_t(n) * stride_, 0);
    out_.assign(size_t(n) * stride_, 0);
    len_in_.assign(n, 0);
    len_out_.assign(n, 0);
    order_.clear();
    parent_.assign(n, -1);
    order_.push_back(0);
    for (size_t i = 0; i < order_.size(); ++i) {
      const int v = order_[i];
      for (int c : adj[v])
        if (c != parent_[v]) parent_[c] = v, order_.push_back(c);
    }
    for (int i = n - 1; i >= 0; --i) {
      const int v = order_[i];
      u128 *in = &in_[size_t(v) * stride_], *out = &out_[size_t(v) * stride_];
      in[1] = 1, len_in_[v] = 2;  // x: v alone
      out[0] = 1, len_out_[v] = 1;
      for (int c : adj[v]) {
        if (c == parent_[v]) continue;
        const u128 *cin = &in_[size_t(c) * stride_], *cout = &out_[size_t(c) * stride_];
        const int lt = std::max(len_in_[c], len_out_[c]);
        total_.assign(lt, 0);
        for (int k = 0; k < len_in_[c]; ++k) total_[k] += cin[k];
        for (int k = 0; k < len_out_[c]; ++k) total_[k] += cout[k];
        len_out_[v] = convolve(out, len_out_[v], total_.data(), lt);
        len_in_[v] = convolve(in, len_in_[v], cout, len_out_[c]);
      }
    }
    const u128 *in = &in_[0], *out = &out_[0];
    seq.assign(std::max(len_in_[0], len_out_[0]), 0);
    for (int k = 0; k < len_in_[0]; ++k) seq[k] += in[k];
    for (int k = 0; k < len_out_[0]; ++k) seq[k] += out[k];
    while (seq.size() > 1 && seq.back() == 0) seq.pop_back();
  }

 private:
  // a <- a * b in place (a has room: every product here counts independent sets of a
  // subtree, so its length never passes the subtree's size + 1 <= n + 1).
  int convolve(u128 *a, int la, const u128 *b, int lb) {
    product_.assign(la + lb - 1, 0);
    for (int i = 0; i < la; ++i) {
      if (!a[i]) continue;
      for (int j = 0; j < lb; ++j) product_[i + j] += a[i] * b[j];
    }
    int len = int(product_.size());
    while (len > 1 && product_[len - 1] == 0) --len;
    std::copy(product_.begin(), product_.begin() + len, a);
    return len;
  }

  int stride_ = 0;
  std::vector<u128> in_, out_, total_, product_;
  std::vector<int> len_in_, len_out_, order_, parent_;
};

// The first k whose r_k counts in the score: 1, or alpha - tail when only the last `tail`
// indices count (tail = 0: all of them).
size_t first_index(size_t length, int tail) {
  const size_t alpha = length - 1;
  return tail <= 0 || size_t(tail) + 1 > alpha ? 1 : alpha - size_t(tail);
}

// Every counted r_k (k = first_index..alpha-1), exactly signed.
std::vector<double> ratios(const std::vector<u128> &s, int tail) {
  std::vector<double> r;
  for (size_t k = first_index(s.size(), tail); k + 1 < s.size(); ++k) r.push_back(exact_ratio(s, k));
  return r;
}

// The same, in long double only: the search ranks moves with it (the loop rescoring every
// returned tree exactly), so its last-bit rounding never decides what counts as a break.
double fast_score(const std::vector<u128> &s, int b, int tail, std::vector<double> &scratch) {
  scratch.clear();
  for (size_t k = first_index(s.size(), tail); k + 1 < s.size(); ++k) {
    const long double a = static_cast<long double>(s[k - 1]) * static_cast<long double>(s[k + 1]);
    const long double q = static_cast<long double>(s[k]) * static_cast<long double>(s[k]);
    scratch.push_back(static_cast<double>(a / q - 1.0L));
  }
  return bth_largest(scratch, b);
}

// ---- canonical form (AHU codes from the centre) --------------------------------------

std::vector<int> centres(const Adj &adj) {
  const int n = int(adj.size());
  if (n <= 2) {
    std::vector<int> all;
    for (int v = 0; v < n; ++v) all.push_back(v);
    return all;
  }
  std::vector<int> degree(n), layer;
  for (int v = 0; v < n; ++v) {
    degree[v] = int(adj[v].size());
    if (degree[v] == 1) layer.push_back(v);
  }
  int left = n;
  while (left > 2) {
    left -= int(layer.size());
    std::vector<int> next;
    for (int v : layer)
      for (int u : adj[v])
        if (--degree[u] == 1) next.push_back(u);
    layer.swap(next);
  }
  std::sort(layer.begin(), layer.end());
  return layer;
}

// AHU code of every vertex for the tree rooted at `root`: "(" + sorted child codes + ")".
std::vector<std::string> codes_from(const Adj &adj, int root, std::vector<int> &parent, std::vector<int> &order) {
  const int n = int(adj.size());
  parent.assign(n, -1);
  order.assign(1, root);
  for (size_t i = 0; i < order.size(); ++i)
    for (int c : adj[order[i]])
      if (c != parent[order[i]]) parent[c] = order[i], order.push_back(c);
  std::vector<std::string> code(n);
  std::vector<std::string> kids;
  for (int i = n - 1; i >= 0; --i) {
    const int v = order[i];
    kids.clear();
    for (int c : adj[v])
      if (c != parent[v]) kids.push_back(code[c]);
    std::sort(kids.begin(), kids.end());
    std::string s = "(";
    for (auto &k : kids) s += k;
    code[v] = s + ")";
  }
  return code;
}

// The canonical parent array of a tree: rooted at its centre (of two centres, the one whose
// rooted code is smaller), labelled breadth-first with children in increasing code order.
// Isomorphic trees get the same array, whatever their labels.
void canonical_labelling(const Adj &adj, int32_t *out) {
  const int n = int(adj.size());
  const std::vector<int> c = centres(adj);
  std::vector<int> parent, order;
  std::vector<std::string> code = codes_from(adj, c[0], parent, order);
  int root = c[0];
  if (c.size() == 2) {
    std::vector<int> p2, o2;
    std::vector<std::string> code2 = codes_from(adj, c[1], p2, o2);
    if (code2[c[1]] < code[c[0]]) code.swap(code2), parent.swap(p2), root = c[1];
  }
  std::vector<int> label(n, -1), queue{root};
  label[root] = 0;
  out[0] = -1;
  int next = 1;
  std::vector<int> kids;
  for (size_t i = 0; i < queue.size(); ++i) {
    const int v = queue[i];
    kids.clear();
    for (int k : adj[v])
      if (label[k] < 0) kids.push_back(k);
    std::stable_sort(kids.begin(), kids.end(), [&](int a, int b) { return code[a] < code[b]; });
    for (int k : kids) {
      label[k] = next;
      out[next++] = label[v];
      queue.push_back(k);
    }
  }
}

// ---- local search ----------------------------------------------------------------------

struct SearchParams {
  int64_t steps = 5000, kick = 0;
  double t_start = 0.01, t_end = 0.001, leaf_prob = 0.5;
  int breaks = 1, tail = 1;
  bool stop_at_break = false;
};

void remove_edge(Adj &adj, int u, int v) {
  auto drop = [](std::vector<int> &list, int x) {
    for (size_t i = 0; i < list.size(); ++i)
      if (list[i] == x) {
        list[i] = list.back();
        list.pop_back();
        return;
      }
  };
  drop(adj[u], v);
  drop(adj[v], u);
}

void add_edge(Adj &adj, int u, int v) {
  adj[u].push_back(v);
  adj[v].push_back(u);
}

// One random move, done in place; the move that undoes it is (cut, keep, old) -> see undo.
struct Move {
  int moved = -1, from = -1, to = -1;  // edge moved-from became moved-to
};

Move random_move(Adj &adj, double leaf_prob, loopengine::Rng &rng, std::vector<char> &side,
                 std::vector<int> &stack) {
  const int n = int(adj.size());
  Move m;
  if (n < 3) return m;
  if (rng.uniform() < leaf_prob) {
    // leaf move: a random leaf to a random vertex other than itself and its neighbour
    int leaf;
    do leaf = int(rng.below(n));
    while (adj[leaf].size() != 1);
    const int from = adj[leaf][0];
    int to;
    do to = int(rng.below(n));
    while (to == leaf || to == from);
    remove_edge(adj, leaf, from);
    add_edge(adj, leaf, to);
    return {leaf, from, to};
  }
  // regraft: cut a random edge (v, u); v's part is reattached, by v, to the other part
  const int v = int(rng.below(n));
  const int u = adj[v][rng.below(adj[v].size())];
  side.assign(n, 0);  // 1 = v's part
  stack.assign(1, v);
  side[v] = 1;
  int size = 1;
  while (!stack.empty()) {
    const int x = stack.back();
    stack.pop_back();
    for (int y : adj[x])
      if (!side[y] && !(x == v && y == u)) side[y] = 1, ++size, stack.push_back(y);
  }
  if (n - size < 2) return m;  // the other part is u alone: nowhere new to go
  int to;
  do to = int(rng.below(n));
  while (side[to] || to == u);
  remove_edge(adj, v, u);
  add_edge(adj, v, to);
  return {v, u, to};
}

void undo(Adj &adj, const Move &m) {
  if (m.moved < 0) return;
  remove_edge(adj, m.moved, m.to);
  add_edge(adj, m.moved, m.from);
}

void check(const SearchParams &p) {
  if (p.steps < 0 || p.kick < 0) throw std::invalid_argument("trees_search: steps and kick must be >= 0");
  if (!(p.t_start > 0 && p.t_end > 0)) throw std::invalid_argument("trees_search: t_start and t_end must be > 0");
  if (!(p.leaf_prob >= 0 && p.leaf_prob <= 1)) throw std::invalid_argument("trees_search: leaf_prob must be in [0, 1]");
  if (p.breaks < 1) throw std::invalid_argument("trees_search: breaks must be >= 1");
}

// A row that is not a recursive parent array is mended first: each bad entry gets a random
// smaller label (so a model's malformed sample still starts a search).
Adj mended(int32_t *row, int n, loopengine::Rng &rng) {
  row[0] = -1;
  for (int i = 1; i < n; ++i)
    if (row[i] < 0 || row[i] >= i) row[i] = int32_t(rng.below(uint64_t(i)));
  return tree_from_row(row, n);
}

double search_row(int32_t *row, int n, const SearchParams &p, loopengine::Rng &rng) {
  Adj adj = mended(row, n, rng);
  IndependenceDP dp;
  std::vector<u128> seq;
  std::vector<double> scratch;
  std::vector<char> side;
  std::vector<int> stack;
  for (int64_t i = 0; i < p.kick; ++i) random_move(adj, p.leaf_prob, rng, side, stack);
  dp.run(adj, seq);
  double current = fast_score(seq, p.breaks, p.tail, scratch), best = current;
  Adj best_adj = adj;
  const double cooling = p.steps > 1 ? std::pow(p.t_end / p.t_start, 1.0 / double(p.steps - 1)) : 1.0;
  double t = p.t_start;
  for (int64_t step = 0; step < p.steps; ++step, t *= cooling) {
    const Move m = random_move(adj, p.leaf_prob, rng, side, stack);
    if (m.moved < 0) continue;
    dp.run(adj, seq);
    const double s = fast_score(seq, p.breaks, p.tail, scratch);
    if (s >= current || rng.uniform() < std::exp((s - current) / t)) {
      current = s;
      if (s > best) best = s, best_adj = adj;
      if (p.stop_at_break && best > 0) break;  // the first counterexample met, not the optimum
    } else {
      undo(adj, m);
    }
  }
  canonical_labelling(best_adj, row);
  return best;
}

void trees_search(loopengine::Batch<int32_t> &batch) {
  SearchParams p;
  p.steps = batch.integer("steps");
  p.kick = batch.integer("kick");
  p.t_start = batch.param("t_start");
  p.t_end = batch.param("t_end");
  p.leaf_prob = batch.param("leaf_prob");
  p.breaks = int(batch.integer("breaks"));
  p.tail = int(batch.integer("tail"));
  p.stop_at_break = batch.integer("stop_at_break") != 0;
  check(p);
  const int n = int(batch.width);
  if (n < 1 || n > kMaxVertices)
    throw std::invalid_argument("trees_search: row width (vertices) must be in 1.." + std::to_string(kMaxVertices));
  batch.for_each_row([&](int64_t r, loopengine::Rng &rng) { batch.scores[r] = search_row(batch.row(r), n, p, rng); });
}

// ---- Python helpers (scoring, exact sequences, canonical forms) ------------------------

using Rows = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

void check_rows(const Rows &rows, const char *fn) {
  if (rows.ndim() != 2) throw std::invalid_argument(std::string(fn) + ": objects must be 2-D (trees x n)");
  if (rows.shape(1) < 1 || rows.shape(1) > kMaxVertices)
    throw std::invalid_argument(std::string(fn) + ": n must be in 1.." + std::to_string(kMaxVertices));
}

// (score, break count, break mask (rows x n+1), valid) for every row; invalid rows score -2.
py::tuple trees_score(Rows objects, int breaks, int tail, int threads) {
  check_rows(objects, "trees_score");
  if (breaks < 1) throw std::invalid_argument("trees_score: breaks must be >= 1");
  const int64_t rows = objects.shape(0);
  const int n = int(objects.shape(1));
  py::array_t<double> score(rows);
  py::array_t<int32_t> count(rows);
  py::array_t<bool> mask({rows, int64_t(n + 1)});
  py::array_t<bool> valid(rows);
  const int32_t *in = objects.data();
  double *sc = score.mutable_data();
  int32_t *cnt = count.mutable_data();
  bool *mk = mask.mutable_data(), *ok = valid.mutable_data();
  std::fill(mk, mk + rows * (n + 1), false);
  {
    py::gil_scoped_release nogil;
    loopengine::parallel_rows(rows, threads, [&](int64_t r) {
      const int32_t *row = in + r * n;
      ok[r] = row_is_tree(row, n);
      cnt[r] = 0;
      if (!ok[r]) {
        sc[r] = -2.0;
        return;
      }
      IndependenceDP dp;
      std::vector<u128> seq;
      dp.run(tree_from_row(row, n), seq);
      std::vector<double> r_k = ratios(seq, tail);
      for (size_t k = 1; k + 1 < seq.size(); ++k)
        if (breaks_at(seq, k)) mk[r * (n + 1) + k] = true, ++cnt[r];
      sc[r] = bth_largest(r_k, breaks);
    });
  }
  return py::make_tuple(score, count, mask, valid);
}

// Every row's exact s_0..s_n as (rows x n+1 x 2) uint64 (low word, high word); zero past alpha.
py::array_t<uint64_t> trees_sequence(Rows objects) {
  check_rows(objects, "trees_sequence");
  const int64_t rows = objects.shape(0);
  const int n = int(objects.shape(1));
  py::array_t<uint64_t> out({rows, int64_t(n + 1), int64_t(2)});
  uint64_t *o = out.mutable_data();
  std::fill(o, o + rows * (n + 1) * 2, 0);
  IndependenceDP dp;
  std::vector<u128> seq;
  for (int64_t r = 0; r < rows; ++r) {
    dp.run(tree_from_row(objects.data() + r * n, n), seq);
    for (size_t k = 0; k < seq.size(); ++k) {
      o[(r * (n + 1) + int64_t(k)) * 2] = uint64_t(seq[k]);
      o[(r * (n + 1) + int64_t(k)) * 2 + 1] = uint64_t(seq[k] >> 64);
    }
  }
  return out;
}

py::array_t<int32_t> trees_canonical(Rows objects) {
  check_rows(objects, "trees_canonical");
  const int64_t rows = objects.shape(0);
  const int n = int(objects.shape(1));
  py::array_t<int32_t> out({rows, int64_t(n)});
  for (int64_t r = 0; r < rows; ++r)
    canonical_labelling(tree_from_row(objects.data() + r * n, n), out.mutable_data() + r * n);
  return out;
}

loopengine::RegisterBindings bind_trees([](py::module_ &m) {
  m.def("trees_score", &trees_score, py::arg("objects"), py::arg("breaks") = 1, py::arg("tail") = 1, py::arg("threads") = 0,
        "Score recursive parent arrays (int32, trees x n; row[0] = -1, 0 <= row[i] < i).\n"
        "Returns (score, break_count, break_mask (trees x n+1), valid). score = the `breaks`-th\n"
        "largest r_k = s_(k-1) s_(k+1) / s_k^2 - 1 (positive iff at least that many breaks; its sign\n"
        "is exact); invalid rows score -2.");
  m.def("trees_sequence", &trees_sequence, py::arg("objects"),
        "Exact independence sequences s_0..s_n as (trees x n+1 x 2) uint64 (low, high words).");
  m.def("trees_canonical", &trees_canonical, py::arg("objects"),
        "Canonical parent arrays: equal rows <=> isomorphic trees.");
});

}  // namespace

LOOPENGINE_KERNEL(trees_search, {"steps", 5000, 0}, {"kick", 0, 0}, {"t_start", 0.01, 0}, {"t_end", 0.001, 0},
                  {"leaf_prob", 0.5, 0}, {"breaks", 1, 1}, {"tail", 1, 0}, {"stop_at_break", 0, 0})
