// Multi-threshold activation: BN + PReLU (slope >= 0) + requantization as integer compares.
//
// out = OUT_BIAS + #{t : acc >= thr[t]} for NT thresholds sorted ascending (the flow sorts
// them and flips channels whose function decreases by negating their weights). For an output
// of B bits NT = 2^B - 1; OUT_BIAS = -2^(B-1) gives a signed output, 0 an unsigned one.
#ifndef VG_THRESHOLD_H
#define VG_THRESHOLD_H

#include "vg_types.h"

namespace vg {

// Number of thresholds reached. Synthesis: NT parallel comparators and an adder tree.
// C-simulation: a binary search, which gives the same count because thresholds are sorted
// and is ~NT/log2(NT) times faster for 8-bit outputs. VG_THRESHOLD_COUNT forces the
// comparator form in C-sim so that the synthesised code is tested too.
template <int NT, typename TA, typename TT>
inline int threshold_count(const TA acc, const TT thr[NT]) {
#if defined(__SYNTHESIS__) || defined(VG_THRESHOLD_COUNT)
  int n = 0;
  for (int t = 0; t < NT; t++) {
#pragma HLS UNROLL
    n += (acc >= thr[t]) ? 1 : 0;
  }
  return n;
#else
  int lo = 0, hi = NT;  // invariant: thr[lo-1] <= acc < thr[hi]
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (acc >= thr[mid]) lo = mid + 1; else hi = mid;
  }
  return lo;
#endif
}

// Standalone thresholding layer over a stream of N-element words; channel c of a pixel is
// lane c % N of fold c / N, and its thresholds are thr[c % N][c / N] (lane-major, so each
// lane owns one memory for synthesis).
template <int CH, int N, int PIXELS, int NT, int OUT_BIAS, typename TI, typename TO, typename TT>
void threshold_layer(hls::stream<Word<TI, N> >& in, hls::stream<Word<TO, N> >& out,
                     const TT thr[N][CH / N][NT]) {
  static_assert(CH % N == 0, "threshold_layer: N (elements per word) must divide CH");
  static_assert(NT >= 1, "threshold_layer: NT must be at least 1");
#pragma HLS ARRAY_PARTITION variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  constexpr int F = CH / N;
  int f = 0;
  for (int it = 0; it < PIXELS * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<TI, N> a = in.read();
    Word<TO, N> o;
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
      o.v[i] = (TO)(OUT_BIAS + threshold_count<NT>(a.v[i], thr[i][f]));
    }
    out.write(o);
    f = f + 1 == F ? 0 : f + 1;
  }
}

}  // namespace vg

#endif
