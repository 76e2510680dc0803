"""Engine kinds answer for themselves: a toy kind defined in this one file (a negation, with
its own HLS loop) is simulated, estimated, C-simulated (bit-exact, cycles counted), executed
as integer ONNX and generated, with no other file knowing it; and every built-in kind
round-trips through the description."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pytest

from hls import resources as R
from hls.codegen import network_header
from hls.csim_net import NetworkCsim
from hls.engines import (MVAU, REGISTRY, SWG, Eltwise, Engine, IntType, LaneEngine, WidthConvert,
                         engine_class, kinds, register)
from hls.estimate import estimate
from sim.analytic import analyse
from sim.events import simulate
from sim.golden import GoldenModel, random_params
from sim.programs import programs
from tests.test_sim import Design

T4 = IntType(4, True)


@dataclass(frozen=True)
class Negate(LaneEngine):
    """out = -x, one bit wider: a word per cycle."""

    kind = "toy_negate"
    latency = 1

    @property
    def result_type(self) -> IntType:
        return IntType(self.in_type.bits + 1, True)

    def _parts(self, memory: str) -> R.Resources:
        return R.Resources(lut=self.n * self.result_type.bits)

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [-ins[0]]

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        return [g.node("Neg", ins, "neg")]

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        ti, to = self.types()
        return "\n".join([
            "{",
            f"  for (int i = 0; i < {self.words}; i++) {{",
            "#pragma HLS PIPELINE II = 1",
            "    VG_CYCLE(0);",
            f"    const vg::Word<{ti}, {self.n}> a = {ins[0]}.read();",
            f"    vg::Word<{to}, {self.n}> b;",
            f"    for (int k = 0; k < {self.n}; k++) {{",
            "#pragma HLS UNROLL",
            f"      b.v[k] = -(({to})a.v[k]);",
            "    }",
            f"    {outs[0]}.write(b);",
            "  }",
            "}"])


@pytest.fixture
def toy_kind():
    register(Negate)
    yield Negate
    REGISTRY.pop(Negate.kind)


def toy_design():
    """int4 4x4x8 frame -> toy_negate -> pointwise FC accumulators to the host."""
    d = Design(8, 4, 4, n=8)
    (y,) = d.add("neg", "toy_negate", ["in"], Negate(8, 8, 16, T4))
    (z,) = d.add("pw", "mvau", [y], MVAU(1, 8, 4, 2, 8, 16, IntType(5, True), 4, None))
    return d.finish(z)


def test_a_kind_defined_in_one_file_is_simulated_estimated_csimulated_and_generated(toy_kind):
    acc = toy_design()
    e = acc.node("neg").engine()
    assert isinstance(e, Negate) and e.cycles() == 16

    # simulated and analysed: its 16 cycles a frame, one job per pixel
    ev = simulate(programs(acc), {}, frames=1)
    assert ev.procs["neg"].busy == 16
    assert analyse(acc).nodes["neg"].cycles == 16
    # estimated: its own LUTs plus the engine overhead
    assert estimate(acc).per_node["neg"].lut == 8 * 5 + R.ENGINE_OVERHEAD_LUTS
    # generated: its own loop in the node function
    assert "b.v[k] = -((vg::int_t<5, true>::type)a.v[k]);" in network_header(acc)

    rng = np.random.default_rng(0)
    x = rng.integers(-8, 8, (3, 4, 4, 8))
    params = random_params(acc, x)
    gold = GoldenModel(acc, params).run(x)
    w = params["pw"]["weights"].reshape(4, 8)
    assert np.array_equal(gold.reshape(3, 16, 4), -x.reshape(3, 16, 8) @ w.T)
    # C-simulated through the generated network, bit-exact, its loop counted at the formula
    y, rows = NetworkCsim(acc, params, count=True).counted(x)
    assert np.array_equal(y, gold)
    assert rows[0].max() == e.cycles() and rows[1].max() == acc.node("pw").engine().cycles()


def test_a_kind_writes_its_own_integer_onnx(toy_kind):
    pytest.importorskip("qonnx")
    from flow.intgraph import build_integer_graph, run_integer_graph

    acc = toy_design()
    x = np.random.default_rng(1).integers(-8, 8, (2, 4, 4, 8))
    params = random_params(acc, x)
    model = build_integer_graph(acc, params)
    assert "Neg" in [n.op_type for n in model.graph.node]
    y = run_integer_graph(model, x).reshape(2, 4, 16).transpose(0, 2, 1)  # NCHW -> stream order
    assert np.array_equal(y.reshape(2, -1), GoldenModel(acc, params).run(x))


def test_an_unknown_kind_is_named_with_the_known_ones():
    d = Design(8, 4, 4, n=8)
    with pytest.raises(ValueError, match="unknown engine kind 'toy_negate' \\(known: swg, mvau"):
        engine_class("toy_negate")
    register(Negate)
    try:
        d.add("neg", "toy_negate", ["in"], Negate(8, 8, 16, T4))
    finally:
        REGISTRY.pop(Negate.kind)
    from hls.accel import DescriptionError

    with pytest.raises(DescriptionError, match="unknown kind 'toy_negate'"):
        d.finish("neg.o0")


def test_a_kind_cannot_be_registered_twice():
    @dataclass(frozen=True)
    class Other(LaneEngine):
        kind = "add"
        latency = 1

    with pytest.raises(ValueError, match="registered twice"):
        register(Other)


@pytest.mark.parametrize("e", [
    SWG(6, 7, 16, 3, 2, 1, 8, 4, 12, T4),
    MVAU(2, 72, 16, 4, 12, 6, T4, 4, IntType(4, False)),
    Eltwise("threshold", 24, 4, 10, IntType(6, True), T4),
    Eltwise("add", 24, 4, 10, T4, T4),
    Eltwise("pool", 24, 4, 10, T4),
    Eltwise("se_scale", 24, 4, 10, T4, T4, IntType(4, False)),
    Eltwise("duplicate", 24, 4, 10, T4),
    WidthConvert(240, 6, 4, T4),
], ids=lambda e: e.kind)
def test_every_builtin_kind_round_trips_through_its_params(e):
    assert e.kind in kinds()
    assert engine_class(e.kind).from_params(e.to_params()) == e
    assert type(e) is engine_class(e.kind)
