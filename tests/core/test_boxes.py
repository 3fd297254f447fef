import torch
from torchvision.ops import box_iou, generalized_box_iou_loss

from detector.core.boxes import BACKGROUND, IGNORE, BoxCoder, Matcher, elementwise_giou, elementwise_iou, pairwise_iou


def random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_pairwise_iou_matches_torchvision_and_batches():
    a, b = random_boxes(30, 1), random_boxes(7, 2)
    torch.testing.assert_close(pairwise_iou(a, b), box_iou(a, b))
    batched = pairwise_iou(a, torch.stack([b, b.flip(0)]))
    torch.testing.assert_close(batched[1], box_iou(a, b.flip(0)))


def test_box_coder_round_trip():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    anchors, boxes = random_boxes(50, 3), random_boxes(50, 4)
    deltas = coder.encode(boxes, anchors)
    torch.testing.assert_close(coder.decode(deltas, anchors), boxes, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(coder.encode(coder.decode(deltas, anchors), anchors), deltas, atol=1e-4, rtol=1e-4)
    assert torch.equal(coder.encode(anchors, anchors), torch.zeros(50, 4))


def test_box_coder_clamps_huge_sizes():
    coder = BoxCoder()
    out = coder.decode(torch.tensor([[0.0, 0.0, 50.0, 50.0]]), torch.tensor([[0.0, 0.0, 10.0, 10.0]]))
    assert torch.isfinite(out).all()


def test_matcher_sentinels():
    anchors = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 8.0], [0, 0, 10, 4.5], [50, 50, 60, 60.0]])
    gt = torch.tensor([[[0, 0, 10, 10.0]]])
    valid = torch.tensor([[True]])
    # IoUs with the box: 1.0, 0.8, 0.45, 0.0
    m = Matcher(0.5, 0.4, allow_low_quality=False)(anchors, gt, valid)
    assert m.tolist() == [[0, 0, IGNORE, BACKGROUND]]
    assert BACKGROUND == -1 and IGNORE == -2


def test_matcher_low_quality_matches_and_padding():
    anchors = torch.tensor([[0, 0, 10, 10.0], [20, 20, 30, 30.0], [100, 100, 110, 110.0]])
    # box 0 overlaps anchor 1 with IoU 1/3 only; box 1 is padding
    gt = torch.tensor([[[20, 20, 50, 30.0], [0, 0, 10, 10.0]]])
    valid = torch.tensor([[True, False]])
    strict = Matcher(0.5, 0.4, allow_low_quality=False)(anchors, gt, valid)
    assert strict.tolist() == [[BACKGROUND, BACKGROUND, BACKGROUND]]  # padding never matches
    loose = Matcher(0.5, 0.4, allow_low_quality=True)(anchors, gt, valid)
    assert loose.tolist() == [[BACKGROUND, 0, BACKGROUND]]


def test_matcher_crowd_ignores_instead_of_background():
    anchors = torch.tensor([[0, 0, 10, 10.0], [40, 40, 50, 50.0], [100, 100, 110, 110.0]])
    gt = torch.tensor([[[0, 0, 10, 10.0], [30, 30, 60, 60.0]]])
    valid = torch.tensor([[True, True]])
    crowd = torch.tensor([[False, True]])
    m = Matcher()(anchors, gt, valid, crowd)
    assert m.tolist() == [[0, IGNORE, BACKGROUND]]


def test_matcher_no_boxes():
    anchors = random_boxes(5)
    m = Matcher()(anchors, torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool))
    assert m.shape == (2, 5) and (m == BACKGROUND).all()


def test_elementwise_iou_and_giou_match_torchvision():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(2, 50, 2, generator=g) * 50
    a = torch.cat([xy, xy + torch.rand(2, 50, 2, generator=g) * 30 + 1], -1)  # (2, 50, 4), some disjoint
    xy = torch.rand(2, 50, 2, generator=g) * 50
    b = torch.cat([xy, xy + torch.rand(2, 50, 2, generator=g) * 30 + 1], -1)
    torch.testing.assert_close(elementwise_iou(a, b), torch.stack([box_iou(x, y).diagonal() for x, y in zip(a, b)]))
    torch.testing.assert_close(1 - elementwise_giou(a, b), generalized_box_iou_loss(a, b))
    assert (elementwise_giou(a, b) < elementwise_iou(a, b) + 1e-6).all()
