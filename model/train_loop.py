"""One generation of training as short pieces: set up (network, head, adapters, optimizer,
schedule, pool), resume from <out>/last.pt, one step, one epoch, evaluate, checkpoint, and
finalize (final.pt with the averaged weights and the scoring backend). `train_one` runs them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from model.arch import build
from model.checkpoint import load_into, net_from, read, save, write
from model.data import augment_faces, to_tensor
from model.inference import embed, top1
from model.losses import ArcFace, angular_distillation, feature_distillation, relational_distillation
from model.nets import Net
from model.quant import QuantConfig
from model.teacher import teacher_chain
from model.train_config import TrainConfig, TrainError
from model.train_pools import Pool, classify_pool, face_pool, student_taps
from model.verification import verify

LOSSES = ("loss", "arc", "distill", "relational", "feature", "ce")


# ---- distributed helpers ------------------------------------------------------------------------
def _dist() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "RANK" in os.environ:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Run:
    """The state of one generation's training."""

    cfg: TrainConfig
    out: Path
    rank: int
    world: int
    dev: torch.device
    net: Net
    head: Optional[ArcFace]
    adapters: torch.nn.ModuleList
    taps: list[str]
    pool: Pool
    opt: torch.optim.Optimizer
    sched: Any
    steps_per_epoch: int
    model: Any = None  # what the batches go through: the network, or its DDP wrapper
    start: int = 0
    best: float = -1.0
    ema: Optional[dict[str, torch.Tensor]] = None  # averaged float tensors of net.state_dict()

    @property
    def face(self) -> bool:
        return self.cfg.task == "face"

    @property
    def last(self) -> Path:
        return self.out / "last.pt"


def setup(cfg: TrainConfig, teacher_spec: Optional[str], init: Optional[str]) -> Run:
    rank, world = _dist()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    arch = build(cfg.model, **cfg.arch_kwargs())
    torch.manual_seed(cfg.seed)
    net = Net(arch, QuantConfig.parse(cfg.quant))
    net.set_regularisation(cfg.drop_path, cfg.fc_dropout)
    size, face = arch.input.out_shape[1], cfg.task == "face"
    if face and arch.name != "vargfacenet":
        raise TrainError("--task face trains vargfacenet")
    pool = face_pool(cfg, size, arch.output.cout, teacher_spec) if face else classify_pool(cfg, size)
    head = ArcFace(arch.output.cout, pool.classes, cfg.arc_scale, cfg.arc_margin) if face and cfg.arc_weight > 0 else None
    # feature distillation: a 1x1 conv per tap takes the student's map to the teacher's
    # channels; training state only (kept in the checkpoint's extra, not in the network)
    taps = student_taps(arch, pool.tf, pool.teacher_size) if face and pool.tf else []
    adapters = torch.nn.ModuleList(
        torch.nn.Conv2d(arch[n].out_shape[0], m.shape[1], 1, bias=False) for n, m in zip(taps, pool.tf))
    if init:
        load_into(net, init, allow_float_to_quant=True)
        # QAT from a float student keeps its feature adapters when they fit
        prev = read(init)["extra"].get("adapters")
        if taps and prev and {k: v.shape for k, v in prev.items()} == {k: v.shape for k, v in adapters.state_dict().items()}:
            adapters.load_state_dict(prev)
    dev = _device()
    net.to(dev)
    adapters.to(dev)
    params = list(net.parameters()) + (list(head.parameters()) if head is not None else []) + list(adapters.parameters())
    if head is not None:
        head.to(dev)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, len(pool.x) // (cfg.batch * world))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    return Run(cfg, out, rank, world, dev, net, head, adapters, taps, pool, opt, sched, steps)


def resume(r: Run) -> None:
    """Continues from <out>/last.pt when it is there (refusing one of another configuration)."""
    if r.last.is_file():
        extra = read(r.last)["extra"]
        # options added after the run was written count as their defaults
        stored = {**TrainConfig(out="").identity(), **extra.get("train_config", {}).get("identity", {})}
        if stored != r.cfg.identity():
            raise TrainError(f"{r.last} was written by a different configuration; use another --out "
                             f"or the same options (differences: {_diff(stored, r.cfg.identity())})")
        load_into(r.net, r.last)
        load_quantizer_state(r.net, extra.get("quantizers", {}))
        if r.head is not None and "head" in extra:
            r.head.load_state_dict(extra["head"])
        if "adapters" in extra:
            r.adapters.load_state_dict(extra["adapters"])
        if "ema" in extra:
            r.ema = {k: v.to(r.dev) for k, v in extra["ema"].items()}
        r.opt.load_state_dict(extra["optimizer"])
        r.sched.load_state_dict(extra["scheduler"])
        r.start, r.best = extra["epoch"] + 1, extra.get("best", -1.0)
        print(f"resuming {r.out} at epoch {r.start}", flush=True)
    r.model = r.net
    if r.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        r.model = DDP(r.net)


def _face_loss(r: Run, x: torch.Tensor, idx: np.ndarray, losses: dict[str, float]) -> torch.Tensor:
    """ArcFace + angular (+ relational) distillation + feature-map distillation."""
    cfg, pool = r.cfg, r.pool
    emb_raw, smaps = (r.model.module if r.world > 1 else r.model).features_and_maps(x, r.taps)
    emb = r.net.tail.bn(emb_raw) if r.net.tail.bn is not None else emb_raw
    loss = torch.zeros((), device=r.dev)
    y = torch.from_numpy(pool.y[idx]).to(r.dev)
    if r.head is not None and (y >= 0).any():
        la = r.head(emb[y >= 0], y[y >= 0])
        loss = loss + cfg.arc_weight * la
        losses["arc"] += float(la.detach())
    if pool.t is not None:
        t = torch.from_numpy(pool.t[idx]).to(r.dev)
        ld = angular_distillation(emb, t)
        loss = loss + cfg.alpha * ld
        losses["distill"] += float(ld.detach())
        if cfg.relational > 0:
            lr_ = relational_distillation(emb, t)
            loss = loss + cfg.relational * lr_
            losses["relational"] += float(lr_.detach())
    for a, sm, tm in zip(r.adapters, smaps, pool.tf):
        lf = feature_distillation(a(sm), torch.from_numpy(tm[idx].astype(np.float32)).to(r.dev))
        loss = loss + cfg.feature_distill * lf
        losses["feature"] += float(lf.detach())
    return loss


def train_step(r: Run, idx: np.ndarray, rng: np.random.Generator, losses: dict[str, float]) -> float:
    """One optimizer step on the pool's images `idx`; returns the step's loss."""
    xb = r.pool.x[idx]
    if not r.face:
        xb = augment_faces(xb, rng, shift=2, brightness=0.1, contrast=0.1, scale=0.0)
    x = to_tensor(xb).to(r.dev)
    if r.face:
        loss = _face_loss(r, x, idx, losses)
    else:
        feats = r.model(x)
        loss = F.cross_entropy(feats, torch.from_numpy(r.pool.y[idx]).to(r.dev))
        losses["ce"] += float(loss.detach())
    r.opt.zero_grad()
    loss.backward()
    r.opt.step()
    r.sched.step()
    if r.ema is not None:
        _ema_update(r.ema, r.net, r.cfg.ema)
    step_loss = float(loss.detach())
    losses["loss"] += step_loss
    return step_loss


def run_epoch(r: Run, epoch: int) -> dict[str, Any]:
    """The epoch's steps (per-epoch seeds: a resumed run repeats them); returns its record."""
    from tqdm import tqdm

    cfg = r.cfg
    r.net.train()
    rng = np.random.default_rng([cfg.seed, epoch])
    torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # drop-path/dropout masks: resumable
    order = rng.permutation(len(r.pool.x))
    losses = {k: 0.0 for k in LOSSES}
    bar = tqdm(range(r.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=r.rank != 0,
               leave=False)
    for step in bar:
        lo = (step * r.world + r.rank) * cfg.batch
        bar.set_postfix(loss=f"{train_step(r, order[lo:lo + cfg.batch], rng, losses):.4f}")
    if cfg.ema > 0 and r.ema is None:
        # started after the first epoch: by then Brevitas has turned its activation
        # statistics into scale parameters, so every averaged tensor exists and is trained
        r.ema = {k: v.detach().clone() for k, v in r.net.state_dict().items() if v.is_floating_point()}
    return {"epoch": epoch + 1, "lr": r.sched.get_last_lr()[0],
            **{k: v / r.steps_per_epoch for k, v in losses.items() if v}}


def evaluate(r: Run, rec: dict[str, Any]) -> Optional[float]:
    """Validation verification accuracy (face, with --val-ids), or top-1 on the first 2,000
    test images (classify: progress only, never a model selection); recorded in `rec`."""
    pool = r.pool
    if r.face and pool.val_x is not None and pool.val_pairs is not None:
        with _swapped(r.net, r.ema):
            e = embed(r.net, pool.val_x)
        pairs, issame = pool.val_pairs
        rec["val_accuracy"] = verify(e[pairs[:, 0]], e[pairs[:, 1]], issame).accuracy
        return rec["val_accuracy"]
    if not r.face and pool.test_x is not None:
        rec["test_top1_first2k"] = top1(r.net, pool.test_x[:2000], pool.test_y[:2000])
        return rec["test_top1_first2k"]
    return None


def checkpoint(r: Run, epoch: int, rec: dict[str, Any], score: Optional[float]) -> None:
    """best.pt when the score improved, last.pt (everything a resume needs), the metrics line."""
    if r.rank != 0:
        return
    if score is not None and score > r.best:
        r.best = score
        with _swapped(r.net, r.ema):
            save(r.net, r.out / "best.pt", extra={"epoch": epoch, "score": score,
                                                  **({"adapters": r.adapters.state_dict()} if r.taps else {})})
    extra = {"epoch": epoch, "best": r.best, "optimizer": r.opt.state_dict(),
             "quantizers": quantizer_state(r.net), "scheduler": r.sched.state_dict(),
             "train_config": {"identity": r.cfg.identity(), "all": asdict(r.cfg)}}
    if r.head is not None:
        extra["head"] = r.head.state_dict()
    if r.taps:
        extra["adapters"] = r.adapters.state_dict()
    if r.ema is not None:
        extra["ema"] = r.ema
    save(r.net, r.last, extra=extra)
    with open(r.out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def finalize(r: Run, teacher_spec: Optional[str]) -> Path:
    """final.pt: the best (validated face runs) or last weights, averaged when averaging, with
    the teacher chain and, for faces, the scoring backend fitted on the training identities."""
    final = r.out / "final.pt"
    if r.rank != 0:
        return final
    src = r.out / "best.pt" if (r.out / "best.pt").is_file() and r.face and r.pool.val_x is not None else r.last
    ck = read(src)
    if "ema" in ck["extra"]:  # last.pt: the network holds the raw weights, extra the average
        ck["state_dict"].update(ck["extra"]["ema"])
    keep = {"adapters": ck["extra"]["adapters"]} if "adapters" in ck["extra"] else {}
    chain = teacher_chain(teacher_spec) if r.face else []
    extra = {"train_config": asdict(r.cfg), "from": src.name, "teacher_chain": chain, **keep}
    if r.face:
        from model.scoring_fit import fit_for_net

        fnet, _ = net_from(dict(ck, extra=extra), str(final))
        w = fit_for_net(fnet, asdict(r.cfg))
        extra["scoring"] = w.to_state()
        print(f"scoring backend: {w.describe()}", flush=True)
    write(dict(ck, extra=extra), final)
    return final


def train_one(cfg: TrainConfig, teacher_spec: Optional[str], init: Optional[str]) -> Path:
    """One generation; returns the final checkpoint path (last.pt when stopped early)."""
    r = setup(cfg, teacher_spec, init)
    resume(r)
    end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, r.start + cfg.stop_after)
    for epoch in range(r.start, end):
        rec = run_epoch(r, epoch)
        checkpoint(r, epoch, rec, evaluate(r, rec))
    if end < cfg.epochs:
        print(f"stopped after epoch {end} of {cfg.epochs}; run the same command to resume")
        return r.last
    return finalize(r, teacher_spec)


def _ema_update(ema: dict[str, torch.Tensor], net: Net, decay: float) -> None:
    sd = net.state_dict()
    with torch.no_grad():
        for k, v in ema.items():
            v.mul_(decay).add_(sd[k].detach(), alpha=1.0 - decay)


class _swapped:
    """Within the block the network holds the averaged weights (no-op without an average)."""

    def __init__(self, net: Net, ema: Optional[dict[str, torch.Tensor]]):
        self.net, self.ema, self.saved = net, ema, None

    def __enter__(self) -> None:
        if self.ema is not None:
            sd = self.net.state_dict()
            self.saved = {k: sd[k].detach().clone() for k in self.ema}
            self.net.load_state_dict(self.ema, strict=False)

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            self.net.load_state_dict(self.saved, strict=False)
            self.saved = None


def quantizer_state(net: Net) -> dict[str, Any]:
    """Brevitas' runtime-statistics scaling keeps its step counter and running buffer outside
    the state_dict; a resumed run needs them to continue exactly where it stopped."""
    out = {}
    for k, m in net.named_modules():
        if hasattr(m, "counter") and isinstance(getattr(m, "counter"), int):
            buf = getattr(m, "buffer", None)
            out[k] = {"counter": m.counter, "buffer": None if buf is None else buf.detach().clone()}
    return out


def load_quantizer_state(net: Net, state: dict[str, Any]) -> None:
    mods = dict(net.named_modules())
    for k, v in state.items():
        m = mods[k]
        m.counter = v["counter"]
        if v["buffer"] is not None:
            m.buffer = v["buffer"].clone()


def _diff(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
