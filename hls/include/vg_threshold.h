// Activation policies, and the multi-threshold layer.
//
// Every engine that produces requantized outputs names its activation in its config struct
// (`typedef ... act`): what becomes of an output channel's accumulator. The engine hands
// act::apply the accumulator and the channel's row of its parameter table; the table is laid
// out [lane][row] of act::chan_t (lane-major, so that each lane owns one memory). A new
// requantizer is a new policy with its own chan_t and apply; the engines do not change.
//
//   thresholds<NT, OUT_BIAS, TT>  BN + PReLU (slope >= 0) + requantization as integer
//                                 compares: out = OUT_BIAS + #{t : acc >= thr[t]} for NT
//                                 thresholds sorted ascending (the flow sorts them and flips
//                                 channels whose function decreases by negating their
//                                 weights). For an output of B bits NT = 2^B - 1; OUT_BIAS =
//                                 -2^(B-1) gives a signed output, 0 an unsigned one.
//   requant<S, NT, OUT_BIAS, TM, PROD_BITS>
//                                 an integer requantization where it equals the thresholds
//                                 (hls/requant.py finds where): out = OUT_BIAS +
//                                 clip(floor((acc * M + B) / 2^S), 0, NT), one multiply-add
//                                 per lane and a table of (M, B) per channel.
//   requant2<S, NT, OUT_BIAS, TM, PROD_BITS>
//                                 two pieces around a kink K (a PReLU channel), the lower
//                                 counting codes 0..J, the upper the rest: a table of
//                                 (M1, B1, M2, B2, J, K) per channel, one multiply per lane.
//   no_activation                 the raw accumulator (the network's last FC); no table.
#ifndef VG_THRESHOLD_H
#define VG_THRESHOLD_H

#include "vg_types.h"

namespace vg {

template <int NT_, int OUT_BIAS_, typename TT>
struct thresholds {
  static_assert(NT_ >= 1, "thresholds: NT must be at least 1");
  static const int NT = NT_;
  static const int OUT_BIAS = OUT_BIAS_;
  typedef TT thr_t;
  typedef TT chan_t[NT_];  // one channel's thresholds

  // Number of thresholds reached, plus the bias. Synthesis: NT parallel comparators and an
  // adder tree. C-simulation: a binary search, which gives the same count because thresholds
  // are sorted and is ~NT/log2(NT) times faster for 8-bit outputs. VG_THRESHOLD_COUNT forces
  // the comparator form in C-sim so that the synthesised code is tested too.
  template <typename TO, typename TA>
  static TO apply(const TA acc, const TT thr[NT_]) {
#if defined(__SYNTHESIS__) || defined(VG_THRESHOLD_COUNT)
    int n = 0;
    for (int t = 0; t < NT_; t++) {
#pragma HLS UNROLL
      n += (acc >= thr[t]) ? 1 : 0;
    }
    return (TO)(OUT_BIAS_ + n);
#else
    int lo = 0, hi = NT_;  // invariant: thr[lo-1] <= acc < thr[hi]
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (acc >= thr[mid]) lo = mid + 1; else hi = mid;
    }
    return (TO)(OUT_BIAS_ + lo);
#endif
  }
};

// v * M + B is computed PROD_BITS wide (the flow gives value bits + table bits + 1, so it
// cannot overflow: hls/engines/activation.py); floor(. / 2^S) is an arithmetic shift.
template <int S_, int PROD_BITS, typename TM, typename TA>
inline typename acc_t<PROD_BITS>::type requant_sum(const TA acc, const TM m, const TM b) {
  typedef typename acc_t<PROD_BITS>::type Wide;
  return ((Wide)acc * (Wide)m + (Wide)b) >> S_;
}

template <typename W>
inline int clip_count(const W v, const int top) {
  return v < 0 ? 0 : (v > top ? top : (int)v);
}

// What both requantizing policies share: their checked sizes.
template <int S_, int NT_, int OUT_BIAS_, int PROD_BITS>
struct requant_sizes {
  static_assert(S_ >= 0 && S_ <= 48 && NT_ >= 1, "requant: shift 0..48, NT >= 1");
  static_assert(PROD_BITS >= 2 && PROD_BITS <= 64, "requant: v * M + B in 2..64 bits");
  static const int NT = NT_;
  static const int OUT_BIAS = OUT_BIAS_;
};

template <int S_, int NT_, int OUT_BIAS_, typename TM, int PROD_BITS = 64>
struct requant : requant_sizes<S_, NT_, OUT_BIAS_, PROD_BITS> {
  typedef TM chan_t[2];  // one channel's M (>= 1) and B

  template <typename TO, typename TA>
  static TO apply(const TA acc, const TM mb[2]) {
    return (TO)(OUT_BIAS_ + clip_count(requant_sum<S_, PROD_BITS>(acc, mb[0], mb[1]), NT_));
  }
};

// Two requantizations around a kink K (a PReLU channel: each side is affine). Values below
// K take the lower piece, clipped to 0..J; the others J plus the upper piece, clipped to
// 0..NT - J. One compare selects the piece's (M, B): one multiply-add per lane, as requant.
template <int S_, int NT_, int OUT_BIAS_, typename TM, int PROD_BITS = 64>
struct requant2 : requant_sizes<S_, NT_, OUT_BIAS_, PROD_BITS> {
  typedef TM chan_t[6];  // M1, B1, M2, B2, J, K

  template <typename TO, typename TA>
  static TO apply(const TA acc, const TM p[6]) {
    const int j = (int)p[4];
    const bool up = acc >= p[5];
    const TM m = up ? p[2] : p[0];
    const TM b = up ? p[3] : p[1];
    return (TO)(OUT_BIAS_ + (up ? j : 0) + clip_count(requant_sum<S_, PROD_BITS>(acc, m, b), up ? NT_ - j : j));
  }
};

struct no_activation {
  // No parameters: the empty table stands in where an engine indexes its table, so the
  // engine's loop is written once for every policy.
  struct table {
    const table& operator[](int) const { return *this; }
  };
  template <typename TO, typename TA>
  static TO apply(const TA acc, const table&) {
    return (TO)acc;
  }
};

// Standalone thresholding layer over a stream of N-element words; channel c of a pixel is
// lane c % N of fold c / N, and its thresholds are thr[c % N][c / N].
// Config C: CH, N, PIXELS; in_t, out_t; act (a thresholds policy).
template <class C>
void threshold_layer(hls::stream<Word<typename C::in_t, C::N> >& in,
                     hls::stream<Word<typename C::out_t, C::N> >& out,
                     const typename C::act::chan_t thr[C::N][C::CH / C::N]) {
  static_assert(C::CH % C::N == 0, "threshold_layer: N (elements per word) must divide CH");
  typedef typename C::act Act;
#pragma HLS ARRAY_PARTITION variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  constexpr int N = C::N, F = C::CH / C::N, PIXELS = C::PIXELS;
  int f = 0;
  for (int it = 0; it < PIXELS * F; it++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const Word<typename C::in_t, N> a = in.read();
    Word<typename C::out_t, N> o;
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
      o.v[i] = Act::template apply<typename C::out_t>(a.v[i], thr[i][f]);
    }
    out.write(o);
    f = f + 1 == F ? 0 : f + 1;
  }
}

}  // namespace vg

#endif
