"""The one command line: every subcommand's help, one default config, one error mapping, shipped
configs found from any folder, and ``python -m detector`` outside the repository."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from detector.cli import common
from detector.cli.main import COMMANDS, build_parser, chosen
from detector.cli.main import main as cli
from detector.core import errors
from detector.core.checkpoint import CheckpointError
from detector.core.config import DEFAULT_CONFIG, ConfigError, load_config
from detector.core.config_files import find_config, shipped_config_dir, shipped_configs
from detector.core.errors import NonFiniteLossError
from detector.core.signals import STOPPED_EXIT_CODE, TrainingInterrupted
from detector.data.problems import DataError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [*COMMANDS, "evaluate", "predict"])
def test_every_subcommand_has_help_with_examples(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    canonical = {"evaluate": "eval", "predict": "detect"}.get(name, name)
    assert out.startswith(f"usage: focaldet {canonical}") and f"focaldet {canonical} " in out.split("options:")[0]


def test_top_level_help_lists_every_subcommand_and_imports_none(capsys):
    with pytest.raises(SystemExit):
        cli(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    parser = build_parser([])  # nothing chosen: no subcommand module gets its arguments
    assert chosen(["--version"]) is None and chosen(["predict", "--input", "x"]) == "detect"
    assert isinstance(parser, argparse.ArgumentParser)


LIGHT_CHECK = """
import sys
from detector.cli.main import COMMANDS, main
cases = [["--help"], ["--version"], [], ["train", "--bogus"], ["detect", "--input"]]
cases += [[name, "--help"] for name in COMMANDS]
for argv in cases:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, 2), (argv, exc.code)
    heavy = sorted(m for m in ("torch", "torchvision", "numpy", "detector.api", "detector.engine") if m in sys.modules)
    assert not heavy, (argv, heavy)
print("light")
"""


def test_help_version_and_argument_errors_never_import_torch():
    """Before, cli/common.py imported the trainer for one exception class: --help took 5.5-7.7 s (3117 modules)."""
    proc = subprocess.run([sys.executable, "-c", LIGHT_CHECK], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("light"), proc.stderr[-2000:]


def test_commands_that_read_a_config_share_one_default():
    """scan, anchors, study and train read the same default config (scan once used bare defaults in
    the same data/shapes folder, so each regenerated the other's dataset)."""
    parser = build_parser(None)
    defaults = {}
    for name in ("train", "scan", "anchors", "study"):
        args = parser.parse_args([name, "--name", "x"] if name == "study" else [name])
        defaults[name] = args.config
    assert set(defaults.values()) == {DEFAULT_CONFIG}
    assert load_config(DEFAULT_CONFIG).data.synthetic.image_size == 128


@pytest.mark.parametrize("exc, line, code", [
    (TrainingInterrupted("SIGTERM at step 3"), "stopped: SIGTERM at step 3", STOPPED_EXIT_CODE),
    (DataError("a.jpg: NaN in bbox"), "error: a.jpg: NaN in bbox", 1),
    (ConfigError("unknown config key 'x'"), "error: unknown config key 'x'", 2),
    (CheckpointError("checkpoint 'c.pt' is truncated"), "error: checkpoint 'c.pt' is truncated", 2),
    (FileNotFoundError("input 'x' does not exist"), "error: input 'x' does not exist", 2),
    (OSError("image file 'a.jpg' cannot be decoded"), "error: image file 'a.jpg' cannot be decoded", 2),
    (ValueError("the training split has no images"), "error: the training split has no images", 2),
    (errors.MissingExtraError("this needs the 'export' extra"), "error: this needs the 'export' extra", 2),
    (NonFiniteLossError("non-finite loss at step 3"), "error: non-finite loss at step 3", 2),
    (KeyboardInterrupt(), "interrupted: KeyboardInterrupt", 130),
])
def test_one_mapping_from_error_to_line_and_exit_code(exc, line, code, capsys):
    def run(args):
        raise exc
    assert common.guarded(run, argparse.Namespace()) == code
    assert capsys.readouterr().err.strip() == line


def test_a_bug_keeps_its_traceback():
    def run(args):
        raise TypeError("unsupported operand")
    with pytest.raises(TypeError, match="unsupported operand"):
        common.guarded(run, argparse.Namespace())


def test_a_missing_extra_names_what_to_install():
    with pytest.raises(errors.MissingExtraError, match=r"'study' extra \(no_such_module_xyz is not installed\): "
                                                       r"pip install 'focaldet\[study\]'"):
        errors.require_extra("no_such_module_xyz", "study")


def test_shipped_configs_are_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = shipped_config_dir() / "raccoon.yaml"
    assert {"shapes_focal", "raccoon", "coco2017_torchvision"} <= set(shipped_configs())
    for name in ("raccoon", "raccoon.yaml", "configs/raccoon.yaml"):
        assert find_config(name) == shipped
    (tmp_path / "raccoon.yaml").write_text("name: mine\n")  # a file in the current folder wins
    assert find_config("raccoon.yaml") == Path("raccoon.yaml") and load_config("raccoon.yaml").name == "mine"
    (tmp_path / "my.yaml").write_text("_base_: shapes_quick.yaml\nsolver: {lr: 0.003}\n")  # a shipped base by name
    cfg = load_config("my.yaml")
    assert cfg.name == "my" and cfg.solver.lr == 0.003 and cfg.solver.max_iters == 850
    with pytest.raises(ConfigError, match=r"config file 'nope.yaml' does not exist \(shipped configs: coco2017"):
        load_config("nope.yaml")


def test_python_dash_m_detector_outside_the_repository(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "detector", "scan", "--config", "nope"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: config file 'nope' does not exist (shipped configs:")
    assert "Traceback" not in proc.stderr


def test_export_without_its_extra_says_what_to_install(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """A user who installed the library alone gets the extra's name, not onnxscript's traceback."""
    real = errors.importlib.import_module

    def without_onnxscript(name, *args):
        if name == "onnxscript":
            raise ModuleNotFoundError("No module named 'onnxscript'", name="onnxscript")
        return real(name, *args)

    monkeypatch.setattr(errors.importlib, "import_module", without_onnxscript)
    code = cli(["export", "--checkpoint", str(tiny_checkpoint[1]), "--output", str(tmp_path / "m.onnx")])
    assert code == 2 and not (tmp_path / "m.onnx").exists()
    assert capsys.readouterr().err.strip() == ("error: this needs the 'export' extra (onnxscript is not installed): "
                                               "pip install 'focaldet[export]'")


def test_overrides_may_come_before_and_after_options():
    argv = ["train", "solver.lr=0.1", "--resume", "loss.gamma=1", "--init-from", "w.pt", "model.head.norm=gn"]
    args = build_parser(argv).parse_known_args(argv)[0]
    assert args.resume and args.init_from == "w.pt"
    with pytest.raises(SystemExit):
        cli(["train", "solver.lr=0.1", "--bogus"])


@pytest.mark.parametrize("mistake, message", [
    ("loss.cls=focall", "loss.cls': expected one of focal|"),
    ("loss.ohem_ratio=3", "loss.cls=focal does not use loss.ohem_ratio=3.0"),  # its default, but written
])
def test_a_config_mistake_is_refused_before_any_work(tmp_path, capsys, mistake, message):
    """Before, both started: a typo in loss.cls after generating and scanning 2300 images, ohem_ratio as the default run."""
    root = tmp_path / "shapes"
    assert cli(["train", mistake, f"data.root={root}", f"train.output_dir={tmp_path / 'run'}"]) == 2
    assert message in capsys.readouterr().err
    assert not root.exists() and not (tmp_path / "run").exists()  # no dataset generated, no run folder
