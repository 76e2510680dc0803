// Testbench: sliding window + S=8 engine (with thresholds) against a plain grouped
// convolution, on a 3x3 stride-2 padded group conv and a dense 1x1 conv with raw output.
#include "tb_common.h"
#include "vg_ddr.h"
#include <cstring>
#include <vector>
#include "vg_mvau.h"
#include "vg_swg.h"

// A case's config structs (the flow generates one per node the same way).
template <int h, int w, int c, int k, int st, int pad, int gs, int in_n, int simd, typename T>
struct SwgCfg {
  static const int IFM_H = h, IFM_W = w, CH = c, K = k, STRIDE = st, PAD = pad, GS = gs;
  static const int IN_N = in_n, SIMD = simd;
  typedef T elem_t;
};
template <int g, int mw, int mh, int pe, int simd, int pixels, int ib, bool is, int wb, int acc,
          int pack, int storage, typename TI, typename TW, typename TO, typename ACT, int chunk = 0>
struct MvauCfg {
  static const int G = g, MW = mw, MH = mh, PE = pe, SIMD = simd, PIXELS = pixels;
  // pack -2: two SIMD elements per multiplier (MAC_PACK 2, MAC_PAIR PAIR_SIMD)
  static const int IN_BITS = ib, W_BITS = wb, ACC_BITS = acc, MAC_PACK = pack < 0 ? -pack : pack;
  static const int MAC_PAIR = pack < 0 ? vg::PAIR_SIMD : vg::PAIR_PE, W_STORAGE = storage;
  static const int PAIR_CHUNK = chunk > 0 ? chunk : simd;  // SIMD elements per split (PAIR_SIMD)
  static const bool IN_SIGNED = is;
  typedef TI in_t;
  typedef TW w_t;
  typedef TO out_t;
  typedef ACT act;
};

// The engine's call for either activation: thresholded with its table, raw without one.
template <class CFG, class TI, class TO, class TW, class TABLE>
void run_mvau(hls::stream<TI>& in, hls::stream<TO>& out, const TW& w, const TABLE& tl, vg::no_activation) {
  vg::mvau<CFG>(in, out, w);
}
template <class CFG, class TI, class TO, class TW, class TABLE, class ACT>
void run_mvau(hls::stream<TI>& in, hls::stream<TO>& out, const TW& w, const TABLE& tl, ACT) {
  vg::mvau<CFG>(in, out, w, tl);
}

// The same engine with its weights read from a DDR buffer (vg_ddr.h) instead of its ROM.
template <int rows, int reps, int n, int w_bits, int port_bits, typename TW>
struct DdrCfg {
  static const int ROWS = rows, REPS = reps, N = n, W_BITS = w_bits, PORT_BITS = port_bits;
  typedef TW w_t;
};
constexpr int pow2_at_least(int v, int p = 8) { return p >= v ? p : pow2_at_least(v, 2 * p); }

template <class CFG, class TI, class TO, class WS, class TABLE>
void run_streamed(hls::stream<TI>& in, WS& ws, hls::stream<TO>& out, const TABLE& tl, vg::no_activation) {
  vg::mvau_streamed<CFG>(in, ws, out);
}
template <class CFG, class TI, class TO, class WS, class TABLE, class ACT>
void run_streamed(hls::stream<TI>& in, WS& ws, hls::stream<TO>& out, const TABLE& tl, ACT) {
  vg::mvau_streamed<CFG>(in, ws, out, tl);
}

// The DDR buffer of the ROM's rows (hls/README.md, "Parameter buffer"): row r's lane pe,
// element s at bits (pe * SIMD + s) * WB of word r, two's complement.
template <class CFG, int ROWS, int PORT, class TW>
typename vg::ddr_word<PORT>::type* ddr_buffer(const TW& wl, bool zero = false) {
  // the buffer's bytes as the host writes them (little-endian words, the unused high bits 0),
  // then the words a master reads from them (vg_ddr.h ddr_words_from_bytes)
  static unsigned char bytes[ROWS * PORT / 8];
  static typename vg::ddr_word<PORT>::type buf[ROWS];
  std::memset(bytes, 0, sizeof(bytes));
  for (int r = 0; r < ROWS && !zero; r++) {
    for (int pe = 0; pe < CFG::PE; pe++)
      for (int s = 0; s < CFG::SIMD; s++) {
        const unsigned long long field = (unsigned long long)((long long)wl[pe][r][s] & ((1LL << CFG::W_BITS) - 1));
        const int lo = (pe * CFG::SIMD + s) * CFG::W_BITS;
        for (int b = 0; b < CFG::W_BITS; b++)
          if ((field >> b) & 1) bytes[r * (PORT / 8) + (lo + b) / 8] |= (unsigned char)(1u << ((lo + b) % 8));
      }
  }
  vg::ddr_words_from_bytes<PORT>(bytes, ROWS, buf);
  return buf;
}

template <class CFG, int ROWS, int PORT, class TW, class TI, class TO, class TABLE, class ACT>
void run_ddr(hls::stream<TI>& in, hls::stream<TO>& out, const TW& wl, const TABLE& tl, int reps, ACT act) {
  constexpr int N = CFG::PE * CFG::SIMD;
  const typename vg::ddr_word<PORT>::type* buf = ddr_buffer<CFG, ROWS, PORT>(wl);
  hls::stream<typename vg::weight_row<CFG>::type> ws;
  // REPS is a template constant in generated code; the testbench's cases have 20, 25 or 30 vectors
  switch (reps) {
#define VG_TB_REPS(n) \
  case n:             \
    vg::ddr_weight_reader<DdrCfg<ROWS, n, N, CFG::W_BITS, PORT, typename CFG::w_t> >(buf, ws); \
    break;
    VG_TB_REPS(20) VG_TB_REPS(25) VG_TB_REPS(30)
#undef VG_TB_REPS
    default:
      std::printf("FAIL: run_ddr: no reader instance for %d vectors\n", reps);
      return;
  }
  run_streamed<CFG>(in, ws, out, tl, act);
}

// The engine with its weights cached in URAM (vg_ddr.h mvau_cached), filled by the cache
// loader's phase for it (fill_cache): a first frame that loads the cache, then the buffer
// zeroed and the same frame again without loading, whose output (the one checked) must come
// from the cached weights and equal the first's. The loader's words are twice the cache's
// port where the master allows (their high half all ones: the loader must decode only the
// row's low bits) and its region starts FIRST words into the loader's span.
template <class CFG, class D, class TI, class TO, class F, class TABLE>
void call_cached(hls::stream<TI>& in, hls::stream<TO>& out, F& fill, bool load, const TABLE&, vg::no_activation) {
  vg::mvau_cached<CFG, D>(in, out, fill, load);
}
template <class CFG, class D, class TI, class TO, class F, class TABLE, class ACT>
void call_cached(hls::stream<TI>& in, hls::stream<TO>& out, F& fill, bool load, const TABLE& tl, ACT) {
  vg::mvau_cached<CFG, D>(in, out, fill, load, tl);
}
template <class CFG, int ROWS, int PORT, int LOADER, long FIRST, class TW>
const typename vg::ddr_word<LOADER>::type* loader_span(const TW& wl, bool zero) {
  static typename vg::ddr_word<LOADER>::type span[FIRST + ROWS];
  const typename vg::ddr_word<PORT>::type* rows = ddr_buffer<CFG, ROWS, PORT>(wl, zero);
  for (long i = 0; i < FIRST + ROWS; i++) {
    // bit by bit into the static words (a local wide ap_uint trips g++'s -Wuninitialized)
    for (int b = 0; b < LOADER; b++) span[i][b] = i >= FIRST && b < PORT ? (bool)rows[i - FIRST][b] : true;
  }
  return span;
}
template <class CFG, int ROWS, int PORT, class TW, class TI, class TO, class TABLE>
void run_cached(hls::stream<TI>& in, hls::stream<TO>& out, const TW& wl, const TABLE& tl) {
  typedef DdrCfg<ROWS, 1, CFG::PE * CFG::SIMD, CFG::W_BITS, PORT, typename CFG::w_t> D;
  constexpr int LOADER = PORT < 1024 ? 2 * PORT : PORT;
  constexpr long FIRST = 3;
  std::vector<TI> words;
  while (!in.empty()) words.push_back(in.read());
  hls::stream<TI> in1, in2;
  for (const TI& w : words) {
    in1.write(w);
    in2.write(w);
  }
  hls::stream<typename vg::weight_row<CFG>::type> fill;
  hls::stream<TO> first;
  vg::fill_cache<D, LOADER>(loader_span<CFG, ROWS, PORT, LOADER, FIRST>(wl, false), FIRST, fill);
  call_cached<CFG, D>(in1, first, fill, true, tl, typename CFG::act());
  loader_span<CFG, ROWS, PORT, LOADER, FIRST>(wl, true);  // zeroed: the cache, not the buffer, must hold them now
  call_cached<CFG, D>(in2, out, fill, false, tl, typename CFG::act());
  if (first.size() != out.size()) std::printf("FAIL: run_cached: the two frames' lengths differ\n");
  if (!fill.empty()) std::printf("FAIL: run_cached: the cache left fill words unread\n");
}

// The engine with its weights from the ROM (0), streamed from DDR (1) or cached in URAM (2)
template <class CFG, int ROWS, class TI, class TO, class TW, class TABLE>
void run_weights(hls::stream<TI>& in, hls::stream<TO>& out, const TW& wl, const TABLE& tl, int,
                 std::integral_constant<int, 0>) {
  run_mvau<CFG>(in, out, wl, tl, typename CFG::act());
}
template <class CFG, int ROWS, class TI, class TO, class TW, class TABLE>
void run_weights(hls::stream<TI>& in, hls::stream<TO>& out, const TW& wl, const TABLE& tl, int reps,
                 std::integral_constant<int, 1>) {
  run_ddr<CFG, ROWS, pow2_at_least(CFG::PE * CFG::SIMD * CFG::W_BITS)>(in, out, wl, tl, reps, typename CFG::act());
}
template <class CFG, int ROWS, class TI, class TO, class TW, class TABLE>
void run_weights(hls::stream<TI>& in, hls::stream<TO>& out, const TW& wl, const TABLE& tl, int,
                 std::integral_constant<int, 2>) {
  run_cached<CFG, ROWS, pow2_at_least(CFG::PE * CFG::SIMD * CFG::W_BITS)>(in, out, wl, tl);
}

template <int H, int W, int C, int K, int ST, int PAD, int GS, int E, int IN_N, int SIMD, int PE,
          int IB, bool IS, int WB, int OB, bool OS, int PACK = 1, int STORAGE = vg::STORAGE_BRAM,
          int SOURCE = 0, int CHUNK = 0>
bool run_case() {
  constexpr int G = C / GS, OH = (H + 2 * PAD - K) / ST + 1, OW = (W + 2 * PAD - K) / ST + 1;
  constexpr int MW = K * K * GS, MH = GS * E, NF = MH / PE, SF = MW / SIMD;
  constexpr int ACC = vg::acc_bits(MW, IB, IS, WB);
  constexpr int NT = OB > 0 ? (1 << OB) - 1 : 0;
  constexpr int BIAS = OB > 0 && OS ? -(1 << (OB - 1)) : 0;
  typedef typename vg::int_t<IB, IS>::type TI;
  typedef typename vg::int_t<WB, true>::type TW;
  typedef typename vg::acc_t<ACC + 1>::type TT;
  typedef typename std::conditional<(OB > 0), typename vg::int_t<(OB > 0 ? OB : 8), OS>::type,
                                    typename vg::acc_t<ACC>::type>::type TO;
  static long long x[H][W][C], w[G * MH][GS][K][K], thr[G * MH][NT > 0 ? NT : 1];
  static TW wl[PE][G * NF * SF][SIMD];
  static TT tl[PE][G * NF][NT > 0 ? NT : 1];
  for (int y = 0; y < H; y++)
    for (int xx = 0; xx < W; xx++)
      for (int c = 0; c < C; c++) x[y][xx][c] = tb::uniform(tb::lo_of(IB, IS), tb::hi_of(IB, IS));
  for (int o = 0; o < G * MH; o++) {
    for (int c = 0; c < GS; c++)
      for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) w[o][c][a][b] = tb::uniform(tb::lo_of(WB, true), tb::hi_of(WB, true));
    if (NT > 0) tb::random_thresholds(thr[o], NT, -(1LL << (ACC - 3)), 1LL << (ACC - 3));
  }
  // engine layout
  for (int g = 0; g < G; g++)
    for (int nf = 0; nf < NF; nf++)
      for (int pe = 0; pe < PE; pe++) {
        const int o = g * MH + nf * PE + pe;
        for (int i = 0; i < MW; i++) {
          const int kp = i / GS, ci = i % GS;
          wl[pe][(g * NF + nf) * SF + i / SIMD][i % SIMD] = (TW)w[o][ci][kp / K][kp % K];
        }
        for (int t = 0; t < (NT > 0 ? NT : 1); t++) tl[pe][g * NF + nf][t] = (TT)(NT > 0 ? thr[o][t] : 0);
      }
  hls::stream<vg::Word<TI, IN_N> > s_in;
  hls::stream<vg::Word<TI, SIMD> > s_win;
  hls::stream<vg::Word<TO, PE> > s_out;
  for (int y = 0; y < H; y++)
    for (int xx = 0; xx < W; xx++)
      for (int f = 0; f < C / IN_N; f++) {
        vg::Word<TI, IN_N> wd;
        for (int i = 0; i < IN_N; i++) wd.v[i] = (TI)x[y][xx][f * IN_N + i];
        s_in.write(wd);
      }
  typedef typename std::conditional<(OB > 0), vg::thresholds<NT, BIAS, TT>, vg::no_activation>::type Act;
  vg::sliding_window<SwgCfg<H, W, C, K, ST, PAD, GS, IN_N, SIMD, TI> >(s_in, s_win);
  typedef MvauCfg<G, MW, MH, PE, SIMD, OH * OW, IB, IS, WB, ACC, PACK, STORAGE, TI, TW, TO, Act, CHUNK> Cfg;
  run_weights<Cfg, G * NF * SF>(s_win, s_out, wl, tl, OH * OW, std::integral_constant<int, SOURCE>());
  bool ok = s_in.empty() && s_win.empty();
  for (int oy = 0; oy < OH; oy++)
    for (int ox = 0; ox < OW; ox++)
      for (int f = 0; f < G * MH / PE; f++) {
        if (s_out.empty()) return false;
        const vg::Word<TO, PE> wd = s_out.read();
        for (int pe = 0; pe < PE; pe++) {
          const int o = f * PE + pe, g = o / MH;
          long long acc = 0;  // plain reference convolution
          for (int ci = 0; ci < GS; ci++)
            for (int a = 0; a < K; a++)
              for (int b = 0; b < K; b++) {
                const int iy = oy * ST + a - PAD, ix = ox * ST + b - PAD;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += x[iy][ix][g * GS + ci] * w[o][ci][a][b];
              }
          const long long want = NT > 0 ? tb::ref_threshold(acc, thr[o], NT, BIAS) : acc;
          ok = ok && (long long)wd.v[pe] == want;
        }
      }
  return ok && s_out.empty();
}

int main() {
  tb::Report r;
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 4, 4, true, 4, 4, true>(),
          "group conv 3x3/2 pad 1, 16ch -> 32ch (2 groups), int4, PE 4 SIMD 8");
  r.check(run_case<6, 6, 24, 3, 1, 1, 8, 1, 8, 24, 2, 8, false, 8, 8, false, 1, vg::STORAGE_LUTRAM>(),
          "group conv 3x3/1, uint8 in, int8 weights, expansion 1, SIMD 24 (spans kernel positions), LUTRAM weights");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 2, 16, 4, 8, 4, true, 4, 0, true, 1, vg::STORAGE_AUTO>(),
          "dense 1x1 conv 16 -> 32 with raw accumulator output, weights bound by the tool");
  r.check(run_case<7, 7, 16, 7, 1, 0, 8, 1, 8, 56, 1, 8, true, 8, 8, true>(),
          "embedding 7x7 group conv without padding (one output pixel)");
  r.check(run_case<10, 9, 24, 3, 2, 1, 8, 2, 4, 12, 4, 4, true, 4, 4, false>(),
          "group conv 3x3/2, SIMD 12 (half a kernel row: the banks rotate with the window)");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 8, 4, false, 4, 4, true>(),
          "group conv 3x3/1, SIMD 72 (the whole window of a group per word)");
  r.check(run_case<3, 8, 8, 3, 2, 1, 8, 1, 8, 2, 2, 4, true, 4, 4, true>(),
          "group conv 3x3/2 on 3 rows (fewer rows than K + stride)");
  // two PE lanes per DSP multiplier (MAC_PACK 2), extreme codes included by the random draws
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 4, 4, true, 4, 4, true, 2>(),
          "MAC_PACK 2: group conv 3x3/2, int4, PE 4 SIMD 8");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 2, 16, 4, 8, 4, true, 4, 0, true, 2>(),
          "MAC_PACK 2: dense 1x1 conv with raw accumulator output");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 8, 4, false, 4, 4, true, 2>(),
          "MAC_PACK 2: uint4 input, SIMD 72 (a 15-bit field per lane)");
  // two SIMD elements of one PE lane per DSP multiplier (MAC_PACK 2, MAC_PAIR PAIR_SIMD)
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 1, 4, true, 4, 4, true, -2>(),
          "MAC_PAIR SIMD: group conv 3x3/2, int4, PE 1 SIMD 8");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 3, 16, 4, 3, 4, true, 4, 0, true, -2>(),
          "MAC_PAIR SIMD: dense 1x1 conv, PE 3, raw accumulator output");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 24, 1, 4, false, 4, 4, true, -2>(),
          "MAC_PAIR SIMD: uint4 input, SIMD 24 (13-bit fields, both pairs in 18 bits)");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 1, 4, true, 4, 4, true, -2, vg::STORAGE_BRAM, 0, 36>(),
          "MAC_PAIR SIMD: int4 input, SIMD 72 in two chunks of 36 (13-bit fields, both pairs in 18 bits)");
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 1, 4, true, 4, 4, true, -2, vg::STORAGE_BRAM, true>(),
          "DDR weights: MAC_PAIR SIMD, group conv 3x3/2, 20 vectors");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 1, 4, false, 4, 4, true, -2, vg::STORAGE_BRAM, 0, 24>(),
          "MAC_PAIR SIMD: uint4 input, SIMD 72 in three chunks of 24");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 2, 16, 2, 1, 8, true, 4, 0, true, -2>(),
          "MAC_PAIR SIMD: int8 input, dense (the input pair in 22 bits: on the 27-bit port)");
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 24, 1, 4, true, 4, 4, true, -2, vg::STORAGE_BRAM, 0, 6>(),
          "MAC_PAIR SIMD: int4 input, SIMD 24 in four chunks of 6");
  // weights read from a DDR buffer instead of the ROM (vg_ddr.h + mvau_streamed)
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 2, 4, false, 4, 4, true, 1, vg::STORAGE_BRAM, true>(),
          "DDR weights: group conv 3x3/1, 30 vectors, PE 2 SIMD 72 (a 576-bit row in a 1024-bit word)");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 2, 16, 4, 8, 4, true, 4, 0, true, 1, vg::STORAGE_BRAM, true>(),
          "DDR weights: dense 1x1 conv with raw accumulator output");
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 4, 4, true, 4, 4, true, 2, vg::STORAGE_BRAM, true>(),
          "DDR weights: MAC_PACK 2, group conv 3x3/2, 20 vectors");
  // weights cached in URAM, loaded from the buffer by the first frame (vg_ddr.h mvau_cached)
  r.check(run_case<6, 5, 16, 3, 1, 1, 8, 1, 2, 72, 2, 4, false, 4, 4, true, 1, vg::STORAGE_BRAM, 2>(),
          "URAM cache: group conv 3x3/1, PE 2 SIMD 72, second frame from the cache");
  r.check(run_case<5, 5, 16, 1, 1, 0, 16, 2, 16, 4, 8, 4, true, 4, 0, true, 1, vg::STORAGE_BRAM, 2>(),
          "URAM cache: dense 1x1 conv with raw accumulator output");
  r.check(run_case<9, 7, 16, 3, 2, 1, 8, 2, 4, 8, 4, 4, true, 4, 4, true, 2, vg::STORAGE_BRAM, 2>(),
          "URAM cache: MAC_PACK 2, group conv 3x3/2");
  return r.done();
}
