"""Layer-by-layer agreement between the accelerator's integer layers and the trained network.

End to end, the integer path (golden model = C-sim = integer ONNX graph, checked bit-exact by
the build) and the Brevitas network (float fake-quantization) can differ: where a value lies
on a rounding boundary (x.5 steps of the output scale), float arithmetic in another order may
round it to the other code, and one flipped 4-bit code changes every layer after it. So the
comparison is made per layer: each Brevitas layer is fed the integer path's own input codes
(as scale * code) and its output codes are compared with the integer path's. A mismatch is a
"tie" when Brevitas' pre-rounding value is within `tol` of a boundary; any other mismatch is
an error in the flow (a wrong threshold, scale or rounding rule).

    python -m flow.agreement --build build/default --checkpoint model/checkpoints/default.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hls.accel import Accelerator
from model.argtypes import positive_int

TIE_TOL = 1e-3  # distance from x.5 (in units of the output scale) that float rounding can flip


@dataclass
class LayerAgreement:
    layer: str
    op: str
    codes: int  # output codes compared
    mismatched: int  # codes where the integer path differs from Brevitas
    off_tie: int  # mismatches whose Brevitas value is not within TIE_TOL of a boundary (all of
    # them for the final FC, whose output is an accumulator, not a rounded code)
    max_code_diff: int  # largest |integer code - Brevitas code|


def totals(rows: list[LayerAgreement]) -> dict[str, int]:
    """The per-layer rows summed: layers, codes compared, mismatched, mismatched off a tie."""
    return {"layers": len(rows), "codes": sum(r.codes for r in rows),
            "mismatched": sum(r.mismatched for r in rows), "off_tie": sum(r.off_tie for r in rows)}


class _Agreement:
    """The integer path's values of one batch beside the Brevitas network: each quantized
    layer's float input rebuilt from the integer codes, run through Brevitas, and its output
    codes compared (`compare` appends one row)."""

    def __init__(self, net: Any, acc: Accelerator, codes: np.ndarray, tol: float,
                 params: dict[str, dict[str, np.ndarray]] | None):
        from sim.golden import GoldenModel

        self.net, self.acc, self.arch, self.tol, self.n = net, acc, net.arch, tol, len(codes)
        self.vals = GoldenModel(acc, params).trace(codes)
        self.out_stream = {n.layer: n.outputs[0] for n in acc.nodes
                           if n.kind not in ("duplicate", "width_convert", "swg")}
        self.out_stream["input"] = acc.input["stream"]
        self.rows: list[LayerAgreement] = []

    def qmod(self, layer_name: str) -> Any:
        return self.net.quant[self.arch[layer_name].quant.replace(".", "_")]

    def as_float(self, layer_name: str) -> Any:
        import torch

        v = self.vals[self.out_stream[layer_name]]
        s = float(self.qmod(layer_name).act_quant.scale().detach())
        return torch.from_numpy(v.transpose(0, 3, 1, 2).astype(np.float32)) * s

    def codes_of(self, node: str) -> np.ndarray:
        return self.vals[self.acc.node(node).outputs[0]]

    def nchw(self, v: np.ndarray, scale: float) -> Any:
        import torch

        v = v.reshape(self.n, -1, 1, 1) if v.ndim == 2 else v.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(v).astype(np.float32)) * scale

    def compare(self, name: str, op: str, v: Any, quantizer: Any, g_codes: np.ndarray) -> None:
        """Brevitas' codes of quantizer(v) against the integer path's codes g_codes (NHWC)."""
        import torch

        s_out = float(quantizer.act_quant.scale().detach())
        with torch.no_grad():
            b = np.rint(quantizer(v).numpy() / s_out).astype(np.int64).transpose(0, 2, 3, 1)
        ratio = (v / s_out).numpy().transpose(0, 2, 3, 1)
        g_codes = g_codes.reshape(b.shape)
        bad = g_codes != b
        r = ratio[bad]
        dist = np.abs(np.abs(r - np.floor(r)) - 0.5)
        self.rows.append(LayerAgreement(name, op, int(bad.size), int(bad.sum()), int((dist >= self.tol).sum()),
                                        int(np.abs(g_codes - b).max()) if bad.any() else 0))

    def layer_value(self, l: Any) -> Any:
        """Brevitas' float value before layer l's output quantizer (None: l has no quantized
        output of its own, as the embedding FC's accumulators)."""
        import torch.nn.functional as F

        key = l.name.replace(".", "_")
        if l.op == "conv":
            return self.net.units[key](self.as_float(l.inputs[0]))
        if l.op == "add":
            return self.net.units[key](self.as_float(l.inputs[0]) + self.as_float(l.inputs[1]))
        if l.op == "pool":
            return F.adaptive_avg_pool2d(self.as_float(l.inputs[0]), 1)
        if l.op == "se":
            return self.se_value(l)
        return None

    def se_value(self, l: Any) -> Any:
        """The SE gate's own chain, each step fed the integer path's previous codes (and
        compared); returns the gated frame before its quantizer."""
        import torch.nn.functional as F

        u = self.net.units[l.name.replace(".", "_")]
        x = self.as_float(l.inputs[0])
        scale = lambda q: float(q.act_quant.scale().detach())  # noqa: E731
        self.compare(f"{l.name}.pool", "pool", F.adaptive_avg_pool2d(x, 1), u.q_pool,
                     self.codes_of(f"{l.name}.pool_q"))
        s1 = self.nchw(self.codes_of(f"{l.name}.pool_q"), scale(u.q_pool))
        self.compare(f"{l.name}.fc1", "fc", u.act(u.fc1(s1)), u.q_fc1, self.codes_of(f"{l.name}.fc1"))
        s2 = self.nchw(self.codes_of(f"{l.name}.fc1"), scale(u.q_fc1))
        self.compare(f"{l.name}.gate", "gate", F.hardsigmoid(u.fc2(s2)), u.q_gate,
                     self.codes_of(f"{l.name}.fc2"))
        return x * self.nchw(self.codes_of(f"{l.name}.fc2"), scale(u.q_gate))

    def final_fc(self) -> None:
        """The final FC has no output quantizer: its integer accumulators times the output
        scale are the features, so Brevitas' float FC divided by that scale must round to them
        exactly (float32 noise is ~1e-7 relative; an accumulator has no rounding tie to
        excuse a mismatch)."""
        import torch

        fc, acc = self.arch.output, self.acc
        if fc.op != "fc" or acc.root is None or not acc.output.get("scale"):
            return
        scale = np.load(Path(acc.root) / acc.output["scale"]).astype(np.float64)
        with torch.no_grad():
            v = self.net.units[fc.name.replace(".", "_")](torch.flatten(self.as_float(fc.inputs[0]), 1))
        b = np.rint(v.double().numpy() / scale).astype(np.int64)
        g = self.vals[acc.output["stream"]].reshape(b.shape)
        bad = int((b != g).sum())
        self.rows.append(LayerAgreement(fc.name, "fc", int(b.size), bad, bad, int(np.abs(b - g).max()) if bad else 0))


def layer_agreement(net: Any, acc: Accelerator, codes: np.ndarray, tol: float = TIE_TOL,
                    params: dict[str, dict[str, np.ndarray]] | None = None) -> list[LayerAgreement]:
    """Compares every quantized layer of `net` (a model.nets.Net) with the integer path of
    `acc` on input codes N x H x W x C (uint8 pixels)."""
    import torch

    a = _Agreement(net, acc, codes, tol, params)
    net.eval()
    for l in a.arch.layers[1:-1]:
        with torch.no_grad():
            v = a.layer_value(l)
        if v is not None:
            a.compare(l.name, l.op, v, a.qmod(l.name), a.vals[a.out_stream[l.name]])
    a.final_fc()
    return a.rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flow.agreement", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=Path("build/default"),
                    help="build folder written by the flow (accelerator.json, weights, thresholds)")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="the checkpoint the build was made from (default: the committed default design)")
    ap.add_argument("--faces", type=positive_int, default=20,
                    help="held-out ORL faces to compare on, 1-100 (photos 1..ceil(N/10) of each "
                         "identity, the first N in identity order; default 20)")
    ap.add_argument("--json", type=Path, default=None, help="also write the per-layer rows here")
    a = ap.parse_args(argv)
    from model.checkpoint import CheckpointError, load_net
    from model.orl import HELDOUT_IDS, ORL_IMAGES_PER_ID, load_orl

    if not 1 <= a.faces <= len(HELDOUT_IDS) * ORL_IMAGES_PER_ID:
        ap.error(f"--faces {a.faces}: the held-out identities have "
                 f"{len(HELDOUT_IDS) * ORL_IMAGES_PER_ID} faces")

    ck = a.checkpoint or Path(__file__).resolve().parents[1] / "model" / "checkpoints" / "default.pt"
    if not (a.build / "accelerator.json").is_file():
        print(f"error: {a.build} is not a build folder (no accelerator.json); run `make build` first",
              file=sys.stderr)
        return 2
    try:
        net, _ = load_net(ck)
    except (CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    acc = Accelerator.load(a.build)
    stamp = a.build / "source.json"  # written by `make demo` / host.demo beside the build
    if stamp.is_file():
        import hashlib

        want = json.loads(stamp.read_text()).get("checkpoint_sha256")
        if want and want != hashlib.sha256(ck.read_bytes()).hexdigest():
            print(f"error: {a.build} was built from another checkpoint than {ck} (source.json)",
                  file=sys.stderr)
            return 2
    per_id = -(-a.faces // len(HELDOUT_IDS))
    h = acc.input["shape"][0]
    x, _ = load_orl(HELDOUT_IDS, h, per_id=per_id)
    x = x[: a.faces]
    rows = layer_agreement(net, acc, x)
    w = max(len(r.layer) for r in rows)
    print(f"{'layer':{w}}  {'op':4}  {'codes':>10}  {'mismatched':>10}  {'off a tie':>9}  {'max |diff|':>10}")
    for r in rows:
        print(f"{r.layer:{w}}  {r.op:4}  {r.codes:10d}  {r.mismatched:10d}  {r.off_tie:9d}  {r.max_code_diff:10d}")
    t = totals(rows)
    print(f"{len(x)} faces, {t['layers']} layers: {t['mismatched']} of {t['codes']} codes differ "
          f"({t['mismatched'] / t['codes']:.2e}), {t['off_tie']} of them away from a rounding tie")
    if a.json:
        a.json.write_text(json.dumps({"faces": len(x), "tie_tol": TIE_TOL,
                                      "layers": [asdict(r) for r in rows]}, indent=1))
    return 1 if t["off_tie"] else 0


if __name__ == "__main__":
    sys.exit(main())
