// Testbench: the shared block engine (vg_shared.h) walking two programs, its weights and
// thresholds read from a parameter buffer by its DDR reader, against a plain reference of
// each op, at three array sizes:
//   convs  group convs at stride 1 and 2, a whole-map kernel with 8 outputs a group, dense
//          layers over several tiles;
//   unit   a VarGFaceNet unit: gconv, pointwise, gconv, pointwise, SE (pool, FC1, FC2 to
//          unsigned gate codes, scale) and the residual add, between the part's input and
//          output streams; FC1's 8 outputs fill half a dense tile, and FC2's one input chunk
//          leaves most of a step of the GP = 2 and 4 arrays empty.
// with the MAC array plain and with two lanes' products a DSP (MAC_PACK 2), and the counted
// cycles of the engine and the reader against the program's formulas.
#define VG_COUNT_CYCLES
#include "tb_common.h"
#include "vg_ddr.h"
#include "vg_shared.h"

#include <vector>

typedef vg::int_t<5, true>::type TM;  // map codes: 4-bit signed activations and 4-bit unsigned gates
typedef vg::int_t<4, true>::type TW;  // 4-bit signed weights
typedef vg::acc_t<20>::type TT;
constexpr int NT = 15, MAP_BITS = 5, WB = 4, THR_BITS = 20, GAP = 12, PORT = 128;
constexpr int ACT = -8, GATE = 0;  // obias: signed 4-bit activations, unsigned 4-bit gates
constexpr int MAPS = 5;
constexpr int slot_chunks(int gp) { return 288 + gp; }  // the largest map (6 x 6 x 8 chunks); = GP mod 2 GP

template <int GP>
struct Convs {
  static constexpr int OPS = 7;
  static constexpr vg::shared_op OPS_[OPS] = {
      vg::make_io_op(vg::OP_IN, 0, 6, 6, 4, GP, GAP),
      vg::make_conv_op(vg::OP_GCONV, 0, 1, 6, 6, 3, 1, 1, 4, 8, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 1, 2, 6, 6, 1, 1, 0, 8, 4, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_GCONV, 2, 1, 6, 6, 3, 2, 1, 4, 8, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 1, 0, 3, 3, 1, 1, 0, 8, 6, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_GCONV, 0, 2, 3, 3, 3, 1, 0, 6, 6, 8, ACT, GP, NT, GAP),
      vg::make_io_op(vg::OP_OUT, 2, 1, 1, 6, GP, GAP),
  };
};
template <int GP>
constexpr vg::shared_op Convs<GP>::OPS_[];

template <int GP>
struct Unit {
  static constexpr int OPS = 11;
  static constexpr vg::shared_op OPS_[OPS] = {
      vg::make_io_op(vg::OP_IN, 0, 4, 4, 4, GP, GAP),
      vg::make_conv_op(vg::OP_GCONV, 0, 1, 4, 4, 3, 1, 1, 4, 8, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 1, 2, 4, 4, 1, 1, 0, 8, 4, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_GCONV, 2, 1, 4, 4, 3, 1, 1, 4, 8, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 1, 3, 4, 4, 1, 1, 0, 8, 4, 16, ACT, GP, NT, GAP),
      vg::make_ew_op(vg::OP_POOL, 3, -1, 2, 4, 4, 4, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 2, 1, 1, 1, 1, 1, 0, 4, 1, 16, ACT, GP, NT, GAP),
      vg::make_conv_op(vg::OP_DENSE, 1, 4, 1, 1, 1, 1, 0, 1, 4, 16, GATE, GP, NT, GAP),
      vg::make_ew_op(vg::OP_SCALE, 3, 4, 1, 4, 4, 4, ACT, GP, NT, GAP),
      vg::make_ew_op(vg::OP_ADD, 0, 1, 2, 4, 4, 4, ACT, GP, NT, GAP),
      vg::make_io_op(vg::OP_OUT, 2, 4, 4, 4, GP, GAP),
  };
};
template <int GP>
constexpr vg::shared_op Unit<GP>::OPS_[];

template <int GP_, template <int> class P, int PACK = 1>
struct Eng {
  static const int GP = GP_, PE = 16, B = 2 * GP_, MAPS = ::MAPS, SF_MAX = 9, GAP = ::GAP, MAC_PACK = PACK;
  static const long long SLOT_CHUNKS = slot_chunks(GP_);
  static const int IN_BITS = MAP_BITS, W_BITS = WB, ACC_BITS = 20, THR_BITS = ::THR_BITS, NT = ::NT;
  static const bool IN_SIGNED = true;
  typedef TM map_t;
  typedef TW w_t;
  typedef vg::thresholds<NT, 0, TT> act;
  static const int OPS = P<GP_>::OPS;
  static constexpr const vg::shared_op* PROG = P<GP_>::OPS_;
  static const long long ITERS = vg::program_iters(P<GP_>::OPS_, P<GP_>::OPS);
};

// The reference: maps as slot arrays of plain ints (chunk index * 8 + element), each op
// computed directly from its definition.
struct Params {
  std::vector<long long> w;    // gconv: [group][mh][k][k][8]; dense: [cout][cin]
  std::vector<long long> thr;  // [cout][NT]
};

static long long& at(std::vector<long long>& slots, long long slot_chunks, int slot, long long chunk, int e) {
  return slots[(size_t)((slot * slot_chunks + chunk) * 8 + e)];
}

static void ref_op(const vg::shared_op& o, const Params& L, std::vector<long long>& s, long long sc,
                   const std::vector<long long>& in, std::vector<long long>& out) {
  const int cin = o.cin8 * 8, cout = o.cout8 * 8;
  auto code = [&](long long v, int c) { return tb::ref_threshold(v, &L.thr[(size_t)c * NT], NT, o.obias); };
  if (o.kind == vg::OP_IN) {
    for (size_t i = 0; i < in.size(); i++) at(s, sc, o.dst, (long long)(i / 8), (int)(i % 8)) = in[i];
    return;
  }
  if (o.kind == vg::OP_OUT) {
    for (long long i = 0; i < (long long)o.h * o.w * cin; i++) out.push_back(at(s, sc, o.src, i / 8, (int)(i % 8)));
    return;
  }
  if (o.kind == vg::OP_POOL) {
    for (int c = 0; c < cin; c++) {
      long long a = 0;
      for (int p = 0; p < o.h * o.w; p++) a += at(s, sc, o.src, (long long)p * o.cin8 + c / 8, c % 8);
      at(s, sc, o.dst, c / 8, c % 8) = code(a, c);
    }
    return;
  }
  if (o.kind == vg::OP_ADD || o.kind == vg::OP_SCALE) {
    for (int p = 0; p < o.h * o.w; p++)
      for (int c = 0; c < cin; c++) {
        const long long x = at(s, sc, o.src, (long long)p * o.cin8 + c / 8, c % 8);
        const long long a = o.kind == vg::OP_ADD ? x + at(s, sc, o.src2, (long long)p * o.cin8 + c / 8, c % 8)
                                                 : x * at(s, sc, o.src2, c / 8, c % 8);
        at(s, sc, o.dst, (long long)p * o.cout8 + c / 8, c % 8) = code(a, c);
      }
    return;
  }
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
                     at(s, sc, o.src, ((long long)iy * o.w + ix) * o.cin8 + g, e);
            }
        } else {
          for (int ci = 0; ci < cin; ci++)
            a += L.w[(size_t)co * cin + ci] * at(s, sc, o.src, ((long long)oy * o.w + ox) * o.cin8 + ci / 8, ci % 8);
        }
        at(s, sc, o.dst, ((long long)oy * o.ow + ox) * o.cout8 + co / 8, co % 8) = code(a, co);
      }
}

// Random weights and thresholds for an op (thresholds spread over the values it sees).
static Params draw(const vg::shared_op& o) {
  Params L;
  const int cin = o.cin8 * 8, cout = o.cout8 * 8;
  const size_t nw = o.kind == vg::OP_GCONV ? (size_t)cout * o.k * o.k * 8 : o.kind == vg::OP_DENSE ? (size_t)cout * cin : 0;
  for (size_t i = 0; i < nw; i++) L.w.push_back(tb::uniform(-8, 7));
  L.thr.resize((size_t)cout * NT);
  const long long spread = o.kind == vg::OP_GCONV ? 40LL * o.k
                           : o.kind == vg::OP_DENSE ? 60LL * o.cin8
                           : o.kind == vg::OP_ADD   ? 12
                           : o.kind == vg::OP_SCALE ? 80
                                                    : 6LL * o.h * o.w;
  for (int c = 0; c < cout; c++) tb::random_thresholds(&L.thr[(size_t)c * NT], NT, -spread, spread);
  return L;
}

// Appends `n` fields of `bits` bits (two's complement) as one row of whole PORT-bit words.
static void put_row(std::vector<unsigned char>& buf, const std::vector<long long>& v, int bits) {
  const size_t row_bytes = (size_t)vg::ceil_div((int)v.size() * bits, PORT) * PORT / 8, base = buf.size();
  buf.resize(base + row_bytes, 0);
  for (size_t i = 0; i < v.size(); i++)
    for (int b = 0; b < bits; b++)
      if ((v[i] >> b) & 1) buf[base + (i * bits + b) / 8] |= (unsigned char)(1u << ((i * bits + b) % 8));
}

// The op's rows in the buffer, tile by tile (the layout of vg_shared.h's reader).
template <int GP>
static void pack(const vg::shared_op& o, const Params& L, std::vector<unsigned char>& buf) {
  const int cin = o.cin8 * 8;
  for (int t = 0; t < o.tiles; t++) {
    for (int sf = 0; sf < o.wrows; sf++) {
      std::vector<long long> row(16 * GP * 8, 0);
      for (int k = 0; k < 16; k++)
        for (int j = 0; j < GP; j++)
          for (int e = 0; e < 8; e++) {
            long long v = 0;
            if (o.kind == vg::OP_GCONV) {
              const int g = t * GP + j, ky = sf / o.k, kx = sf % o.k;
              if (k < o.mh) v = L.w[(((size_t)(g * o.mh + k) * o.k + ky) * o.k + kx) * 8 + e];
            } else if (sf * GP + j < o.cin8 && t * 16 + k < o.cout8 * 8) {  // past cout: zero
              v = L.w[(size_t)(t * 16 + k) * cin + (sf * GP + j) * 8 + e];
            }
            row[(k * GP + j) * 8 + e] = v;
          }
      put_row(buf, row, WB);
    }
    const int lanes = o.kind == vg::OP_GCONV ? GP * 16 : o.kind == vg::OP_DENSE ? 16 : GP * 8;
    for (int r = 0; r < o.trows; r++) {
      std::vector<long long> row(16 * GP, 0);
      for (int l = 0; l < 16 * GP; l++) {
        const int tt = r * o.q + l / lanes, lane = l % lanes;
        int ch = -1;
        if (o.kind == vg::OP_GCONV && lane % 16 < o.mh) ch = (t * GP + lane / 16) * o.mh + lane % 16;
        if (o.kind == vg::OP_DENSE) ch = t * 16 + lane;
        if (o.kind != vg::OP_GCONV && o.kind != vg::OP_DENSE) ch = t * GP * 8 + lane;
        if (tt < NT && ch >= 0 && ch < o.cout8 * 8) row[l] = L.thr[(size_t)ch * NT + tt];
      }
      put_row(buf, row, THR_BITS);
    }
  }
}

template <int GP, template <int> class P, int PACK = 1>
static void run(tb::Report& rep, const char* name) {
  typedef Eng<GP, P, PACK> E;
  typedef vg::shared_types<E> Ty;
  constexpr int B = E::B;
  constexpr long long SC = E::SLOT_CHUNKS, ROWS = Ty::ROWS;
  static typename Ty::chunk maps[B][ROWS];
  std::vector<long long> slots((size_t)ROWS * B * 8, 0);
  // the part's input, every slot's old contents random (a slot is read only once written)
  const vg::shared_op& first = E::PROG[0];
  std::vector<long long> in((size_t)first.h * first.w * first.cin8 * 8), out;
  for (auto& v : in) v = tb::uniform(-8, 7);
  for (auto& v : slots) v = tb::uniform(-16, 15);
  for (int b = 0; b < B; b++)
    for (long long r = 0; r < ROWS; r++)
      for (int e = 0; e < 8; e++) maps[b][r].v[e] = (TM)slots[(size_t)((r * B + b) * 8 + e)];

  std::vector<unsigned char> bytes;
  for (int n = 0; n < E::OPS; n++) {
    const Params L = draw(E::PROG[n]);
    pack<GP>(E::PROG[n], L, bytes);
    ref_op(E::PROG[n], L, slots, SC, in, out);
  }
  const long long words = (long long)bytes.size() / (PORT / 8);
  std::vector<typename vg::ddr_word<PORT>::type> mem((size_t)words);
  vg::ddr_words_from_bytes<PORT>(bytes.data(), words, mem.data());

  hls::stream<typename Ty::wrow> wts("wts");
  hls::stream<typename Ty::trow> thrs("thrs");
  hls::stream<typename Ty::io_word> sin("in"), sout("out");
  for (size_t i = 0; i < in.size(); i += GP * 8) {
    typename Ty::io_word w;
    for (int e = 0; e < GP * 8; e++) w.v[e] = (TM)in[i + e];
    sin.write(w);
  }
  long long counted[vg::sched::MAX_PROCS] = {};
  vg::sched::stages() = counted;
  VG_STAGE(0);
  vg::shared_reader<E, PORT>(mem.data(), wts, thrs);
  vg::shared_block<E>(maps, wts, thrs, sin, sout);
  vg::sched::stages() = nullptr;

  // a check that can fail: the thresholds spread the ops' outputs over the codes
  int seen[32] = {};
  for (long long v : out) seen[v + 16]++;
  int distinct = 0;
  for (int v : seen) distinct += v > 0;
  char what[200];
  std::snprintf(what, sizeof what, "shared_block %s GP=%d: the reference's output takes %d codes", name, GP, distinct);
  rep.check(distinct >= 12, what);
  long long bad = 0, n_out = 0;
  while (!sout.empty()) {
    const typename Ty::io_word w = sout.read();
    for (int e = 0; e < GP * 8; e++, n_out++) bad += n_out >= (long long)out.size() || (long long)w.v[e] != out[n_out];
  }
  for (int b = 0; b < B; b++)
    for (long long r = 0; r < ROWS; r++)
      for (int e = 0; e < 8; e++) bad += (long long)maps[b][r].v[e] != slots[(size_t)((r * B + b) * 8 + e)];
  std::snprintf(what, sizeof what,
                "shared_block %s GP=%d: the output stream and every slot equal the reference after %d ops "
                "(%lld codes differ)", name, GP, E::OPS, bad);
  rep.check(bad == 0 && n_out == (long long)out.size(), what);
  rep.check(wts.empty() && thrs.empty() && sin.empty(), "shared_block: every row and input word read");
  std::snprintf(what, sizeof what, "shared_block %s GP=%d: counted cycles %lld == the program's formula %lld", name,
                GP, counted[0], (long long)E::ITERS);
  rep.check(counted[0] == E::ITERS, what);
  std::snprintf(what, sizeof what, "shared_reader %s GP=%d: counted cycles %lld == the buffer's words %lld", name, GP,
                counted[1], words);
  rep.check(counted[1] == words, what);
}

int main() {
  tb::Report rep;
  run<1, Convs>(rep, "convs");
  run<2, Convs>(rep, "convs");
  run<1, Unit>(rep, "unit");
  run<2, Unit>(rep, "unit");
  run<4, Unit>(rep, "unit");
  run<2, Convs, 2>(rep, "convs-packed");  // two lanes a DSP
  run<2, Unit, 2>(rep, "unit-packed");
  return rep.done();
}
