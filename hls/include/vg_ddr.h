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

#include "vg_mvau.h"
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
      out.write(unpack_row<typename C::w_t, C::N, C::W_BITS>(mem[r]));
    }
  }
}

// Weights cached in URAM (memory "uram" on an MVAU): the node's rows, filled once when `load`
// is set (the host sets it for the first frame after it fills the buffer), decoded by the
// loader (vg_types.h unpack_row, the DDR reader's decoder), kept in a static URAM array
// across frames and walked by the engine as it walks a ROM. The array holds Word structs aggregated
// into one N * W_BITS-bit word a row (AGGREGATE compact = bit, UG1399: an array of structs
// becomes an array of wide elements). Per frame: no DDR traffic. UltraScale+ URAM powers up
// zero (UG901): a frame before the first load computes with zero weights, in the C-sim as on
// the board.
//
// The rows come from the design's one cache loader (fill_cache below), not from a master of
// the node's own: every cache shares that master, which reads only in the loading frame.
// Config D: the cache's (ROWS, N, W_BITS; w_t); C: the engine's.

// The loader's phase for one cache: ROWS consecutive words of the caches' master from word
// `first` on (the cache's region, its rows in the low N * W_BITS bits of each word), each
// decoded (unpack_row) and written to the cache's fill stream. The design's loader
// (generated, hls/codegen.py) runs one such loop per cache, one after another, in a loading
// frame only; each counts as process 2 of its cache's node.
template <class D, int LOADER_BITS>
inline void fill_cache(const typename ddr_word<LOADER_BITS>::type* mem, long first,
                       hls::stream<Word<typename D::w_t, D::N> >& fill) {
#pragma HLS INLINE
  static_assert(D::N * D::W_BITS <= LOADER_BITS, "fill_cache: a row must fit one word of the loader");
  for (int r = 0; r < D::ROWS; r++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(2);  // process 2 of the cache's node (the loader's loop for it)
    fill.write(unpack_row<typename D::w_t, D::N, D::W_BITS>(mem[first + r]));
  }
}

template <class D>
inline void load_rows(Word<typename D::w_t, D::N> cache[D::ROWS], hls::stream<Word<typename D::w_t, D::N> >& fill) {
#pragma HLS INLINE
  for (int r = 0; r < D::ROWS; r++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(1);  // process 1 of its node (the engine's loop is process 0); only a loading frame
    cache[r] = fill.read();
  }
}

template <class C, class D, class TABLE>
inline void mvau_cached_run(hls::stream<Word<typename C::in_t, C::SIMD> >& in,
                            hls::stream<Word<typename C::out_t, C::PE> >& out,
                            hls::stream<Word<typename D::w_t, D::N> >& fill, bool load, const TABLE& thr) {
#pragma HLS INLINE
  static_assert(D::N == C::PE * C::SIMD && D::W_BITS == C::W_BITS,
                "mvau_cached: the cache's rows must be the engine's PE x SIMD weights");
  static typename weight_row<C>::type cache[D::ROWS];
#pragma HLS AGGREGATE variable = cache compact = bit
#pragma HLS BIND_STORAGE variable = cache type = ram_2p impl = uram
  if (load) {
    load_rows<D>(cache, fill);
  }
  mvau_loop<C>(in, out, cache, thr);
}

// Thresholded outputs (C::act a thresholds policy).
template <class C, class D>
void mvau_cached(hls::stream<Word<typename C::in_t, C::SIMD> >& in, hls::stream<Word<typename C::out_t, C::PE> >& out,
                 hls::stream<Word<typename D::w_t, D::N> >& fill, bool load,
                 const typename C::act::chan_t thr[C::PE][C::G * (C::MH / C::PE)]) {
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 1
#pragma HLS ARRAY_RESHAPE variable = thr complete dim = 3
  mvau_cached_run<C, D>(in, out, fill, load, thr);
}

// Raw accumulators out (C::act = vg::no_activation): no table.
template <class C, class D>
void mvau_cached(hls::stream<Word<typename C::in_t, C::SIMD> >& in, hls::stream<Word<typename C::out_t, C::PE> >& out,
                 hls::stream<Word<typename D::w_t, D::N> >& fill, bool load) {
  static_assert(std::is_same<typename C::act, no_activation>::value,
                "mvau_cached: called without a thresholds table, so C::act must be vg::no_activation");
  mvau_cached_run<C, D>(in, out, fill, load, no_activation::table());
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
