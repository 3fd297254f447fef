import torch
from torchvision.ops import batched_nms

from detector.core.boxes import BoxCoder
from detector.inference.postprocess import PostProcessor


def reference(preds, levels, sizes, post: PostProcessor):
    """Per-image, per-level loop in the style of torchvision's postprocess_detections."""
    out = []
    coder = post.coder
    for i in range(preds["cls_logits"].shape[0]):
        boxes_all, scores_all, labels_all = [], [], []
        start = 0
        for count in levels:
            logits = preds["cls_logits"][i, start:start + count]
            k = logits.shape[1]
            scores = torch.sigmoid(logits).flatten()
            top, idx = scores.topk(min(post.topk, scores.numel()))
            keep = top > post.score_thresh
            top, idx = top[keep], idx[keep]
            anchor_idx = start + idx // k
            boxes = coder.decode(preds["box_deltas"][i, anchor_idx], preds["anchors"][anchor_idx])
            h, w = sizes[i].tolist()
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
            boxes_all.append(boxes)
            scores_all.append(top)
            labels_all.append(idx % k)
            start += count
        boxes, scores, labels = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(labels_all)
        keep = batched_nms(boxes, scores, labels, post.nms_thresh)[: post.max_detections]
        out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
    return out


def test_postprocess_agrees_with_per_image_batched_nms():
    g = torch.Generator().manual_seed(0)
    levels = [64 * 9, 16 * 9, 4 * 9]
    a = sum(levels)
    xy = torch.rand(a, 2, generator=g) * 60
    anchors = torch.cat([xy, xy + 8 + torch.rand(a, 2, generator=g) * 24], dim=1)
    preds = {"cls_logits": torch.randn(3, a, 4, generator=g) * 2 - 1,
             "box_deltas": torch.randn(3, a, 4, generator=g) * 0.3, "anchors": anchors,
             "anchors_per_level": levels}
    sizes = torch.tensor([[64, 64], [50, 60], [64, 40]])
    post = PostProcessor(BoxCoder(), score_thresh=0.3, topk_per_level=100, nms_thresh=0.5, max_detections=40)
    ours = post(preds, sizes)
    ref = reference(preds, levels, sizes, post)
    assert len(ours) == 3
    for o, r in zip(ours, ref):
        assert len(o["scores"]) == len(r["scores"]) > 0
        assert len(o["scores"]) <= 40
        torch.testing.assert_close(o["scores"], r["scores"])
        torch.testing.assert_close(o["boxes"], r["boxes"])
        assert torch.equal(o["labels"], r["labels"])


def test_postprocess_rescales_and_handles_no_detections():
    anchors = torch.tensor([[0.0, 0.0, 20.0, 20.0], [10.0, 10.0, 30.0, 30.0]])
    preds = {"cls_logits": torch.tensor([[[5.0], [-9.0]], [[-9.0], [-9.0]]]), "box_deltas": torch.zeros(2, 2, 4),
             "anchors": anchors, "anchors_per_level": [2]}
    out = PostProcessor(BoxCoder())(preds, torch.tensor([[100, 100], [100, 100]]), torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(out[0]["boxes"], torch.tensor([[0.0, 0.0, 10.0, 10.0]]))
    assert out[1]["boxes"].shape == (0, 4) and out[1]["labels"].dtype == torch.int64
