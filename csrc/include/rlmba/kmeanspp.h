// k-means++ D^2 sampling, the one rule of kmeans_plusplus, BADGE and BMMAL on every backend (C++
// and CUDA; the spec is src/rlmba/reference/kmeanspp.py). w_i = squared distance of row i to its
// nearest pick (0 at picks). The float64 prefix sums of w run over fixed blocks of kBlock rows:
// sequential inside a block, then the block sums in block order, the prefix of row i being the sum
// of the earlier blocks plus its block's running sum up to i. So no pick depends on the thread
// count or on which thread summed which block.
#pragma once
#include <cstdint>

#include "rlmba/config.h"

namespace rlmba {
namespace kmeanspp {

constexpr int64_t kBlock = 2048;

// Serial scan of one block for the first i with offset + (w_0 + ... + w_i) > target; -1 if none.
template <class W>
RLMBA_HD inline int64_t pick_in_block(const W* w, int64_t len, double offset, double target) {
  double q = 0.0;
  for (int64_t i = 0; i < len; ++i) {
    q += static_cast<double>(w[i]);
    if (offset + q > target) return i;
  }
  return -1;
}

// One D^2 step: the row holding u * total, from the block sums of w (nb = ceil(n / kBlock)).
// total == 0 (only duplicates of picks left): the lowest unpicked row. Rounding that leaves the
// target past every prefix: the last row with w > 0. Returns -1 only for an inconsistent state.
template <class W>
RLMBA_HD inline int64_t d2_pick(const W* w, const double* block_sum, int64_t n, double u, const uint8_t* picked) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  double total = 0.0;
  for (int64_t k = 0; k < nb; ++k) total += block_sum[k];
  if (!(total > 0.0)) {
    for (int64_t i = 0; i < n; ++i)
      if (!picked[i]) return i;
    return -1;
  }
  const double target = u * total;
  double offset = 0.0;
  for (int64_t k = 0; k < nb; ++k) {
    if (offset + block_sum[k] > target) {
      const int64_t i0 = k * kBlock, len = (n - i0 < kBlock ? n - i0 : kBlock);
      const int64_t j = pick_in_block(w + i0, len, offset, target);
      if (j >= 0) return i0 + j;
    }
    offset += block_sum[k];
  }
  for (int64_t i = n - 1; i >= 0; --i)
    if (w[i] > 0) return i;
  return -1;
}

}  // namespace kmeanspp
}  // namespace rlmba
