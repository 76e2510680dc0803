// The accelerator's AXI-stream edges: 32-bit beats as the AXI DMA moves them (the packing of
// flow/accel.py and host/packing.py).
//   input:  one pixel per beat, channel c in bits [8c, 8c+8) as uint8;
//   output: one signed 32-bit beat per output element, TLAST on the frame's last beat.
#ifndef VG_AXIS_H
#define VG_AXIS_H

#include "vg_types.h"

// Vitis HLS ships ap_axiu (TDATA with TKEEP/TSTRB/TLAST side channels) in ap_axi_sdata.h; the
// ap_types headers used for C-simulation here do not, so a struct with the same members
// stands in for it there.
#if defined(__has_include)
#if __has_include("ap_axi_sdata.h")
#define VG_HAVE_AXI_SDATA 1
#endif
#endif
#ifdef VG_HAVE_AXI_SDATA
#include "ap_axi_sdata.h"
namespace vg {
typedef ap_axiu<32, 0, 0, 0> axis_beat;
}
#else
namespace vg {
struct axis_beat {
  ap_uint<32> data;
  ap_uint<4> keep;
  ap_uint<4> strb;
  ap_uint<1> last;
};
}  // namespace vg
#endif

namespace vg {

// PIXELS beats -> PIXELS words of C uint8 channels.
template <int PIXELS, int C, typename T>
void axis_read_pixels(hls::stream<axis_beat>& in, hls::stream<Word<T, C> >& out) {
  static_assert(C >= 1 && C <= 4, "axis_read_pixels: a 32-bit beat holds 1 to 4 channels");
  for (int i = 0; i < PIXELS; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    const axis_beat b = in.read();
    Word<T, C> w;
    for (int k = 0; k < C; k++) {
#pragma HLS UNROLL
      w.v[k] = (T)b.data.range(8 * k + 7, 8 * k);
    }
    out.write(w);
  }
}

// WORDS words of N elements -> WORDS * N signed 32-bit beats, TLAST on the last one.
template <int WORDS, int N, typename T>
void axis_write_words(hls::stream<Word<T, N> >& in, hls::stream<axis_beat>& out) {
  Word<T, N> w;
  int k = 0;
  for (int i = 0; i < WORDS * N; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    if (k == 0) w = in.read();
    axis_beat b;
    b.data = (ap_int<32>)w.v[k];
    b.keep = -1;
    b.strb = -1;
    b.last = i == WORDS * N - 1 ? 1 : 0;
    out.write(b);
    k = k + 1 == N ? 0 : k + 1;
  }
}

}  // namespace vg

#endif
