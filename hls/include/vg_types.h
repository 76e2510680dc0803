// Common types of the VarGNet engine library: stream words, element types, bit-width math.
//
// Every inter-layer stream carries a feature map pixel by pixel (row-major), each pixel's
// channels in order, N consecutive channels per word (N divides the channel count). A word is
// a plain array of N elements; the generated top packs words into AXI-stream bits at its edges.
#ifndef VG_TYPES_H
#define VG_TYPES_H

#include <stdint.h>

#include <type_traits>

#include "ap_int.h"
#include "hls_stream.h"

namespace vg {

// ---- compile-time bit-width arithmetic ----------------------------------------------------
constexpr int clog2(unsigned long long v) {  // ceil(log2(v)), v >= 1
  return v <= 1 ? 0 : 1 + clog2((v + 1) / 2);
}
constexpr long long max_abs(int bits, bool is_signed) {  // largest magnitude of a code
  return is_signed ? (1LL << (bits - 1)) : ((1LL << bits) - 1);
}
// Signed accumulator bits that hold any sum of `terms` products of an input code (in_bits,
// in_signed) and a signed weight code (w_bits) without overflow.
constexpr int acc_bits(long long terms, int in_bits, bool in_signed, int w_bits) {
  return 1 + clog2((unsigned long long)(terms * max_abs(in_bits, in_signed) *
                                        max_abs(w_bits, true)) + 1);
}

// ---- memory binding ----------------------------------------------------------------------
// How a node's memory is implemented (config member W_STORAGE): the
// description's `memory` field as the flow's estimate resolved it (hls/resources.py
// memory_style), so that the estimate is a claim about the code. A pragma's impl= cannot
// name a template parameter, so each engine has one specialization per binding.
enum storage { STORAGE_AUTO = 0, STORAGE_LUTRAM = 1, STORAGE_BRAM = 2, STORAGE_URAM = 3 };

// Which two products of an MVAU share one DSP48E2 multiplier with MAC_PACK = 2 (config
// member MAC_PAIR, vg_mvau.h): two PE lanes' at one SIMD element, or two SIMD elements' of
// one PE lane.
enum mac_pair { PAIR_PE = 0, PAIR_SIMD = 1 };

// ---- element types -----------------------------------------------------------------------
// The smallest native integer that holds BITS (codes, not arithmetic semantics: values are
// always kept inside their BITS-bit range by the engines).
template <int BITS, bool SIGNED>
struct native_int {
  static_assert(BITS <= 64, "a native integer holds at most 64 bits");
  typedef typename std::conditional<
      BITS <= 8, typename std::conditional<SIGNED, int8_t, uint8_t>::type,
      typename std::conditional<
          BITS <= 16, typename std::conditional<SIGNED, int16_t, uint16_t>::type,
          typename std::conditional<
              BITS <= 32, typename std::conditional<SIGNED, int32_t, uint32_t>::type,
              typename std::conditional<SIGNED, int64_t, uint64_t>::type>::type>::type>::type
      type;
};

// int_t<BITS, SIGNED>::type is ap_int/ap_uint for synthesis. With VG_NATIVE_TYPES defined
// (fast C-simulation) it is the smallest native integer that holds BITS: values are the
// same codes, but arithmetic runs 25-40x faster than ap_int in g++.
template <int BITS, bool SIGNED>
struct int_t {
#ifdef VG_NATIVE_TYPES
  typedef typename native_int<BITS, SIGNED>::type type;
#else
  typedef typename std::conditional<SIGNED, ap_int<BITS>, ap_uint<BITS> >::type type;
#endif
};

// Accumulator type: signed, BITS wide.
template <int BITS>
struct acc_t {
#ifdef VG_NATIVE_TYPES
  typedef typename std::conditional<BITS <= 32, int32_t, int64_t>::type type;
#else
  typedef ap_int<BITS> type;
#endif
};

// Element type of a parameter memory (weights, thresholds): BITS wide for synthesis, the
// smallest native integer in every C-simulation (the same codes; the engines convert them to
// their arithmetic types). g++ compiles constant tables of ap_int far too slowly for a
// network's ROM initialisers (weights.h): a 300k-entry ap_int<4> table did not compile in 10
// minutes, the same table of int8_t in 0.7 s.
template <int BITS, bool SIGNED>
struct param_t {
#ifdef __SYNTHESIS__
  typedef typename std::conditional<SIGNED, ap_int<BITS>, ap_uint<BITS> >::type type;
#else
  typedef typename native_int<BITS, SIGNED>::type type;
#endif
};

// One stream word: N elements.
template <typename T, int N>
struct Word {
  T v[N];
};

// A packed row of N signed W_BITS-bit fields (the parameter buffer's word format, hls/README.md):
// field i at bits i*W_BITS, two's complement. The DDR reader and the URAM weight cache
// loader (both in vg_ddr.h) take rows apart with this one decoder.
template <class T, int N, int W_BITS, class BITS>
inline Word<T, N> unpack_row(const BITS& word) {
#pragma HLS INLINE
  Word<T, N> row;
  for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
    // the field as an unsigned integer, then its two's complement value (without building an
    // ap_int from a range: g++ 12 flags ap_private's constructor as uninitialized)
    const long long u = (long long)word.range((i + 1) * W_BITS - 1, i * W_BITS).to_uint64();
    row.v[i] = (T)(u >= (1LL << (W_BITS - 1)) ? u - (1LL << W_BITS) : u);
  }
  return row;
}

// Larger / smaller of two compile-time integers (sizes of banks and loop trip counts).
constexpr long long cmax(long long a, long long b) { return a > b ? a : b; }
constexpr long long cmin(long long a, long long b) { return a < b ? a : b; }
constexpr long long cgcd(long long a, long long b) {
  while (b != 0) {
    const long long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

}  // namespace vg

// ---- schedule counting ---------------------------------------------------------------------
// Every pipelined (II = 1) loop body starts with VG_CYCLE(p): one iteration, one cycle of
// process p of the engine (p = 0 for single-process engines; the fill and emit processes of
// an SE scale, which run concurrently under DATAFLOW, are 0 and 1). Built with
// VG_COUNT_CYCLES (C-simulation only) it counts the iterations into the row of counters the
// harness chose with VG_STAGE(k) before calling the engine (vg::sched::stages() points at the
// harness's rows); otherwise, and always under synthesis, both are nothing.
// A node's cycles per frame are the largest of its processes' counts: loops of one process
// run one after another (their counts add), processes of a DATAFLOW region overlap.
#if defined(VG_COUNT_CYCLES) && !defined(__SYNTHESIS__)
namespace vg {
namespace sched {
constexpr int MAX_PROCS = 4;
inline long long* sink() {
  static long long s[MAX_PROCS];
  return s;
}
inline long long*& current() {
  static long long* cur = sink();
  return cur;
}
// The harness's counters: one row of MAX_PROCS per stage (engine call) it runs, or null.
inline long long*& stages() {
  static long long* base = nullptr;
  return base;
}
inline void tick(int proc) { current()[proc]++; }
// Counts the following engine's iterations into row k of the harness's counters.
inline void stage(int k) { current() = stages() ? stages() + k * MAX_PROCS : sink(); }
}  // namespace sched
}  // namespace vg
#define VG_CYCLE(proc) ::vg::sched::tick(proc)
#define VG_STAGE(k) ::vg::sched::stage(k)
#else
#define VG_CYCLE(proc)
#define VG_STAGE(k)
#endif

#endif
