"""A quantized network with random weights, to build and check designs of any size without
training them first (the full-size VarGFaceNet and VarGNet of issue 27):

    python -m model.random_init --model vargfacenet --out build/vgf-full.pt
    python -m flow build --checkpoint build/vgf-full.pt --out build/vgf-full --fps 1000

The weights are PyTorch's initialisation, seeded. The BatchNorm statistics are calibrated on ORL
faces (a few forward passes in training mode, as cumulative averages), so every layer's
activations spread over its quantizer's range as a trained network's do: the integer chain
(streamline, thresholds, requantizations, C-sim) is then exercised over the codes a real
network produces, not over a few saturated ones. The checkpoint records that it is untrained
(`extra["untrained"]`); its face-verification accuracy means nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

from model.argtypes import positive_float, positive_int

CALIBRATION_IDS = (1, 5, 9, 13, 17, 21, 25, 29)  # training identities only (model/orl.py split)


def random_net(model: str, width: Optional[float], input_size: Optional[int], quant: str, seed: int,
               faces_per_id: int = 2, passes: int = 2):
    """The network, its BatchNorm statistics calibrated on ORL faces of training identities."""
    import torch

    from model.arch import named
    from model.nets import Net
    from model.orl import load_orl
    from model.quant import QuantConfig

    arch = named(model, width, input_size)
    c, h, _ = arch.input.out_shape
    imgs, _ = load_orl(CALIBRATION_IDS, h, per_id=faces_per_id)
    x = torch.from_numpy(imgs[..., :c]).permute(0, 3, 1, 2).float() / 255
    torch.manual_seed(seed)
    net = Net(arch, QuantConfig.parse(quant))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration passes
    net.train()
    with torch.no_grad():
        for _ in range(passes):
            net.features(x)
    return net.eval()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.random_init", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default="vargfacenet",
                    help="architecture (default vargfacenet)")
    ap.add_argument("--width", type=positive_float,
                    help="width multiplier (default: the model's own, 1.25 for VarGFaceNet, 1.0 for VarGNet)")
    ap.add_argument("--input", type=positive_int, help="input size (default: 112 / 224)")
    ap.add_argument("--quant", default="w4a4", help="quantization, wNaM (default w4a4)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint to write (written atomically)")
    a = ap.parse_args(argv)
    from model.arch import ArchError
    from model.checkpoint import save
    from model.quant import QuantConfigError

    from model.quant import QuantConfig

    try:
        if QuantConfig.parse(a.quant) is None:
            raise QuantConfigError("--quant float has no hardware (choose wNaM)")
        t = time.perf_counter()
        print(f"[random_init] {a.model} width {a.width or 'default'}, input {a.input or 'default'}, "
              f"{a.quant}: calibrating BatchNorm on ORL faces ...", flush=True)
        net = random_net(a.model, a.width, a.input, a.quant, a.seed)
    except (ArchError, QuantConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save(net, a.out, extra={"untrained": True, "seed": a.seed})
    params = sum(p.numel() for p in net.parameters())
    print(f"[random_init] wrote {a.out} ({params / 1e6:.2f} M parameters, untrained) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
