"""Pictures of an evaluation: per-class precision-recall curves and a confusion matrix that
includes background (missed boxes and false detections), as matplotlib figures."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torchvision.ops import box_iou  # noqa: E402

from detector.core.structures import Detections  # noqa: E402

RECALL = np.linspace(0, 1, 101)  # COCO's recall thresholds


def confusion_matrix(detections: list[Detections], truths: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     num_classes: int, iou: float = 0.5, min_score: float = 0.3) -> np.ndarray:
    """(K + 1, K + 1) counts, rows = predicted class, columns = true class, index K = background.

    Per image, detections scoring >= ``min_score`` are matched in score order to the unmatched
    ground-truth box they overlap most at IoU >= ``iou``, whatever its class (so a matched pair
    of different classes is a confusion). Unmatched detections count as (class, background) =
    false detections, unmatched boxes as (background, class) = missed. Detections on crowd /
    difficult boxes are not counted. ``truths``: per image (boxes (M, 4) xyxy, labels (M,), crowd (M,)).
    """
    k = num_classes
    matrix = np.zeros((k + 1, k + 1), dtype=np.int64)
    for det, (boxes, labels, crowd) in zip(detections, truths):
        keep = det["scores"] >= min_score
        order = det["scores"][keep].argsort(descending=True)
        pred_boxes, pred_labels = det["boxes"][keep][order].float(), det["labels"][keep][order].tolist()
        gt = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        empty = not (len(gt) and len(pred_boxes))
        overlap = np.zeros((len(pred_boxes), len(gt))) if empty else box_iou(pred_boxes, gt).numpy()
        crowd, labels = np.asarray(crowd, bool), np.asarray(labels)
        taken = crowd.copy()  # crowd boxes never count as missed
        for p, label in enumerate(pred_labels):
            candidates = np.where(~taken & (overlap[p] >= iou))[0]
            if len(candidates):
                g = candidates[overlap[p, candidates].argmax()]
                taken[g] = True
                matrix[label, labels[g]] += 1
            elif not (len(gt) and (overlap[p][crowd] >= iou).any()):
                matrix[label, k] += 1
        for g in np.where(~taken)[0]:
            matrix[k, labels[g]] += 1
    return matrix


def plot_confusion(matrix: np.ndarray, class_names: list[str], min_score: float, iou: float) -> Figure:
    """The matrix as a heat map, each column normalised by its true count, raw counts written in."""
    names = [*class_names, "background"]
    n = len(names)
    size = min(max(5.0, 0.55 * n + 2.5), 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    column = matrix.sum(axis=0, keepdims=True)
    share = np.divide(matrix, column, out=np.zeros(matrix.shape), where=column > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        for (r, c), v in np.ndenumerate(matrix):
            if v:
                ax.text(c, r, str(v), ha="center", va="center", fontsize=8,
                        color="white" if share[r, c] > 0.5 else "black")
    ax.set_xticks(range(n), names, rotation=90 if n > 6 else 0, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("true (background = false detection)")
    ax.set_ylabel("predicted (background = missed)")
    ax.set_title(f"IoU >= {iou}, score >= {min_score}; colour: share of each true column", fontsize=9)
    fig.tight_layout()
    return fig


def plot_pr_curves(pr50: dict[str, np.ndarray], ap50: dict[str, float]) -> Figure:
    """One panel per class (at most 6 columns): precision against recall at IoU 0.5, AP50 in the title."""
    names = list(pr50)
    cols = min(len(names), 6) or 1
    rows = math.ceil(len(names) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.5, 2.4 * rows + 0.4), squeeze=False,
                             sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names):
        precision = np.asarray(pr50[name], dtype=float)
        defined = precision >= 0
        ax.plot(RECALL[defined], precision[defined], lw=1.5)
        ax.fill_between(RECALL[defined], precision[defined], alpha=0.15)
        value = ap50.get(name, -1)
        ax.set_title(f"{name}: AP50 {value:.3f}" if value >= 0 else f"{name}: no ground truth", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("recall")
    for ax in axes[:, 0]:
        ax.set_ylabel("precision")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def close(fig: Figure) -> None:
    """Release a figure (pyplot keeps every figure it made until it is closed)."""
    plt.close(fig)


def figure_pixels(fig: Figure) -> np.ndarray:
    """(H, W, 3) uint8 of a drawn figure (for TensorBoard's add_image)."""
    fig.canvas.draw()
    rgba = fig.canvas.buffer_rgba()  # type: ignore[attr-defined]  # the Agg canvas (matplotlib.use above)
    return np.asarray(rgba)[..., :3].copy()
