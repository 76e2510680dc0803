"""The accelerator object a user holds: one per design, `infer(images)` on uint8 H x W x C
images, returning embeddings (VarGFaceNet: FC accumulators -> scale -> BN1d -> L2 norm) or
logits (VarGNet), the raw integer accumulators, and the timing of the batch.

    from host import Accelerator
    acc = Accelerator("build/default")               # board if one is present, else C-sim
    res = acc.infer(images)                           # res.embeddings, res.raw, res.timing

A design built from a checkpoint with a verification scoring backend (model/scoring.py: WCCN
fitted on the training identities, scoring.npz in the build) also gives res.scored, the
embeddings after that fixed affine map; faces are compared by the cosine of res.scored
(res.verification_embeddings picks it when present). A backend fitted on flip-test
embeddings makes infer stream each face and its mirror image (2N frames in one batch):
res.output and res.raw stay the faces' own, res.mirror holds the mirror images' embeddings,
and res.scored maps the flip test of the two; `infer(images, score=False)` streams the faces
alone.

numpy only (plus pynq on a board, g++ for the C-sim backend).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from hls.accel import Accelerator as Description
from host.backends import BackendError, CsimBackend, GoldenBackend, PynqBackend, pynq_devices
from hls.design_files import (DesignFileError, check_npz, host_files, load_output_scale, load_params,
                               load_tail, read_manifest, verify_manifest)
from hls.packing import check_images, pack_input, unpack_output
from model.scoring import ScoringError, Wccn, flip_test, mirror

ROOT = Path(__file__).resolve().parents[1]


def user_errors() -> tuple[type, ...]:
    """The exceptions that carry a message for the user (a bad design, image, backend or
    toolchain): the CLIs print them as `error: ...` instead of a traceback."""
    from hls.accel import DescriptionError
    from hls.csim import CsimError
    from hls.packing import PackingError

    return (DescriptionError, BackendError, PackingError, CsimError, ScoringError)


@dataclass
class Timing:
    images: int  # frames streamed through the accelerator (2 per face under the flip test)
    pack_s: float
    compute_s: float  # transfer + compute (board), or the simulation's run time
    unpack_s: float
    tail_s: float

    @property
    def latency_s(self) -> float:
        return self.pack_s + self.compute_s + self.unpack_s + self.tail_s

    @property
    def fps(self) -> float:
        return self.images / self.latency_s if self.latency_s > 0 else float("inf")

    def as_dict(self) -> dict[str, float]:
        return {"images": self.images, "pack_s": self.pack_s, "compute_s": self.compute_s,
                "unpack_s": self.unpack_s, "tail_s": self.tail_s, "latency_s": self.latency_s,
                "fps": self.fps}


@dataclass
class Result:
    output: np.ndarray  # embeddings (L2-normalised) or logits, float32 N x C
    raw: np.ndarray  # the accelerator's integer accumulators, int64 N x C
    timing: Timing
    backend: str
    simulated: dict[str, Any] = field(default_factory=dict)  # the simulator's estimate
    scored: Optional[np.ndarray] = None  # embeddings through the design's scoring backend
    mirror: Optional[np.ndarray] = None  # the mirror images' embeddings (flip-test backend)

    @property
    def embeddings(self) -> np.ndarray:
        return self.output

    @property
    def verification_embeddings(self) -> np.ndarray:
        """What to compare faces by (cosine): the scored embeddings when the design has a
        scoring backend, else the embeddings."""
        return self.output if self.scored is None else self.scored


def _load_scoring(root: Path, desc: Description) -> Optional[Wccn]:
    """The build's scoring backend (None if it has none), checked against the embedding size."""
    sc = desc.output.get("scoring")
    if not sc:
        return None
    check_npz(root / sc)
    try:
        scoring = Wccn.load(root / sc)
    except (ScoringError, ValueError, KeyError, OSError) as e:
        raise DesignFileError(f"{root / sc}: not a readable scoring backend ({e})") from None
    if scoring.dim != int(desc.output["channels"]):
        raise BackendError(f"{root / sc}: a scoring backend for {scoring.dim}-d embeddings, "
                           f"the design outputs {desc.output['channels']}")
    return scoring


def _make_backend(backend: str, desc: Description, root: Path, params: Any,
                  bitstream_dir: Optional[Union[str, Path]], timeout_s: float, device: Any) -> Any:
    if backend == "board":
        d = Path(bitstream_dir) if bitstream_dir else ROOT / "bitstreams" / desc.board
        return PynqBackend(desc, d, timeout_s, device)
    if backend == "csim":
        # the build's own generated C-sim sources, as the flow wrote them (a design folder
        # without hls/, as flow/artifacts.py writes one, is generated from the description)
        srcs = ["hls/network.h", "hls/csim_top.cpp"]
        sources = None
        if any(f in read_manifest(root) for f in srcs):
            verify_manifest(root, srcs)
            sources = root / "hls"
        return CsimBackend(desc, params, sources)
    if backend == "golden":
        return GoldenBackend(desc, params)
    raise ValueError(f"unknown backend {backend!r} (auto, board, csim, golden)")


class Accelerator:
    def __init__(self, design: Union[str, Path], backend: str = "auto",
                 bitstream_dir: Optional[Union[str, Path]] = None, timeout_s: float = 2.0,
                 device: Any = None):
        """design: a build folder (accelerator.json + .npy files); backend: auto | board |
        csim | golden (auto: the board when pynq sees one, else the C-sim when g++ exists,
        else the golden model); device: the pynq Device for the board backend (default:
        pynq's active device; host.simulated_board.SimulatedZynqMP runs the board driver
        without a board)."""
        root = Path(design)
        root = root.parent if root.name == "accelerator.json" else root
        if not (root / "accelerator.json").is_file():
            raise BackendError(f"{root}: not a build folder (no accelerator.json; python -m flow "
                               f"build writes one)")
        # every file the host reads must be the one the flow wrote (manifest.json)
        verify_manifest(root, ["accelerator.json"])
        self.desc = Description.load(root)
        self.root = root
        if not self.desc.output.get("scale") or not self.desc.output.get("tail"):
            raise BackendError(f"{root}: the description has no output scale or host tail "
                               f"(was it written by `python -m flow build`?)")
        verify_manifest(root, host_files(self.desc))
        self.output_scale = load_output_scale(self.desc)
        self.tail = load_tail(self.desc)
        self.scoring = _load_scoring(root, self.desc)
        self.shape = tuple(self.desc.input["shape"])
        self.channels = int(self.desc.output["channels"])
        # one loader for every backend: the board's weights are in its bitstream, but a design
        # folder that the C-sim or the golden model would refuse is refused on the board too
        params = load_params(self.desc)
        if backend == "auto":
            backend = "board" if pynq_devices() else ("csim" if shutil.which("g++") else "golden")
        self.backend = _make_backend(backend, self.desc, root, params, bitstream_dir, timeout_s, device)
        # results from a simulated board are labelled as such
        self.backend_name = "simulated-board" if backend == "board" and getattr(device, "simulated", False) \
            else backend
        self._sim: Optional[dict[str, Any]] = None

    # ---- the host-side tail -----------------------------------------------------------------
    def postprocess(self, raw: np.ndarray) -> np.ndarray:
        y = raw.astype(np.float64) * self.output_scale
        bn = self.tail.get("bn")
        if bn:
            y = (y - np.asarray(bn["mean"])) / np.sqrt(np.asarray(bn["var"]) + bn["eps"])
            y = y * np.asarray(bn["weight"]) + np.asarray(bn["bias"])
        if "bias" in self.tail:
            y = y + np.asarray(self.tail["bias"])
        if self.tail.get("l2norm"):
            y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return y.astype(np.float32)

    # ---- inference --------------------------------------------------------------------------
    def infer(self, images: np.ndarray, score: bool = True) -> Result:
        """score: apply the design's scoring backend (res.scored); with a flip-test backend
        this streams the mirror images too. score=False streams the faces alone."""
        x = check_images(images, self.shape)
        n = len(x)
        flip = score and self.scoring is not None and self.scoring.flip
        t0 = time.perf_counter()
        beats = pack_input(np.concatenate([x, mirror(x)]) if flip else x)
        t1 = time.perf_counter()
        out = self.backend.run(beats)
        t2 = time.perf_counter()
        raw = unpack_output(out, self.channels)
        t3 = time.perf_counter()
        y = self.postprocess(raw)
        scored = mirrored = None
        if score and self.scoring is not None:
            mirrored = y[n:] if flip else None
            scored = self.scoring.apply(flip_test(y[:n], mirrored) if flip else y)
        t4 = time.perf_counter()
        timing = Timing(len(raw), t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        return Result(y[:n], raw[:n], timing, self.backend_name, self.simulated(), scored, mirrored)

    def simulated(self) -> dict[str, Any]:
        """The cycle-approximate simulator's estimate for this design (analytic path)."""
        if self._sim is None:
            from sim.analytic import analyse

            an = analyse(self.desc)
            clk = self.desc.clock_mhz
            self._sim = {"fps": an.fps(clk), "latency_ms": an.latency_ms(clk),
                         "bottleneck": an.bottleneck, "clock_mhz": clk,
                         "per_node_cycles": {k: v.cycles for k, v in an.nodes.items()}}
        return self._sim
