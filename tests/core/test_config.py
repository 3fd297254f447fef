import pytest

from detector.core.config import (
    Config,
    ConfigError,
    explicit_keys,
    load_config,
    parse_override,
    save_yaml,
)
from detector.core.config_checks import unused_settings, written_keys
from detector.core.config_files import shipped_configs
from detector.data.formats import format_key_rules


def test_defaults_and_yaml_and_override(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("solver:\n  lr: 0.02\nmodel:\n  backbone: {name: resnet18}\n")
    cfg = load_config(path, ["solver.max_iters=10", "model.anchors.ratios=[1, 2]", "loss.cls=bce"])
    assert cfg.name == "exp"
    assert cfg.solver.lr == 0.02 and cfg.solver.max_iters == 10
    assert cfg.model.backbone.name == "resnet18"
    assert cfg.model.anchors.ratios == [1.0, 2.0] and all(isinstance(r, float) for r in cfg.model.anchors.ratios)
    assert cfg.loss.cls == "bce"
    assert cfg.solver.momentum == Config().solver.momentum  # untouched defaults survive


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["solver.learning_rate=0.1"])
    message = str(err.value)
    assert "solver.learning_rate" in message and "lr" in message and "momentum" in message
    assert "\n" not in message


@pytest.mark.parametrize("override,expected", [
    ("solver.max_iters=1.5", "expected int"),
    ("solver.lr=fast", "expected float"),
    ("train.channels_last=1", "expected bool"),
    ("loss.box=iou", "one of smooth_l1|l1|giou"),
    ("loss.cls=focall", "one of focal|bce|balanced_ce|ohem|ghm|qfl|efl"),  # at load, before any data is read
    ("model.anchors.sizes=[1, two, 3, 4, 5]", "model.anchors.sizes[1]"),
    ("solver=3", "is a section"),
])
def test_bad_types_are_one_line_errors(override, expected):
    with pytest.raises(ConfigError, match=expected.replace("|", r"\|").replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [override])


def test_malformed_override_and_file(tmp_path):
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("solver.lr")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("solver: {lr: 0.1}\nsolvr: {}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'solvr'"):
        load_config(bad)


def test_cross_field_validation():
    with pytest.raises(ConfigError, match="bg_iou"):
        load_config(None, ["matcher.bg_iou=0.6"])


def test_shipped_configs_load():
    for name in ("shapes_focal", "shapes_bce"):
        cfg = load_config(f"configs/{name}.yaml")
        assert cfg.name == name
    focal, bce = load_config("configs/shapes_focal.yaml"), load_config("configs/shapes_bce.yaml")
    assert bce.loss.cls == "bce" and focal.loss.cls == "focal"
    assert bce.model == focal.model and bce.solver.max_iters == focal.solver.max_iters


def test_base_chain_and_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("solver: {lr: 0.5, max_iters: 7}\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\nsolver: {lr: 0.25}\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert (cfg.name, cfg.solver.lr, cfg.solver.max_iters) == ("b", 0.25, 7)
    (tmp_path / "c.yaml").write_text("_base_: d.yaml\n")
    (tmp_path / "d.yaml").write_text("_base_: c.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "c.yaml")


def test_a_key_written_twice_is_refused_naming_it_and_its_lines(tmp_path):
    """YAML keeps the last of two equal keys silently (the README's four alternative data: lines, copied
    as they stood, trained on the last format)."""
    path = tmp_path / "twice.yaml"
    path.write_text("data: {dataset: coco, root: a}\nsolver: {lr: 0.1}\ndata: {dataset: yolo}\n")
    with pytest.raises(ConfigError, match=r"twice.yaml': key 'data' appears twice in one mapping \(lines 1 and 3\)"):
        load_config(path)
    path.write_text("solver:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"key 'lr' appears twice in one mapping \(lines 2 and 3\)"):
        load_config(path)
    path.write_text("base: &b {lr: 0.1, momentum: 0.8}\nsolver:\n  <<: *b\n  lr: 0.2\n")  # a merge key's values
    assert explicit_keys(path) == {"base", "base.lr", "base.momentum", "solver", "solver.lr", "solver.momentum"}


def test_settings_the_run_will_not_use_are_named():
    written = written_keys(None, ["solver.optimizer=adamw", "solver.momentum=0.8", "data.synthetic.num_train=5",
                                  "augment.max_size=900"])
    rules = format_key_rules()  # the data formats' own keys, from their table
    lines = unused_settings(load_config(None, ["solver.optimizer=adamw", "data.dataset=coco"]), written, rules)
    assert lines == [
        "data.synthetic is set but not used: it applies with data.dataset=synthetic only (this run: data.dataset=coco)",
        "augment.max_size is set but not used: it applies with augment.resize=shortest_edge only "
        "(this run: augment.resize=letterbox)",
        "solver.momentum is set but not used: it applies with solver.optimizer=sgd only (this run: solver.optimizer=adamw)",
    ]
    assert unused_settings(load_config(None, []), written, rules) == [lines[1]]  # sgd reads momentum; synthetic its knobs


@pytest.mark.parametrize("name", shipped_configs())
def test_shipped_configs_set_nothing_they_do_not_use(name):
    assert unused_settings(load_config(name), written_keys(name), format_key_rules()) == []


def test_what_was_written_leaves_out_base_files_and_what_a_resolved_config_did_not_change(tmp_path):
    (tmp_path / "base.yaml").write_text("solver: {momentum: 0.8}\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nsolver: {optimizer: adamw}\n")
    assert "solver.momentum" in explicit_keys(tmp_path / "child.yaml")
    assert written_keys(tmp_path / "child.yaml", ["train.seed=1"]) == {"solver", "solver.optimizer", "train",
                                                                        "train.seed"}
    cfg = load_config(None, ["solver.optimizer=adamw", "loss.cls=bce"])
    save_yaml(cfg, tmp_path / "resolved.yaml")  # names every key, as a run folder's config.yaml
    assert written_keys(tmp_path / "resolved.yaml") == {"solver", "solver.optimizer", "loss", "loss.cls"}
