"""Face verification metrics (numpy): the standard 10-fold protocol (best threshold on 9
folds, accuracy on the 10th), TAR at given FARs, ROC AUC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(1)


@dataclass
class VerificationResult:
    accuracy: float  # mean 10-fold accuracy
    accuracy_std: float
    threshold: float  # mean chosen cosine threshold
    auc: float
    tar_at_far: dict[str, float]
    pairs: int

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "accuracy_std": self.accuracy_std,
                "threshold": self.threshold, "auc": self.auc, "tar_at_far": self.tar_at_far,
                "pairs": self.pairs}


def ten_fold(scores: np.ndarray, issame: np.ndarray, folds: int = 10, seed: int = 0) -> tuple[float, float, float]:
    n = len(scores)
    idx = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(idx, folds)
    accs, thrs = [], []
    for k in range(folds):
        test = parts[k]
        train = np.concatenate([parts[j] for j in range(folds) if j != k])
        s, y = scores[train], issame[train]
        # accuracy for every candidate threshold, vectorised by sorting
        order = np.argsort(s)
        ss, yy = s[order], y[order]
        # predicting "same" for scores >= t: correct = negatives below + positives at/above
        neg_below = np.concatenate([[0], np.cumsum(~yy)])
        pos_above = np.concatenate([[0], np.cumsum(yy[::-1])])[::-1]
        acc = (neg_below + pos_above) / len(ss)
        i = int(np.argmax(acc))
        # threshold halfway between the neighbouring training scores of the best split
        if i == 0:
            best_t = ss[0] - 1e-6
        elif i == len(ss):
            best_t = ss[-1] + 1e-6
        else:
            best_t = 0.5 * (ss[i - 1] + ss[i])
        thrs.append(best_t)
        pred = scores[test] >= best_t
        accs.append(float((pred == issame[test]).mean()))
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(thrs))


def roc_auc(scores: np.ndarray, issame: np.ndarray) -> float:
    pos, neg = scores[issame], scores[~issame]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1.0
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tar_at_far(scores: np.ndarray, issame: np.ndarray, far: float) -> float:
    neg = np.sort(scores[~issame])[::-1]
    k = int(np.floor(far * len(neg)))
    thr = neg[k] if k < len(neg) else -np.inf  # accept strictly above the k-th highest impostor
    return float((scores[issame] > thr).mean())


def verify(emb_a: np.ndarray, emb_b: np.ndarray, issame: np.ndarray,
           fars: tuple[float, ...] = (1e-2, 1e-3)) -> VerificationResult:
    s = cosine(emb_a, emb_b)
    acc, std, thr = ten_fold(s, issame)
    return VerificationResult(acc, std, thr, roc_auc(s, issame),
                              {f"{f:g}": tar_at_far(s, issame, f) for f in fars}, int(len(s)))
