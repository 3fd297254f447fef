"""Recipes: layering under a config, the automatic choice and its one line, and weights that cannot be loaded."""

import urllib.error

import pytest
import torch
import torchvision
import yaml

from detector.api.runs import train
from detector.cli.main import main
from detector.core.checkpoint import save_checkpoint
from detector.core.config import explicit_keys, load_config
from detector.core.config_files import shipped_config_dir, shipped_configs
from detector.engine.recipes import choose_recipe
from detector.model.backbone import ResNetBody, WeightsError, load_backbone_weights
from tests.conftest import TINY_RUN, write_voc


def data_only(tmp_path, extra: str = "", small: bool = False):
    """A VOC dataset of eight 64x48 images with two classes (``small``: 3 px boxes), and a config naming only it."""
    side = 3 if small else 26
    items = {f"im{i}": ((64, 48), [("cat", (4 + i, 4, 4 + i + side, 4 + side), False),
                                    ("dog", (34, 10, 34 + side, 10 + side), False)]) for i in range(8)}
    write_voc(tmp_path / "voc", items, split="train")
    path = tmp_path / "data.yaml"
    path.write_text(f"data: {{dataset: voc, root: {tmp_path / 'voc'}, train_sets: ['.:train'], "
                    f"val_sets: ['.:train']}}\n{extra}")
    return path


def test_a_recipe_sits_under_the_config_and_the_config_wins(tmp_path):
    cfg = load_config(None, ["recipe=scratch", "solver.lr=0.01"])
    assert (cfg.model.backbone.name, cfg.solver.optimizer, cfg.model.head.norm) == ("resnet18", "adamw", "gn")
    assert cfg.solver.lr == 0.01  # the override, not the recipe's 0.001
    assert (cfg.augment.mosaic_prob, cfg.augment.scale_range, cfg.augment.crop_prob) == (0.5, [0.75, 1.25], 0.5)
    mine = tmp_path / "mine.yaml"
    mine.write_text("_base_: recipes/scratch.yaml\naugment: {image_size: 256}\n")
    by_base = load_config(mine)
    assert by_base.augment.image_size == 256 and by_base.model.fpn_channels == 128
    keyed = tmp_path / "keyed.yaml"
    keyed.write_text("recipe: imagenet\nmodel: {backbone: {name: resnet18}}\n")
    cfg = load_config(keyed)
    assert (cfg.model.backbone.name, cfg.model.backbone.weights, cfg.model.backbone.frozen_bn) == \
        ("resnet18", "IMAGENET1K_V1", True)
    assert {"model", "model.backbone", "model.backbone.name", "recipe"} == explicit_keys(keyed)


def test_every_shipped_config_says_whether_it_has_a_recipe():
    recipes = {name: load_config(name).recipe for name in shipped_configs()}
    assert recipes.pop("custom_example") == "auto"  # the template for users' data: chosen for them
    assert set(recipes.values()) == {"none"}, recipes  # the benchmarks and the paper's configs stay as they are
    assert sorted(p.stem for p in (shipped_config_dir() / "recipes").glob("*.yaml")) == ["coco", "imagenet", "scratch"]


def test_auto_on_a_cpu_without_weights_is_scratch_with_searched_anchors(tmp_path):
    choice = choose_recipe(data_only(tmp_path), ["train.device=cpu"])
    assert choice.recipe == "scratch" and choice.overrides[0] == "recipe=scratch" and not choice.warning
    line = choice.line()
    assert line.startswith("recipe: scratch (recipe=auto: cpu, ") and "no pretrained weights named" in line
    assert "8 training images, 16 boxes" in line
    assert "the recipe's anchors cover 100% of the boxes" in line  # 78 px boxes at 192 px: nothing to search for
    assert not [o for o in choice.overrides if o.startswith("model.anchors")]
    small = choose_recipe(data_only(tmp_path / "small", small=True), [])
    searched = [o for o in small.overrides if o.startswith("model.anchors.")]
    assert [o.split("=")[0] for o in searched] == ["model.anchors.sizes", "model.anchors.ratios"]
    assert "(coverage search) cover 100% of the boxes at IoU 0.5, the recipe's 0%" in small.line()
    kept = choose_recipe(data_only(tmp_path), ["model.anchors.sizes=[8,16,32,64,128]"])
    assert not [o for o in kept.overrides if o.startswith("model.anchors")]  # the config's own anchors stay


def test_named_weights_that_do_not_load_fall_back_to_scratch_with_a_warning(tmp_path):
    path = data_only(tmp_path, "model: {backbone: {weights: /no/such/r50.pth, frozen_bn: true}}\n")
    choice = choose_recipe(path, [])
    assert choice.recipe == "scratch"
    assert "model.backbone.weights=" in choice.overrides and "model.backbone.frozen_bn=false" in choice.overrides
    assert "'/no/such/r50.pth' does not exist" in choice.warning and "falling back to recipe=scratch" in choice.warning
    cfg = load_config(path, choice.overrides)
    assert (cfg.model.backbone.weights, cfg.model.backbone.frozen_bn, cfg.model.backbone.name) == ("", False, "resnet18")


def test_named_weights_that_load_choose_imagenet(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    path = data_only(tmp_path, f"model: {{backbone: {{name: resnet18, weights: {tmp_path / 'r18.pth'}}}}}\n")
    choice = choose_recipe(path, [])
    assert choice.recipe == "imagenet" and "resnet18 weights" in choice.line() and not choice.warning
    cfg = load_config(path, choice.overrides)
    assert cfg.model.backbone.frozen_bn and cfg.model.backbone.freeze_stages == 2 and cfg.solver.optimizer == "sgd"


def test_a_detector_to_start_from_chooses_its_recipe(tmp_path, tiny_checkpoint):
    torch.save({"head.classification_head.cls_logits.weight": torch.zeros(1)}, tmp_path / "tv.pth")
    assert choose_recipe(data_only(tmp_path), [f"model.init_from={tmp_path / 'tv.pth'}"]).recipe == "coco"
    _, ours = tiny_checkpoint
    state = torch.load(ours, weights_only=True)
    state["config"]["recipe"] = "scratch"
    save_checkpoint(state, tmp_path / "ours.pt")
    assert choose_recipe(data_only(tmp_path), [f"model.init_from={tmp_path / 'ours.pt'}"]).recipe == "scratch"


def offline(monkeypatch):
    def no_network(self, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)


def test_weights_that_cannot_be_downloaded_say_what_to_do(monkeypatch):
    offline(monkeypatch)
    with pytest.raises(WeightsError) as err:
        load_backbone_weights(ResNetBody("resnet50"), "resnet50", "IMAGENET1K_V1")
    text = str(err.value)
    assert "downloading https://download.pytorch.org/models/resnet50-0676ba61.pth failed" in text
    assert "Temporary failure in name resolution" in text and "~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth" in text
    assert "model.backbone.weights=PATH" in text and "recipe=scratch" in text and "\n" not in text


def test_weights_of_another_architecture_are_named(tmp_path):
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pth")
    with pytest.raises(WeightsError, match="weights of another architecture"):
        load_backbone_weights(ResNetBody("resnet18"), "resnet18", str(tmp_path / "r34.pth"))
    torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises(WeightsError, match=r"does not fit model.backbone.name=resnet18 \(size mismatch for"):
        load_backbone_weights(ResNetBody("resnet18"), "resnet18", str(tmp_path / "r50.pth"))


def test_offline_imagenet_is_one_line_and_auto_falls_back_and_trains(tmp_path, monkeypatch, capsys):
    offline(monkeypatch)
    path = data_only(tmp_path, "model: {backbone: {weights: IMAGENET1K_V1}}\n")
    tiny = [o for o in TINY_RUN if not o.startswith("model.backbone")] + [f"train.output_dir={tmp_path / 'run'}"]
    assert main(["train", "--config", str(path), "recipe=imagenet", *tiny]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: model.backbone.weights=IMAGENET1K_V1: downloading") and "\n" not in err
    run = train(path, tiny)
    out = capsys.readouterr().out
    assert "warning: model.backbone.weights=IMAGENET1K_V1: downloading" in out
    assert "recipe: scratch (recipe=auto: " in out and "weights IMAGENET1K_V1 cannot be loaded: from scratch" in out
    assert out.count("VOC classes discovered") == 1  # the choice reads the data too, silently
    recorded = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert recorded["recipe"] == "scratch" and recorded["model"]["backbone"]["weights"] == ""
    assert run.metrics["step"] == 4


def test_the_anchor_report_measures_what_training_would_use(tmp_path, capsys):
    assert main(["anchors", "--config", str(data_only(tmp_path, small=True))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recipe: scratch (recipe=auto: ") and "anchors 4," not in out.splitlines()[0]
    assert "configured anchors (model.anchors.sizes=[32,64,128,256,512]" in out  # the recipe's, at its 192 px
    assert "suggested anchors" in out
