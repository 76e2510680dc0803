"""Running a trained network in PyTorch on numpy batches: embeddings and top-1 accuracy (used
by training, evaluation, the scoring fit and the limits study; the board never needs it)."""

from __future__ import annotations

import numpy as np
import torch

from model.data import to_tensor
from model.nets import Net


def embed(net: Net, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The network's outputs (face embeddings or logits) for uint8 N x H x W x C images."""
    net.eval()
    dev = next(net.parameters()).device  # wherever the network is (a loaded checkpoint: CPU)
    with torch.no_grad():
        return np.concatenate([net(to_tensor(x[i:i + batch]).to(dev)).cpu().numpy()
                               for i in range(0, len(x), batch)])


def top1(net: Net, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    net.eval()
    correct, dev = 0, next(net.parameters()).device
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((net(to_tensor(x[i:i + batch]).to(dev)).argmax(1).cpu().numpy()
                            == y[i:i + batch]).sum())
    return correct / len(x)
