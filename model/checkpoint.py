"""Checkpoints that carry their architecture and quantization settings with the weights.

Loading one never depends on remembering flags: `load_net(path)` rebuilds the exact network.
Writes are atomic (temporary file + rename), so an interrupted save leaves the old file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import torch

from model.arch import Arch, ArchError
from model.nets import Net
from model.quant import QuantConfig

FORMAT = "vargnet-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    pass


def atomic_torch_save(obj: Any, path: Union[str, Path]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(net: Net, path: Union[str, Path], extra: Optional[dict[str, Any]] = None) -> None:
    """Saves weights + architecture + quantization (+ extra, e.g. optimizer state, epoch)."""
    qc = net.quant_config
    atomic_torch_save({
        "format": FORMAT,
        "version": VERSION,
        "arch": net.arch.to_dict(),
        "quant": qc.to_dict() if qc else None,
        "state_dict": net.state_dict(),
        "extra": extra or {},
    }, path)


def read(path: Union[str, Path]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file (saved by model.checkpoint.save?)")
    if ck.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ck.get('version')} is not {VERSION}")
    return ck


def describe(arch: Arch, quant: Optional[QuantConfig]) -> str:
    return f"{arch.name} {arch.params_} {'float' if quant is None else quant.to_dict()}"


def load_net(path: Union[str, Path]) -> tuple[Net, dict[str, Any]]:
    """Rebuilds the network a checkpoint was saved from and loads its weights."""
    return net_from(read(path), str(path))


def net_from(ck: dict[str, Any], where: str = "checkpoint") -> tuple[Net, dict[str, Any]]:
    """The network of a checkpoint already read (read(), or one about to be saved)."""
    try:
        arch = Arch.from_dict(ck["arch"])
    except ArchError as e:
        raise CheckpointError(f"{where}: bad architecture in checkpoint: {e}") from None
    net = Net(arch, QuantConfig.from_dict(ck["quant"]))
    net.load_state_dict(ck["state_dict"])
    return net, ck["extra"]


def load_into(net: Net, path: Union[str, Path], *, allow_float_to_quant: bool = False) -> dict[str, Any]:
    """Loads a checkpoint into an existing network after checking that they match.

    allow_float_to_quant: start QAT from a float checkpoint of the same architecture (the
    quantizers keep their fresh initialisation; the weights, BN and PReLU are taken over).
    """
    ck = read(path)
    if ck["arch"]["layers"] != net.arch.to_dict()["layers"]:
        raise CheckpointError(
            f"{path}: checkpoint is for another architecture: {ck['arch']['name']} "
            f"{ck['arch']['params']}, the network is {net.arch.name} {net.arch.params_}"
        )
    have = net.quant_config.to_dict() if net.quant_config else None
    # compared as QuantConfig: a checkpoint written before a field existed has its default
    if QuantConfig.from_dict(ck["quant"]) != net.quant_config:
        if not (allow_float_to_quant and ck["quant"] is None):
            raise CheckpointError(
                f"{path}: checkpoint quantization {ck['quant'] or 'float'} does not match the "
                f"network's {have or 'float'}"
            )
        missing, unexpected = net.load_state_dict(_float_to_quant_keys(ck["state_dict"], net),
                                                  strict=False)
        if unexpected:
            raise CheckpointError(f"{path}: unexpected weights {unexpected[:5]}")
    else:
        net.load_state_dict(ck["state_dict"])
    return ck["extra"]


def _float_to_quant_keys(sd: dict[str, torch.Tensor], net: Net) -> dict[str, torch.Tensor]:
    """Float Conv/Linear weights keep their names in the Brevitas layers."""
    own = net.state_dict()
    return {k: v for k, v in sd.items() if k in own}
