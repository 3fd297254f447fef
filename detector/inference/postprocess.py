"""Turn dense predictions into detections: threshold, per-level top-k, decode, batched NMS, cap.

The whole batch is processed with tensor ops: per-level top-k runs on (N, A_l * K) at once, and a
single ``batched_nms`` call covers every image and class by giving each (image, class) pair its
own group id. The per-image Python loop of torchvision's ``postprocess_detections`` is gone.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from detector.core.boxes import BoxCoder
from detector.core.config import InferenceConfig
from detector.core.structures import Detections, Predictions


class PostProcessor:
    def __init__(self, coder: BoxCoder, score_thresh: float = 0.05, topk_per_level: int = 1000,
                 nms_thresh: float = 0.5, max_detections: int = 100) -> None:
        self.coder = coder
        self.score_thresh = score_thresh
        self.topk = topk_per_level
        self.nms_thresh = nms_thresh
        self.max_detections = max_detections

    @torch.no_grad()
    def __call__(self, preds: Predictions, image_sizes: Tensor, scales: Tensor | None = None
                 ) -> list[Detections]:
        """``preds`` as the model returns them (``core.structures.Predictions``).
        ``image_sizes`` (N, 2) (h, w) to clip to, in output pixels; ``scales`` (N,) input pixels per
        output pixel (the resize factor), boxes are divided by it.

        Returns ``Detections`` per image, sorted by decreasing score, D <= max_detections.
        """
        logits, deltas, anchors = preds["cls_logits"], preds["box_deltas"], preds["anchors"]
        n, _, k = logits.shape
        scores_l, anchor_l, label_l = [], [], []
        start = 0
        for count in preds["anchors_per_level"]:
            level = logits[:, start:start + count].reshape(n, -1)  # (N, A_l * K)
            top, idx = level.topk(min(self.topk, level.shape[1]), dim=1)  # sigmoid is monotonic
            scores_l.append(top)
            anchor_l.append(start + idx // k)
            label_l.append(idx % k)
            start += count
        scores = torch.sigmoid(torch.cat(scores_l, dim=1).float())  # (N, C)
        anchor_idx = torch.cat(anchor_l, dim=1)  # (N, C)
        labels = torch.cat(label_l, dim=1)  # (N, C)

        keep = scores > self.score_thresh  # (N, C)
        image_idx = torch.arange(n, device=logits.device)[:, None].expand_as(keep)[keep]  # (P,)
        anchor_idx, labels, scores = anchor_idx[keep], labels[keep], scores[keep]
        boxes = self.coder.decode(deltas[image_idx, anchor_idx], anchors[anchor_idx])  # (P, 4)
        if scales is not None:
            boxes = boxes / scales.to(boxes)[image_idx, None]
        limits = image_sizes.to(boxes).flip(1).repeat(1, 2)[image_idx]  # (P, 4): w, h, w, h
        boxes = boxes.clamp(min=0).minimum(limits)

        kept = batched_nms(boxes, scores, image_idx * k + labels, self.nms_thresh)  # by score, desc.
        kept = kept[torch.sort(image_idx[kept], stable=True).indices]  # group by image, keep order
        counts = torch.bincount(image_idx[kept], minlength=n)
        first = torch.cumsum(counts, 0) - counts  # index in ``kept`` where each image starts
        rank = torch.arange(len(kept), device=kept.device) - first[image_idx[kept]]
        kept = kept[rank < self.max_detections]
        sizes = counts.clamp(max=self.max_detections).tolist()
        return [
            {"boxes": b, "scores": s, "labels": lab}
            for b, s, lab in zip(boxes[kept].split(sizes), scores[kept].split(sizes), labels[kept].split(sizes))
        ]


def build_postprocessor(cfg: InferenceConfig, coder: BoxCoder) -> PostProcessor:
    return PostProcessor(coder, cfg.score_thresh, cfg.topk_per_level, cfg.nms_thresh, cfg.max_detections)
