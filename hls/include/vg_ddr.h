// Weights read from DDR: an engine's weight rows from the host-allocated parameter buffer,
// through an AXI4 master, as the stream of weight rows vg::mvau_streamed takes (vg_mvau.h).
//
// The buffer holds each DDR-fed node's rows at the node's offset, one row per PORT_BITS-wide
// word of the master (PORT_BITS a power of two, at least the row's bits): row r's lane pe,
// element s at bits (pe * SIMD + s) * W_BITS of word r, two's complement, the rest of the
// word zero. Words are little-endian in memory, as AXI lays them out (hls/README.md, "Parameter
// buffer"). The engine walks all G*NF*SF rows once per input vector, so the reader streams
// them REPS = PIXELS times a frame: REPS bursts of ROWS consecutive words (the inner loop reads
// consecutive addresses, which the tool turns into bursts; each rep starts one again).
//
// Config C: ROWS, REPS, N (elements a row: PE * SIMD), W_BITS, PORT_BITS; w_t.
#ifndef VG_DDR_H
#define VG_DDR_H

#include "vg_types.h"

namespace vg {

template <int PORT_BITS>
struct ddr_word {
  static_assert(PORT_BITS >= 8 && PORT_BITS <= 1024 && (PORT_BITS & (PORT_BITS - 1)) == 0,
                "ddr_word: an AXI4 master's data width is a power of two from 8 to 1024 bits");
  typedef ap_uint<PORT_BITS> type;
};

template <class C>
void ddr_weight_reader(const typename ddr_word<C::PORT_BITS>::type* mem,
                       hls::stream<Word<typename C::w_t, C::N> >& out) {
  static_assert(C::N * C::W_BITS <= C::PORT_BITS, "ddr_weight_reader: a row must fit one word of the master");
  static_assert(C::ROWS >= 1 && C::REPS >= 1, "ddr_weight_reader: ROWS and REPS must be positive");
  for (int rep = 0; rep < C::REPS; rep++) {
    for (int r = 0; r < C::ROWS; r++) {
#pragma HLS PIPELINE II = 1
      VG_CYCLE(1);  // process 1 of its node (process 0: the engine's loop)
      const typename ddr_word<C::PORT_BITS>::type& word = mem[r];
      Word<typename C::w_t, C::N> row;
      for (int i = 0; i < C::N; i++) {
#pragma HLS UNROLL
        // the field as an unsigned integer, then its two's complement value (without building
        // an ap_int from a range: g++ 12 flags ap_private's constructor as uninitialized)
        const long long u = (long long)word.range((i + 1) * C::W_BITS - 1, i * C::W_BITS).to_uint64();
        row.v[i] = (typename C::w_t)(u >= (1LL << (C::W_BITS - 1)) ? u - (1LL << C::W_BITS) : u);
      }
      out.write(row);
    }
  }
}

#ifndef __SYNTHESIS__
// What an AXI master reads from DDR, for the C-simulations and testbenches: `rows` words of
// PORT_BITS from little-endian bytes (the parameter buffer as the host wrote it).
template <int PORT_BITS>
void ddr_words_from_bytes(const unsigned char* bytes, long rows, typename ddr_word<PORT_BITS>::type* words) {
  for (long r = 0; r < rows; r++) {
    for (int k = 0; k < PORT_BITS / 8; k++) {
      words[r].range(8 * k + 7, 8 * k) = bytes[r * (PORT_BITS / 8) + k];
    }
  }
}
#endif

}  // namespace vg

#endif
