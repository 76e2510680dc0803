// Testbench: the shared block engine's convolution (vg_shared.h) walking a layer program
// (group convs at stride 1 and 2, a whole-map kernel with 8 outputs a group, dense layers
// over several tiles), against a plain reference convolution of each layer, at two array
// sizes; and its counted cycles against the program's formula.
#define VG_COUNT_CYCLES
#include "tb_common.h"
#include "vg_shared.h"

#include <vector>

typedef vg::int_t<4, false>::type TM;  // map codes: 4-bit unsigned activations
typedef vg::int_t<4, true>::type TW;   // 4-bit signed weights
typedef vg::acc_t<16>::type TT;
constexpr int NT = 15, MAP_BITS = 4, WB = 4;
constexpr int MAPS = 3, SLOT = 288;  // the largest map: 6 x 6 pixels x 8 chunks

// A 6x6 map of 32 channels through a block's layers: gconv 3x3 (32 -> 64), dense (64 -> 32),
// gconv 3x3 stride 2 (-> 3x3), dense (64 -> 48, three tiles), gconv 3x3 without padding
// (the whole 3x3 map, 8 outputs a group, as VarGFaceNet's embedding gconv).
template <int GP>
struct Prog {
  static constexpr vg::conv_op OPS_[5] = {
      vg::make_conv_op(vg::OP_GCONV, 0, 1, 6, 6, 3, 1, 1, 4, 8, 16, GP, NT),
      vg::make_conv_op(vg::OP_DENSE, 1, 2, 6, 6, 1, 1, 0, 8, 4, 16, GP, NT),
      vg::make_conv_op(vg::OP_GCONV, 2, 1, 6, 6, 3, 2, 1, 4, 8, 16, GP, NT),
      vg::make_conv_op(vg::OP_DENSE, 1, 0, 3, 3, 1, 1, 0, 8, 6, 16, GP, NT),
      vg::make_conv_op(vg::OP_GCONV, 0, 2, 3, 3, 3, 1, 0, 6, 6, 8, GP, NT),
  };
};
template <int GP>
constexpr vg::conv_op Prog<GP>::OPS_[5];

template <int GP_>
struct Eng {
  static const int GP = GP_, PE = 16, B = 2 * GP_, MAPS = ::MAPS, SLOT_CHUNKS = SLOT, SF_MAX = 9;
  static const int IN_BITS = MAP_BITS, W_BITS = WB, ACC_BITS = 16, NT = ::NT;
  static const bool IN_SIGNED = false;
  typedef TM map_t;
  typedef TW w_t;
  typedef vg::thresholds<NT, 0, TT> act;
  static const int OPS = 5;
  static constexpr const vg::conv_op* PROG = Prog<GP_>::OPS_;
  static const long long ITERS = vg::program_iters(Prog<GP_>::OPS_, 5);
};

// The reference: maps as slot arrays of plain ints (chunk index * 8 + element), each layer a
// direct convolution with the layer's thresholds.
struct Layer {
  std::vector<long long> w;    // gconv: [group][mh][k][k][8]; dense: [cout][cin]
  std::vector<long long> thr;  // [cout][NT]
};

static void ref_layer(const vg::conv_op& o, const Layer& L, std::vector<long long>& slots) {
  const int cin = o.cin8 * 8, cout = o.cout8 * 8;
  for (int oy = 0; oy < o.oh; oy++)
    for (int ox = 0; ox < o.ow; ox++)
      for (int co = 0; co < cout; co++) {
        long long a = 0;
        if (o.kind == vg::OP_GCONV) {
          const int g = co / o.mh, m = co % o.mh;
          for (int ky = 0; ky < o.k; ky++)
            for (int kx = 0; kx < o.k; kx++) {
              const int iy = oy * o.stride + ky - o.pad, ix = ox * o.stride + kx - o.pad;
              if (iy < 0 || iy >= o.h || ix < 0 || ix >= o.w) continue;
              for (int e = 0; e < 8; e++)
                a += L.w[(((size_t)(g * o.mh + m) * o.k + ky) * o.k + kx) * 8 + e] *
                     slots[(size_t)o.src * SLOT * 8 + ((size_t)iy * o.w + ix) * cin + g * 8 + e];
            }
        } else {
          for (int ci = 0; ci < cin; ci++)
            a += L.w[(size_t)co * cin + ci] * slots[(size_t)o.src * SLOT * 8 + ((size_t)oy * o.w + ox) * cin + ci];
        }
        slots[(size_t)o.dst * SLOT * 8 + ((size_t)oy * o.ow + ox) * cout + co] =
            tb::ref_threshold(a, &L.thr[(size_t)co * NT], NT, 0);
      }
}

template <int GP>
static void run(tb::Report& rep) {
  typedef Eng<GP> E;
  typedef vg::shared_types<E> Ty;
  constexpr int B = E::B;
  static typename Ty::chunk maps[B][MAPS * SLOT / B];
  std::vector<long long> slots((size_t)MAPS * SLOT * 8, 0);
  // the block's input in slot 0
  const vg::conv_op& first = E::PROG[0];
  for (long long i = 0; i < (long long)first.h * first.w * first.cin8 * 8; i++)
    slots[i] = tb::uniform(0, (1 << MAP_BITS) - 1);
  for (int b = 0; b < B; b++)
    for (int r = 0; r < MAPS * SLOT / B; r++)
      for (int e = 0; e < 8; e++) maps[b][r].v[e] = (TM)slots[((size_t)r * B + b) * 8 + e];

  hls::stream<typename Ty::wrow> wts("wts");
  hls::stream<typename Ty::trow> thrs("thrs");
  for (int n = 0; n < E::OPS; n++) {
    const vg::conv_op& o = E::PROG[n];
    const int cin = o.cin8 * 8, cout = o.cout8 * 8;
    Layer L;
    const size_t nw = o.kind == vg::OP_GCONV ? (size_t)cout * o.k * o.k * 8 : (size_t)cout * cin;
    for (size_t i = 0; i < nw; i++) L.w.push_back(tb::uniform(-8, 7));
    L.thr.resize((size_t)cout * NT);
    const long long spread = o.kind == vg::OP_GCONV ? 40LL * o.k : 60LL * o.cin8;
    for (int c = 0; c < cout; c++) tb::random_thresholds(&L.thr[(size_t)c * NT], NT, -spread, spread);
    // the rows, tile by tile, as the DDR reader will stream them
    for (int t = 0; t < o.tiles; t++) {
      for (int sf = 0; sf < o.sf; sf++) {
        typename Ty::wrow row;
        for (int k = 0; k < 16; k++)
          for (int j = 0; j < GP; j++)
            for (int e = 0; e < 8; e++) {
              long long v = 0;
              if (o.kind == vg::OP_GCONV) {
                const int g = t * GP + j, ky = sf / o.k, kx = sf % o.k;
                if (k < o.mh) v = L.w[(((size_t)(g * o.mh + k) * o.k + ky) * o.k + kx) * 8 + e];
              } else {
                v = L.w[(size_t)(t * 16 + k) * cin + (sf * GP + j) * 8 + e];
              }
              row.v[(k * GP + j) * 8 + e] = (TW)v;
            }
        wts.write(row);
      }
      for (int r = 0; r < o.trows; r++) {
        typename Ty::trow row;
        for (int j = 0; j < GP; j++)
          for (int k = 0; k < 16; k++) {
            long long v = 0;
            if (o.kind == vg::OP_GCONV && k < o.mh) v = L.thr[(size_t)((t * GP + j) * o.mh + k) * NT + r];
            if (o.kind == vg::OP_DENSE && r * GP + j < NT) v = L.thr[(size_t)(t * 16 + k) * NT + r * GP + j];
            row.v[j * 16 + k] = (TT)v;
          }
        thrs.write(row);
      }
    }
    ref_layer(o, L, slots);
  }

  long long counted[vg::sched::MAX_PROCS] = {};
  vg::sched::stages() = counted;
  VG_STAGE(0);
  vg::shared_conv<E>(maps, wts, thrs);
  vg::sched::stages() = nullptr;

  // a check that can fail: the thresholds spread each layer's outputs over the codes
  int seen[1 << MAP_BITS] = {};
  for (long long v : slots) seen[v]++;
  int distinct = 0;
  for (int v : seen) distinct += v > 0;
  rep.check(distinct == (1 << MAP_BITS), "shared_conv: the reference's maps take every output code");
  long long bad = 0;
  for (int b = 0; b < B; b++)
    for (int r = 0; r < MAPS * SLOT / B; r++)
      for (int e = 0; e < 8; e++) bad += (long long)maps[b][r].v[e] != slots[((size_t)r * B + b) * 8 + e];
  char what[160];
  std::snprintf(what, sizeof what, "shared_conv GP=%d: every slot equals the reference after %d layers (%lld codes differ)",
                GP, E::OPS, bad);
  rep.check(bad == 0, what);
  rep.check(wts.empty() && thrs.empty(), "shared_conv: every weight and threshold row read");
  std::snprintf(what, sizeof what, "shared_conv GP=%d: counted cycles %lld == the program's formula %lld", GP,
                counted[0], (long long)E::ITERS);
  rep.check(counted[0] == E::ITERS, what);
}

int main() {
  tb::Report rep;
  run<1>(rep);
  run<2>(rep);
  return rep.done();
}
