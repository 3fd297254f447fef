"""The training loop: step, log, checkpoint, evaluate; reads top to bottom. ``engine.setup``
builds a Trainer from a config; ``engine.run_files`` writes everything it leaves behind."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from detector.core.checkpoint import load_checkpoint
from detector.core.config import Config
from detector.core.device import amp_dtype
from detector.core.distributed import DistInfo, StopVote, any_rank, mean_over_ranks
from detector.core.duration import parse_duration
from detector.core.errors import CheckpointError, NonFiniteLossError
from detector.core.rng import get_rng_state, set_rng_state
from detector.core.signals import StopFlag, TrainingInterrupted
from detector.core.structures import Predictions, Targets
from detector.data.build import build_train_loader
from detector.data.coco import CocoDetection
from detector.data.images import load_rgb
from detector.data.transforms import multiscale_size, rescale_batch
from detector.engine import budget
from detector.engine.ema import ModelEMA
from detector.engine.logger import Logger, step_scalars
from detector.engine.nonfinite import NonFiniteWatch, step_unless
from detector.engine.run_files import RunFiles
from detector.evaluation.evaluator import EvalResult, evaluate_dataset
from detector.inference.postprocess import PostProcessor
from detector.losses.criterion import RetinaNetLoss
from detector.model.retinanet import RetinaNet


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
    dist: DistInfo = field(default_factory=DistInfo)
    files: RunFiles = field(init=False)
    step: int = 0
    best_ap: float = -1.0
    skipped: int = 0  # steps skipped for a non-finite loss or gradient (train.skip_nonfinite)
    forward: Callable[[Tensor], dict[str, Any]] = field(init=False)  # the model, or its DDP wrapper
    # forward + criterion: ``_forward_loss``, or with train.compile its torch.compile'd graph
    forward_loss: Callable[..., tuple[dict[str, Tensor], dict[str, Tensor]]] = field(init=False)
    amp: torch.dtype | None = field(init=False)  # the training autocast dtype (None: fp32)
    watch: NonFiniteWatch = field(default_factory=NonFiniteWatch)
    started: float = field(default_factory=time.perf_counter)  # the run's setup began: solver.time_budget's clock
    # solver.time_budget: the fixed schedule ({max_iters, warmup_iters, steps}); None until it is measured
    budget_plan: dict[str, Any] | None = None
    ema: ModelEMA | None = field(init=False)  # train.ema_decay: the averaged weights evaluated and saved
    stop_group: Any = field(init=False)  # the CPU process group that stop requests are shared on (DDP)

    def __post_init__(self) -> None:
        self.files = RunFiles(self.run_dir, enabled=self.dist.main)
        # wrap, never replace, the module, so state_dict keys stay free of "module." / "_orig_mod."
        model: nn.Module = self.model
        if self.dist.world > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=device_ids)
        self.forward = model
        self.amp = amp_dtype(self.cfg.train.amp, self.device)
        self.forward_loss = torch.compile(self._forward_loss) if self.cfg.train.compile else self._forward_loss
        cfg = self.cfg.train
        self.ema = ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau) if cfg.ema_decay > 0 else None
        self.stop_group = StopVote.new_group()

    @property
    def evaluated(self) -> RetinaNet:
        """The weights evaluated and saved as a checkpoint's "model": the EMA when on, else the model."""
        return cast(RetinaNet, self.ema.module) if self.ema is not None else self.model

    # ------------------------------------------------------------------ checkpoints
    @property
    def batches_per_epoch(self) -> int:
        per_epoch = len(self.train_set) // self.cfg.train.batch_size
        if per_epoch == 0:
            raise ValueError(f"train.batch_size {self.cfg.train.batch_size} exceeds the "
                             f"{len(self.train_set)} training images")
        return per_epoch

    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs, as tensors and plain data."""
        epoch, batch = divmod(self.step, self.batches_per_epoch)
        ema = {"train_model": self.model.state_dict(), "ema": self.ema.state_dict()} if self.ema is not None else {}
        return {
            "model": self.evaluated.state_dict(), **ema, "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "criterion": self.criterion.state_dict(), "rng": get_rng_state(),
            "data": {"epoch": epoch, "batch": batch, "batches_per_epoch": self.batches_per_epoch},
            "step": self.step, "best_ap": self.best_ap, "skipped_steps": self.skipped,
            "time_budget_plan": self.budget_plan,
            "config": self.cfg.to_dict(), "cat_ids": self.train_set.cat_ids,
            "class_names": self.train_set.class_names,
        }

    def resume(self, path: Path) -> None:
        state = load_checkpoint(path, self.device)
        missing = [key for key in ("optimizer", "scheduler", "step") if key not in state]
        if missing:
            raise CheckpointError(f"checkpoint '{path}' holds weights but no training state ({', '.join(missing)}), "
                                  f"so it cannot be resumed; start a run from its weights with --init-from {path}")
        try:
            self.model.load_state_dict(state.get("train_model", state["model"]))  # with an EMA, "model" is it
            if self.ema is not None:  # an EMA that was off restarts from the resumed weights
                self.ema.load_state_dict(state.get("ema", {"updates": 0}), state["model"] if "ema" in state
                                         else self.model.state_dict())
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint '{path}' does not fit this run's model ({str(exc).splitlines()[0]}"
                                  f"...); resume with the config it was trained with, or start from its weights "
                                  "with --init-from") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_ap = int(state["step"]), float(state.get("best_ap", -1.0))
        self.skipped = int(state.get("skipped_steps", 0))
        if state.get("time_budget_plan") and self.cfg.solver.time_budget:  # the schedule the budget fixed
            self.budget_plan = dict(state["time_budget_plan"])
            for key, value in self.budget_plan.items():
                setattr(self.cfg.solver, key, value)
        if "criterion" in state:
            self.criterion.load_state_dict(state["criterion"])
        if "rng" in state:
            set_rng_state(state["rng"])
        else:  # checkpoints written before the full RNG state was kept
            torch.set_rng_state(state["torch_rng"])
        data = state.get("data", {})
        if data.get("batches_per_epoch", self.batches_per_epoch) != self.batches_per_epoch:
            print(f"warning: {path} was written with {data['batches_per_epoch']} batches per epoch, now "
                  f"{self.batches_per_epoch}: the training set or batch size changed, so the data order differs")
        self.files.rewind(self.step)
        print(f"resumed from {path} at step {self.step}")

    # ------------------------------------------------------------------ loop
    def batches(self) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        """Endless stream of this process's training batches from ``self.step`` on. The global order
        and each image's augmentation depend on (seed, epoch, position) only, so a resumed run sees
        exactly the batches the uninterrupted one would have (``data.build.TrainingOrder``)."""
        cfg = self.cfg.train
        self.train_set.augment_seed = cfg.seed
        return iter(build_train_loader(self.train_set, cfg.batch_size, cfg.num_workers, cfg.seed, self.step,
                                       self.dist.rank, self.dist.world, cfg.prefetch_factor))

    def train_step(self, images: Tensor, targets: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """One update, with no host synchronisation: a non-finite loss or gradient skips the update
        on the device and is reported at the next ``settle`` (``skip_nonfinite`` there)."""
        cfg = self.cfg.train
        image_ids = targets["image_id"]  # on the CPU: read only if this step must be reported
        images = images.to(self.device, non_blocking=True)
        on_device = cast(Targets, {k: v.to(self.device, non_blocking=True) for k, v in targets.items()})
        size = multiscale_size((images.shape[-2], images.shape[-1]), self.cfg.augment.scale_range, cfg.seed,
                               self.step)
        if size is not None:  # multi-scale training: the whole batch at a size drawn for this step
            images, on_device["boxes"] = rescale_batch(images, on_device["boxes"], size)
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        losses, stats = self.forward_loss(images, on_device)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(cast(Tensor, sum(losses.values()))).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        grads = [p.grad for p in params if p.grad is not None]
        clip = self.cfg.solver.clip_grad_norm
        stats["grad_norm"] = (torch.nn.utils.clip_grad_norm_(params, clip) if clip > 0
                              else torch.nn.utils.get_total_norm(grads))
        # fp16's GradScaler skips overflowing gradients itself (they are expected); elsewhere they are a fault
        found_inf = self.watch.check(self.step + 1, losses, None if self.scaler.is_enabled() else stats["grad_norm"],
                                     image_ids)
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)  # with a fused optimiser, skipped on the device too
            # the criterion's state skips the steps fp16 skips, decided on the device as they are
            found_inf = torch.maximum(found_inf, (~torch.isfinite(stats["grad_norm"])).float())
        else:
            step_unless(self.optimizer, found_inf)
        self.criterion.rollback(found_inf)  # a skipped step leaves the loss's state (EMAs, statistics) as it was
        self.scaler.update()
        self.scheduler.step()  # a skipped step still counts, so data position and schedule stay aligned
        if self.ema is not None:
            self.ema.update(self.model)
        return losses, stats

    def _forward_loss(self, images: Tensor, targets: Targets) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The model under the run's autocast, then the criterion in fp32: (losses, stats)."""
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            preds = cast(Predictions, self.forward(images))
        return self.criterion(preds, targets)

    def settle(self) -> None:
        """Read the verdicts of the steps since the last call (one host synchronisation): each
        non-finite step goes to nonfinite.jsonl and counts against ``train.skip_nonfinite``; past it, stop."""
        limit = self.cfg.train.skip_nonfinite
        for record in self.watch.settle():
            self.skipped += 1
            step, what = record["step"], record["what"]
            described = ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("step", "what", "image_ids"))
            path = self.files.nonfinite(record)
            if self.skipped > limit:
                raise NonFiniteLossError(
                    f"non-finite {what} at step {step} ({described}); its update was not applied; image ids "
                    f"in {path}. {self.run_dir / 'last.pt'} holds the last checkpoint. Lower solver.lr, set "
                    "solver.clip_grad_norm, check these images' boxes, or allow skips with train.skip_nonfinite=N")
            if self.dist.main:
                print(f"warning: skipped step {step}, non-finite {what} ({described}); "
                      f"{self.skipped} of {limit} skips allowed; image ids in {path}")

    def evaluate(self) -> EvalResult:
        cfg = self.cfg.train
        return evaluate_dataset(self.evaluated, self.postprocess, self.val_set, cfg.batch_size, cfg.num_workers,
                                self.device, amp_dtype(self.cfg.inference.amp, self.device), cfg.channels_last,
                                self.cfg.evaluation.backend, self.cfg.evaluation.confusion_score)

    def _save(self, name: str) -> None:
        if self.dist.main:
            self.files.checkpoint(self.state_dict(), name)

    def _save_last(self) -> None:
        """last.pt, plus step-numbered copies of which the newest ``train.keep_checkpoints`` stay."""
        self._save("last.pt")
        keep = self.cfg.train.keep_checkpoints
        if keep > 1 and self.dist.main:
            self._save(f"step_{self.step:08d}.pt")
            self.files.prune("step_*.pt", keep)

    def _after_eval(self, result: EvalResult, logger: Logger) -> None:
        logger.scalars(self.step, result.stats, "metrics")
        logger.write(f"step {self.step}: AP {result.stats['AP']:.4f} AP50 {result.stats['AP50']:.4f}")
        n = min(self.cfg.train.vis_images, len(self.val_set)) if self.dist.main else 0
        if n:
            files = [self.val_set.image_path(i) for i in self.val_set.image_ids[:n]]
            images = [torch.from_numpy(load_rgb(f)).permute(2, 0, 1).float() / 255 for f in files]
            logger.images(self.step, images, result.detections[:n], self.train_set.class_names)
        if self.dist.main:  # pr_curves.png and confusion_matrix.png, the latest evaluation's
            logger.figures(self.step, self.files.figures(result))
        if result.stats["AP"] > self.best_ap:  # every process evaluates the same gathered detections
            self.best_ap = result.stats["AP"]
            self._save("best.pt")

    def fit(self, until: int | None = None) -> EvalResult | None:
        """Train to ``solver.max_iters``, evaluating every ``train.eval_period`` and at the end.

        ``until`` < max_iters stops after that step instead, with last.pt written and no final
        evaluation (returns None); ``--resume`` then continues exactly where it stopped.
        """
        solver = self.cfg.solver
        calibration = None
        if solver.time_budget and self.budget_plan is None:  # measure first, then fix max_iters
            calibration = budget.Calibration(parse_duration(solver.time_budget), self.step, copy.deepcopy(solver))
            solver.max_iters = budget.PROVISIONAL_ITERS
        target = solver.max_iters if until is None else min(until, solver.max_iters)
        self.files.config(self.cfg)
        logger = Logger(self.run_dir, solver.max_iters, self.step, enabled=self.dist.main)
        if calibration is not None:
            logger.set_total(None)
        self.model.train()
        start, start_step = time.perf_counter(), self.step
        with StopFlag() as stop:
            vote = StopVote(stop, self.stop_group)  # every process stops after the same step
            try:
                for images, targets in self.batches():
                    if self.step >= target:
                        break
                    losses, stats = self.train_step(images, targets)
                    self.step += 1
                    if calibration is not None and self._calibrate(calibration, images):
                        target = solver.max_iters if until is None else min(until, solver.max_iters)
                        logger.set_total(solver.max_iters)
                        calibration = calibration if calibration.refine_step else None  # None: final
                    stopping = vote.poll()
                    paused = self._step_end(logger, losses, stats, target, stopping)
                    if calibration is not None:  # not step time
                        calibration.paused += paused
                    if stopping:  # at a step boundary, with last.pt just written
                        logger.close()
                        raise TrainingInterrupted(
                            f"{stop.requested or 'a stop on another process'} at step {self.step}: saved "
                            f"{self.run_dir / 'last.pt'}; continue with the same command and --resume")
            finally:
                vote.close()
        if self.step < solver.max_iters:
            self._save_last()
            logger.close()
            return None
        elapsed = time.perf_counter() - start
        result = self.evaluate()
        self._after_eval(result, logger)
        self._save_last()
        logger.close()
        if self.dist.main:
            self._write_metrics(result, elapsed, self.step - start_step)
        return result

    def _step_end(self, logger: Logger, losses: dict[str, Tensor], stats: dict[str, Tensor], target: int,
                  stopping: bool) -> float:
        """After each step the progress bar; at a synchronisation point (a log, evaluation or checkpoint
        step, the run's last step, a stop) also the non-finite verdicts, the log, the evaluation and
        last.pt. Returns the seconds spent evaluating and saving (not step time)."""
        cfg, max_iters = self.cfg.train, self.cfg.solver.max_iters
        evaluate = bool(cfg.eval_period) and self.step % cfg.eval_period == 0 and self.step < max_iters
        # the last step saves too: a stop during the final evaluation then loses no training
        save = self.step % cfg.checkpoint_period == 0 or self.step >= max_iters
        if not (save or evaluate or stopping or self.step % cfg.log_period == 0 or self.step >= target):
            logger.step(self.step, {}, {}, False)  # nothing read from the device
            return 0.0
        self.settle()
        self._log(logger, losses, stats)
        paused = time.perf_counter()
        if evaluate:
            self._after_eval(self.evaluate(), logger)
        if save or stopping:
            self._save_last()
        return time.perf_counter() - paused

    def _calibrate(self, calibration: budget.Calibration, images: Tensor) -> bool:
        """Called after each step of a ``solver.time_budget`` run; True when it (re)planned
        ``solver.max_iters`` (and the warm-up, the milestones): first when enough steps are timed,
        with an evaluation and a checkpoint estimated, then at each ``calibration.refine_step`` from
        the steps since the last plan. Written to config.yaml; host syncs only at these points."""
        if calibration.timing_starts(self.step):
            self._sync()
            calibration.begin(self.step, time.perf_counter())
            return False
        first = calibration.first
        if first is None:
            ready = calibration.done(self.step, time.perf_counter())
            if not (any_rank(ready, self.device) if self.dist.world > 1 else ready):  # all processes plan together
                return False
        if first is not None and self.step != calibration.refine_step:
            return False
        self._sync()
        since = calibration.start_step
        step_s = calibration.step_seconds(self.step, time.perf_counter())
        eval_s, ckpt_s = ((self._estimate_eval(images), self._estimate_checkpoint()) if first is None
                          else (first.eval_seconds, first.checkpoint_seconds))
        # every process must fix the same count: average what each measured
        measured = mean_over_ranks(torch.tensor([step_s, eval_s, ckpt_s, time.perf_counter() - self.started],
                                                dtype=torch.float64, device=self.device)).tolist()
        cfg = self.cfg.train
        fixed = budget.plan(calibration.configured, calibration.budget, measured[3], self.step, measured[0],
                            measured[1], measured[2], cfg.eval_period, cfg.checkpoint_period)
        budget.apply(self.cfg.solver, fixed)
        self.budget_plan = {"max_iters": fixed.max_iters, "warmup_iters": fixed.warmup_iters, "steps": fixed.steps}
        self.files.config(self.cfg)
        if self.dist.main:
            print(fixed.describe(calibration.budget, measured[3], self.step, since if first else 0))
        calibration.planned(fixed, self.step, time.perf_counter(), measured[3])
        return True

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _estimate_eval(self, images: Tensor) -> float:
        """Seconds one evaluation of the validation split should take, from the model timed on a
        training batch in inference mode (``budget.evaluation_seconds``)."""
        x = images.to(self.device)
        if self.cfg.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        seconds = budget.inference_seconds(self.model, x, self.device, amp_dtype(self.cfg.inference.amp, self.device))
        return budget.evaluation_seconds(seconds / len(images), len(self.val_set))

    def _estimate_checkpoint(self) -> float:
        return budget.checkpoint_seconds(self.state_dict()) if self.dist.main else 0.0

    def _log(self, logger: Logger, losses: dict[str, Tensor], stats: dict[str, Tensor]) -> None:
        """At a synchronisation point: every ``train.log_period`` steps (and the last), losses averaged
        over processes to TensorBoard and ``train_log.jsonl``; the progress bar always."""
        log = self.step % self.cfg.train.log_period == 0 or self.step == self.cfg.solver.max_iters
        scalars = {}
        if log:
            losses = {k: mean_over_ranks(v) for k, v in losses.items()}
            scalars = step_scalars(losses, stats, float(self.scheduler.get_last_lr()[0]))
            self.files.log({"step": self.step, **scalars})
        logger.step(self.step, scalars, {"loss": scalars.get("loss/total", math.nan),
                                         "lr": scalars.get("lr", math.nan)}, log)

    def _write_metrics(self, result: EvalResult, elapsed: float, steps: int) -> None:
        metrics = {**result.metrics(), "best_AP": self.best_ap,
                   "step": self.step, "train_seconds": round(elapsed, 1),
                   "run_seconds": round(time.perf_counter() - self.started, 1),  # setup included (time_budget's clock)
                   "images_per_second": round(steps * self.cfg.train.batch_size / max(elapsed, 1e-9), 2)}
        class_alpha = self.criterion.state_dict().get("class_alpha")
        if class_alpha is not None:  # loss.class_alpha: the per-class factors this run trained with
            metrics["class_alpha"] = dict(zip(self.train_set.class_names, class_alpha))
        self.files.metrics(metrics)
