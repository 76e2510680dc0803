"""The files of a design (a build folder), read and checked in one place for every backend
(golden model, C-sim, board): the manifest of their hashes, the integer parameters with the
shapes, dtypes and ranges the description implies, the output scale, the host tail.

- `manifest.json` holds the sha256 of every file the flow wrote; `verify_manifest` refuses a
  design whose file differs from it, is missing, or is not in it (an edit, a truncation, a
  flipped byte), naming the file. A design is what the flow built, or it is refused.
- `check_params` checks parameters however they arrive (files, or arrays handed to the golden
  model or the C-sim by a caller): each node's weights and thresholds present, integer, of
  the shape the description implies, inside their datatype, thresholds sorted ascending
  (a requantization's table: M >= 1, the split J in range);
  every failure names the node (and the file). Golden model, C-sim and board therefore accept
  and refuse exactly the same parameters.
numpy only (the host imports it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from hls.accel import Accelerator, DescriptionError, Node
from hls.engines import IntType

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "vargnet-build-manifest"
# written into a build folder by others after the flow: not part of the design
NOT_IN_MANIFEST = {MANIFEST, "source.json", "reports/schedule.json", "hls/tb_output.bin"}


class DesignFileError(DescriptionError):
    """A design file that is missing, corrupted or inconsistent; the message names it."""


# ---- the manifest ---------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def design_files(root: Path) -> list[str]:
    """Every file under root (posix paths relative to it), except those written by others."""
    out = []
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in NOT_IN_MANIFEST and ".partial" not in rel:
            out.append(rel)
    return out


def write_manifest(root: Path) -> Path:
    """manifest.json: the sha256 of every design file (atomic write)."""
    root = Path(root)
    files = {rel: _sha256(root / rel) for rel in design_files(root)}
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"schema": MANIFEST_SCHEMA, "files": files, "sha256": _files_digest(files)}, f, indent=1)
    os.replace(tmp, root / MANIFEST)
    return root / MANIFEST


def _files_digest(files: dict[str, str]) -> str:
    """The manifest's own hash, so that damage to it is told apart from damage to a file."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DesignFileError(f"{path}: missing; every build folder carries the hashes of its files "
                              f"(rebuild the design with python -m flow build)")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DesignFileError(f"{path}: not a readable manifest ({e})") from None
    files = d.get("files") if isinstance(d, dict) and d.get("schema") == MANIFEST_SCHEMA else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise DesignFileError(f"{path}: not a build manifest (schema {MANIFEST_SCHEMA!r})")
    if d.get("sha256") != _files_digest(files):
        raise DesignFileError(f"{path}: damaged (its entries do not match its own sha256); rebuild")
    return files


def verify_manifest(root: Path, files: Optional[Iterable[str]] = None) -> None:
    """Refuses the design if any of `files` (default: all in the manifest) is missing, not in
    the manifest, or differs from the hash the flow recorded."""
    root = Path(root)
    recorded = read_manifest(root)
    for rel in (files if files is not None else recorded):
        path = root / rel
        if rel not in recorded:
            raise DesignFileError(f"{path}: not part of the build (not in its {MANIFEST})")
        if not path.is_file():
            raise DesignFileError(f"{path}: missing from the build folder")
        if _sha256(path) != recorded[rel]:
            raise DesignFileError(f"{path}: differs from the file the flow wrote (its sha256 is not "
                                  f"the one in {MANIFEST}): the build folder was modified or "
                                  f"damaged; rebuild it")


def host_files(acc: Accelerator) -> list[str]:
    """The files a host backend reads: the description, parameters, scale, tail, scoring,
    the parameter buffer."""
    out = ["accelerator.json"]
    for n in acc.nodes:
        out += [f for f in (n.weights, n.thresholds) if f]
    out += [acc.output[k] for k in ("scale", "tail", "scoring") if acc.output.get(k)]
    if acc.params_buffer:  # the DDR nodes' weights the host allocates (hls/params_buffer.py)
        out.append(acc.params_buffer["file"])
    return out


# ---- parameters -----------------------------------------------------------------------------------
def expected_params(acc: Accelerator, n: Node) -> dict[str, tuple[tuple[tuple[int, ...], ...], IntType]]:
    """{"weights"/"thresholds": (accepted shapes, datatype)} of a node (empty: it has none)."""
    return n.engine().param_specs(acc.window_engine(n))


def check_array(a: Any, shapes: tuple[tuple[int, ...], ...], t: IntType, what: str) -> np.ndarray:
    """An integer array of one of `shapes` inside t's range."""
    if not isinstance(a, np.ndarray):
        raise DesignFileError(f"{what}: expected an integer array, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.integer):
        raise DesignFileError(f"{what}: dtype {a.dtype}, expected integer codes")
    if a.shape not in shapes:
        raise DesignFileError(f"{what}: shape {a.shape}, the description implies "
                              f"{' or '.join(map(str, shapes))}")
    if a.size and (int(a.min()) < t.min or int(a.max()) > t.max):
        raise DesignFileError(f"{what}: values [{int(a.min())}, {int(a.max())}] outside {t} "
                              f"[{t.min}, {t.max}]")
    return a.astype(np.int64)


def check_param(engine, key: str, a: Any, shapes: tuple[tuple[int, ...], ...], t: IntType,
                what: str) -> np.ndarray:
    """check_array, then what the engine checks beyond shape and range (param_problem)."""
    a = check_array(a, shapes, t, what)
    problem = engine.param_problem(key, a)
    if problem:
        raise DesignFileError(f"{what}: {problem}")
    return a


def check_params(acc: Accelerator, params: dict[str, dict[str, np.ndarray]],
                 files: Optional[dict[tuple[str, str], str]] = None) -> dict[str, dict[str, np.ndarray]]:
    """Every node's parameters checked against the description (int64 copies returned).
    `files`: (node, kind) -> file name, for the messages."""
    if not isinstance(params, dict):
        raise DesignFileError("parameters must be a dict: node name -> {weights, thresholds}")
    out: dict[str, dict[str, np.ndarray]] = {}
    names = {n.name for n in acc.nodes}
    extra = sorted(set(params) - names)
    if extra:
        raise DesignFileError(f"parameters for nodes the description does not have: {extra[:5]}")
    for n in acc.nodes:
        want = expected_params(acc, n)
        engine = n.engine()
        got = params.get(n.name, {})
        for key in sorted(set(got) - set(want)):
            raise DesignFileError(f"node {n.name}: has {key}, a {n.kind} takes none")
        for key, (shapes, t) in want.items():
            where = f"node {n.name} {key}" + (f" ({files[(n.name, key)]})" if files and (n.name, key) in files else "")
            if key not in got:
                raise DesignFileError(f"{where}: missing")
            out.setdefault(n.name, {})[key] = check_param(engine, key, got[key], shapes, t, where)
    return out


def load_npy(path: Path, what: str = "") -> np.ndarray:
    """np.load without pickles; a missing, truncated or foreign file is named."""
    if not path.is_file():
        raise DesignFileError(f"{path}: missing{f' ({what})' if what else ''}")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DesignFileError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise DesignFileError(f"{path}: not a .npy array")
    return a


def load_params(acc: Accelerator) -> dict[str, dict[str, np.ndarray]]:
    """The integer weights and thresholds named in the description, checked (check_params)."""
    if acc.root is None:
        raise DescriptionError("the description was not loaded from a build folder: no .npy files")
    raw: dict[str, dict[str, np.ndarray]] = {}
    files: dict[tuple[str, str], str] = {}
    for n in acc.nodes:
        for key in ("weights", "thresholds"):
            f = getattr(n, key)
            if f:
                raw.setdefault(n.name, {})[key] = load_npy(Path(acc.root) / f, f"node {n.name} {key}")
                files[(n.name, key)] = str(Path(acc.root) / f)
    return check_params(acc, raw, files)


def load_output_scale(acc: Accelerator) -> np.ndarray:
    assert acc.root is not None
    f = acc.output.get("scale")
    path = Path(acc.root) / str(f)
    a = load_npy(path, "output scale")
    ch = int(acc.output["channels"])
    if not np.issubdtype(a.dtype, np.floating) or a.shape not in ((), (ch,), (1,)) \
            or not np.all(np.isfinite(a)):
        raise DesignFileError(f"{path}: the output scale must be finite floats, a scalar or {ch} "
                              f"values; got dtype {a.dtype}, shape {a.shape}")
    return a.astype(np.float64)


def load_tail(acc: Accelerator) -> dict[str, Any]:
    """The host tail (BN1d, bias, L2 norm) as JSON, its vectors the output's length."""
    assert acc.root is not None
    path = Path(acc.root) / str(acc.output.get("tail"))
    if not path.is_file():
        raise DesignFileError(f"{path}: missing (the host tail)")
    try:
        t = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DesignFileError(f"{path}: not valid JSON ({e})") from None
    ch = int(acc.output["channels"])
    if not isinstance(t, dict):
        raise DesignFileError(f"{path}: the host tail must be a JSON object")
    vecs = [("bias", t.get("bias"))]
    bn = t.get("bn")
    if bn is not None:
        if not isinstance(bn, dict) or not _finite(bn.get("eps")) or bn["eps"] < 0:
            raise DesignFileError(f"{path}: bn must hold mean, var, weight, bias and eps >= 0")
        vecs += [(f"bn.{k}", bn.get(k)) for k in ("mean", "var", "weight", "bias")]
    for k, v in vecs:
        if v is None and k == "bias":
            continue
        if not isinstance(v, list) or len(v) != ch or not all(_finite(x) for x in v):
            raise DesignFileError(f"{path}: {k} must be {ch} finite float32 numbers")
    if bn is not None and min(bn["var"]) < 0:
        raise DesignFileError(f"{path}: bn.var must not be negative")
    if not isinstance(t.get("l2norm", False), bool):
        raise DesignFileError(f"{path}: l2norm must be true or false")
    # vectors as float64 arrays from here on (a JSON integer beyond int64 would make numpy
    # build object arrays)
    if t.get("bias") is not None:
        t["bias"] = np.asarray(t["bias"], np.float64)
    if bn is not None:
        t["bn"] = {**bn, **{k: np.asarray(bn[k], np.float64) for k in ("mean", "var", "weight", "bias")},
                   "eps": float(bn["eps"])}
    return t


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _finite(x: Any) -> bool:
    """A JSON number inside float32's range, the range of the trained network's numbers
    (strings, booleans and numbers beyond it are not)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x)) and abs(float(x)) <= FLOAT32_MAX
    except OverflowError:
        return False


def check_npz(path: Path) -> None:
    """A .npz is a zip of .npy files: a truncated or damaged one is named before numpy sees it."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        raise DesignFileError(f"{path}: not a readable .npz archive ({e})") from None
    if bad is not None:
        raise DesignFileError(f"{path}: member {bad} is damaged (CRC mismatch)")
