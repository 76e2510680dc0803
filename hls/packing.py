"""The DMA stream format at the accelerator's edges (the one definition the host and the
generated top follow; hls/accel.py documents it in the description):

- input: pixels in row-major order, one pixel per 32-bit beat, channel c in bits [8c, 8c+8)
  as uint8, unused high bits zero;
- output: one signed 32-bit beat per output channel, in channel order (FC accumulators).

numpy only; works with numpy 1.x and 2.x.
"""

from __future__ import annotations

import numpy as np


class PackingError(ValueError):
    pass


def check_images(images: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Validates a batch of uint8 H x W x C images (or one image) against the design."""
    h, w, c = shape
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise PackingError(f"images must be N x {h} x {w} x {c} (or one {h} x {w} x {c} image), "
                           f"got shape {x.shape}")
    if x.shape[0] == 0:  # the same answer on every backend
        raise PackingError("images: the batch is empty (0 images)")
    if x.dtype != np.uint8:
        raise PackingError(f"images must be uint8 pixels, got dtype {x.dtype}")
    if x.shape[1:3] != (h, w):
        raise PackingError(f"images must be {h} x {w} pixels, got {x.shape[1]} x {x.shape[2]}")
    if x.shape[3] != c:
        raise PackingError(f"images must have {c} channel(s), got {x.shape[3]}")
    return x


def pack_input(x: np.ndarray) -> np.ndarray:
    """uint8 N x H x W x C (C <= 4) -> uint32 N x (H*W) beats.

    One contiguous copy, then a little-endian uint32 read at every pixel's first byte (a
    C-byte stride) masked to its C bytes: ~5x faster than scattering into a 4-byte layout."""
    n, h, w, c = x.shape
    if c > 4:
        raise PackingError(f"{c} channels do not fit one 32-bit beat per pixel")
    flat = np.zeros(x.size + 4 - c, np.uint8)  # room for the last pixel's 4-byte read
    flat[:x.size] = x.reshape(-1)
    beats = np.ndarray(shape=(n * h * w,), dtype="<u4", buffer=flat.data, strides=(c,))
    mask = np.uint32((1 << (8 * c)) - 1) if c < 4 else np.uint32(0xFFFFFFFF)
    return (beats & mask).reshape(n, h * w)


def unpack_input(beats: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    h, w, c = shape
    n = beats.shape[0]
    b = np.ascontiguousarray(beats, dtype="<u4").view(np.uint8).reshape(n, h, w, 4)
    return b[..., :c].copy()


def unpack_output(beats: np.ndarray, channels: int) -> np.ndarray:
    """int32/uint32 beats N x channels (or flat) -> int64 accumulators N x channels."""
    b = np.asarray(beats).reshape(-1, channels)
    return b.view(np.int32).astype(np.int64) if b.dtype == np.uint32 else b.astype(np.int64)


def pack_output(acc: np.ndarray) -> np.ndarray:
    """int64 accumulators -> int32 beats (what the accelerator writes)."""
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= 1 << 31):
        raise PackingError("accumulators exceed the 32-bit output beat")
    return acc.astype(np.int32)
