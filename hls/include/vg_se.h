// The squeeze-excitation block's pieces. In the dataflow an SE block is
//   duplicate -> [global_acc_pool -> threshold_layer -> mvau(FC1 + PReLU thresholds)
//                 -> mvau(FC2 + hard-sigmoid gate thresholds)] -> se_scale
// where se_scale holds the whole feature map (a ping-pong frame buffer) until the gate, which
// depends on the global pool, is known; then it multiplies each channel by its gate code and
// requantizes the product with thresholds onto the block's shared quantizer.
#ifndef VG_SE_H
#define VG_SE_H

#include "vg_threshold.h"
#include "vg_types.h"

namespace vg {

// Per-channel sums over a frame (the average's 1/PIXELS is folded into the next thresholds).
// One flattened loop: PIXELS * CH/N iterations accumulate (the first pixel starts each sum
// afresh), then CH/N iterations write the sums.
template <int CH, int N, int PIXELS, int IN_BITS, bool IN_SIGNED, int SUM_BITS, typename TI,
          typename TS>
void global_acc_pool(hls::stream<Word<TI, N> >& in, hls::stream<Word<TS, N> >& out) {
  static_assert(CH % N == 0, "global_acc_pool: N must divide CH");
  static_assert(SUM_BITS >= IN_BITS + clog2(PIXELS) + (IN_SIGNED ? 0 : 1),
                "global_acc_pool: SUM_BITS too narrow for PIXELS summands");
  typedef typename acc_t<SUM_BITS>::type Sum;
  constexpr int F = CH / N;
  Sum sums[F][N];
#pragma HLS ARRAY_PARTITION variable = sums complete dim = 2
  int f = 0, p = 0;
  for (int it = 0; it < (PIXELS + 1) * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (p < PIXELS) {
      const Word<TI, N> w = in.read();
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        sums[f][i] = (p == 0 ? (Sum)0 : sums[f][i]) + (Sum)w.v[i];
      }
    } else {
      Word<TS, N> o;
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        o.v[i] = (TS)sums[f][i];
      }
      out.write(o);
    }
    if (++f == F) {
      f = 0;
      p++;
    }
  }
}

// Frame buffer fill (process 0 of se_scale): the whole frame of x, in stream order.
template <int CH, int N, int PIXELS, typename TX>
void se_frame_fill(hls::stream<Word<TX, N> >& x_in, TX frame[PIXELS][CH / N][N]) {
  constexpr int F = CH / N;
  int f = 0, p = 0;
  for (int it = 0; it < PIXELS * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<TX, N> w = x_in.read();
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
      frame[p][f][i] = w.v[i];
    }
    if (++f == F) {
      f = 0;
      p++;
    }
  }
}

// Frame buffer emit (process 1 of se_scale): CH/N iterations read the gate codes, then
// PIXELS * CH/N iterations stream threshold(x * gate) out of the frame buffer.
template <int CH, int N, int PIXELS, int X_BITS, int G_BITS, int NT, int OUT_BIAS, typename TX,
          typename TG, typename TT, typename TO>
void se_frame_emit(const TX frame[PIXELS][CH / N][N], hls::stream<Word<TG, N> >& gate_in,
                   hls::stream<Word<TO, N> >& out, const TT thr[N][CH / N][NT]) {
  constexpr int PROD_BITS = X_BITS + G_BITS + 1;
  typedef typename acc_t<PROD_BITS>::type Prod;
#pragma HLS ARRAY_PARTITION variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  constexpr int F = CH / N;
  TG gate[F][N];
#pragma HLS ARRAY_PARTITION variable = gate complete dim = 2
  int f = 0, p = -1;  // p = -1: the gate words
  for (int it = 0; it < (PIXELS + 1) * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(1);
    if (p < 0) {
      const Word<TG, N> w = gate_in.read();
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        gate[f][i] = w.v[i];
      }
    } else {
      Word<TO, N> o;
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        const Prod prod = (Prod)frame[p][f][i] * (Prod)gate[f][i];
        o.v[i] = (TO)(OUT_BIAS + threshold_count<NT>(prod, thr[i][f]));
      }
      out.write(o);
    }
    if (++f == F) {
      f = 0;
      p++;
    }
  }
}

// out[p][c] = threshold(x[p][c] * gate[c]) with thresholds thr[c % N][c / N]. The frame
// buffer is a ping-pong channel between the fill and the emit process (DATAFLOW makes the
// array a PIPO: two frame buffers), so frame k+1 fills while frame k is emitted; the gate
// of a frame cannot exist before the whole frame has been pooled, hence the buffer.
template <int CH, int N, int PIXELS, int X_BITS, bool X_SIGNED, int G_BITS, int NT, int OUT_BIAS,
          typename TX, typename TG, typename TT, typename TO>
void se_scale(hls::stream<Word<TX, N> >& x_in, hls::stream<Word<TG, N> >& gate_in,
              hls::stream<Word<TO, N> >& out, const TT thr[N][CH / N][NT]) {
  static_assert(CH % N == 0, "se_scale: N must divide CH");
#pragma HLS DATAFLOW
#ifdef __SYNTHESIS__
  TX frame[PIXELS][CH / N][N];
#else
  static TX frame[PIXELS][CH / N][N];  // C-sim runs fill then emit; keep it off the stack
#endif
#ifdef VG_WEIGHTS_URAM
#pragma HLS BIND_STORAGE variable = frame type = ram_2p impl = uram
#endif
#pragma HLS ARRAY_PARTITION variable = frame complete dim = 3
  se_frame_fill<CH, N, PIXELS, TX>(x_in, frame);
  se_frame_emit<CH, N, PIXELS, X_BITS, G_BITS, NT, OUT_BIAS, TX, TG, TT, TO>(frame, gate_in, out, thr);
}

}  // namespace vg

#endif
