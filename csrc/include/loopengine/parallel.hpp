// Helpers shared by built-in and user kernels: a deterministic per-item RNG and a
// thread pool over batch rows. Determinism comes from seeding each row from
// (seed, row index), never from which thread ran it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace loopengine {

// splitmix64: tiny, fast, good enough for local-search randomness.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : s(seed * 0x9E3779B97F4A7C15ULL + (stream + 1) * 0xBF58476D1CE4E5B9ULL) {
    next();
    next();
  }
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // uniform integer in [0, n)
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

// Run fn(row) for row in [0, rows) on up to `threads` threads (0 = hardware).
template <class Fn>
void parallel_rows(int64_t rows, int threads, Fn fn) {
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(rows, 1)));
  if (threads <= 1) {
    for (int64_t r = 0; r < rows; ++r) fn(r);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([=, &fn] {
      for (int64_t r = t; r < rows; r += threads) fn(r);
    });
  }
  for (auto &th : pool) th.join();
}

}  // namespace loopengine
