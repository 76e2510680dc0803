"""The matrix-vector engine (vg::mvau, hls/include/vg_mvau.h): the S=8 group convolution,
pointwise convolutions and the FC, with optional multi-threshold activation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from hls import intops
from hls import resources as R
from hls.engines.activation import Activation
from hls.engines.base import (NO_ACTIVATION, CppType, Engine, EngineError, IntType, JobRun, ParamArrays,
                              ParamSpecs, Ports, Process, acc_bits, config_struct, divides, register,
                              single, threshold_out, weight_type)
from hls.engines.swg import SWG
from hls.layout import mvau_thresholds, mvau_weights


# which two products share a DSP48E2 with pack 2 (vg_mvau.h MAC_PAIR)
PAIRS = ("pe", "simd")

# the FIFO between a DDR weight reader and its engine: enough rows to cover a burst's restart
DDR_ROWS_FIFO = 16


@register
@dataclass(frozen=True)
class MVAU(Engine):
    """vg::mvau: G groups of MH x MW matrix-vector products per input vector, PE x SIMD folded."""

    kind = "mvau"
    width_from = "node"
    latency = 5
    memory_role = "rom"  # the weights
    storage_member = "W_STORAGE"
    ddr_capable = True  # vg_ddr.h + vg::mvau_streamed

    groups: int
    mw: int  # inputs per group (8*k*k for a variable group conv)
    mh: int  # outputs per group
    pe: int
    simd: int
    pixels: int  # input vectors per frame
    in_type: IntType
    w_bits: int
    out_type: Optional[IntType]  # None: raw accumulators out (the last FC)
    acc: int = 0  # accumulator bits; 0 = the smallest that cannot overflow
    pack: int = 1  # products per multiplier: 2 = two products share a DSP48E2 (vg_mvau.h)
    pair: str = "pe"  # with pack 2, which two: "pe" lanes at one SIMD element, or "simd" elements of one lane
    requant: int = 0  # activation form: 0 thresholds, 1/2 integer requantization pieces
    rq_shift: int = 0  # its shift S (hls/engines/activation.py)
    rq_bits: int = 0  # its table's entry bits

    def __post_init__(self) -> None:
        if self.groups < 1 or self.mw < 1 or self.mh < 1 or self.pixels < 1:
            raise EngineError(f"MVAU: groups, mw, mh, pixels must be positive ({self})")
        divides("PE", self.pe, "MH (output channels per group)", self.mh)
        divides("SIMD", self.simd, "MW (inputs per group)", self.mw)
        if not 2 <= self.w_bits <= 16:
            raise EngineError(f"MVAU: weight bits {self.w_bits} outside 2..16")
        need = self.min_acc_bits
        if self.acc == 0:
            object.__setattr__(self, "acc", need)
        elif self.acc < need:
            raise EngineError(f"MVAU: accumulator of {self.acc} bits is too narrow; a sum of "
                              f"{self.mw} products of {self.in_type} x int{self.w_bits} needs {need}")
        if self.acc > 64:
            raise EngineError(f"MVAU: accumulator of {self.acc} bits exceeds 64")
        if self.pack not in (1, 2):
            raise EngineError(f"MVAU: pack={self.pack}: 1 or 2 products per multiplier")
        if self.pair not in PAIRS:
            raise EngineError(f"MVAU: pair={self.pair!r}: one of {', '.join(PAIRS)}")
        if self.pack == 1 and self.pair != "pe":
            raise EngineError(f"MVAU: pair={self.pair!r} needs pack=2 (one product per multiplier pairs nothing)")
        if self.pack == 2 and not self.can_pack(self.pe, self.simd, self.pair):
            what = ("an even PE and the packed weight pair in 27 bits, the input in 18" if self.pair == "pe" else
                    "an even SIMD with an even divisor whose packed weight and input pairs fit 27 x 18 bits")
            raise EngineError(f"MVAU: pack=2 by {self.pair} needs {what} (PE={self.pe}, SIMD={self.simd}, "
                              f"int{self.w_bits} x {self.in_type})")
        if self.requant and self.out_type is None:
            raise EngineError("MVAU: requant needs an output type (raw accumulators have no activation)")
        self.activation()  # checks the requantization's parameters

    # the description's params hold sizes as integers: `pair` as its vg::mac_pair code
    def to_params(self) -> dict[str, Any]:
        return {**super().to_params(), "pair": PAIRS.index(self.pair)}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "MVAU":
        p = dict(params)
        if "pair" in p:
            if p["pair"] not in range(len(PAIRS)):
                raise EngineError(f"MVAU: pair={p['pair']!r}: 0 (PE lanes) or 1 (SIMD elements share a DSP)")
            p["pair"] = PAIRS[p["pair"]]
        return super().from_params(p)  # type: ignore[return-value]

    def activation(self) -> Optional[Activation]:
        """The output channels' activation (None: raw accumulators out, the last FC)."""
        if self.out_type is None:
            return None
        return Activation(self.nt, self.out_bias, self.acc, self.requant, self.rq_shift, self.rq_bits)

    def pack_shift(self, simd: int, pair: str = "pe") -> int:
        """The field width of a packed pair: bits of a signed sum of the products one field
        holds, over the word's SIMD elements (pair "pe") or over a chunk (pair "simd")."""
        return acc_bits(self.pair_chunk(simd) if pair == "simd" else simd, self.in_type, self.w_bits)

    def _pair_fits(self, chunk: int) -> bool:
        """Whether SIMD pairs summed over `chunk` elements fit a DSP48E2 (27 x 18 bits, either
        way round): the packed weight pair and input pair are each one bit wider than their
        fields (vg_mvau.h)."""
        sh = acc_bits(chunk, self.in_type, self.w_bits)
        wp, xp = self.w_bits + sh + 1, self.in_type.bits + sh + 1
        return max(wp, xp) <= 27 and min(wp, xp) <= 18

    def pair_chunk(self, simd: int) -> int:
        """SIMD elements summed before a split with pair "simd" (vg_mvau.h PAIR_CHUNK): the
        largest even divisor of SIMD whose sums fit the multiplier; 0 where none does."""
        return max((c for c in range(2, simd + 1, 2) if simd % c == 0 and self._pair_fits(c)), default=0)

    def can_pack(self, pe: int, simd: int, pair: str = "pe") -> bool:
        """Whether two products can share one DSP48E2 multiplier (27 x 18 bits) at this folding:
        two PE lanes' (pair "pe": w1 * 2^SH + w0 times x), or two SIMD elements' of one lane
        (pair "simd": w0 * 2^SH + w1 times x0 + x1 * 2^SH, vg_mvau.h)."""
        if pair == "simd":
            return self.pair_chunk(simd) > 0
        x_bits = self.in_type.bits + (0 if self.in_type.signed else 1)  # as a signed operand
        return pe % 2 == 0 and self.w_bits + self.pack_shift(simd) + 1 <= 27 and x_bits <= 18

    def packings(self, pe: int, simd: int) -> list[tuple[int, str]]:
        """The (pack, pair) this folding can take with two products per DSP."""
        return [(2, p) for p in PAIRS if self.can_pack(pe, simd, p)]

    @property
    def min_acc_bits(self) -> int:
        return acc_bits(self.mw, self.in_type, self.w_bits)

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def channels_out(self) -> int:
        return self.groups * self.mh

    @property
    def nt(self) -> int:
        return 0 if self.out_type is None else threshold_out(self.out_type)[0]

    @property
    def out_bias(self) -> int:
        return 0 if self.out_type is None else threshold_out(self.out_type)[1]

    @property
    def result_type(self) -> IntType:
        return self.out_type if self.out_type is not None else IntType(self.acc, True)

    def cycles(self) -> int:
        return self.pixels * self.groups * self.nf * self.sf

    def ports(self) -> Ports:
        return [(self.simd, str(self.in_type), self.in_words())], \
            [(self.pe, str(self.result_type), self.out_words())]

    def processes(self) -> list[Process]:
        """One job per input vector: G*NF*SF cycles, G*SF words in, G*NF words out."""
        g = self.groups
        return single(JobRun(self.pixels, g * self.nf * self.sf, (g * self.sf,), (g * self.nf,)))

    def folding(self) -> dict[str, int]:
        return {"PE": self.pe, "SIMD": self.simd, **({"mac_pack": 2} if self.pack == 2 else {}),
                **({"mac_pair": self.pair} if self.pair != "pe" else {})}

    def macs(self) -> int:
        return self.pixels * self.groups * self.mh * self.mw

    def weight_count(self) -> int:
        return self.groups * self.mh * self.mw

    def mac_lanes(self) -> int:
        return self.pe * self.simd

    def weight_mem(self) -> tuple[int, int, int]:
        """(memories, depth, width in bits): one memory per PE lane."""
        return self.pe, self.groups * self.nf * self.sf, self.simd * self.w_bits

    def bound_memory(self) -> tuple[int, int]:
        """The weights, reshaped into one memory (see resources)."""
        n, depth, width = self.weight_mem()
        return depth, width * n

    # ---- weights read from DDR (memory "ddr") -----------------------------------------------------
    def weight_rows(self) -> int:
        """Rows of PE x SIMD weights the loop walks per input vector."""
        return self.groups * self.nf * self.sf

    def ddr_port_bits(self) -> int:
        """The AXI4 master's data width: a row per word, a power of two of at least 32 bits."""
        return max(32, 1 << (self.pe * self.simd * self.w_bits - 1).bit_length())

    def ddr_problem(self) -> Optional[str]:
        row = self.pe * self.simd * self.w_bits
        if row > 1024:
            return (f"memory 'ddr': a row of PE x SIMD x w_bits = {row} bits does not fit one "
                    f"1024-bit word of the AXI4 master (fold with fewer PE x SIMD)")
        return None

    def ddr_bytes(self) -> int:
        """The rows are read once per input vector: PIXELS x rows words of the port a frame."""
        return self.pixels * self.weight_rows() * self.ddr_port_bits() // 8

    def weight_bits(self) -> int:
        return self.groups * self.mh * self.mw * self.w_bits

    def threshold_bits(self) -> int:
        """Bits of the activation table (thresholds or requantization parameters)."""
        a = self.activation()
        return 0 if a is None else a.table_bits_total(self.channels_out)

    def buffer_bits(self) -> dict[str, int]:
        return {"weights": self.weight_bits(), "thresholds": self.threshold_bits()}

    def in_width(self) -> int:
        return self.simd * self.in_type.bits

    def out_width(self) -> int:
        return self.pe * self.result_type.bits

    def in_words(self) -> int:
        return self.pixels * self.groups * self.sf

    def out_words(self) -> int:
        return self.pixels * self.groups * self.nf

    def resources(self, memory: str = "auto", mac: str = "auto") -> R.Resources:
        # All PE lanes read the same address each cycle, so the lanes' weight memories are
        # reshaped into one PE*SIMD*w_bits wide memory (ARRAY_RESHAPE in vg_mvau.h); likewise
        # the activation table (PE rows of it wide, depth G*NF).
        r = R.memory(*self.bound_memory(), 1, memory)
        if self.loads_cache(memory):  # its fill stream of rows from the design's cache loader (estimate.cache_loader)
            r = r + R.fifo(2, self.pe * self.simd * self.w_bits)
        elif self.reads_buffer(memory):  # its own AXI4 master
            r = r + R.ddr_reader(self.ddr_port_bits())
        a = self.activation()
        if a is not None:
            r = r + a.resources(self.pe, self.groups * self.nf)
        if self.pack == 2 and self.pair == "simd":
            r = r + R.simd_paired_macs(self.pe, self.simd, self.pair_chunk(self.simd), self.w_bits,
                                       self.in_type.bits, self.pack_shift(self.simd, "simd"))
        elif self.pack == 2:
            r = r + R.packed_mac_pairs(self.pe // 2, self.simd, self.w_bits + self.pack_shift(self.simd),
                                       self.in_type.bits, self.acc)
        else:
            r = r + R.mac_lanes(self.mac_lanes(), self.w_bits, self.in_type.bits, self.simd, self.pe, mac)
        r = r + R.Resources(lut=self.pe * self.acc)  # accumulators
        r = r + R.memory(self.sf, self.simd * self.in_type.bits)  # input vector buffer
        return R.finish(r)

    # ---- parameters ---------------------------------------------------------------------------
    def pe_space(self) -> int:
        return self.mh

    def param_specs(self, window: Optional[Engine] = None) -> ParamSpecs:
        if isinstance(window, SWG):
            shapes: tuple[tuple[int, ...], ...] = ((self.groups * self.mh, window.gs, window.k, window.k),)
        else:  # pointwise conv (k = 1) or FC
            shapes = ((self.groups * self.mh, self.mw), (self.groups * self.mh, self.mw, 1, 1))
        out: ParamSpecs = {"weights": (shapes, IntType(self.w_bits, True))}
        a = self.activation()
        if a is not None:
            out["thresholds"] = a.spec(self.channels_out)
        return out

    def param_arrays(self) -> ParamArrays:
        out = [("w", weight_type(self.w_bits), (self.pe, self.groups * self.nf * self.sf, self.simd))]
        a = self.activation()
        if a is not None:
            out.append(("t", a.element_cpp(), (self.pe, self.groups * self.nf, a.columns)))
        return out

    def value_bounds(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Each channel's accumulator bounds: the sum over its weights of the extreme
        products with an input code (a padded zero lies between the extremes)."""
        w = params["weights"].reshape(self.channels_out, -1).astype(np.int64)
        lo_x, hi_x = self.in_type.min, self.in_type.max
        a, b = w * lo_x, w * hi_x
        return np.minimum(a, b).sum(axis=1), np.maximum(a, b).sum(axis=1)

    def param_problem(self, key: str, a: np.ndarray) -> Optional[str]:
        act = self.activation()
        return act.problem(a) if key == "thresholds" and act is not None else None

    def layout(self, params: dict) -> dict:
        out = {"w": mvau_weights(params["weights"].astype(np.int64), self)}
        if self.nt:
            out["t"] = mvau_thresholds(params["thresholds"].astype(np.int64), self)
        return out

    # ---- integer execution ----------------------------------------------------------------------
    def accumulate(self, x: np.ndarray, w: np.ndarray, window: Optional[Engine]) -> np.ndarray:
        if isinstance(window, SWG):
            return intops.conv_int(x, w, window.stride, window.pad, self.groups)
        nn = x.shape[0]
        acc = intops.fc_int(x.reshape(nn * self.pixels, -1), w.reshape(w.shape[0], -1))
        return acc.reshape(nn, *x.shape[1:3], -1) if x.ndim == 4 else acc

    def pre_threshold(self, ins: list, params: dict, window: Optional[Engine] = None):
        return self.accumulate(ins[0], params["weights"], window) if self.nt else None

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        acc = self.accumulate(ins[0], params["weights"], window)
        a = self.activation()
        return [acc if a is None else a.apply(acc, params["thresholds"])]

    # ---- code -----------------------------------------------------------------------------------
    def hls_config(self) -> dict:
        ti, to = self.types()
        a = self.activation()
        act = NO_ACTIVATION if a is None else a.policy()
        return {"G": self.groups, "MW": self.mw, "MH": self.mh, "PE": self.pe, "SIMD": self.simd,
                "PIXELS": self.pixels, "IN_BITS": self.in_type.bits, "IN_SIGNED": self.in_type.signed,
                "W_BITS": self.w_bits, "ACC_BITS": self.acc, "MAC_PACK": self.pack,
                "MAC_PAIR": PAIRS.index(self.pair),  # vg::PAIR_PE = 0, PAIR_SIMD = 1
                "PAIR_CHUNK": self.pair_chunk(self.simd) if self.pair == "simd" else self.simd,
                "in_t": CppType(ti),
                "w_t": CppType(weight_type(self.w_bits)), "out_t": CppType(to), "act": act}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        table = f", {arrays['t']}" if self.nt else ""  # vg::no_activation: no table
        return f"vg::mvau<{cfg}>({ins[0]}, {outs[0]}, {arrays['w']}{table});"

    def hls_code(self, cfg: str, ins: Sequence[str], outs: Sequence[str],
                 arrays: dict[str, str], memory: str = "auto") -> tuple[str, str]:
        """With memory "ddr": a DATAFLOW region of the reader (vg_ddr.h, from the pointer
        arrays["ddr"]) and the engine taking its weights from the reader's stream. With memory
        "uram": the engine on its URAM cache, which the design's cache loader fills through
        the stream arrays["fill"] when arrays["load"] (the top's load flag) is set (vg_ddr.h
        mvau_cached, fill_cache)."""
        if not self.reads_buffer(memory):
            return super().hls_code(cfg, ins, outs, arrays, memory)
        problem = self.ddr_problem()
        if problem:
            raise EngineError(problem)
        reader = {"ROWS": self.weight_rows(), "REPS": self.pixels, "N": self.pe * self.simd,
                  "W_BITS": self.w_bits, "PORT_BITS": self.ddr_port_bits(),
                  "w_t": CppType(weight_type(self.w_bits))}
        table = f", {arrays['t']}" if self.nt else ""
        configs = config_struct(cfg, self.hls_config()) + "\n" + config_struct(f"{cfg}_ddr", reader)
        if self.loads_cache(memory):
            return configs, (f"vg::mvau_cached<{cfg}, {cfg}_ddr>({ins[0]}, {outs[0]}, {arrays['fill']}, "
                             f"{arrays['load']}{table});")
        body = "\n  ".join([
            "#pragma HLS DATAFLOW",
            f"hls::stream<vg::weight_row<{cfg}>::type> rows;",
            f"#pragma HLS STREAM variable = rows depth = {DDR_ROWS_FIFO}",
            f"vg::ddr_weight_reader<{cfg}_ddr>({arrays['ddr']}, rows);",
            f"vg::mvau_streamed<{cfg}>({ins[0]}, rows, {outs[0]}{table});"])
        return configs, body

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        wt = params["weights"].astype(np.float32)
        if isinstance(window, SWG):
            o = g.node("Conv", [ins[0], g.init(wt, "w")], "acc", group=self.groups,
                       kernel_shape=[window.k, window.k], strides=[window.stride, window.stride],
                       pads=[window.pad] * 4)
        elif self.pixels > 1 or self.out_type is not None:
            o = g.node("Conv", [ins[0], g.init(wt.reshape(wt.shape[0], -1, 1, 1), "w")], "acc",
                       kernel_shape=[1, 1])
        else:  # the final FC: flatten, MatMul
            f = g.node("Flatten", [ins[0]], "flat")
            o = g.node("MatMul", [f, g.init(wt.reshape(wt.shape[0], -1).T, "w")], "acc")
        a = self.activation()
        return [o if a is None else g.threshold(o, a.thresholds_of(params["thresholds"]), self.out_bias)]

