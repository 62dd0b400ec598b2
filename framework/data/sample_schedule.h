// Explicit per-epoch sample orders and horizontal flips for a training loader: an "order file" that fixes exactly
// which images each epoch visits, in which order, and which of them are mirrored, so that two implementations
// (this project and a PyTorch reference, or two configurations of spml-train) can be fed identical batches.
//
// File format (JSON, written by write_sample_schedule and by scripts/make_trajectory_golden.py):
//   {"format": "spml-order-1", "size": N,
//    "epochs": [{"order": [i_0, ..., i_{N-1}], "flip": [f_0, ..., f_{N-1}]}, ...]}
// Epoch e (1-based) is epochs[e - 1]. "order" is a permutation of the split's rows [0, N); "flip"[i] (0 or 1) says
// whether dataset row i (not position i) is mirrored in that epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spml::data {

struct SampleSchedule {
  int64_t size = 0;                          // N: rows of the split it was made for
  std::vector<std::vector<int64_t>> orders;  // [epochs][N] permutations of [0, N)
  std::vector<std::vector<uint8_t>> flips;   // [epochs][N] by dataset row, 0/1
  int epochs() const { return int(orders.size()); }
};

// Reads and checks an order file: the format tag, every epoch's order a permutation of [0, size), flips of length
// size with values 0/1. Errors name the file, the epoch and the offending entry.
SampleSchedule read_sample_schedule(const std::string& path);
// The same for the file's text; `name` stands in for the path in messages. Nothing is allocated beyond the sizes of
// the arrays actually present in the text.
SampleSchedule parse_sample_schedule(const std::string& text, const std::string& name);

// Checks that `schedule` fits a split of n rows and covers epochs 1..epochs; errors name `source`.
void check_sample_schedule(const SampleSchedule& schedule, int64_t n, int epochs, const std::string& source);

// The schedule a seeded loader produces (shuffle_order / flip_decision), for epochs 1..epochs: what spml-train
// runs without an order file, written out so another implementation can replay it.
SampleSchedule seeded_sample_schedule(int64_t n, int epochs, uint64_t order_seed, uint64_t flip_seed, bool shuffle,
                                      bool flip);

// Writes the JSON form atomically.
void write_sample_schedule(const std::string& path, const SampleSchedule& schedule);

}  // namespace spml::data
