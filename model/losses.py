"""Training losses: ArcFace, the angular distillation loss of VarGFaceNet (Eq. 5), and a
relational (batch similarity matrix) distillation term."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class ArcFace(nn.Module):
    """Additive angular margin: logits s * cos(theta_y + m) for the true class, s * cos(theta)
    for the others, over L2-normalised embeddings and class centres."""

    def __init__(self, emb: int, classes: int, scale: float = 64.0, margin: float = 0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, emb))
        nn.init.xavier_uniform_(self.weight)
        self.s, self.m = scale, margin

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.acos(cos)
        target = torch.cos(theta + self.m)
        # keep the target logit monotone where theta + m passes pi (insightface's easy margin fix)
        target = torch.where(theta + self.m < math.pi, target, cos - self.m * math.sin(self.m))
        onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        logits = self.s * (onehot * target + (1 - onehot) * cos)
        return F.cross_entropy(logits, labels)


def angular_distillation(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """L_s = mean over the batch of || F_t/||F_t|| - F_s/||F_s|| ||^2 (VarGFaceNet, Eq. 5)."""
    return (F.normalize(f_t, dim=1) - F.normalize(f_s, dim=1)).pow(2).sum(1).mean()


def relational_distillation(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the batch's cosine similarity matrices."""
    s, t = F.normalize(f_s, dim=1), F.normalize(f_t, dim=1)
    return (s @ s.T - t @ t.T).pow(2).mean()


def feature_distillation(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """The angular loss on whole feature maps (N x C x H x W, each flattened and normalised):
    dense supervision from the teacher's intermediate layers, whose local features (eyes,
    mouths, textures) are shared across people, unlike the identity embedding."""
    if f_s.shape[2:] != f_t.shape[2:]:  # e.g. a smaller student's map: both on the coarser grid
        grid = tuple(min(a, b) for a, b in zip(f_s.shape[2:], f_t.shape[2:]))
        f_s, f_t = F.adaptive_avg_pool2d(f_s, grid), F.adaptive_avg_pool2d(f_t, grid)
    return angular_distillation(f_s.flatten(1), f_t.flatten(1))
