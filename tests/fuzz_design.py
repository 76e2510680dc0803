"""Corruption fuzzing of a build folder and of a checkpoint: every file damaged in every way
that applies to it, then used as a user would; each case must end in a clear error that names
the file, or in the clean output, never in a crash, a hang or a different output.

    python -m tests.fuzz_design --build DIR --checkpoint CK.pt [--json PATH]

Damage: truncated (first half kept), a flipped byte (three quarters in: in the data), deleted,
a wrong dtype (.npy re-saved as float64 / a JSON value as a string / a tensor as float64), a
wrong shape (an array or tensor flattened), out-of-range values (integers x 10 + 1, floats to
inf). Users: host.Accelerator(build, backend=golden and csim).infer(faces) for a build folder
(accepted or refused before anything runs); model.checkpoint.load_net and the network's
forward pass for a checkpoint.

A second pass makes the wrong-dtype, wrong-shape and out-of-range edits *deliberately* (the
build's manifest or the checkpoint's digest rewritten to agree, as a user who edits files by
hand would): the checks of the contents must still refuse them, naming the file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

KINDS = ("truncated", "flipped byte", "deleted", "wrong dtype", "wrong shape", "out of range")


@dataclass
class Case:
    target: str  # "build" or "checkpoint"
    file: str
    kind: str
    deliberate: bool  # the manifest / digest rewritten to agree
    outcome: str  # "error" | "same output" | "WRONG OUTPUT" | "UNCLEAR ERROR"
    detail: str


# ---- damage ------------------------------------------------------------------------------------------
def _npy_edit(path: Path, kind: str) -> bool:
    a = np.load(path, allow_pickle=False)
    if kind == "wrong dtype":
        b = a.astype(np.float64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.int64)
    elif kind == "wrong shape":
        if a.ndim == 0:
            return False
        b = a.reshape(-1)[:-1] if a.ndim == 1 else a.reshape(-1)
    else:  # out of range: beyond any datatype of the design (4-bit to 32-bit codes)
        b = a.astype(np.int64) + (1 << 40) if np.issubdtype(a.dtype, np.integer) else np.full_like(a, np.inf)
    np.save(path, b)
    return True


def _json_edit(path: Path, kind: str) -> bool:
    d = json.loads(path.read_text())

    def first_scalar(o, parent=None, key=None):
        if isinstance(o, dict):
            for k, v in o.items():
                r = first_scalar(v, o, k)
                if r:
                    return r
        elif isinstance(o, list):
            for i, v in enumerate(o):
                r = first_scalar(v, o, i)
                if r:
                    return r
        elif isinstance(o, (int, float)) and not isinstance(o, bool) and parent is not None:
            return parent, key
        return None

    if kind == "wrong dtype":
        hit = first_scalar(d)
        if not hit:
            return False
        parent, key = hit
        parent[key] = str(parent[key]) + "x"
    elif kind == "out of range":
        hit = first_scalar(d)
        if not hit:
            return False
        parent, key = hit
        parent[key] = -(10 ** 40)  # beyond float32 (the network's numbers) and int64
    else:
        return False
    path.write_text(json.dumps(d))
    return True


def damage(path: Path, kind: str) -> bool:
    """Damages one file in place; False where the kind does not apply to it."""
    if kind == "deleted":
        path.unlink()
        return True
    if kind == "truncated":
        b = path.read_bytes()
        path.write_bytes(b[: len(b) // 2])
        return True
    if kind == "flipped byte":
        b = bytearray(path.read_bytes())
        if not b:
            return False
        b[len(b) * 3 // 4] ^= 0x5A
        path.write_bytes(bytes(b))
        return True
    if path.suffix == ".npy":
        return _npy_edit(path, kind)
    if path.suffix == ".json":
        return _json_edit(path, kind)
    return False


def _clear(e: BaseException, names: list[str]) -> bool:
    msg = str(e)
    return any(n in msg for n in names)


# ---- a build folder ------------------------------------------------------------------------------
def fuzz_build(build: Path, x: np.ndarray, backends=("golden", "csim"),
               limit: Optional[Callable[[str], bool]] = None) -> list[Case]:
    from hls.design_files import MANIFEST, design_files, write_manifest
    from host import Accelerator

    clean = {b: Accelerator(build, backend=b).infer(x) for b in backends}
    files = [f for f in design_files(build)] + [MANIFEST]
    cases: list[Case] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "b"
        shutil.copytree(build, work)
        manifest = (work / MANIFEST).read_bytes()
        for rel in files:
            if limit and not limit(rel):
                continue
            original = (work / rel).read_bytes()
            for deliberate in (False, True):
                for kind in KINDS:
                    if deliberate and (kind in ("truncated", "flipped byte", "deleted") or rel == MANIFEST):
                        continue
                    try:
                        if not damage(work / rel, kind):
                            continue
                        if deliberate:
                            write_manifest(work)
                        cases.append(_run_build(work, rel, kind, deliberate, x, clean, backends))
                    finally:  # the next case starts from the clean build again
                        (work / rel).write_bytes(original)
                        (work / MANIFEST).write_bytes(manifest if rel != MANIFEST else original)
    return cases


def _run_build(work: Path, rel: str, kind: str, deliberate: bool, x, clean, backends) -> Case:
    from host import Accelerator

    names = [rel, Path(rel).name]
    for b in backends:
        try:
            r = Accelerator(work, backend=b).infer(x)
        except Exception as e:  # noqa: BLE001 - classified below: a clear error names the file
            if _clear(e, names):
                return Case("build", rel, kind, deliberate, "error", f"{type(e).__name__}: {e}"[:300])
            return Case("build", rel, kind, deliberate, "UNCLEAR ERROR", f"{type(e).__name__}: {e}"[:300])
        c = clean[b]
        if not (np.array_equal(r.raw, c.raw) and np.array_equal(r.output, c.output)
                and (r.scored is None) == (c.scored is None)
                and (r.scored is None or np.array_equal(r.scored, c.scored))):
            return Case("build", rel, kind, deliberate, "WRONG OUTPUT", f"backend {b}")
    return Case("build", rel, kind, deliberate, "same output", "not read by the host, or unchanged")


# ---- a checkpoint ------------------------------------------------------------------------------------
def _checkpoint_edit(path: Path, kind: str, deliberate: bool) -> bool:
    import torch

    from model.checkpoint import atomic_torch_save, write

    ck = torch.load(path, map_location="cpu", weights_only=False)
    sd = ck["state_dict"]
    key = next(k for k, v in sd.items() if v.is_floating_point() and v.ndim >= 2)
    if kind == "wrong dtype":
        sd[key] = sd[key].double()
    elif kind == "wrong shape":
        sd[key] = sd[key].reshape(-1)
    else:
        sd[key] = torch.full_like(sd[key], float("inf"))
    (write if deliberate else atomic_torch_save)(ck, path)
    return True


def fuzz_checkpoint(ck_path: Path, x: np.ndarray) -> list[Case]:
    import torch

    from model.checkpoint import load_net

    def forward(p: Path) -> np.ndarray:
        net, _ = load_net(p)
        with torch.no_grad():
            return net(torch.as_tensor(x, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0).numpy()

    clean = forward(ck_path)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for deliberate in (False, True):
            for kind in KINDS:
                if deliberate and kind in ("truncated", "flipped byte", "deleted"):
                    continue
                p = Path(tmp) / ck_path.name
                shutil.copyfile(ck_path, p)
                if kind in ("truncated", "flipped byte", "deleted"):
                    damage(p, kind)
                else:
                    _checkpoint_edit(p, kind, deliberate)
                try:
                    y = forward(p)
                except Exception as e:  # noqa: BLE001
                    ok = _clear(e, [p.name])
                    cases.append(Case("checkpoint", ck_path.name, kind, deliberate,
                                      "error" if ok else "UNCLEAR ERROR", f"{type(e).__name__}: {e}"[:300]))
                    continue
                same = np.array_equal(y, clean)
                cases.append(Case("checkpoint", ck_path.name, kind, deliberate,
                                  "same output" if same else "WRONG OUTPUT", ""))
    return cases


def table(cases: list[Case]) -> str:
    """Markdown: outcome counts per damage kind, and the totals."""
    rows = ["| damage | files | named error | same output | wrong output or unclear |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for deliberate in (False, True):
        for kind in KINDS:
            cs = [c for c in cases if c.kind == kind and c.deliberate == deliberate]
            if not cs:
                continue
            label = kind + (" (manifest/digest rewritten)" if deliberate else "")
            bad = sum(c.outcome in ("WRONG OUTPUT", "UNCLEAR ERROR") for c in cs)
            rows.append(f"| {label} | {len(cs)} | {sum(c.outcome == 'error' for c in cs)} | "
                        f"{sum(c.outcome == 'same output' for c in cs)} | {bad} |")
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz_design", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, required=True, help="a build folder written by the flow")
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint to fuzz as well")
    ap.add_argument("--json", type=Path, help="write every case here")
    a = ap.parse_args(argv)
    from hls.accel import Accelerator as Description
    from model.orl import HELDOUT_IDS, load_orl

    h, w, c = Description.load(a.build).input["shape"]
    x, _ = load_orl(HELDOUT_IDS[:2], h, per_id=1)
    x = x[..., :c]
    cases = fuzz_build(a.build, x)
    if a.checkpoint:
        cases += fuzz_checkpoint(a.checkpoint, x)
    print(table(cases))
    bad = [c for c in cases if c.outcome in ("WRONG OUTPUT", "UNCLEAR ERROR")]
    for c in bad:
        print(f"{c.outcome}: {c.target} {c.file} {c.kind}{' (deliberate)' if c.deliberate else ''}: {c.detail}")
    print(f"{len(cases)} cases, {len(bad)} wrong or unclear")
    if a.json:
        a.json.write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
