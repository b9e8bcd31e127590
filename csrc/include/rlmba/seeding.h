// Per-element math of k-means++ seeding on factored gradient embeddings (BADGE, BMMAL), shared by
// the C++ (csrc/cpu/seeding.cpp) and CUDA (csrc/cuda/seeding.cu) backends. The contract these
// functions implement is in src/rlmba/ops/seeding.py; the spec is src/rlmba/reference/seeding.py.
//
// g_i = concat_m s_im q_i (x) h_im with q_i = p_i - onehot(y_i), y_i = argmax p_i. Never built:
//   a_i = |g_i|^2 = (q_i.q_i) sum_m s_im^2 (h_im.h_im)
//   d(i, c) = |g_i - g_c|^2 = a_i + a_c - 2 (q_i.q_c) sum_m s_im s_cm (h_im.h_cm)
// All in float64 whatever the input dtype.
#pragma once
#include <cstdint>

#include "rlmba/config.h"
#include "rlmba/kmeanspp.h"

namespace rlmba {
namespace seeding {

// d(i, c) <= kDuplicateRtol * (a_i + a_c) counts as a duplicate: distance exactly 0. The factored
// formula's cancellation error is ~1e-14 (a_i + a_c) in float64, so this also clamps its negatives.
constexpr double kDuplicateRtol = 1e-10;
// Prefix sums of D run over the fixed blocks of rlmba/kmeanspp.h.
using kmeanspp::kBlock;
using kmeanspp::pick_in_block;

// Predicted class: the first maximum (lowest class on ties), as torch.argmax.
template <class T>
RLMBA_HD inline int64_t argmax_class(const T* p, int64_t C) {
  int64_t y = 0;
  for (int64_t k = 1; k < C; ++k)
    if (p[k] > p[y]) y = k;
  return y;
}

// One term of q_i.q_c. p - 1 is exact for p in [0.5, 1] (Sterbenz), so near-one-hot rows keep
// their small q accurately; the expanded p_i.p_c - p_i[y_c] - p_c[y_i] + [y_i = y_c] would not.
template <class T>
RLMBA_HD inline double q_term(T pi, bool is_yi, T pc, bool is_yc) {
  return (double(pi) - (is_yi ? 1.0 : 0.0)) * (double(pc) - (is_yc ? 1.0 : 0.0));
}

template <class T>
RLMBA_HD inline double q_dot(const T* pi, int64_t yi, const T* pc, int64_t yc, int64_t C) {
  double s = 0.0;
  for (int64_t k = 0; k < C; ++k) s += q_term(pi[k], k == yi, pc[k], k == yc);
  return s;
}

// x.y in float64 with 8 independent accumulators: vectorisable without -ffast-math, and a fixed
// order, so the result does not depend on threads or on where the row sits in the pool.
template <class T>
RLMBA_HD inline double dot64(const T* x, const T* y, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(x[k + j]) * double(y[k + j]);
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; k < n; ++k) s += double(x[k]) * double(y[k]);
  return s;
}

// d(i, c) from the factors; cancellation negatives and duplicates -> exactly 0.
RLMBA_HD inline double grad_dist2(double a_i, double a_c, double qdot, double hdot) {
  double d = a_i + a_c - 2.0 * qdot * hdot;
  return d > kDuplicateRtol * (a_i + a_c) ? d : 0.0;
}

}  // namespace seeding
}  // namespace rlmba
