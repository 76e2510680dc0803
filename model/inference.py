"""Running a trained network in PyTorch on numpy batches: embeddings and top-1 accuracy (used
by training, evaluation, the scoring fit and the limits study; the board never needs it)."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

import numpy as np
import torch
from brevitas.export.inference import quant_inference_mode

from model.data import to_tensor
from model.nets import Net


@contextmanager
def inference(net: Net) -> Iterator[torch.device]:
    """Evaluation mode without gradients; a quantized network also in Brevitas' inference mode,
    which quantizes each weight once instead of on every call (same outputs, 2-6x faster on
    our small batches). Yields the device the network is on (a loaded checkpoint: CPU)."""
    net.eval()
    fast = quant_inference_mode(net) if net.quant_config is not None else nullcontext()
    with torch.no_grad(), fast:
        yield next(net.parameters()).device


def embed(net: Net, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The network's outputs (face embeddings or logits) for uint8 N x H x W x C images."""
    with inference(net) as dev:
        return np.concatenate([net(to_tensor(x[i:i + batch]).to(dev)).cpu().numpy()
                               for i in range(0, len(x), batch)])


def top1(net: Net, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    correct = 0
    with inference(net) as dev:
        for i in range(0, len(x), batch):
            correct += int((net(to_tensor(x[i:i + batch]).to(dev)).argmax(1).cpu().numpy()
                            == y[i:i + batch]).sum())
    return correct / len(x)
