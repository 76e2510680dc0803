// The squeeze-excitation block's pieces. In the dataflow an SE block is
//   duplicate -> [global_acc_pool -> threshold_layer -> mvau(FC1 + PReLU thresholds)
//                 -> mvau(FC2 + hard-sigmoid gate thresholds)] -> se_scale
// where the whole feature map waits in the FIFO in front of se_scale until the gate, which
// depends on the global pool, is known; then se_scale multiplies each channel by its gate
// code and requantizes the product with thresholds onto the block's shared quantizer.
#ifndef VG_SE_H
#define VG_SE_H

#include "vg_threshold.h"
#include "vg_types.h"

namespace vg {

// Per-channel sums over a frame (the average's 1/PIXELS is folded into the next thresholds).
// One flattened loop: PIXELS * CH/N iterations accumulate (the first pixel starts each sum
// afresh), then CH/N iterations write the sums.
// Config C: CH, N, PIXELS, IN_BITS, IN_SIGNED, SUM_BITS; in_t, sum_t.
template <class C>
void global_acc_pool(hls::stream<Word<typename C::in_t, C::N> >& in,
                     hls::stream<Word<typename C::sum_t, C::N> >& out) {
  static_assert(C::CH % C::N == 0, "global_acc_pool: N must divide CH");
  static_assert(C::SUM_BITS >= C::IN_BITS + clog2(C::PIXELS) + (C::IN_SIGNED ? 0 : 1),
                "global_acc_pool: SUM_BITS too narrow for PIXELS summands");
  typedef typename acc_t<C::SUM_BITS>::type Sum;
  constexpr int N = C::N, F = C::CH / C::N, PIXELS = C::PIXELS;
  Sum sums[F][N];
#pragma HLS ARRAY_PARTITION variable = sums complete dim = 2
  int f = 0, p = 0;
  for (int it = 0; it < (PIXELS + 1) * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (p < PIXELS) {
      const Word<typename C::in_t, N> w = in.read();
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        sums[f][i] = (p == 0 ? (Sum)0 : sums[f][i]) + (Sum)w.v[i];
      }
    } else {
      Word<typename C::sum_t, N> o;
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        o.v[i] = (typename C::sum_t)sums[f][i];
      }
      out.write(o);
    }
    if (++f == F) {
      f = 0;
      p++;
    }
  }
}

// out[p][c] = act(x[p][c] * gate[c]) with table thr[c % N][c / N]. One flattened loop: CH/N
// iterations read the gate codes, then PIXELS * CH/N iterations each read a word of x and
// write act(x * gate).
//
// The gate of a frame exists only once the whole frame has been pooled, so the frame of x
// waits for it: not in a buffer of this engine, but in the FIFO in front of it (x_in), which
// the flow sizes to hold a frame (sim/fifo_sizing.py). A FIFO holds each word from its write
// to its read, so frame k+1 fills it behind frame k as frame k drains: one frame of storage,
// where a ping-pong buffer between a fill and an emit process holds two.
// Config C: CH, N, PIXELS, X_BITS, X_SIGNED, G_BITS; x_t, gate_t, out_t; act.
template <class C>
void se_scale(hls::stream<Word<typename C::x_t, C::N> >& x_in,
              hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
              hls::stream<Word<typename C::out_t, C::N> >& out,
              const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
  static_assert(C::CH % C::N == 0, "se_scale: N must divide CH");
  typedef typename acc_t<C::X_BITS + C::G_BITS + 1>::type Prod;
  typedef typename C::out_t TO;
#pragma HLS ARRAY_PARTITION variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  constexpr int F = C::CH / C::N, N = C::N, PIXELS = C::PIXELS;
  typename C::gate_t gate[F][N];
#pragma HLS ARRAY_PARTITION variable = gate complete dim = 2
  int f = 0, p = -1;  // p = -1: the gate words
  for (int it = 0; it < (PIXELS + 1) * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (p < 0) {
      const Word<typename C::gate_t, N> w = gate_in.read();
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        gate[f][i] = w.v[i];
      }
    } else {
      const Word<typename C::x_t, N> x = x_in.read();
      Word<TO, N> o;
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        const Prod prod = (Prod)x.v[i] * (Prod)gate[f][i];
        o.v[i] = C::act::template apply<TO>(prod, thr[i][f]);
      }
      out.write(o);
    }
    if (++f == F) {
      f = 0;
      p++;
    }
  }
}

}  // namespace vg

#endif
