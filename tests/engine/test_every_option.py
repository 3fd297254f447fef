"""Every value of every documented choice survives a whole run: train with a checkpoint, --resume,
evaluate. The list comes from the config's own ``Literal`` annotations (the classification-loss
table's names among them) and the documented booleans, so a new choice is run the day it is added.
The values are packed into a handful of combined runs (each key once per run, every combination a
valid config; each run's id lists the values it sets), rather than one run per value. One shared tiny
dataset (in every format), one step and its checkpoint, a resume to the second, an evaluation."""

from __future__ import annotations

import dataclasses
import json
import shutil
import typing
from pathlib import Path

import pytest
import torch
import torchvision

import detector
from detector.core.config import DEFAULT_CONFIG, Config, ConfigError, load_config
from detector.core.device import amp_dtype, resolve_device
from detector.data.synthetic import ensure_synthetic
from detector.engine.setup import build_trainer
from detector.losses.criterion import classification_params
from tests.conftest import TINY_RUN, tiny_config, voc_xml

BOOLEANS = ("matcher.allow_low_quality",)  # documented switches run both ways
PER_RUN = 8  # options one combined run sets at most, so that a failure still points at few values
APART = [{"recipe", "model.backbone.name"}]  # recipe=imagenet's weights (made here) are a ResNet-18's


def literal_choices(obj: object = Config(), prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) for every value of every ``Literal`` field of the config tree."""
    out = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, tp = getattr(obj, f.name), hints[f.name]
        if dataclasses.is_dataclass(value):
            out += literal_choices(value, f"{prefix}{f.name}.")
        elif typing.get_origin(tp) is typing.Literal:
            out += [(f"{prefix}{f.name}", str(v)) for v in typing.get_args(tp)]
    return out


def every_option() -> list[tuple[str, str]]:
    pairs = literal_choices()  # loss.cls among them: its Literal is CLASSIFICATION_LOSSES (tests/losses)
    pairs += [(key, v) for key in BOOLEANS for v in ("true", "false")]
    return pairs


def runnable(key: str, value: str) -> bool:
    """A precision this machine cannot run (fp16 without CUDA) is left out."""
    if key in ("train.amp", "inference.amp"):
        try:
            amp_dtype(value, resolve_device("auto"))
        except ValueError:
            return False
    return True


def same_as_tiny(key: str, value: str, tiny: Config) -> bool:
    """True when the tiny run already uses this value: one baseline run covers all of those."""
    node = tiny
    *parents, leaf = key.split(".")
    for part in parents:
        node = getattr(node, part)
    return str(getattr(node, leaf)).lower() == value.lower()


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> dict[str, list[str]]:
    """The same 8 + 4 synthetic images and boxes as synthetic, COCO, VOC, YOLO and CSV data."""
    root = tmp_path_factory.mktemp("every_option")
    cfg = tiny_config(root)
    ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    shapes = Path(cfg.data.root)
    synthetic = [f"data.root={shapes}", "data.synthetic.num_train=8", "data.synthetic.num_val=4",
                 "data.synthetic.image_size=96", "data.synthetic.size_range=[16,40]",
                 "data.synthetic.objects_per_image=[1,3]", "data.synthetic.empty_fraction=0.0"]
    out = {"synthetic": synthetic, "coco": ["data.dataset=coco"], "voc": ["data.dataset=voc"],
           "yolo": ["data.dataset=yolo", f"data.yolo_yaml={root / 'yolo' / 'data.yaml'}"], "csv": ["data.dataset=csv"]}
    for split in ("train", "val"):
        coco = json.loads((shapes / "annotations" / f"{split}.json").read_text())
        names = {c["id"]: c["name"] for c in coco["categories"]}
        order = [names[i] for i in sorted(names)]
        out["coco"] += [f"data.{split}_images={shapes / split}", f"data.{split}_annotations={shapes / 'annotations' / f'{split}.json'}"]
        (root / "voc" / split).mkdir(parents=True)
        (root / "yolo" / "images" / split).mkdir(parents=True)
        (root / "yolo" / "labels" / split).mkdir(parents=True)
        rows = []
        for im in coco["images"]:
            anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
            boxes = [(names[a["category_id"]], a["bbox"]) for a in anns]
            (root / "voc" / split / f"{Path(im['file_name']).stem}.xml").write_text(voc_xml(
                im["file_name"], [(n, (x + 1, y + 1, x + w, y + h), False) for n, (x, y, w, h) in boxes]))
            shutil.copy(shapes / split / im["file_name"], root / "yolo" / "images" / split / im["file_name"])
            (root / "yolo" / "labels" / split / f"{Path(im['file_name']).stem}.txt").write_text("".join(
                f"{order.index(n)} {(x + w / 2) / im['width']} {(y + h / 2) / im['height']} {w / im['width']} "
                f"{h / im['height']}\n" for n, (x, y, w, h) in boxes))
            rows += [f"{shapes / split / im['file_name']},{x},{y},{x + w},{y + h},{n}" for n, (x, y, w, h) in boxes]
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
        out["voc"] += [f"data.{split}_annotations={root / 'voc' / split}", f"data.{split}_images={shapes / split}"]
        out["csv"] += [f"data.{split}_annotations={root / f'{split}.csv'}"]
    out["voc"].append(f"data.class_names=[{','.join(order)}]")
    out["csv"].append(f"data.class_names=[{','.join(order)}]")
    (root / "yolo" / "data.yaml").write_text(f"path: {root / 'yolo'}\ntrain: images/train\nval: images/val\n"
                                             f"names: [{', '.join(order)}]\n")
    torch.save(torchvision.models.resnet18().state_dict(), root / "r18.pth")  # recipe=imagenet's, made here
    out["imagenet_weights"] = [f"model.backbone.weights={root / 'r18.pth'}"]
    return out


def packs() -> list[dict[str, str]]:
    """Every option the tiny run does not already use, packed greedily into as few runs as possible:
    a value joins the first run that does not set its key yet and stays a valid config with it (the
    data format's own keys come from the ``formats`` fixture, so it is checked as synthetic data)."""
    tiny = load_config(DEFAULT_CONFIG, TINY_RUN)  # what detector.train(None, TINY_RUN) runs
    runs: list[dict[str, str]] = []
    for key, value in every_option():
        if not runnable(key, value) or same_as_tiny(key, value, tiny):
            continue
        for run in [*runs, {}]:
            if key in run or len(run) >= PER_RUN or any({key, k} in APART for k in run):
                continue
            candidate = {**run, key: value}
            # recipe=auto is scratch here (a CPU, no pretrained weights), whose mosaic needs letterbox resizing
            checked = [f"{k}={'scratch' if (k, v) == ('recipe', 'auto') else v}" for k, v in candidate.items()
                       if k != "data.dataset"]
            try:  # what training checks before any work
                cfg = load_config(DEFAULT_CONFIG, [*TINY_RUN, *checked])
                classification_params(cfg.loss, written={f"{k}" for k in candidate})
            except ConfigError:
                continue
            if not run:
                runs.append(run)
            run[key] = value
            break
    return [{}, *runs]  # {}: the tiny run itself, the baseline


def test_the_option_list_comes_from_the_config():
    pairs = every_option()
    assert ("loss.cls", "qfl") in pairs and ("data.dataset", "yolo") in pairs and ("train.amp", "bf16") in pairs
    assert len(pairs) == len(set(pairs)) >= 45
    tiny = load_config(DEFAULT_CONFIG, TINY_RUN)
    packed = {(k, v) for run in packs() for k, v in run.items()}
    assert packed == {(k, v) for k, v in pairs if runnable(k, v) and not same_as_tiny(k, v, tiny)}
    assert len(packs()) <= 10  # a handful of runs, not one per value


@pytest.mark.parametrize("options", packs(), ids=lambda run: ",".join(f"{k}={v}" for k, v in run.items()) or "baseline")
def test_a_whole_run_with(options, formats, tmp_path):
    data = formats[options.get("data.dataset", "synthetic")]
    chosen = [f"{k}={v}" for k, v in options.items() if k != "data.dataset"]
    chosen += formats["imagenet_weights"] if options.get("recipe") == "imagenet" else []  # no downloads in tests
    run = [*data, *TINY_RUN, *chosen, "train.checkpoint_period=100", "train.vis_images=0",
           f"train.output_dir={tmp_path / 'run'}", "inference.score_thresh=0.0"]
    build_trainer(load_config(DEFAULT_CONFIG, [*run, "solver.max_iters=2"])).fit(until=1)  # a checkpoint at step 1
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 1
    second = detector.train(None, [*run, "solver.max_iters=2"], resume=True)
    assert second.metrics["step"] == 2
    state = torch.load(second.run_dir / "last.pt", weights_only=True)
    assert state["config"]["loss"]["cls"] == options.get("loss.cls", "focal")
    evaluation = detector.evaluate(second.run_dir / "last.pt", output=tmp_path / "eval")
    assert set(evaluation.result.stats) >= {"AP", "AP50"} and (tmp_path / "eval" / "eval_metrics.json").is_file()
