import math

import torch

from detector.model.anchors import AnchorGenerator, cell_anchors


def test_cell_anchors_keep_area_and_ratio():
    cells = cell_anchors(32.0, [1.0, 2 ** (1 / 3), 2 ** (2 / 3)], [0.5, 1.0, 2.0])
    assert cells.shape == (9, 4)
    w = cells[:, 2] - cells[:, 0]
    h = cells[:, 3] - cells[:, 1]
    scales = torch.tensor([1.0, 2 ** (1 / 3), 2 ** (2 / 3)] * 3)
    torch.testing.assert_close(w * h, (32.0 * scales) ** 2)
    torch.testing.assert_close(h / w, torch.tensor([0.5] * 3 + [1.0] * 3 + [2.0] * 3))
    torch.testing.assert_close(cells[:, :2] + cells[:, 2:], torch.zeros(9, 2))  # centred on 0


def test_anchor_count_and_placement():
    gen = AnchorGenerator([32, 64, 128, 256, 512], [1.0, 2 ** (1 / 3), 2 ** (2 / 3)], [0.5, 1.0, 2.0])
    sizes = [(24, 24), (12, 12), (6, 6), (3, 3), (2, 2)]
    anchors = gen(sizes, torch.device("cpu"))
    assert anchors.shape == (sum(h * w for h, w in sizes) * 9, 4)
    # first level, cell (y=1, x=2), third anchor: centre at (2 * 8, 1 * 8), ratio 0.5, scale 2^(2/3)
    a = anchors[(1 * 24 + 2) * 9 + 2]
    side = 32 * 2 ** (2 / 3)
    w, h = side / math.sqrt(0.5), side * math.sqrt(0.5)
    torch.testing.assert_close(a, torch.tensor([16 - w / 2, 8 - h / 2, 16 + w / 2, 8 + h / 2]))
    # last level starts after the others; its cell (1, 1) is centred at (128, 128)
    start = sum(h * w for h, w in sizes[:4]) * 9
    last = anchors[start + 3 * 9 + 4]  # ratio 1, scale 2^(1/3)
    centre = (last[:2] + last[2:]) / 2
    torch.testing.assert_close(centre, torch.tensor([128.0, 128.0]))


def test_anchors_are_cached_per_size():
    gen = AnchorGenerator([8, 16, 32, 64, 128], [1.0], [1.0])
    a = gen([(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)], torch.device("cpu"))
    b = gen([(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)], torch.device("cpu"))
    assert a is b
