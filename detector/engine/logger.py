"""TensorBoard scalars and images plus a console progress bar; created once, passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from detector.core.structures import Detections
from detector.evaluation.draw import draw_detections, to_uint8


class Logger:
    """``enabled=False`` (processes other than rank 0) makes every method a no-op."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, enabled: bool = True) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.writer = SummaryWriter(log_dir=str(run_dir))
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", dynamic_ncols=True,
                        mininterval=1.0)

    def set_total(self, total: int | None) -> None:
        """The progress bar's end (None: a count without one, while solver.time_budget measures)."""
        if self.enabled:
            self.bar.total = total
            self.bar.refresh()

    def step(self, step: int, scalars: dict[str, float], show: dict[str, float], log: bool) -> None:
        if not self.enabled:
            return
        self.bar.update(1)
        if log:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in show.items()}, refresh=False)
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def images(self, step: int, images: list[Tensor], detections: list[Detections],
               class_names: list[str], min_score: float = 0.3) -> None:
        """Draw detections above ``min_score`` on (3, H, W) [0, 1] images (original pixels)."""
        if not self.enabled:
            return
        for i, (image, det) in enumerate(zip(images, detections)):
            drawn = draw_detections(to_uint8(image), det, class_names, min_score)
            self.writer.add_image(f"val/predictions_{i}", drawn, step)

    def figures(self, step: int, figures: dict[str, Any]) -> None:
        """matplotlib figures under ``eval/<name>`` (closed afterwards)."""
        if not self.enabled:
            return
        for name, fig in figures.items():
            self.writer.add_figure(f"eval/{name}", fig, step, close=True)

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        self.bar.write(text)

    def close(self) -> None:
        if not self.enabled:
            return
        self.bar.close()
        self.writer.close()


def step_scalars(losses: dict[str, Tensor], stats: dict[str, Tensor], lr: float) -> dict[str, float]:
    """What a logged step writes: the loss terms and their total, the learning rate, the anchors per
    image by kind (positive, ignored, negative), the fg:bg ratio, the negatives' share of the loss and
    the gradient norm (one host synchronisation, on logged steps only)."""
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
