// Local search for the no-three-in-line problem, as a loopengine user kernel.
//
// A candidate is an n x n grid of 0/1 cells, row-major (cell x*n + y), one uint8 each.
// The search is the PatternBoost recipe for "avoid a pattern, be as large as possible":
//   1. kick:   drop `kick` random points (lets a maximal elite move to a new optimum),
//   2. repair: while some three points are collinear, drop the point lying on the most
//              collinear triples (ties broken at random),
//   3. grow:   visit the empty cells in random order and add each one that lines up
//              with no two points already present.
// The result is always valid and maximal. no3_search.py is the same algorithm in Python
// (with the same random numbers), so either can be named in the task file.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <loopengine/kernel.hpp>

namespace {

struct Point {
  int x, y;
};

bool collinear(Point a, Point b, Point c) {
  return (b.x - a.x) * (c.y - a.y) == (b.y - a.y) * (c.x - a.x);
}

// Remove the point lying on the most collinear triples until none is left.
void repair(std::vector<Point> &pts, loopengine::Rng &rng) {
  for (;;) {
    const size_t k = pts.size();
    std::vector<int64_t> on(k, 0);
    for (size_t a = 0; a < k; ++a)
      for (size_t b = a + 1; b < k; ++b)
        for (size_t c = b + 1; c < k; ++c)
          if (collinear(pts[a], pts[b], pts[c])) ++on[a], ++on[b], ++on[c];
    int64_t best = 0;
    uint64_t ties = 0;
    size_t pick = 0;
    for (size_t i = 0; i < k; ++i) {
      if (on[i] > best) {
        best = on[i], pick = i, ties = 1;
      } else if (on[i] == best && best > 0 && rng.below(++ties) == 0) {
        pick = i;  // reservoir choice among the equally bad points
      }
    }
    if (best == 0) return;
    pts.erase(pts.begin() + static_cast<std::ptrdiff_t>(pick));
  }
}

bool fits(const std::vector<Point> &pts, Point p) {
  for (size_t a = 0; a < pts.size(); ++a)
    for (size_t b = a + 1; b < pts.size(); ++b)
      if (collinear(pts[a], pts[b], p)) return false;
  return true;
}

void no3_search(loopengine::Batch<uint8_t> &batch) {
  int n = 0;
  while (int64_t(n) * n < batch.width) ++n;
  if (int64_t(n) * n != batch.width)
    throw std::invalid_argument("row width " + std::to_string(batch.width) + " is not n*n");
  const int64_t kick = batch.integer("kick");
  if (kick < 0) throw std::invalid_argument("kick must be >= 0 (got " + std::to_string(kick) + ")");

  batch.for_each_row([&](int64_t r, loopengine::Rng &rng) {
    uint8_t *row = batch.row(r);
    std::vector<Point> pts;
    for (int i = 0; i < n * n; ++i)
      if (row[i]) pts.push_back({i / n, i % n});
    for (int64_t t = 0; t < kick && !pts.empty(); ++t)
      pts.erase(pts.begin() + static_cast<std::ptrdiff_t>(rng.below(pts.size())));
    repair(pts, rng);

    std::vector<uint8_t> taken(n * n, 0);
    for (auto p : pts) taken[p.x * n + p.y] = 1;
    std::vector<int> empty;
    for (int i = 0; i < n * n; ++i)
      if (!taken[i]) empty.push_back(i);
    for (size_t i = empty.size(); i > 1; --i) std::swap(empty[i - 1], empty[rng.below(i)]);
    for (int cell : empty) {
      Point p{cell / n, cell % n};
      if (fits(pts, p)) pts.push_back(p);
    }

    for (int i = 0; i < n * n; ++i) row[i] = 0;
    for (auto p : pts) row[p.x * n + p.y] = 1;
    batch.scores[r] = static_cast<double>(pts.size());
  });
}

}  // namespace

LOOPENGINE_KERNEL(no3_search, {"kick", 0})
