#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace meshtrace::bench {

// How fast this VM's memory is right now. Its speed swings 2-3x between phases over minutes
// to hours (the same bench gave 88,000 and 275,000 raw RocksDB writes/s on one day), and the
// memory side swings most: a random load took ~215 ns in a slow phase. The benches print this
// before and after their runs, so that absolute figures of different runs can be compared.
struct MachinePhase {
  double load_ns = 0;    // one dependent random load over 64 MiB
  double copy_gb_s = 0;  // memcpy of 64 MiB
};

inline MachinePhase ReadMachinePhase() {
  using Clock = std::chrono::steady_clock;
  constexpr size_t kSlots = 16u << 20;  // 64 MiB of uint32_t
  auto next = std::make_unique<uint32_t[]>(kSlots);
  for (size_t i = 0; i < kSlots; ++i) next[i] = static_cast<uint32_t>(i);
  // Sattolo's shuffle: one cycle through every slot, so no load is predictable.
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (size_t i = kSlots - 1; i > 0; --i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::swap(next[i], next[state % i]);
  }
  constexpr int kLoads = 2'000'000;
  uint32_t at = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < kLoads; ++i) at = next[at];
  const auto t1 = Clock::now();

  constexpr size_t kBytes = 64u << 20;
  auto from = std::make_unique<char[]>(kBytes);
  auto to = std::make_unique<char[]>(kBytes);
  std::memset(from.get(), at & 0xff, kBytes);
  std::memset(to.get(), 1, kBytes);
  constexpr int kCopies = 4;
  const auto t2 = Clock::now();
  for (int i = 0; i < kCopies; ++i) {
    from[i] = static_cast<char>(i);
    std::memcpy(to.get(), from.get(), kBytes);
    asm volatile("" : : "r"(to.get()) : "memory");  // the copy is not optimised away
  }
  const auto t3 = Clock::now();
  MachinePhase phase;
  phase.load_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / kLoads;
  phase.copy_gb_s = kCopies * kBytes / std::chrono::duration<double>(t3 - t2).count() / 1e9;
  return phase;
}

inline void PrintMachinePhase(const char* when) {
  const MachinePhase phase = ReadMachinePhase();
  std::printf("machine phase %s: random load %.0f ns, memcpy %.1f GB/s\n", when, phase.load_ns,
              phase.copy_gb_s);
  std::fflush(stdout);
}

}  // namespace meshtrace::bench
