"""torchvision's COCO RetinaNet evaluated directly: its 91-way classifier is indexed by COCO category
id, so on a COCO-format set with non-contiguous ids each class must take its own id's outputs, and
the results JSON must be torchvision's own detections (randomised weights stand in for COCO_V1)."""

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models.detection.image_list import ImageList

import detector
import evaluate
from detector.core.checkpoint import CheckpointError
from detector.core.config import load_config
from detector.evaluation.evaluator import evaluate_checkpoint
from detector.model.anchors import build_anchor_generator, feature_sizes
from detector.model.weights import coco_names
from tests.model.test_weights import randomised_torchvision_retinanet

CATEGORY_IDS = [3, 17, 42, 90]  # non-contiguous, as COCO's (1..90 with gaps)


def coco_set(root, n: int = 2) -> None:
    """``n`` 128 x 128 noise images (no resize, no padding on either side) and a COCO JSON."""
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        images.append({"id": 10 + i, "file_name": f"{i}.png", "width": 128, "height": 128})
        annotations.append({"id": i + 1, "image_id": 10 + i, "category_id": CATEGORY_IDS[i % 4],
                            "bbox": [10, 10, 40, 30], "area": 1200, "iscrowd": 0})
    names = coco_names()
    cats = [{"id": c, "name": names[c]} for c in CATEGORY_IDS]
    (root / "val.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))


def overrides(root) -> list[str]:
    # torchvision builds plain BatchNorm2d when it loads no weights (FrozenBatchNorm2d, as the
    # config, with COCO_V1): the same normalisation, but matching it keeps the comparison to 1e-3 px
    return ["model.backbone.frozen_bn=false", "data.dataset=coco", f"data.val_images={root / 'images'}", f"data.val_annotations={root / 'val.json'}",
            "augment.image_size=128", "augment.max_size=128", "train.batch_size=2", "train.num_workers=0"]


def coco_model_of_the_dataset():
    """Randomised torchvision COCO RetinaNet whose ids the dataset does not use never fire, as in the trained model."""
    tv = randomised_torchvision_retinanet(num_classes=91)
    with torch.no_grad():
        bias = tv.head.classification_head.cls_logits.bias.view(-1, 91)
        unused = torch.ones(91, dtype=torch.bool)
        unused[CATEGORY_IDS] = False
        bias[:, unused] = -100.0
    return tv


@pytest.fixture(scope="module")
def torchvision_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("tv_coco")
    coco_set(root)
    tv = coco_model_of_the_dataset()
    torch.save(tv.state_dict(), root / "tv.pth")
    images = [torch.from_numpy(np.array(Image.open(root / "images" / f"{i}.png"))).permute(2, 0, 1).float() / 255
              for i in range(2)]
    with torch.no_grad():
        expected = tv(images)
    return root, expected


def test_results_are_torchvisions_own_detections_with_the_real_category_ids(torchvision_coco):
    root, expected = torchvision_coco
    result, dataset, det = evaluate_checkpoint(root / "tv.pth", overrides(root), config="configs/coco2017_torchvision.yaml")
    assert dataset.cat_ids == CATEGORY_IDS
    assert sum(len(e["labels"]) for e in expected) > 50  # torchvision's labels are the category ids
    assert len(set(torch.cat([e["labels"] for e in expected]).tolist()) - {1, 2, 3, 4}) >= 1  # ids beyond 1..K
    for image_id, e, got in zip((10, 11), expected, result.detections):
        order = got["scores"].argsort(descending=True)
        assert len(got["scores"]) == len(e["scores"])
        torch.testing.assert_close(got["scores"][order], e["scores"], rtol=0, atol=1e-5)
        torch.testing.assert_close(got["boxes"][order], e["boxes"], rtol=0, atol=1e-3)
        assert [CATEGORY_IDS[j] for j in got["labels"][order].tolist()] == e["labels"].tolist()
        rows = sorted((r for r in result.results if r["image_id"] == image_id), key=lambda r: -r["score"])
        assert [r["category_id"] for r in rows] == e["labels"].tolist()
        xywh = torch.cat((e["boxes"][:, :2], e["boxes"][:, 2:] - e["boxes"][:, :2]), dim=1)
        torch.testing.assert_close(torch.tensor([r["bbox"] for r in rows]), xywh, rtol=0, atol=0.006)  # 2 decimals


def test_evaluate_cli_with_weights_and_a_classifier_that_cannot_be_mapped(torchvision_coco, tmp_path, capsys):
    root, _ = torchvision_coco
    args = ["--config", "configs/coco2017_torchvision.yaml", "--weights", str(root / "tv.pth"),
            "--output", str(tmp_path / "out"), *overrides(root)]
    assert evaluate.main(args) == 0
    assert json.loads((tmp_path / "out" / "eval_metrics.json").read_text())["AP"] >= 0
    small = randomised_torchvision_retinanet(num_classes=5)  # ids 17, 42, 90 have no output in it
    torch.save(small.state_dict(), tmp_path / "small.pth")
    with pytest.raises(CheckpointError, match="does not fit this model for classes"):
        evaluate_checkpoint(tmp_path / "small.pth", overrides(root), config="configs/coco2017_torchvision.yaml")


def test_a_dataset_with_its_own_classes_does_not_get_cocos_outputs(torchvision_coco, tmp_path):
    root, _ = torchvision_coco
    data = json.loads((root / "val.json").read_text())
    for cat in data["categories"]:
        cat["name"] = f"my_{cat['name']}"  # same ids, other classes
    (tmp_path / "mine.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="re-initialised .shape differs.: cls_head.out.weight"):
        evaluate_checkpoint(root / "tv.pth", [*overrides(root), f"data.val_annotations={tmp_path / 'mine.json'}"],
                            config="configs/coco2017_torchvision.yaml")


@pytest.mark.parametrize("classes", [None, CATEGORY_IDS])
def test_the_api_predicts_torchvisions_own_detections(torchvision_coco, classes):
    """``detector.load(weights, config=...)`` without a dataset: by default COCO's 80 categories by id
    (what torchvision's COCO model predicts), or the ids asked for; torchvision's detections either way."""
    root, expected = torchvision_coco
    names = coco_names()
    asked = None if classes is None else {c: names[c] for c in classes}
    model = detector.load(root / "tv.pth", config="coco2017_torchvision", overrides=overrides(root), classes=asked)
    assert len(model.class_names) == (80 if classes is None else 4)
    got = model.predict([root / "images" / f"{i}.png" for i in range(2)])
    for e, p in zip(expected, got):
        torch.testing.assert_close(p["scores"], e["scores"], rtol=0, atol=1e-5)
        torch.testing.assert_close(p["boxes"], e["boxes"], rtol=0, atol=1e-3)
        assert p["labels"].tolist() == e["labels"].tolist() and p["names"] == [names[c] for c in e["labels"].tolist()]


def assert_same_detections(got: dict, expected: dict, box_rtol: float, box_atol: float, score_atol: float) -> None:
    """``got`` and ``expected`` hold the same detections, in any order: one to one, each pair within the
    tolerances in box and score (a greedy pairing in ``expected``'s order)."""
    assert len(got["scores"]) == len(expected["scores"])
    box_ok = ((got["boxes"][:, None] - expected["boxes"][None]).abs()
              <= box_atol + box_rtol * expected["boxes"].abs()[None]).all(-1)  # (G, E)
    close = box_ok & ((got["scores"][:, None] - expected["scores"][None]).abs() <= score_atol)
    free = torch.ones(len(close), dtype=torch.bool)
    for j in range(close.shape[1]):
        partners = torch.nonzero(close[:, j] & free).flatten()
        assert len(partners), f"expected detection {j} ({expected['boxes'][j].tolist()}) has no partner"
        free[partners[0]] = False


@pytest.mark.parametrize("batch", [1, 2])
def test_images_whose_sides_are_no_multiple_of_32_match_torchvision_at_the_border(tmp_path, batch):
    """torchvision pads each normalised image with zeros to a multiple of 32 (model.size_divisible=32 in
    the torchvision config) and pads batches with the same zero (our batches: the normalisation mean).
    Before both, boxes near the right and bottom edges scored ~3e-3 apart (up to 7.6e-3 here)."""
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(1)
    images, annotations = [], []
    for i, (h, w) in enumerate([(100, 128), (128, 116)]):  # padded to 128 x 128 by torchvision
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.png")
        images.append({"id": 10 + i, "file_name": f"{i}.png", "width": w, "height": h})
        annotations.append({"id": i + 1, "image_id": 10 + i, "category_id": CATEGORY_IDS[i], "bbox": [10, 10, 40, 30],
                            "area": 1200, "iscrowd": 0})
    cats = [{"id": c, "name": coco_names()[c]} for c in CATEGORY_IDS]
    (tmp_path / "val.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    tv = coco_model_of_the_dataset()
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    tv.transform.min_size, tv.transform.max_size = (128,), 128  # as image_size 128: no resize, only padding
    with torch.no_grad():
        expected = [tv([torch.from_numpy(np.array(Image.open(tmp_path / "images" / f"{i}.png"))).permute(2, 0, 1)
                        .float() / 255])[0] for i in range(2)]
    result, _, _ = evaluate_checkpoint(tmp_path / "tv.pth", [*overrides(tmp_path), f"train.batch_size={batch}"],
                                       config="coco2017_torchvision")
    for e, got in zip(expected, result.detections):
        order = got["scores"].argsort(descending=True)
        near_edge = (e["boxes"][:, 2] > 120) | (e["boxes"][:, 3] > 92)
        assert near_edge.sum() > 20 and len(got["scores"]) == len(e["scores"])
        torch.testing.assert_close(got["scores"][order], e["scores"], rtol=0, atol=1e-5)
        # batched convs take other kernels: ~1e-5 relative on AVX-512, 5.4e-5 on an Intel Xeon with AMX; and
        # detections whose scores differ by less than that may swap places (AVX2), so each is paired by value
        assert_same_detections(got, e, box_rtol=1e-4, box_atol=2e-3, score_atol=1e-5)


@pytest.mark.parametrize("hw", [(800, 1067), (800, 1202), (750, 1333)])
def test_anchors_are_torchvisions_at_coco_sizes(hw):
    """torchvision's stride is the padded input's side // the level's side per axis: 61 and 114 rather than
    64 and 128 at P6 and P7 on an 800-pixel side. Nominal strides shifted boxes by 6 to 30 px there."""
    cfg = load_config("coco2017_torchvision", [])
    tv = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None).anchor_generator
    padded = tuple(side + (-side) % cfg.model.size_divisible for side in hw)
    sizes = feature_sizes(*padded)
    maps = [torch.zeros(1, 1, h, w) for h, w in sizes]
    expected = tv(ImageList(torch.zeros(1, 3, *padded), [hw]), maps)[0]
    got = build_anchor_generator(cfg.model.anchors)(sizes, torch.device("cpu"), padded)
    assert torch.equal(got, expected)


def test_torchvisions_weights_give_its_detections_on_an_800_x_1067_image(tmp_path):
    """The issue's repro at a COCO size, end to end: all 300 detections, boxes and scores as torchvision's."""
    torch.manual_seed(0)  # the model: torchvision's COCO layout, randomised statistics
    tv = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
        bias = tv.head.classification_head.cls_logits.bias
        bias.normal_(-2.5, 1.0)
        na = torch.tensor([name in ("N/A", "__background__") for name in coco_names()])
        bias.view(-1, 91)[:, na] = -100.0  # as trained COCO weights: the unused ids never fire
    tv.eval()
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    pixels = np.random.default_rng(0).integers(0, 255, (800, 1067, 3), dtype=np.uint8)  # textured: no tied scores
    Image.fromarray(pixels).save(tmp_path / "image.png")
    with torch.no_grad():
        [expected] = tv([torch.from_numpy(pixels).permute(2, 0, 1).float() / 255])
    model = detector.load(tmp_path / "tv.pth", config="coco2017_torchvision", overrides=["model.backbone.frozen_bn=false"])
    [got] = model.predict([tmp_path / "image.png"])
    assert len(expected["scores"]) == 300 and (expected["boxes"][:, 2] > 1060).sum() > 10  # at the right border
    assert_same_detections(got, expected, box_rtol=1e-4, box_atol=2e-3, score_atol=1e-5)
    assert got["labels"].tolist() == expected["labels"].tolist()
