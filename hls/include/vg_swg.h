// Sliding-window generator with zero padding, on a banked line buffer.
//
// Input: a CH x IFM_H x IFM_W feature map, IN_N channels per word. Output: for every output
// pixel, the window in the order [group][ky][kx][channel within group], SIMD elements per
// word, where a group is GS consecutive channels (GS = 8 for a variable group convolution,
// GS = CH for a dense convolution). That is the order in which the S=8 engine (vg_mvau.h)
// consumes its input vector, one group after another.
//
// Schedule (one flattened pipelined loop, one iteration = one cycle; hls/engines/ SWG):
//   fill:             read the input rows output row 0 needs (FILL_ROWS rows), emit nothing;
//   output row oy:    max(EMIT, R(oy)) iterations: iteration i emits word i of the row's
//                     windows (i < EMIT = OW * WIN_WORDS) and reads input word i of the rows
//                     the next output row needs (i < R(oy)).
// So a row costs max(input words, output words), as FINN's ConvolutionInputGenerator does.
//
// Line buffer: NR = min(K + STRIDE, IFM_H) row slots (K rows being read while up to STRIDE
// new rows are written), each stored as [group][padded column][channel within group] and
// spread over P banks (element f of a slot in bank f % P, address f / P). A word takes RUN
// consecutive elements of one kernel row of one group (SIMD divides K*GS), or whole kernel
// rows (SIMD a multiple of K*GS): within a slot these are consecutive in f, so with
// P >= RUN every bank is read at most once per cycle; an input word's IN_N channels (IN_N
// divides GS) are consecutive in f too, so P >= IN_N writes them to distinct banks. Padding
// is never stored in rows: rows outside the image and padding columns are masked to zero.
#ifndef VG_SWG_H
#define VG_SWG_H

#include "vg_types.h"

namespace vg {

// Input rows read by the end of output row oy's phase (all rows after the last one).
constexpr int swg_rows_by(int oy, int ifm_h, int oh, int k, int stride, int pad) {
  return oy >= oh - 1 ? ifm_h : (int)cmin((long long)(oy + 1) * stride - pad + k, ifm_h);
}

// Cycles per frame of vg::sliding_window: the fill plus max(emit, read) per output row.
constexpr long long swg_cycles(int ifm_h, int ifm_w, int ch, int k, int stride, int pad,
                               int in_n, int win_words) {
  const int oh = (ifm_h + 2 * pad - k) / stride + 1;
  const int ow = (ifm_w + 2 * pad - k) / stride + 1;
  const long long row_words = (long long)ifm_w * ch / in_n;
  const long long emit = (long long)ow * win_words;
  int rows = (int)cmin(k - pad, ifm_h);
  long long total = rows * row_words;
  for (int oy = 0; oy < oh; oy++) {
    const int next = swg_rows_by(oy, ifm_h, oh, k, stride, pad);
    total += cmax(emit, (next - rows) * row_words);
    rows = next;
  }
  return total;
}

// Config C (one struct per instance): IFM_H, IFM_W, CH, K, STRIDE, PAD, GS, IN_N, SIMD; elem_t.
template <class C>
void sliding_window(hls::stream<Word<typename C::elem_t, C::IN_N> >& in,
                    hls::stream<Word<typename C::elem_t, C::SIMD> >& out) {
  typedef typename C::elem_t T;
  constexpr int IFM_H = C::IFM_H, IFM_W = C::IFM_W, CH = C::CH, K = C::K, STRIDE = C::STRIDE;
  constexpr int PAD = C::PAD, GS = C::GS, IN_N = C::IN_N, SIMD = C::SIMD;
  static_assert(K >= 1 && STRIDE >= 1 && PAD >= 0, "sliding_window: K, STRIDE >= 1, PAD >= 0");
  static_assert(PAD < K, "sliding_window: PAD must be smaller than K");
  static_assert(CH % GS == 0, "sliding_window: GS (group size) must divide CH");
  static_assert(GS % IN_N == 0,
                "sliding_window: IN_N (input elements per word) must divide GS: a word lies in one group");
  static_assert((K * K * GS) % SIMD == 0, "sliding_window: SIMD must divide K*K*GS");
  static_assert((K * GS) % SIMD == 0 || SIMD % (K * GS) == 0,
                "sliding_window: SIMD must divide K*GS (a word within one kernel row) or be a "
                "multiple of it (whole kernel rows), so that the line-buffer banks serve a word");
  static_assert(IFM_H + 2 * PAD >= K && IFM_W + 2 * PAD >= K,
                "sliding_window: kernel larger than the padded input");
  constexpr int G = CH / GS, WP = IFM_W + 2 * PAD;
  constexpr int OH = (IFM_H + 2 * PAD - K) / STRIDE + 1, OW = (IFM_W + 2 * PAD - K) / STRIDE + 1;
  constexpr int KGS = K * GS;
  constexpr int RUN = (int)cmin(SIMD, KGS);  // elements of a word within one kernel row
  constexpr int RPW = SIMD / RUN;            // kernel rows per word
  constexpr int WPR = KGS / RUN;             // words per kernel row
  constexpr int KYB = K / RPW;               // word groups of kernel rows per group
  constexpr int P = (int)cmax(RUN, IN_N);    // banks per row slot
  constexpr int NR = (int)cmin(K + STRIDE, IFM_H);
  // a word's run starts at a bank that is a multiple of ROT (rotation granularity)
  constexpr int ROT = (int)cgcd(cgcd((long long)WP * GS, (long long)STRIDE * GS), cgcd(RUN, P));
  constexpr int DEPTH = G * WP * GS / P + 2;  // a read may address one bank word past a run
  constexpr int WIN_WORDS = G * K * K * GS / SIMD;
  constexpr int ROW_WORDS = IFM_W * (CH / IN_N);
  constexpr int EMIT = OW * WIN_WORDS;
  constexpr int FILL_ROWS = (int)cmin(K - PAD, IFM_H);
  constexpr long long TOTAL = swg_cycles(IFM_H, IFM_W, CH, K, STRIDE, PAD, IN_N, WIN_WORDS);
  static_assert(TOTAL < (1LL << 31), "sliding_window: frame too long for the loop counter");
#ifdef __SYNTHESIS__
  T lb[NR][P][DEPTH];
#else
  static T lb[NR][P][DEPTH];  // off the stack in C-sim
#endif
#pragma HLS ARRAY_PARTITION variable = lb complete dim = 1
#pragma HLS ARRAY_PARTITION variable = lb complete dim = 2
  // A row is read only in phases after the one that wrote it, never in the same iteration.
#pragma HLS DEPENDENCE variable = lb inter false
#pragma HLS DEPENDENCE variable = lb intra false
#if defined(__SYNTHESIS__) || defined(VG_SWG_READ_ALL)
  T val[NR][P];
#pragma HLS ARRAY_PARTITION variable = val complete dim = 0
#endif
  T rowv[RPW][P];
  bool row_ok[RPW];
#pragma HLS ARRAY_PARTITION variable = rowv complete dim = 0
#pragma HLS ARRAY_PARTITION variable = row_ok complete dim = 0

  // read side: position of the next input word
  int rx = 0, rf = 0, rg = 0, rci = 0, wr_slot = 0;
  // emit side: the word of the current output row's windows
  int u = 0, kyb = 0, g = 0, ox = 0;
  int top_row = -PAD, top_slot = (NR - PAD % NR) % NR;  // kernel row 0 of the output row
  // phase: -1 fill, then output rows 0 .. OH-1
  int ph = -1, ph_i = 0, rows = FILL_ROWS;
  int ph_reads = FILL_ROWS * ROW_WORDS, ph_len = FILL_ROWS * ROW_WORDS;

  for (int it = 0; it < (int)TOTAL; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (ph_i < ph_reads) {
      const Word<T, IN_N> wd = in.read();
      const int f0 = (rg * WP + rx + PAD) * GS + rci;  // first element's place in the slot
      const int f_lo = f0 % P, f_hi = f0 / P;
      for (int b = 0; b < P; b++) {
#pragma HLS UNROLL
        const int i = b >= f_lo ? b - f_lo : b - f_lo + P;  // the word element bank b takes
        if (i < IN_N) lb[wr_slot][b][f_hi + (b < f_lo ? 1 : 0)] = wd.v[i];
      }
      rci += IN_N;
      if (rci == GS) {
        rci = 0;
        rg++;
      }
      if (++rf == CH / IN_N) {
        rf = 0;
        rg = 0;
        if (++rx == IFM_W) {
          rx = 0;
          wr_slot = wr_slot + 1 == NR ? 0 : wr_slot + 1;
        }
      }
    }
    if (ph >= 0 && ph_i < EMIT) {
      const int a = (g * WP + ox * STRIDE) * GS + u * RUN;  // the word's run in each row slot
      const int a_lo = a % P, a_hi = a / P;
#if defined(__SYNTHESIS__) || defined(VG_SWG_READ_ALL)
      for (int j = 0; j < NR; j++) {  // every bank of every slot: one read each
#pragma HLS UNROLL
        for (int b = 0; b < P; b++) {
#pragma HLS UNROLL
          val[j][b] = lb[j][b][a_hi + (b < a_lo ? 1 : 0)];
        }
      }
#endif
      for (int q = 0; q < RPW; q++) {  // the slot of each kernel row of the word
#pragma HLS UNROLL
        const int ky = kyb * RPW + q, iy = top_row + ky;
        const int slot = (top_slot + ky) % NR;
        row_ok[q] = iy >= 0 && iy < IFM_H;
        for (int b = 0; b < P; b++) {
#pragma HLS UNROLL
#if defined(__SYNTHESIS__) || defined(VG_SWG_READ_ALL)
          rowv[q][b] = val[slot][b];
#else  // C-sim: the same values, read from the used slots only (NR / RPW times fewer reads)
          rowv[q][b] = lb[slot][b][a_hi + (b < a_lo ? 1 : 0)];
#endif
        }
      }
      // the run starts in bank a_lo, a multiple of ROT: lane s takes bank (a_lo + s % RUN) % P
      const int rot = a_lo / ROT;
      Word<T, SIMD> wd;
      for (int s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
        const int off = u * RUN + s % RUN;  // element within the kernel row
        const int px = ox * STRIDE + off / GS;
        T e = 0;
        for (int r = 0; r < P / ROT; r++) {
#pragma HLS UNROLL
          if (r == rot) e = rowv[s / RUN][(r * ROT + s % RUN) % P];
        }
        wd.v[s] = row_ok[s / RUN] && px >= PAD && px < PAD + IFM_W ? e : (T)0;
      }
      out.write(wd);
      if (++u == WPR) {
        u = 0;
        if (++kyb == KYB) {
          kyb = 0;
          if (++g == G) {
            g = 0;
            if (++ox == OW) ox = 0;
          }
        }
      }
    }
    if (++ph_i == ph_len) {  // next phase: output row ph + 1
      ph++;
      ph_i = 0;
      if (ph > 0) {
        top_row += STRIDE;
        top_slot = (top_slot + STRIDE) % NR;
      }
      const int next = swg_rows_by(ph, IFM_H, OH, K, STRIDE, PAD);
      ph_reads = (next - rows) * ROW_WORDS;
      rows = next;
      ph_len = ph_reads > EMIT ? ph_reads : EMIT;
    }
  }
}

}  // namespace vg

#endif
