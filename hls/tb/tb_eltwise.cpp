// Testbench: thresholding, residual add, duplication, width conversion, SE pool and scale,
// each against a plain reference loop.
#include "tb_common.h"
#include "vg_eltwise.h"
#include "vg_se.h"

constexpr int CH = 24, N = 4, PX = 10;
typedef vg::int_t<5, true>::type TI;
typedef vg::int_t<4, false>::type TG;
typedef vg::int_t<4, true>::type TO;
typedef vg::acc_t<16>::type TT;
constexpr int NT = 15, BIAS = -8;

typedef vg::thresholds<NT, BIAS, TT> Act;

// the instances' config structs (the flow generates one per node the same way)
struct ThrCfg {
  static const int CH = ::CH, N = ::N, PIXELS = PX;
  typedef TI in_t;
  typedef TO out_t;
  typedef Act act;
};
struct AddCfg {
  static const int CH = ::CH, N = ::N, PIXELS = PX, IN_BITS = 5, SUM_BITS = 6;
  static const bool IN_SIGNED = true;
  typedef TI a_t;
  typedef TI b_t;
  typedef TO out_t;
  typedef Act act;
};
struct PoolCfg {
  static const int CH = ::CH, N = ::N, PIXELS = PX, IN_BITS = 5, SUM_BITS = 10;
  static const bool IN_SIGNED = true;
  typedef TI in_t;
  typedef vg::acc_t<10>::type sum_t;
};
struct SECfg {
  static const int CH = ::CH, N = ::N, PIXELS = PX, X_BITS = 5, G_BITS = 4;
  static const bool X_SIGNED = true;
  typedef TI x_t;
  typedef TG gate_t;
  typedef TO out_t;
  typedef Act act;
};

constexpr int REQ_SHIFT = 12;
struct ReqCfg {  // threshold_layer with an integer requantization instead of thresholds
  static const int CH = ::CH, N = ::N, PIXELS = PX;
  typedef TI in_t;
  typedef TO out_t;
  typedef vg::requant<REQ_SHIFT, NT, BIAS, vg::acc_t<24>::type, 30> act;  // 5 + 24 + 1 bits
};
struct Req2Cfg {  // two requantizations around a kink (a PReLU channel)
  static const int CH = ::CH, N = ::N, PIXELS = PX;
  typedef TI in_t;
  typedef TO out_t;
  typedef vg::requant2<REQ_SHIFT, NT, BIAS, vg::acc_t<24>::type, 30> act;
};

// clip(floor(num / 2^S), 0, top), written without shifts of negative numbers
long long ref_piece(long long num, int s, long long top) {
  const long long q = num >= 0 ? num / (1LL << s) : -((-num + (1LL << s) - 1) / (1LL << s));
  return q < 0 ? 0 : (q > top ? top : q);
}

static long long a[PX][CH], b[PX][CH], thr[CH][NT];
static TT tl[N][CH / N][NT];

template <typename T>
void push(hls::stream<vg::Word<T, N> >& s, long long (*v)[CH]) {
  for (int p = 0; p < PX; p++)
    for (int f = 0; f < CH / N; f++) {
      vg::Word<T, N> w;
      for (int i = 0; i < N; i++) w.v[i] = (T)v[p][f * N + i];
      s.write(w);
    }
}

void set_thresholds(long long lo, long long hi) {
  for (int c = 0; c < CH; c++) {
    tb::random_thresholds(thr[c], NT, lo, hi);
    for (int t = 0; t < NT; t++) tl[c % N][c / N][t] = (TT)thr[c][t];
  }
}

// Reads one frame of output words; element c of pixel p must equal want(p, c). Also fails on
// words left over.
template <typename F>
bool expect_frame(hls::stream<vg::Word<TO, N> >& out, F want) {
  bool ok = true;
  for (int p = 0; p < PX; p++)
    for (int f = 0; f < CH / N; f++) {
      const vg::Word<TO, N> w = out.read();
      for (int i = 0; i < N; i++) ok = ok && (long long)w.v[i] == want(p, f * N + i);
    }
  return ok && out.empty();
}

int main() {
  tb::Report r;
  for (int p = 0; p < PX; p++)
    for (int c = 0; c < CH; c++) {
      a[p][c] = tb::uniform(-16, 15);
      b[p][c] = tb::uniform(-16, 15);
    }
  {  // thresholding
    set_thresholds(-16, 15);
    hls::stream<vg::Word<TI, N> > in;
    hls::stream<vg::Word<TO, N> > out;
    push(in, a);
    vg::threshold_layer<ThrCfg>(in, out, tl);
    r.check(expect_frame(out, [&](int p, int c) { return tb::ref_threshold(a[p][c], thr[c], NT, BIAS); }),
            "threshold_layer int5 -> int4, 24 channels, N 4");
  }
  {  // residual add with thresholds
    set_thresholds(-32, 31);
    hls::stream<vg::Word<TI, N> > sa, sb;
    hls::stream<vg::Word<TO, N> > out;
    push(sa, a);
    push(sb, b);
    vg::add_threshold<AddCfg>(sa, sb, out, tl);
    r.check(expect_frame(out, [&](int p, int c) { return tb::ref_threshold(a[p][c] + b[p][c], thr[c], NT, BIAS); }),
            "add_threshold: extreme int5 sums need the 6-bit sum");
  }
  {  // duplicate + width conversion 4 -> 6 -> 4
    hls::stream<vg::Word<TI, N> > in, d1, d2, back;
    hls::stream<vg::Word<TI, 6> > wide;
    push(in, a);
    vg::duplicate<PX * CH / N, N, TI>(in, d1, d2);
    vg::width_convert<PX * CH, N, 6, TI>(d1, wide);
    vg::width_convert<PX * CH, 6, N, TI>(wide, back);
    bool ok = wide.empty();
    for (int p = 0; p < PX; p++)
      for (int f = 0; f < CH / N; f++) {
        const vg::Word<TI, N> w1 = back.read(), w2 = d2.read();
        for (int i = 0; i < N; i++)
          ok = ok && (long long)w1.v[i] == a[p][f * N + i] && (long long)w2.v[i] == a[p][f * N + i];
      }
    r.check(ok && back.empty() && d2.empty(), "duplicate, width_convert 4 -> 6 -> 4 keeps order");
  }
  {  // SE: pool sums and the gated requantization
    hls::stream<vg::Word<TI, N> > in, xs;
    hls::stream<vg::Word<vg::acc_t<10>::type, N> > sums;
    push(in, a);
    vg::global_acc_pool<PoolCfg>(in, sums);
    bool ok = true;
    long long gate[CH];
    for (int f = 0; f < CH / N; f++) {
      const auto w = sums.read();
      for (int i = 0; i < N; i++) {
        long long s = 0;
        for (int p = 0; p < PX; p++) s += a[p][f * N + i];
        ok = ok && (long long)w.v[i] == s;
        gate[f * N + i] = tb::uniform(0, 15);
      }
    }
    r.check(ok && sums.empty(), "global_acc_pool sums 10 pixels of int5");
    set_thresholds(-16 * 15, 15 * 15);
    hls::stream<vg::Word<TG, N> > gs;
    hls::stream<vg::Word<TO, N> > out;
    push(xs, a);
    for (int f = 0; f < CH / N; f++) {
      vg::Word<TG, N> w;
      for (int i = 0; i < N; i++) w.v[i] = (TG)gate[f * N + i];
      gs.write(w);
    }
    vg::se_scale<SECfg>(xs, gs, out, tl);
    r.check(expect_frame(out, [&](int p, int c) {
              return tb::ref_threshold(a[p][c] * gate[c], thr[c], NT, BIAS);
            }),
            "se_scale: a frame behind its gates, int5 x uint4 gate, requantized");
  }
  {  // the requant policy: the same engine, one multiply-add per lane instead of NT compares
    static vg::acc_t<24>::type mb[N][CH / N][2];
    long long m[CH], bb[CH];
    for (int c = 0; c < CH; c++) {
      m[c] = tb::uniform(1, 1 << 14);  // up to 4 levels per input step
      bb[c] = tb::uniform(-(1LL << 16), 1LL << 16);
      mb[c % N][c / N][0] = m[c];
      mb[c % N][c / N][1] = bb[c];
    }
    hls::stream<vg::Word<TI, N> > in;
    hls::stream<vg::Word<TO, N> > out;
    push(in, a);
    vg::threshold_layer<ReqCfg>(in, out, mb);
    r.check(expect_frame(out, [&](int p, int c) {
              return BIAS + ref_piece(a[p][c] * m[c] + bb[c], REQ_SHIFT, NT);
            }),
            "threshold_layer with the requant policy: clip(floor((x*M + B) / 2^S))");
  }
  {  // requant2: two pieces around a kink K, the lower counting 0..J, the upper the rest
    static vg::acc_t<24>::type p6[N][CH / N][6];
    long long q[CH][6];
    for (int c = 0; c < CH; c++) {
      q[c][0] = tb::uniform(1, 1 << 14);
      q[c][1] = tb::uniform(-(1LL << 16), 1LL << 16);
      q[c][2] = tb::uniform(1, 1 << 14);
      q[c][3] = tb::uniform(-(1LL << 16), 1LL << 16);
      q[c][4] = c % (NT + 1);  // every split 0..NT, the ends included
      q[c][5] = tb::uniform(-17, 16);  // the kink: below, inside and above the int5 inputs
      for (int k = 0; k < 6; k++) p6[c % N][c / N][k] = q[c][k];
    }
    hls::stream<vg::Word<TI, N> > in;
    hls::stream<vg::Word<TO, N> > out;
    push(in, a);
    vg::threshold_layer<Req2Cfg>(in, out, p6);
    r.check(expect_frame(out, [&](int p, int c) {
              const long long x = a[p][c];
              return x < q[c][5] ? BIAS + ref_piece(x * q[c][0] + q[c][1], REQ_SHIFT, q[c][4])
                                 : BIAS + q[c][4] + ref_piece(x * q[c][2] + q[c][3], REQ_SHIFT, NT - q[c][4]);
            }),
            "threshold_layer with the requant2 policy: the piece chosen at K, split J = 0..NT");
  }
  return r.done();
}
