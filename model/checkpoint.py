"""Checkpoints that carry their architecture and quantization settings with the weights.

Loading one never depends on remembering flags: `load_net(path)` rebuilds the exact network.
Writes are atomic (temporary file + rename), so an interrupted save leaves the old file. Every
checkpoint carries the sha256 of its contents (`digest`, over every tensor, array and value in
a fixed order); reading one recomputes it, so a damaged file (a flipped byte in a weight,
which torch itself would load silently) is refused naming the file. Checkpoints written
before the digest existed load without that check.
"""

from __future__ import annotations

import hashlib
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


def content_digest(obj: Any) -> str:
    """sha256 of a checkpoint's contents: dicts in key order, tensors and arrays by dtype,
    shape and bytes, everything else by its repr."""
    import numpy as np

    h = hashlib.sha256()

    def feed(o: Any) -> None:
        if isinstance(o, dict):
            h.update(b"{")
            for k in sorted(o, key=str):
                h.update(repr(k).encode())
                feed(o[k])
            h.update(b"}")
        elif isinstance(o, (list, tuple)):
            h.update(b"[")
            for v in o:
                feed(v)
            h.update(b"]")
        elif isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(o, np.ndarray):
            h.update(f"A{o.dtype}{o.shape}".encode())
            h.update(np.ascontiguousarray(o).tobytes())
        else:
            h.update(repr(o).encode())

    feed(obj)
    return h.hexdigest()


def save(net: Net, path: Union[str, Path], extra: Optional[dict[str, Any]] = None) -> None:
    """Saves weights + architecture + quantization (+ extra, e.g. optimizer state, epoch)."""
    qc = net.quant_config
    ck = {
        "format": FORMAT,
        "version": VERSION,
        "arch": net.arch.to_dict(),
        "quant": qc.to_dict() if qc else None,
        "state_dict": net.state_dict(),
        "extra": extra or {},
    }
    write(ck, path)


def write(ck: dict[str, Any], path: Union[str, Path]) -> None:
    """Saves a checkpoint dict (as read() returns it, perhaps with a new `extra`) with the
    digest of its contents, atomically."""
    ck = {k: v for k, v in ck.items() if k != "digest"}
    ck["digest"] = content_digest(ck)
    atomic_torch_save(ck, path)


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
    for k, t in (("arch", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(ck.get(k), t):
            raise CheckpointError(f"{path}: field {k!r} missing or not a {t.__name__}")
    want = ck.pop("digest", None)
    if want is not None and content_digest(ck) != want:
        raise CheckpointError(f"{path}: contents differ from the digest saved with them: the file "
                              f"is damaged (or was edited); restore or retrain it")
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
    try:
        net = Net(arch, QuantConfig.from_dict(ck["quant"]))
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{where}: bad quantization settings in checkpoint: {e}") from None
    _load_state(net, ck["state_dict"], where)
    return net, ck["extra"]


def _load_state(net: Net, sd: dict[str, Any], where: str, strict: bool = True):
    """load_state_dict with torch's size-mismatch and missing-key errors as one line naming
    the checkpoint and the first offending weight."""
    own = net.state_dict()
    for k, v in sd.items():
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape:
            raise CheckpointError(f"{where}: weight {k} has shape {tuple(v.shape)}, the recorded "
                                  f"architecture needs {tuple(own[k].shape)}")
        if k in own and not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{where}: weight {k} is a {type(v).__name__}, not a tensor")
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{where}: weight {k} holds non-finite values (inf or nan)")
    try:
        return net.load_state_dict(sd, strict=strict)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{where}: weights do not fit the recorded architecture ({first})") from None


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
        missing, unexpected = _load_state(net, _float_to_quant_keys(ck["state_dict"], net), str(path),
                                          strict=False)
        if unexpected:
            raise CheckpointError(f"{path}: unexpected weights {unexpected[:5]}")
    else:
        _load_state(net, ck["state_dict"], str(path))
    return ck["extra"]


def _float_to_quant_keys(sd: dict[str, torch.Tensor], net: Net) -> dict[str, torch.Tensor]:
    """Float Conv/Linear weights keep their names in the Brevitas layers."""
    own = net.state_dict()
    return {k: v for k, v in sd.items() if k in own}
