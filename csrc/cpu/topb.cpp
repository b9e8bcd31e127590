// Top-b selection on the CPU (radix select on order keys), bound as _C.topb_select.
//
// Threads: each thread owns a contiguous slice of the scores, and every reduction is combined in
// slice order, so the result does not depend on the thread count. Hot loops have baseline, AVX2
// and AVX-512 variants chosen per call (rlmba/cpu_runtime.h).
//
// Keys (select.h order_key) turn the selection into one on unsigned integers.
//
// 1. Filter pass. A threshold key t comes from a strided sample of the scores (rank chosen so
//    that, with high probability, between b and a few times b keys are >= t; strided samples
//    are exact quantiles on sorted input). One vectorised pass collects the keys >= t (only
//    blocks of 64 that hold one are scanned), counts NaN and finds the min and max key. If it
//    collected at least b keys and no buffer overflowed, sorting those few by (key desc,
//    index asc) is the answer: one read of the scores in all.
// 2. Overflow: more than `cap` keys are >= t. If fewer than b are > t, the b-th key is t itself
//    (ties: all-equal, few distinct values); one pass collects the keys > t and, slice by slice
//    in index order, the first keys == t.
// 3. Otherwise (an unlucky sample) a radix select: every key shares the common bit prefix of
//    min and max, so the descent starts below it; each level is one histogram pass on the next
//    11 bits of the keys under the current prefix, until the keys at or above the b-th one's
//    bucket fit in the buffer, or the full key T is reached (collect as in 2).
// Bytes: 1-2 reads of n scores (a few more in case 3), whatever the input order: sorted,
// reversed and all-equal inputs never degrade into per-element heap or sort work.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "rlmba/bindings.h"
#include "rlmba/cpu_runtime.h"
#include "rlmba/host.h"
#include "rlmba/select.h"

namespace py = pybind11;
using rlmba::select::KeyOf;

namespace rlmba {
namespace cpu {

constexpr int kDigitBits = 11;
constexpr int kBuckets = 1 << kDigitBits;
constexpr int kCopies = 2;  // interleaved histograms: runs of equal digits (sorted input) don't serialise

template <class K> using Cand = std::pair<K, int64_t>;  // (key, index)

template <class K> struct FilterOut {
  std::vector<Cand<K>> cand;
  bool overflow = false;
  int64_t nans = 0;
  K min_key = ~K(0), max_key = 0;  // over non-NaN keys
};

template <class F>
RLMBA_INLINE void topb_filter(const F* x, int64_t lo, int64_t hi, bool largest, typename KeyOf<F>::type t,
                              int64_t cap, FilterOut<typename KeyOf<F>::type>* out) {
  using K = typename KeyOf<F>::type;
  constexpr int64_t kBlock = 512, kSub = 64;
  K keys[kBlock];
  K mn = ~K(0), mx = 0;
  int64_t nans = 0;
  bool overflow = false;
  for (int64_t i0 = lo; i0 < hi; i0 += kBlock) {
    const int64_t m = std::min(kBlock, hi - i0);
    K block_nans = 0;  // key-width counters keep the loop in one vector width
#pragma omp simd reduction(min : mn) reduction(max : mx) reduction(+ : block_nans)
    for (int64_t i = 0; i < m; ++i) {
      const K k = rlmba::select::order_key(x[i0 + i], largest);
      keys[i] = k;
      block_nans += k == 0;
      mn = std::min(mn, k == 0 ? ~K(0) : k);
      mx = std::max(mx, k);
    }
    nans += block_nans;
    for (int64_t j0 = 0; j0 < m && !overflow; j0 += kSub) {  // hits are rare: test 64 keys at once
      const int64_t j1 = std::min(m, j0 + kSub);
      K hits = 0;
#pragma omp simd reduction(+ : hits)
      for (int64_t j = j0; j < j1; ++j) hits += keys[j] >= t;
      for (int64_t j = j0; hits != 0 && j < j1; ++j) {
        if (keys[j] < t) continue;
        if (static_cast<int64_t>(out->cand.size()) == cap) {
          overflow = true;
          break;
        }
        out->cand.emplace_back(keys[j], i0 + j);
      }
    }
  }
  out->overflow = overflow, out->nans = nans, out->min_key = mn, out->max_key = mx;
}
RLMBA_ISA_VARIANTS(topb_filter)

// Threshold key from a strided sample: the r-th largest sampled key, r ~ 1.1 b s / n plus three
// standard deviations (a miss costs the radix fallback, not a wrong answer). 0 (collect everything) when n is small; ~0 (collect nothing: no
// non-NaN key is all ones) when b is a large fraction of n and the radix select is the better tool.
template <class F>
typename KeyOf<F>::type topb_threshold(const F* x, int64_t n, int64_t b, bool largest, int64_t cap) {
  using K = typename KeyOf<F>::type;
  if (n <= cap) return 1;
  const int64_t s = std::min<int64_t>(16384, std::max<int64_t>(1024, n / 128));
  const double hits = static_cast<double>(b) * s / n;
  const int64_t r = static_cast<int64_t>(std::ceil(1.1 * hits + 3 * std::sqrt(hits) + 4));
  if (r > s / 4) return ~K(0);
  std::vector<K> keys(s);
  for (int64_t j = 0; j < s; ++j) keys[j] = rlmba::select::order_key(x[j * n / s], largest);
  std::nth_element(keys.begin(), keys.begin() + (r - 1), keys.end(), std::greater<K>());
  return std::max<K>(keys[r - 1], 1);
}

// Histogram of digit (key >> shift) & mask over the non-NaN keys whose top `fixed` bits equal prefix.
template <class F>
RLMBA_INLINE void topb_histogram(const F* x, int64_t lo, int64_t hi, bool largest, int fixed,
                                 typename KeyOf<F>::type prefix, int shift, uint32_t* hist) {
  using K = typename KeyOf<F>::type;
  constexpr int kBits = 8 * sizeof(K);
  const K mask = K(kBuckets - 1);
  for (int64_t i = lo; i < hi; ++i) {
    const K k = rlmba::select::order_key(x[i], largest);
    const bool match = fixed == 0 || (k >> (kBits - std::max(fixed, 1))) == prefix;
    if (k != 0 && match) ++hist[(i & (kCopies - 1)) * kBuckets + ((k >> shift) & mask)];
  }
}
RLMBA_ISA_VARIANTS(topb_histogram)

// Keys >= lo into `all`; with eq_limit >= 0 instead keys > lo into `all` and the first eq_limit
// keys == lo into `eq`. Returns false as soon as `all` would exceed cap. lo >= 1, so NaN (key 0) never enters. Blocks of 64 keys are tested with
// one vectorised count first: on any input order only blocks holding a wanted key are scanned.
template <class F>
RLMBA_INLINE bool topb_collect(const F* x, int64_t lo_i, int64_t hi_i, bool largest,
                               typename KeyOf<F>::type lo, int64_t eq_limit, int64_t cap,
                               std::vector<Cand<typename KeyOf<F>::type>>* all,
                               std::vector<Cand<typename KeyOf<F>::type>>* eq) {
  using K = typename KeyOf<F>::type;
  constexpr int64_t kSub = 64;
  K keys[kSub];
  for (int64_t i0 = lo_i; i0 < hi_i; i0 += kSub) {
    const int64_t m = std::min(kSub, hi_i - i0);
    const bool take_eq = eq_limit < 0 || static_cast<int64_t>(eq->size()) < eq_limit;
    const K wanted = take_eq ? lo : K(lo + 1);  // lo is a real key, never all ones: no wrap
    K hits = 0;
#pragma omp simd reduction(+ : hits)
    for (int64_t i = 0; i < m; ++i) {
      const K k = rlmba::select::order_key(x[i0 + i], largest);
      keys[i] = k;
      hits += k >= wanted;
    }
    for (int64_t i = 0; hits != 0 && i < m; ++i) {
      const K k = keys[i];
      if (k < lo) continue;
      if (eq_limit < 0 || k > lo) {
        if (static_cast<int64_t>(all->size()) == cap) return false;  // overflow
        all->emplace_back(k, i0 + i);
      } else if (static_cast<int64_t>(eq->size()) < eq_limit) {
        eq->emplace_back(k, i0 + i);
      }
    }
  }
  return true;
}
RLMBA_ISA_VARIANTS(topb_collect)

template <class K> void best_first(std::vector<Cand<K>>& cand, int64_t need, int64_t* out) {
  auto before = [](const Cand<K>& a, const Cand<K>& c) {
    return a.first > c.first || (a.first == c.first && a.second < c.second);
  };
  if (static_cast<int64_t>(cand.size()) > need) std::nth_element(cand.begin(), cand.begin() + need, cand.end(), before);
  std::sort(cand.begin(), cand.begin() + need, before);
  for (int64_t j = 0; j < need; ++j) out[j] = cand[j].second;
}

template <class F>
int64_t topb_select(const F* x, int64_t n, int64_t b, bool largest, int64_t* out, int threads, Isa isa) {
  using K = typename KeyOf<F>::type;
  constexpr int kBits = 8 * sizeof(K);
  // A second thread pays off from a few million scores (~1 ms of work for one thread); below
  // that, waking it costs more than it saves.
  const Slices s{n, threads_for(threads, n, 1 << 22)};
  const int64_t cap = std::max<int64_t>(8 * b, 16384);
  // 1. filter pass
  const K t = topb_threshold(x, n, b, largest, cap);
  std::vector<FilterOut<K>> f(s.T);
#pragma omp parallel num_threads(s.T)
  {
    const int th = thread_id();
    f[th].cand.reserve(std::min<int64_t>(cap, 4 * b + 1024));
    topb_filter_isa(isa, x, s.lo(th), s.hi(th), largest, t, cap, &f[th]);
  }
  int64_t nans = 0, count = 0;
  bool overflow = false;
  K mn = ~K(0), mx = 0;
  for (auto& ft : f) {
    nans += ft.nans, count += ft.cand.size(), overflow |= ft.overflow;
    mn = std::min(mn, ft.min_key), mx = std::max(mx, ft.max_key);
  }
  const int64_t need = std::min(b, n - nans);
  if (need == 0) return 0;
  if (!overflow && count >= need) {
    std::vector<Cand<K>> cand;
    cand.reserve(count);
    for (auto& ft : f) cand.insert(cand.end(), ft.cand.begin(), ft.cand.end());
    best_first(cand, need, out);
    return need;
  }
  f.clear();
  std::vector<std::vector<Cand<K>>> all(s.T), eq(s.T);
  // Gathers all[] and, in slice (= index) order, eq[] up to `limit` keys == T, then sorts.
  auto finish = [&](int64_t limit) {
    std::vector<Cand<K>> cand;
    for (int th = 0; th < s.T; ++th) cand.insert(cand.end(), all[th].begin(), all[th].end());
    const int64_t base = static_cast<int64_t>(cand.size());
    for (int th = 0; th < s.T; ++th) {
      const int64_t room = limit - (static_cast<int64_t>(cand.size()) - base);
      cand.insert(cand.end(), eq[th].begin(), eq[th].begin() + std::min<int64_t>(room, eq[th].size()));
    }
    best_first(cand, need, out);
    return need;
  };
  // collect keys > lo_key (at most `all_cap` per slice) and the first eq_limit keys == lo_key per slice
  auto collect = [&](K lo_key, int64_t eq_limit, int64_t all_cap) {
    bool ok = true;
    for (int th = 0; th < s.T; ++th) all[th].clear(), eq[th].clear();
#pragma omp parallel num_threads(s.T) reduction(&& : ok)
    {
      const int th = thread_id();
      ok = topb_collect_isa(isa, x, s.lo(th), s.hi(th), largest, lo_key, eq_limit, all_cap, &all[th], &eq[th]);
    }
    int64_t above = 0;
    for (int th = 0; th < s.T; ++th) above += all[th].size();
    return ok ? above : int64_t(-1);
  };
  // 2. more than cap keys >= t: with ties at t, fewer than need are > t and the need-th key is t
  if (overflow) {
    const int64_t above = collect(t, need, cap);
    if (above >= 0) return finish(std::max<int64_t>(0, need - above));
  }
  // 3. radix select below the common prefix of every non-NaN key
  const K diff = mn ^ mx;
  int fixed = 0;
  while (fixed < kBits && !((diff >> (kBits - 1 - fixed)) & 1)) ++fixed;
  K prefix = fixed == 0 ? K(0) : K(mx >> (kBits - fixed));
  int64_t above = 0, count_ge = n - nans;
  std::vector<uint32_t> hists(static_cast<size_t>(s.T) * kCopies * kBuckets);
  std::vector<int64_t> total(kBuckets);
  while (fixed < kBits && count_ge > cap) {
    const int width = std::min(kDigitBits, kBits - fixed), shift = kBits - fixed - width;
    std::fill(hists.begin(), hists.end(), 0u);
#pragma omp parallel num_threads(s.T)
    {
      const int th = thread_id();
      topb_histogram_isa(isa, x, s.lo(th), s.hi(th), largest, fixed, prefix, shift,
                     hists.data() + static_cast<size_t>(th) * kCopies * kBuckets);
    }
    std::fill(total.begin(), total.end(), 0);
    for (size_t h = 0; h < hists.size(); ++h) total[h % kBuckets] += hists[h];
    int64_t cum = above, d = (int64_t(1) << width) - 1;
    for (; d > 0 && cum + total[d] < need; --d) cum += total[d];
    prefix = static_cast<K>((fixed == 0 ? K(0) : K(prefix << width)) | K(d));
    fixed += width;
    above = cum;  // keys whose top `fixed` bits are > prefix
    count_ge = cum + total[d];
  }
  // keys >= the lowest key under the prefix; or, at the full key T with too many ties, keys > T
  // plus the first need - above keys == T in index order
  const int64_t unbounded = std::numeric_limits<int64_t>::max();
  if (count_ge <= cap) {
    collect(std::max<K>(fixed == kBits ? prefix : K(prefix << (kBits - fixed)), 1), -1, unbounded);
    return finish(0);
  }
  collect(prefix, need - above, unbounded);
  return finish(need - above);
}

}  // namespace cpu
}  // namespace rlmba

// ================================================================ bindings
RLMBA_BINDINGS(cpu_topb) {
  namespace h = rlmba::host;
  m.def("cpu_topb_select", [](py::handle scores, int64_t b, bool largest, py::handle out, int threads) {
    const h::Array x = h::array(scores, "scores"), o = h::array(out, "out");
    h::need_device(x, h::kDLCPU), h::need_device(o, h::kDLCPU);
    h::need_dtype(x, {h::DType::kFloat32, h::DType::kFloat64}), h::need_dtype(o, {h::DType::kInt64});
    h::need_shape(x, {-1}), h::need_contiguous(x), h::need_shape(o, {-1}), h::need_contiguous(o);
    const int64_t n = x.size(0);
    h::need_count(b, "b", 1, std::max<int64_t>(n, 1));
    if (o.size(0) < b) h::fail(o, "holds " + std::to_string(o.size(0)) + " indices, fewer than b = " + std::to_string(b));
    const rlmba::cpu::Isa isa = rlmba::cpu::resolve_isa("");
    py::gil_scoped_release release;
    if (n == 0) return int64_t(0);
    return x.dtype == h::DType::kFloat64
               ? rlmba::cpu::topb_select(x.ptr<const double>(), n, b, largest, o.ptr<int64_t>(), threads, isa)
               : rlmba::cpu::topb_select(x.ptr<const float>(), n, b, largest, o.ptr<int64_t>(), threads, isa);
  }, py::arg("scores"), py::arg("b"), py::arg("largest"), py::arg("out"), py::arg("threads"),
     "Top-b indices of scores [n] (float32/64, 1 <= b <= n) into out [>= b], best first, ties -> lower "
     "index; returns how many (min(b, non-NaN count)).");
}
