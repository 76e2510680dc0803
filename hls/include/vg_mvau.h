// The S=8 variable-group-convolution engine (and, with one group, pointwise conv and FC).
//
// For every input vector (an output pixel's window from vg_swg.h, or a pixel / a flattened
// vector for 1x1 and FC) and every group g, the engine computes an MH x MW matrix-vector
// product: MW = 8*K*K inputs of the group (S = 8 channels) and MH = output channels per
// group (8 * expansion). A dense layer is the same engine with G = 1, MW = CH*K*K.
//
// Folding: PE output channels and SIMD inputs in parallel. Per vector and group the engine
// takes SF = MW/SIMD input words and NF = MH/PE passes, one (nf, sf) step per cycle, so a
// frame takes PIXELS * G * NF * SF cycles. Input words of a group are kept in a small buffer
// (SF words) and reused by the NF passes.
//
// Weights: w[pe][(g*NF + nf)*SF + sf][s] = W_g[nf*PE + pe][sf*SIMD + s]. All PE lanes read
// the same row in a cycle, so the array is reshaped into one memory of depth G*NF*SF and
// PE*SIMD*W_BITS bits per row (put in URAM when deep: see VG_WEIGHTS_URAM).
// Thresholds: thr[pe][g*NF + nf][t] for output channel g*MH + nf*PE + pe (NT = 0: the engine
// outputs its raw accumulators, as the network's last FC does).
// Output words hold PE consecutive channels: channel order g*MH + nf*PE + pe.
#ifndef VG_MVAU_H
#define VG_MVAU_H

#include "vg_threshold.h"
#include "vg_types.h"

namespace vg {

template <int G, int MW, int MH, int PE, int SIMD, int PIXELS, int IN_BITS, bool IN_SIGNED,
          int W_BITS, int ACC_BITS, int NT, int OUT_BIAS, typename TI, typename TW, typename TT,
          typename TO>
void mvau(hls::stream<Word<TI, SIMD> >& in, hls::stream<Word<TO, PE> >& out,
          const TW weights[PE][G * (MH / PE) * (MW / SIMD)][SIMD],
          const TT thr[PE][G * (MH / PE)][NT > 0 ? NT : 1]) {
  static_assert(G >= 1 && MW >= 1 && MH >= 1, "mvau: G, MW, MH must be positive");
  static_assert(MH % PE == 0, "mvau: PE must divide MH (output channels per group)");
  static_assert(MW % SIMD == 0, "mvau: SIMD must divide MW (inputs per group, 8*K*K)");
  static_assert(ACC_BITS >= acc_bits(MW, IN_BITS, IN_SIGNED, W_BITS),
                "mvau: ACC_BITS too narrow: a sum of MW products of these datatypes can overflow");
  static_assert(ACC_BITS <= 64, "mvau: ACC_BITS above 64 is not supported");
  constexpr int NF = MH / PE, SF = MW / SIMD;
  typedef typename acc_t<ACC_BITS>::type Acc;
#pragma HLS ARRAY_RESHAPE variable = weights complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = weights complete dim = 3
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
#ifdef VG_WEIGHTS_URAM
#pragma HLS BIND_STORAGE variable = weights type = rom_1p impl = uram
#endif
  TI inbuf[SF][SIMD];
#pragma HLS ARRAY_PARTITION variable = inbuf complete dim = 2
  Acc acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
  constexpr long long TOTAL = (long long)PIXELS * G * NF * SF;
  static_assert(TOTAL < (1LL << 31), "mvau: frame too long for the loop counter");

  // One flattened loop over (pixel, group, nf, sf): sf fastest. The input words of a group
  // are read in its nf == 0 pass and reused from inbuf by the other NF - 1 passes.
  int sf = 0, nf = 0, g = 0, row = 0;  // row = (g * NF + nf) * SF + sf, the weight address
  for (int it = 0; it < (int)TOTAL; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (nf == 0) {
      const Word<TI, SIMD> wd = in.read();
      for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
        inbuf[sf][s] = wd.v[s];
      }
    }
    for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
      Acc a = sf == 0 ? (Acc)0 : acc[pe];
      for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
        a += (Acc)weights[pe][row][s] * (Acc)inbuf[sf][s];
      }
      acc[pe] = a;
    }
    if (sf == SF - 1) {
      Word<TO, PE> o;
      for (int pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        if (NT > 0)
          o.v[pe] = (TO)(OUT_BIAS + threshold_count<(NT > 0 ? NT : 1)>(acc[pe], thr[pe][g * NF + nf]));
        else
          o.v[pe] = (TO)acc[pe];
      }
      out.write(o);
    }
    row = row + 1 == G * NF * SF ? 0 : row + 1;
    if (++sf == SF) {
      sf = 0;
      if (++nf == NF) {
        nf = 0;
        g = g + 1 == G ? 0 : g + 1;
      }
    }
  }
}

}  // namespace vg

#endif
