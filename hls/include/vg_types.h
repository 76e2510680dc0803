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

// ---- element types -----------------------------------------------------------------------
// int_t<BITS, SIGNED>::type is ap_int/ap_uint for synthesis. With VG_NATIVE_TYPES defined
// (fast C-simulation) it is the smallest native integer that holds BITS: values are the
// same codes, but arithmetic runs 25-40x faster than ap_int in g++.
template <int BITS, bool SIGNED>
struct int_t {
#ifdef VG_NATIVE_TYPES
  static_assert(BITS <= 64, "VG_NATIVE_TYPES holds at most 64 bits");
  typedef typename std::conditional<
      BITS <= 8, typename std::conditional<SIGNED, int8_t, uint8_t>::type,
      typename std::conditional<
          BITS <= 16, typename std::conditional<SIGNED, int16_t, uint16_t>::type,
          typename std::conditional<
              BITS <= 32, typename std::conditional<SIGNED, int32_t, uint32_t>::type,
              typename std::conditional<SIGNED, int64_t, uint64_t>::type>::type>::type>::type
      type;
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

// One stream word: N elements.
template <typename T, int N>
struct Word {
  T v[N];
};

}  // namespace vg

#endif
