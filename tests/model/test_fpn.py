"""The feature pyramid against a hand-written reference of the paper's construction."""

import torch
import torch.nn.functional as F

from detector.model.backbone import FPN


def reference(fpn: FPN, c3, c4, c5, p6_from: str):
    """Lin et al.: lateral 1x1, top-down nearest upsampling and sum, 3x3 output; P6 from C5 (or P5), P7 = conv(relu(P6))."""
    l3, l4, l5 = (conv(c) for conv, c in zip(fpn.lateral, (c3, c4, c5)))
    l4 = l4 + F.interpolate(l5, size=l4.shape[-2:], mode="nearest")
    l3 = l3 + F.interpolate(l4, size=l3.shape[-2:], mode="nearest")
    p3, p4, p5 = (conv(x) for conv, x in zip(fpn.output, (l3, l4, l5)))
    p6 = fpn.p6(c5 if p6_from == "c5" else p5)
    return [p3, p4, p5, p6, fpn.p7(F.relu(p6))]


def test_fpn_is_the_papers_pyramid_for_odd_sizes_and_both_p6_sources():
    torch.manual_seed(0)
    c3, c4, c5 = torch.randn(2, 8, 13, 9), torch.randn(2, 16, 7, 5), torch.randn(2, 32, 4, 3)
    for p6_from in ("c5", "p5"):
        fpn = FPN((8, 16, 32), 12, p6_from).eval()
        out = fpn([c3, c4, c5])
        assert [tuple(p.shape) for p in out] == [(2, 12, 13, 9), (2, 12, 7, 5), (2, 12, 4, 3), (2, 12, 2, 2), (2, 12, 1, 1)]
        for ours, ref in zip(out, reference(fpn, c3, c4, c5, p6_from)):
            torch.testing.assert_close(ours, ref)
    assert fpn.p6.in_channels == 12 and FPN((8, 16, 32), 12, "c5").p6.in_channels == 32
    assert all(float(m.bias.detach().abs().max()) == 0 for m in fpn.modules() if isinstance(m, torch.nn.Conv2d))
