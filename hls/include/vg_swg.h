// Sliding-window generator with zero padding, on a line buffer of (K-1) rows.
//
// Input: a CH x IFM_H x IFM_W feature map, IN_N channels per word. Output: for every output
// pixel, the window in the order [group][ky][kx][channel within group], SIMD elements per
// word, where a group is GS consecutive channels (GS = 8 for a variable group convolution,
// GS = CH for a dense convolution). That is the order in which the S=8 engine (vg_mvau.h)
// consumes its input vector, one group after another.
#ifndef VG_SWG_H
#define VG_SWG_H

#include "vg_types.h"

namespace vg {

template <int IFM_H, int IFM_W, int CH, int K, int STRIDE, int PAD, int GS, int IN_N, int SIMD,
          typename T>
void sliding_window(hls::stream<Word<T, IN_N> >& in, hls::stream<Word<T, SIMD> >& out) {
  static_assert(K >= 1 && STRIDE >= 1 && PAD >= 0, "sliding_window: K, STRIDE >= 1, PAD >= 0");
  static_assert(CH % IN_N == 0, "sliding_window: IN_N (input elements per word) must divide CH");
  static_assert(CH % GS == 0, "sliding_window: GS (group size) must divide CH");
  static_assert((K * K * GS) % SIMD == 0, "sliding_window: SIMD must divide K*K*GS");
  static_assert(IFM_H + 2 * PAD >= K && IFM_W + 2 * PAD >= K,
                "sliding_window: kernel larger than the padded input");
  constexpr int HP = IFM_H + 2 * PAD, WP = IFM_W + 2 * PAD;
  constexpr int LB_ROWS = K > 1 ? K - 1 : 1;
  constexpr int G = CH / GS;
  constexpr int WIN_WORDS = G * K * K * GS / SIMD;
  // Line buffer: the last K-1 padded rows; window: the K x K x CH neighbourhood.
  static T linebuf[LB_ROWS][WP][CH];
  static T window[K][K][CH];
  // one memory per line-buffer row; one bank per kernel position (the SIMD lanes of a word
  // read up to SIMD channels of one or more kernel positions)
#pragma HLS ARRAY_PARTITION variable = linebuf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = window complete dim = 1
#pragma HLS ARRAY_PARTITION variable = window complete dim = 2
  T pix[CH];
#pragma HLS ARRAY_PARTITION variable = pix complete

  for (int y = 0; y < HP; y++) {
    for (int x = 0; x < WP; x++) {
      const bool inside = y >= PAD && y < PAD + IFM_H && x >= PAD && x < PAD + IFM_W;
      for (int w = 0; w < CH / IN_N; w++) {
#pragma HLS PIPELINE II = 1
        Word<T, IN_N> wd;
        if (inside) wd = in.read();
        for (int i = 0; i < IN_N; i++) {
#pragma HLS UNROLL
          pix[w * IN_N + i] = inside ? wd.v[i] : (T)0;
        }
      }
      // shift the window one column left; its new right column is the line buffer's
      // column x above the new pixel
      for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx + 1 < K; kx++)
          for (int c = 0; c < CH; c++) window[ky][kx][c] = window[ky][kx + 1][c];
      for (int ky = 0; ky + 1 < K; ky++)
        for (int c = 0; c < CH; c++) window[ky][K - 1][c] = linebuf[ky][x][c];
      for (int c = 0; c < CH; c++) window[K - 1][K - 1][c] = pix[c];
      if (K > 1) {
        for (int r = 0; r + 2 < K; r++)
          for (int c = 0; c < CH; c++) linebuf[r][x][c] = linebuf[r + 1][x][c];
        for (int c = 0; c < CH; c++) linebuf[LB_ROWS - 1][x][c] = pix[c];
      }
      const bool emit = y >= K - 1 && x >= K - 1 && (y - (K - 1)) % STRIDE == 0 &&
                        (x - (K - 1)) % STRIDE == 0;
      if (emit) {
        for (int o = 0; o < WIN_WORDS; o++) {
#pragma HLS PIPELINE II = 1
          Word<T, SIMD> wd;
          for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
            const int idx = o * SIMD + s;
            const int g = idx / (K * K * GS), r = idx % (K * K * GS);
            const int kp = r / GS, ci = r % GS;
            wd.v[s] = window[kp / K][kp % K][g * GS + ci];
          }
          out.write(wd);
        }
      }
    }
  }
}

}  // namespace vg

#endif
