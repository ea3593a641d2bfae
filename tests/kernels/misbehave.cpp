// A kernel that misbehaves on request, for the isolation tests (graphs as uint8 rows):
// mode 0 leaves the rows as they are, 1 segfaults, 2 never returns.
#include <loopengine/kernel.hpp>

#include <chrono>
#include <csignal>
#include <thread>

void misbehave(loopengine::Batch<uint8_t> &batch) {
  const int64_t mode = batch.integer("mode");
  if (mode == 1) std::raise(SIGSEGV);
  while (mode == 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

LOOPENGINE_KERNEL(misbehave, {"mode", 0, 0})
