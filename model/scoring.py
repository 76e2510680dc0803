"""The verification scoring backend: within-class covariance normalisation (WCCN) of a face
student's embeddings, fitted on its own training identities.

Two faces are compared by the cosine of their embeddings. The student learned its embedding
from 30 people; the directions in which one person's embedding moves between photographs
(pose, light, expression) are not suppressed by distillation alone. WCCN (Hatch, Kajarekar
and Stolcke, "Within-class covariance normalization for SVM-based speaker recognition",
ICSLP 2006; a standard backend of verification systems) whitens the within-class scatter
measured on labelled training faces: e' = (e - mean) @ T with T T^T = (S_w + lam I)^-1,
S_w the pooled within-identity covariance of the embeddings, lam a ridge of `lam` times the
mean eigenvalue (30 identities do not pin down all 512 directions). Faces are then compared
by the cosine of e'.

With `flip` (the default), a face is embedded by the flip test of face verification: the
normalised sum of the L2-normalised embeddings of the face and of its mirror image (two
passes of the network per face; on the accelerator, two frames). The scatter is measured on
the same kind of embedding it is applied to: each training face and `copies` augmented
copies (model.data.augment_faces), each by the flip test. Without `flip`: single-pass
embeddings of each training face, its mirror image and the copies. The defaults (flip, lam
0.03, 4 copies) were chosen on the cross-validation folds s1-s10, s11-s20, s21-s30, never on
s31-s40 (model/README.md). It is a fixed affine map on the host after the accelerator's
L2-normalised embedding: the network and its integer path are unchanged.

    python -m model.scoring --checkpoint RUN/final.pt          # fit and store in the checkpoint
    python -m model.scoring --checkpoint RUN/final.pt --no-flip  # session 13's single-pass backend
    python -m model.scoring --checkpoint RUN/final.pt --remove

This module needs only numpy (the host imports it on the board); fitting for a trained
network, and this CLI, are in model/scoring_fit.py (torch).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np


LAMBDA = 0.03  # ridge, as a fraction of the mean within-class eigenvalue
FLIP = True  # embed each face by the flip test (face + mirror image)
COPIES = 4  # augmented copies per training face, besides the face (and its mirror image)
SEED = 0


def unit(e: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    e = np.asarray(e)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def mirror(x: np.ndarray) -> np.ndarray:
    """Horizontal mirror images of N x H x W x C faces."""
    return np.ascontiguousarray(np.asarray(x)[:, :, ::-1])


def flip_test(e: np.ndarray, e_mirror: np.ndarray) -> np.ndarray:
    """The flip-test embedding of faces from the embeddings of the faces and of their mirror
    images: the normalised sum of the two normalised embeddings."""
    e, e_mirror = np.asarray(e), np.asarray(e_mirror)
    if e.shape != e_mirror.shape:
        raise ScoringError(f"embeddings {e.shape} and mirror embeddings {e_mirror.shape} differ in shape")
    return unit(unit(e) + unit(e_mirror))


class ScoringError(ValueError):
    """Embeddings or a stored backend that cannot be used; the message names the problem."""


@dataclass
class Wccn:
    mean: np.ndarray  # d: mean training embedding
    transform: np.ndarray  # d x d: e' = (e - mean) @ transform
    lam: float
    images: int  # embeddings it was fitted on
    identities: int
    flip: bool = False  # it expects flip-test embeddings (flip_test) rather than single-pass ones

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def apply(self, e: np.ndarray) -> np.ndarray:
        e = np.asarray(e)
        if e.ndim != 2 or e.shape[1] != self.dim:
            raise ScoringError(f"embeddings of shape {e.shape}: the WCCN backend takes N x {self.dim}")
        return ((e.astype(np.float64) - self.mean) @ self.transform).astype(np.float32)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "wccn", "mean": self.mean.astype(np.float32),
                "transform": self.transform.astype(np.float32), "lam": float(self.lam),
                "images": int(self.images), "identities": int(self.identities),
                "flip": bool(self.flip)}

    @classmethod
    def from_state(cls, s: dict[str, Any], where: str = "scoring backend") -> "Wccn":
        try:
            if s.get("kind") != "wccn":
                raise ScoringError(f"{where}: kind {s.get('kind')!r} is not 'wccn'")
            mean = np.asarray(s["mean"], np.float64)
            t = np.asarray(s["transform"], np.float64)
            # backends stored before the flip test existed were single-pass
            out = cls(mean, t, float(s["lam"]), int(s["images"]), int(s["identities"]),
                      bool(s.get("flip", False)))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ScoringError):
                raise
            raise ScoringError(f"{where}: not a WCCN backend ({type(e).__name__}: {e})") from None
        if mean.ndim != 1 or t.shape != (mean.shape[0], mean.shape[0]):
            raise ScoringError(f"{where}: mean {mean.shape} and transform {t.shape} do not match")
        return out

    def save(self, path: Union[str, Path]) -> None:
        np.savez(path, **{k: np.asarray(v) for k, v in self.to_state().items()})

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Wccn":
        try:
            with np.load(path) as z:
                s = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
        except (OSError, ValueError) as e:
            raise ScoringError(f"{path}: not a readable scoring file ({e})") from None
        return cls.from_state(s, str(path))

    def describe(self) -> str:
        how = "flip-test" if self.flip else "single-pass"
        return (f"WCCN of {how} embeddings (lam {self.lam:g}, fitted on {self.images} embeddings of "
                f"{self.identities} identities)")


def fit_wccn(emb: np.ndarray, labels: np.ndarray, lam: float = LAMBDA, flip: bool = False) -> Wccn:
    """WCCN from N x d embeddings and their N identity labels (flip: they are flip-test
    embeddings, and so must be those it is applied to)."""
    emb, labels = np.asarray(emb, np.float64), np.asarray(labels)
    if emb.ndim != 2 or labels.shape != (len(emb),):
        raise ScoringError(f"embeddings {emb.shape} and labels {labels.shape}: need N x d and N")
    if not np.isfinite(emb).all():
        raise ScoringError("embeddings contain NaN or infinity")
    if lam <= 0:
        raise ScoringError(f"lam {lam}: the ridge must be positive")
    ids = np.unique(labels)
    if len(ids) < 2:
        raise ScoringError(f"{len(ids)} identity: WCCN needs faces of at least two people")
    d = emb.shape[1]
    # within-class scatter: each embedding minus its identity's mean
    centred = emb.copy()
    for c in ids:
        m = labels == c
        centred[m] -= emb[m].mean(0)
    sw = centred.T @ centred / len(emb)
    vals, vecs = np.linalg.eigh(sw + lam * np.trace(sw) / d * np.eye(d))
    if vals.min() <= 0:
        raise ScoringError("the within-class scatter is zero: all faces of each identity embed alike")
    return Wccn(emb.mean(0), vecs / np.sqrt(vals), lam, len(emb), len(ids), flip)


def training_views(x: np.ndarray, y: np.ndarray, copies: int = COPIES, seed: int = SEED,
                   flip: bool = FLIP) -> tuple[np.ndarray, np.ndarray]:
    """The faces whose embeddings measure the within-class scatter: each face and `copies`
    augmented copies, and without flip each face's mirror image too (a flip-test embedding
    holds it already) (uint8 N x H x W x C in, with their labels)."""
    from model.data import augment_faces

    rng = np.random.default_rng(seed)
    xs = [x] + ([] if flip else [mirror(x)]) + [augment_faces(x, rng) for _ in range(copies)]
    return np.concatenate(xs), np.tile(y, len(xs))


def stored(extra: dict[str, Any], where: str = "checkpoint") -> Optional[Wccn]:
    """The backend a checkpoint carries (its extra["scoring"]), or None."""
    s = extra.get("scoring")
    return None if s is None else Wccn.from_state(s, f"{where}: scoring backend")


if __name__ == "__main__":  # the fitting CLI needs torch: model/scoring_fit.py
    from model.scoring_fit import main

    sys.exit(main())
