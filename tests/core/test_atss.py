"""The ATSS matcher (matcher.name=atss) against the paper's algorithm written one box and level at a time."""

import torch
from torchvision.ops import box_iou

from detector.core.boxes import BACKGROUND, IGNORE, AtssMatcher, build_matcher
from detector.core.config import AnchorConfig, MatcherConfig
from detector.model.anchors import build_anchor_generator, feature_sizes, level_counts


def atss_reference(anchors: torch.Tensor, boxes: torch.Tensor, per_level: list[int], k: int) -> list[int]:
    """ATSS for one image as the paper's Algorithm 1 states it, one box and one level at a time."""
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    iou = box_iou(anchors, boxes)  # (A, M)
    best = [(-1.0, BACKGROUND)] * len(anchors)
    for j, box in enumerate(boxes.tolist()):
        centre = torch.tensor([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        candidates, start = [], 0
        for count in per_level:
            distance = (centres[start:start + count] - centre).norm(dim=1)
            candidates += (distance.argsort(stable=True)[:k] + start).tolist()
            start += count
        ious = iou[candidates, j]
        threshold = float(ious.mean() + ious.std())
        for a in candidates:
            x, y = centres[a].tolist()
            inside = min(x - box[0], y - box[1], box[2] - x, box[3] - y) > 0
            if iou[a, j] >= threshold and inside and iou[a, j] > best[a][0]:
                best[a] = (float(iou[a, j]), j)
    return [j for _, j in best]


def test_atss_matches_the_papers_algorithm_on_real_anchor_levels():
    cfg = AnchorConfig(sizes=[16.0, 32.0, 64.0, 128.0, 256.0], scales=[1.0], ratios=[1.0])  # one anchor a position
    anchors = build_anchor_generator(cfg)(feature_sizes(96, 128), torch.device("cpu"))
    per_level = level_counts((96, 128), cfg)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 6, 2, generator=g) * torch.tensor([100.0, 70.0])
    boxes = torch.cat([xy, xy + 4 + torch.rand(2, 6, 2, generator=g) * 60], dim=2)
    valid = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])  # image 1 is padded
    got = AtssMatcher(topk=9)(anchors, boxes, valid, None, per_level)
    assert got.tolist()[0] == atss_reference(anchors, boxes[0], per_level, 9)
    assert got.tolist()[1] == atss_reference(anchors, boxes[1, :4], per_level, 9)
    assert (got >= 0).sum(dim=1).min() >= 4  # every image has positives, none for padding
    assert not ((got == 4) | (got == 5))[1].any()


def test_atss_counts_every_anchor_of_a_position_and_respects_crowds():
    cfg = AnchorConfig()  # 9 anchors a position: the k nearest positions give 9k candidates a level
    matcher = build_matcher(MatcherConfig(name="atss", topk=3), cfg.per_location)
    assert isinstance(matcher, AtssMatcher) and matcher.candidates == 27
    anchors = build_anchor_generator(cfg)(feature_sizes(64, 64), torch.device("cpu"))
    per_level = level_counts((64, 64), cfg)
    assert sum(per_level) == len(anchors)
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 40.0], [40.0, 0.0, 64.0, 64.0]]])
    plain = matcher(anchors, boxes, torch.ones(1, 2, dtype=torch.bool), None, per_level)
    assert set(plain.unique().tolist()) == {BACKGROUND, 0, 1}  # no ignored band
    crowd = matcher(anchors, boxes, torch.ones(1, 2, dtype=torch.bool), torch.tensor([[False, True]]), per_level)
    assert not (crowd == 1).any() and (crowd == IGNORE).any()  # a crowd box gives no positives; covers ignored
    assert torch.equal(crowd == 0, plain == 0)
    empty = matcher(anchors, torch.zeros(1, 0, 4), torch.zeros(1, 0, dtype=torch.bool), None, per_level)
    assert (empty == BACKGROUND).all()
