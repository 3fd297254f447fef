"""The training loop: step, log, checkpoint, evaluate; reads top to bottom."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from detector.analysis.coverage import coverage_warning
from detector.boxes import BoxCoder
from detector.config import Config, save_yaml
from detector.data.build import build_dataset, build_loader
from detector.data.coco import CocoDetection
from detector.data.images import load_rgb
from detector.engine.checkpoint import load_checkpoint, save_checkpoint
from detector.engine.device import amp_dtype, resolve_device, seed_everything
from detector.engine.logger import Logger
from detector.engine.schedule import build_optimizer, build_scheduler
from detector.engine.signals import StopFlag, TrainingInterrupted
from detector.evaluation.evaluator import EvalResult, evaluate_dataset
from detector.losses import RetinaNetLoss, build_criterion
from detector.model.init import init_from
from detector.model.retinanet import RetinaNet, build_model
from detector.postprocess import PostProcessor, build_postprocessor


class NonFiniteLossError(RuntimeError):
    pass


def run_dir_of(cfg: Config) -> Path:
    return Path(cfg.train.output_dir or Path("runs") / cfg.name)


@dataclass
class Trainer:
    cfg: Config
    run_dir: Path
    device: torch.device
    model: RetinaNet
    criterion: RetinaNetLoss
    postprocess: PostProcessor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    train_set: CocoDetection
    val_set: CocoDetection
    step: int = 0
    best_ap: float = -1.0
    forward: Callable[[Tensor], dict[str, Any]] = field(init=False)  # the model, torch.compile'd if asked

    def __post_init__(self) -> None:
        # compile a wrapper, not the module, so state_dict keys stay free of "_orig_mod."
        self.forward = torch.compile(self.model) if self.cfg.train.compile else self.model

    @classmethod
    def build(cls, cfg: Config, initialise: bool = True) -> "Trainer":
        """Everything a run needs; ``initialise=False`` skips ``model.init_from`` (resuming)."""
        seed_everything(cfg.train.seed)
        device = resolve_device(cfg.train.device)
        amp_dtype(cfg.train.amp, device)  # validate early
        train_set, val_set = build_dataset(cfg, "train"), build_dataset(cfg, "val")
        if len(train_set) == 0:
            raise ValueError(f"training set '{train_set.ann_file}' has no images")
        warning = coverage_warning(train_set, cfg.augment, cfg.model.anchors, cfg.matcher)
        if warning:
            print(warning)
        model = build_model(cfg.model, len(train_set.cat_ids))
        if cfg.model.init_from and initialise:
            print(f"initialising from {cfg.model.init_from}:\n"
                  + init_from(model, cfg.model.init_from, cfg.model.head.norm).summary())
        model = model.to(device)
        if cfg.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, cfg.solver)
        coder = BoxCoder(cfg.loss.box_coder_weights)
        return cls(cfg, run_dir_of(cfg), device, model, build_criterion(cfg.loss, cfg.matcher),
                   build_postprocessor(cfg.inference, coder), optimizer, build_scheduler(optimizer, cfg.solver),
                   torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16"), train_set, val_set)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "step": self.step, "best_ap": self.best_ap, "config": self.cfg.to_dict(),
            "cat_ids": self.train_set.cat_ids, "class_names": self.train_set.class_names,
            "torch_rng": torch.get_rng_state(),
        }

    def resume(self, path: Path) -> None:
        state = load_checkpoint(path, self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_ap = int(state["step"]), float(state["best_ap"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {path} at step {self.step}")

    # ------------------------------------------------------------------ loop
    def batches(self) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        """Endless stream of training batches; the order depends on (seed, epoch, position) only."""
        per_epoch = len(self.train_set) // self.cfg.train.batch_size
        if per_epoch == 0:
            raise ValueError(f"train.batch_size {self.cfg.train.batch_size} exceeds the "
                             f"{len(self.train_set)} training images")
        epoch, skip = divmod(self.step, per_epoch)
        while True:
            yield from build_loader(self.train_set, self.cfg.train.batch_size, self.cfg.train.num_workers,
                                    shuffle=True, seed=self.cfg.train.seed, epoch=epoch, drop_last=True,
                                    skip_batches=skip)
            epoch, skip = epoch + 1, 0

    def train_step(self, images: Tensor, targets: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        cfg = self.cfg.train
        images = images.to(self.device, non_blocking=True)
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
        dtype = amp_dtype(cfg.amp, self.device)
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            preds = self.forward(images)
        losses, stats = self.criterion(preds, targets)  # in fp32
        total = sum(losses.values())
        if not torch.isfinite(total):
            terms = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            raise NonFiniteLossError(
                f"non-finite loss at step {self.step} ({terms}); images {targets['image_id'].tolist()}. "
                "Lower solver.lr, enable solver.clip_grad_norm, or check the boxes of these images.")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.cfg.solver.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                                self.cfg.solver.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return losses, stats

    def evaluate(self) -> EvalResult:
        cfg = self.cfg.train
        return evaluate_dataset(self.model, self.postprocess, self.val_set, cfg.batch_size, cfg.num_workers,
                                self.device, amp_dtype(cfg.amp, self.device), cfg.channels_last,
                                self.cfg.evaluation.backend)

    def _save(self, name: str) -> None:
        save_checkpoint(self.state_dict(), self.run_dir / name)

    def _save_last(self) -> None:
        """last.pt, plus step-numbered copies of which the newest ``train.keep_checkpoints`` stay."""
        self._save("last.pt")
        keep = self.cfg.train.keep_checkpoints
        if keep > 1:
            self._save(f"step_{self.step:08d}.pt")
            for old in sorted(self.run_dir.glob("step_*.pt"))[:-keep]:
                old.unlink()

    def _after_eval(self, result: EvalResult, logger: Logger) -> None:
        logger.scalars(self.step, result.stats, "metrics")
        logger.write(f"step {self.step}: AP {result.stats['AP']:.4f} AP50 {result.stats['AP50']:.4f}")
        n = min(self.cfg.train.vis_images, len(self.val_set))
        if n:
            files = [self.val_set.image_dir / self.val_set.coco.imgs[i]["file_name"]
                     for i in self.val_set.image_ids[:n]]
            images = [torch.from_numpy(load_rgb(f)).permute(2, 0, 1).float() / 255 for f in files]
            logger.images(self.step, images, result.detections[:n], self.train_set.class_names)
        if result.stats["AP"] > self.best_ap:
            self.best_ap = result.stats["AP"]
            self._save("best.pt")

    def fit(self) -> EvalResult:
        """Train to ``solver.max_iters``, evaluating every ``train.eval_period`` and at the end."""
        cfg, max_iters = self.cfg.train, self.cfg.solver.max_iters
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_yaml(self.cfg, self.run_dir / "config.yaml")
        logger = Logger(self.run_dir, max_iters, self.step)
        self.model.train()
        start, start_step = time.perf_counter(), self.step
        with StopFlag() as stop:
            for images, targets in self.batches():
                if self.step >= max_iters:
                    break
                losses, stats = self.train_step(images, targets)
                self.step += 1
                log = self.step % cfg.log_period == 0 or self.step == max_iters
                scalars = _scalars(losses, stats, self.scheduler.get_last_lr()[0]) if log else {}
                logger.step(self.step, scalars, {"loss": scalars.get("loss/total", math.nan),
                                                 "lr": scalars.get("lr", math.nan)}, log)
                if cfg.eval_period and self.step % cfg.eval_period == 0 and self.step < max_iters:
                    self._after_eval(self.evaluate(), logger)
                if self.step % cfg.checkpoint_period == 0 or stop.requested:
                    self._save_last()
                if stop.requested:  # at a step boundary, with last.pt just written
                    logger.close()
                    raise TrainingInterrupted(f"{stop.requested} at step {self.step}: saved "
                                              f"{self.run_dir / 'last.pt'}; continue with --resume")
        elapsed = time.perf_counter() - start
        result = self.evaluate()
        self._after_eval(result, logger)
        self._save_last()
        logger.close()
        self._write_metrics(result, elapsed, self.step - start_step)
        return result

    def _write_metrics(self, result: EvalResult, elapsed: float, steps: int) -> None:
        metrics = {**result.metrics(), "best_AP": self.best_ap,
                   "step": self.step, "train_seconds": round(elapsed, 1),
                   "images_per_second": round(steps * self.cfg.train.batch_size / max(elapsed, 1e-9), 2)}
        (self.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))


def _scalars(losses: dict[str, Tensor], stats: dict[str, Tensor], lr: float) -> dict[str, float]:
    out = {f"loss/{k.removeprefix('loss_')}": v.item() for k, v in losses.items()}
    out["loss/total"] = sum(out.values())
    out["lr"] = lr
    out["anchors/positives_per_image"] = stats["num_pos"].float().mean().item()
    out["anchors/ignored_per_image"] = stats["num_ignored"].float().mean().item()
    out["anchors/negatives_per_image"] = stats["num_neg"].float().mean().item()
    out["anchors/fg_bg_ratio"] = stats["num_pos"].sum().item() / max(stats["num_neg"].sum().item(), 1)
    out["anchors/neg_loss_share"] = stats["neg_loss_share"].item()
    if "grad_norm" in stats:
        out["grad_norm"] = stats["grad_norm"].item()
    return out
