// Stream plumbing for residual and branch-merge blocks: duplication, elementwise add with
// thresholding, and width conversion between neighbours of different folding.
#ifndef VG_ELTWISE_H
#define VG_ELTWISE_H

#include "vg_threshold.h"
#include "vg_types.h"

namespace vg {

// Copies every word of a frame to two outputs (the fork of a residual block).
template <int WORDS, int N, typename T>
void duplicate(hls::stream<Word<T, N> >& in, hls::stream<Word<T, N> >& out_a,
               hls::stream<Word<T, N> >& out_b) {
  for (int i = 0; i < WORDS; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<T, N> w = in.read();
    out_a.write(w);
    out_b.write(w);
  }
}

// out = act(a + b) per channel: the join of a residual or branch-merge block. Both inputs
// are codes of one shared quantizer, so the sum is exact in SUM_BITS (>= bits + 1); the
// activation (thresholds) implements the PReLU after the add and its requantization.
// Table: thr[c % N][c / N] as in threshold_layer.
// Config C: CH, N, PIXELS, IN_BITS, IN_SIGNED, SUM_BITS; a_t, b_t, out_t; act.
template <class C>
void add_threshold(hls::stream<Word<typename C::a_t, C::N> >& a, hls::stream<Word<typename C::b_t, C::N> >& b,
                   hls::stream<Word<typename C::out_t, C::N> >& out,
                   const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
  static_assert(C::CH % C::N == 0, "add_threshold: N (elements per word) must divide CH");
  static_assert(C::SUM_BITS >= C::IN_BITS + 1, "add_threshold: SUM_BITS too narrow for the sum");
  typedef typename acc_t<C::SUM_BITS>::type Sum;
  typedef typename C::out_t TO;
#pragma HLS ARRAY_PARTITION variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  constexpr int N = C::N, F = C::CH / C::N, PIXELS = C::PIXELS;
  int f = 0;
  for (int it = 0; it < PIXELS * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<typename C::a_t, N> x = a.read();
    const Word<typename C::b_t, N> y = b.read();
    Word<TO, N> o;
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
      const Sum s = (Sum)x.v[i] + (Sum)y.v[i];
      o.v[i] = C::act::template apply<TO>(s, thr[i][f]);
    }
    out.write(o);
    f = f + 1 == F ? 0 : f + 1;
  }
}

// Cycles per frame of vg::width_convert: one iteration per word of the wider side's
// opposite, i.e. TOTAL / min(IN_N, OUT_N) (every iteration reads at most one word and writes
// at most one).
constexpr long long width_convert_cycles(long long total, int in_n, int out_n) {
  return total / cmin(in_n, out_n);
}

// Re-packs a frame of TOTAL elements from IN_N to OUT_N elements per word (either may be
// larger), keeping element order. One flattened loop: an iteration reads a word when fewer
// than OUT_N elements wait (always, when IN_N < OUT_N) and writes one when OUT_N are there
// (always, when IN_N >= OUT_N). Holding fewer than OUT_N + IN_N elements, the register
// buffer appends at a variable position and drops OUT_N from its front. TO: the output's
// element type (the codes unchanged: the shared engine's edges widen and narrow them), PROC:
// the process its loop counts as.
template <int TOTAL, int IN_N, int OUT_N, typename T, typename TO = T, int PROC = 0>
void width_convert(hls::stream<Word<T, IN_N> >& in, hls::stream<Word<TO, OUT_N> >& out) {
  static_assert(TOTAL % IN_N == 0, "width_convert: IN_N must divide the frame's elements");
  static_assert(TOTAL % OUT_N == 0, "width_convert: OUT_N must divide the frame's elements");
  constexpr int BUF = IN_N + OUT_N;
  constexpr int ITERS = (int)width_convert_cycles(TOTAL, IN_N, OUT_N);
  T buf[BUF];
#pragma HLS ARRAY_PARTITION variable = buf complete
  int fill = 0;
  for (int it = 0; it < ITERS; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(PROC);
    if (fill < OUT_N) {
      const Word<T, IN_N> w = in.read();
      for (int k = 0; k < IN_N; k++) {
#pragma HLS UNROLL
        buf[fill + k] = w.v[k];  // registers: one write demultiplexer per element
      }
      fill += IN_N;
    }
    if (fill >= OUT_N) {
      Word<TO, OUT_N> o;
      for (int k = 0; k < OUT_N; k++) {
#pragma HLS UNROLL
        o.v[k] = (TO)buf[k];
      }
      out.write(o);
      for (int k = 0; k < IN_N; k++) {  // BUF - OUT_N elements move to the front
#pragma HLS UNROLL
        buf[k] = buf[k + OUT_N];
      }
      fill -= OUT_N;
    }
  }
}

}  // namespace vg

#endif
