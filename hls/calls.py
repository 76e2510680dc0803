"""The C++ call of each HLS template with an engine's parameters: the one place that knows
the template argument lists of hls/include. The engine bindings (hls/csim.py) and the
generated network (flow/codegen.py) both write their calls through these functions, so a
template's signature changes in one place.

Type arguments are C++ type names (typedef names or spelled-out types); stream and array
arguments are C++ expressions.
"""

from __future__ import annotations

from typing import Sequence

from hls.engines import MVAU, SWG, Eltwise, WidthConvert


def _b(v: bool) -> str:
    return "true" if v else "false"


def acc_type(bits: int) -> str:
    """The threshold element type of an engine whose sums need `bits` bits (a parameter
    memory: vg::param_t)."""
    return f"vg::param_t<{bits + 1}, true>::type"


def weight_type(bits: int) -> str:
    """The weight element type (a parameter memory: vg::param_t)."""
    return f"vg::param_t<{bits}, true>::type"


def swg_call(s: SWG, ti: str, src: str, dst: str) -> str:
    return (f"vg::sliding_window<{s.ifm_h}, {s.ifm_w}, {s.ch}, {s.k}, {s.stride}, {s.pad}, {s.gs}, "
            f"{s.in_n}, {s.simd}, {ti}>({src}, {dst});")


def mvau_call(m: MVAU, ti: str, to: str, src: str, dst: str, w: str, t: str) -> str:
    """`t`: the thresholds array ([PE][G*NF][max(NT, 1)]; unused when the engine has none)."""
    return (f"vg::mvau<{m.groups}, {m.mw}, {m.mh}, {m.pe}, {m.simd}, {m.pixels}, {m.in_type.bits}, "
            f"{_b(m.in_type.signed)}, {m.w_bits}, {m.acc}, {m.nt}, {m.out_bias}, {ti}, "
            f"{weight_type(m.w_bits)}, {acc_type(m.acc)}, {to}>({src}, {dst}, {w}, {t});")


def width_call(w: WidthConvert, t: str, src: str, dst: str) -> str:
    return f"vg::width_convert<{w.total}, {w.in_n}, {w.out_n}, {t}>({src}, {dst});"


def eltwise_call(e: Eltwise, ti: str, to: str, tg: str, ins: Sequence[str], outs: Sequence[str],
                 t: str) -> str:
    """threshold / add / pool / se_scale / duplicate. `tg`: the SE gate type (se_scale only);
    `ins`: one stream (two for add: a, b; for se_scale: data, gates); `outs`: one stream
    (two for duplicate); `t`: the thresholds array ([N][CH/N][NT])."""
    nt = (1 << e.out_type.bits) - 1 if e.out_type else 1
    bias = e.out_type.min if e.out_type else 0
    tt = acc_type(e.sum_bits)
    ib, sg = e.in_type.bits, _b(e.in_type.signed)
    ch, n, px = e.ch, e.n, e.pixels
    if e.kind == "duplicate":
        return f"vg::duplicate<{e.words}, {n}, {ti}>({ins[0]}, {outs[0]}, {outs[1]});"
    if e.kind == "threshold":
        return f"vg::threshold_layer<{ch}, {n}, {px}, {nt}, {bias}, {ti}, {to}, {tt}>({ins[0]}, {outs[0]}, {t});"
    if e.kind == "add":
        return (f"vg::add_threshold<{ch}, {n}, {px}, {ib}, {sg}, {e.sum_bits}, {nt}, {bias}, {ti}, {ti}, "
                f"{tt}, {to}>({ins[0]}, {ins[1]}, {outs[0]}, {t});")
    if e.kind == "pool":
        return f"vg::global_acc_pool<{ch}, {n}, {px}, {ib}, {sg}, {e.sum_bits}, {ti}, {to}>({ins[0]}, {outs[0]});"
    assert e.kind == "se_scale" and e.gate_type is not None
    return (f"vg::se_scale<{ch}, {n}, {px}, {ib}, {sg}, {e.gate_type.bits}, {nt}, {bias}, {ti}, {tg}, "
            f"{tt}, {to}>({ins[0]}, {ins[1]}, {outs[0]}, {t});")
