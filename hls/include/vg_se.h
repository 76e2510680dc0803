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

// Frame buffer fill (process 0 of se_scale): the whole frame of x, in stream order.
template <class C>
void se_frame_fill(hls::stream<Word<typename C::x_t, C::N> >& x_in,
                   typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N]) {
  constexpr int F = C::CH / C::N, N = C::N, PIXELS = C::PIXELS;
  int f = 0, p = 0;
  for (int it = 0; it < PIXELS * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<typename C::x_t, N> w = x_in.read();
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
// PIXELS * CH/N iterations stream act(x * gate) out of the frame buffer.
template <class C>
void se_frame_emit(const typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N],
                   hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
                   hls::stream<Word<typename C::out_t, C::N> >& out,
                   const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
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
    VG_CYCLE(1);
    if (p < 0) {
      const Word<typename C::gate_t, N> w = gate_in.read();
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        gate[f][i] = w.v[i];
      }
    } else {
      Word<TO, N> o;
      for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        const Prod prod = (Prod)frame[p][f][i] * (Prod)gate[f][i];
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

// out[p][c] = act(x[p][c] * gate[c]) with table thr[c % N][c / N]. The frame buffer is a
// ping-pong channel between the fill and the emit process (DATAFLOW makes the array a PIPO:
// two frame buffers), so frame k+1 fills while frame k is emitted; the gate of a frame
// cannot exist before the whole frame has been pooled, hence the buffer.
// Config C: CH, N, PIXELS, X_BITS, X_SIGNED, G_BITS, FRAME_STORAGE; x_t, gate_t, out_t; act.
//
// The frame buffer's binding, C::FRAME_STORAGE (vg_types.h): one specialization per binding,
// since a pragma cannot take impl= from a template parameter. Unlike a weight ROM it may be
// URAM: it is written at run time, before it is read.
template <int IMPL>
struct se_frame_store {  // STORAGE_AUTO: the tool chooses
  static_assert(IMPL >= STORAGE_AUTO && IMPL <= STORAGE_URAM, "se_scale: FRAME_STORAGE is a vg::storage");
  template <class C>
  static void run(hls::stream<Word<typename C::x_t, C::N> >& x_in,
                  hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
                  hls::stream<Word<typename C::out_t, C::N> >& out,
                  const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
#pragma HLS DATAFLOW
#ifdef __SYNTHESIS__
    typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];
#else
    static typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];  // C-sim runs fill then emit; keep it off the stack
#endif
#pragma HLS ARRAY_PARTITION variable = frame complete dim = 3
    se_frame_fill<C>(x_in, frame);
    se_frame_emit<C>(frame, gate_in, out, thr);
  }
};

template <>
struct se_frame_store<STORAGE_LUTRAM> {
  template <class C>
  static void run(hls::stream<Word<typename C::x_t, C::N> >& x_in,
                  hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
                  hls::stream<Word<typename C::out_t, C::N> >& out,
                  const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
#pragma HLS DATAFLOW
#ifdef __SYNTHESIS__
    typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];
#else
    static typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];  // C-sim runs fill then emit; keep it off the stack
#endif
#pragma HLS BIND_STORAGE variable = frame type = ram_2p impl = lutram
#pragma HLS ARRAY_PARTITION variable = frame complete dim = 3
    se_frame_fill<C>(x_in, frame);
    se_frame_emit<C>(frame, gate_in, out, thr);
  }
};

template <>
struct se_frame_store<STORAGE_BRAM> {
  template <class C>
  static void run(hls::stream<Word<typename C::x_t, C::N> >& x_in,
                  hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
                  hls::stream<Word<typename C::out_t, C::N> >& out,
                  const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
#pragma HLS DATAFLOW
#ifdef __SYNTHESIS__
    typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];
#else
    static typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];  // C-sim runs fill then emit; keep it off the stack
#endif
#pragma HLS BIND_STORAGE variable = frame type = ram_2p impl = bram
#pragma HLS ARRAY_PARTITION variable = frame complete dim = 3
    se_frame_fill<C>(x_in, frame);
    se_frame_emit<C>(frame, gate_in, out, thr);
  }
};

template <>
struct se_frame_store<STORAGE_URAM> {
  template <class C>
  static void run(hls::stream<Word<typename C::x_t, C::N> >& x_in,
                  hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
                  hls::stream<Word<typename C::out_t, C::N> >& out,
                  const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
#pragma HLS DATAFLOW
#ifdef __SYNTHESIS__
    typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];
#else
    static typename C::x_t frame[C::PIXELS][C::CH / C::N][C::N];  // C-sim runs fill then emit; keep it off the stack
#endif
#pragma HLS BIND_STORAGE variable = frame type = ram_2p impl = uram
#pragma HLS ARRAY_PARTITION variable = frame complete dim = 3
    se_frame_fill<C>(x_in, frame);
    se_frame_emit<C>(frame, gate_in, out, thr);
  }
};

template <class C>
void se_scale(hls::stream<Word<typename C::x_t, C::N> >& x_in,
              hls::stream<Word<typename C::gate_t, C::N> >& gate_in,
              hls::stream<Word<typename C::out_t, C::N> >& out,
              const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
  static_assert(C::CH % C::N == 0, "se_scale: N must divide CH");
  se_frame_store<C::FRAME_STORAGE>::template run<C>(x_in, gate_in, out, thr);
}

}  // namespace vg

#endif
