"""The tiny flow build that several test modules share (toolchain environment only).

One build serves test_flow (bit-exactness, reports, step ranges) and test_reliability (the
corruption fuzz and the door checks): building it takes about two minutes, and both suites
ask the same questions of the same kind of design."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from flow.build import BuildConfig, BuildResult, build
from model.arch import tiny
from model.checkpoint import save
from model.nets import Net
from model.orl import load_orl
from model.quant import QuantConfig
from model.scoring import fit_wccn

warnings.filterwarnings("ignore", category=UserWarning)


def calibrated_net(model: str, spec: str, seed: int = 0) -> tuple[Net, torch.Tensor]:
    """A tiny network whose BatchNorm statistics come from real ORL faces, so that its
    activations spread over the quantizers' ranges; returns it and those faces."""
    arch = tiny(model)
    c, h, _ = arch.input.out_shape
    imgs, _ = load_orl((1, 5, 9, 31, 35), h, per_id=3)
    x = torch.from_numpy(imgs[..., :c]).permute(0, 3, 1, 2).float() / 255
    torch.manual_seed(seed)
    net = Net(arch, QuantConfig.parse(spec))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net.features(x)
    return net.eval(), x


def tiny_flow_build(d: Path) -> tuple[Net, torch.Tensor, BuildResult]:
    """Builds the tiny VarGFaceNet w4a8 into d/build from d/ck.pt (with a scoring backend,
    which the build hands to the host)."""
    net, x = calibrated_net("vargfacenet", "w4a8")
    c = net.arch.output.cout
    w = fit_wccn(np.random.default_rng(0).normal(size=(4 * c, c)), np.arange(4 * c) % 8)
    save(net, d / "ck.pt", extra={"scoring": w.to_state()})
    # requant=always: every node whose thresholds are an exact integer requantization takes
    # it, so the bit-exact checks cover both activation forms; emb.pw and fc read their
    # weights from DDR (the parameter buffer) and stage2.unit1.part1.pw holds them in a URAM
    # cache the buffer fills, so they cover those paths too
    (d / "fold.json").write_text(json.dumps({"emb.pw": {"ram_style": "ddr"}, "fc": {"ram_style": "ddr"},
                                             "stage2.unit1.part1.pw": {"ram_style": "ultra"}}))
    res = build(BuildConfig(out=d / "build", checkpoint=d / "ck.pt", fps=20000, verify_images=4,
                            finn_report=True, requant="always", folding=d / "fold.json"))
    return net, x, res
