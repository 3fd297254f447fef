"""What a run leaves behind: TensorBoard events (read back) and the run files, on rank 0 only."""

import json

import matplotlib.pyplot as plt
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detector.core.config import Config, load_config
from detector.engine.logger import Logger
from detector.engine.run_files import RunFiles


def test_logger_writes_scalars_images_and_figures_that_tensorboard_reads(tmp_path):
    logger = Logger(tmp_path, total_steps=4, start_step=0)
    logger.step(1, {"loss/total": 2.5}, {"loss": 2.5}, log=True)
    logger.step(2, {"loss/total": 9.0}, {"loss": 9.0}, log=False)  # not a log step: bar only
    logger.scalars(2, {"AP": 0.25}, "metrics")
    det = {"boxes": torch.tensor([[2.0, 2, 20, 20]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}
    logger.images(2, [torch.rand(3, 32, 32)], [det], ["cat"])
    logger.figures(2, {"pr_curves": plt.figure()})
    logger.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss/total")] == [(1, 2.5)]
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("metrics/AP")] == [(2, 0.25)]
    assert set(events.Tags()["images"]) == {"val/predictions_0", "eval/pr_curves"}


def test_disabled_logger_and_run_files_write_nothing(tmp_path):
    logger = Logger(tmp_path / "a", 1, 0, enabled=False)
    logger.step(1, {"x": 1.0}, {}, log=True)
    logger.close()
    files = RunFiles(tmp_path / "b", enabled=False)
    files.log({"step": 1})
    files.metrics({"AP": 1.0})
    files.config(Config())
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_run_files_append_logs_write_config_and_metrics_and_prune(tmp_path):
    files = RunFiles(tmp_path / "run")
    files.log({"step": 1, "loss": 2.0})
    path = files.log({"step": 2, "loss": 1.0})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    files.nonfinite({"step": 3, "what": "loss"})
    files.metrics({"AP": 0.5})
    cfg = Config()
    cfg.solver.lr = 0.123
    files.config(cfg)
    assert load_config(tmp_path / "run" / "config.yaml").solver.lr == 0.123
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {"AP": 0.5}
    assert json.loads((tmp_path / "run" / "nonfinite.jsonl").read_text())["what"] == "loss"
    for step in (1, 2, 3):
        files.checkpoint({"step": step}, f"step_{step:08d}.pt")
    files.prune("step_*.pt", keep=2)
    assert sorted(p.name for p in (tmp_path / "run").glob("step_*.pt")) == ["step_00000002.pt", "step_00000003.pt"]


def test_rewind_drops_the_records_a_resume_will_write_again(tmp_path):
    files = RunFiles(tmp_path)
    for step in (20, 40, 60, 80):
        files.log({"step": step, "loss/total": 1.0})
    files.nonfinite({"step": 70, "what": "loss"})
    files.rewind(50)  # resumed from a checkpoint at step 50
    assert [json.loads(line)["step"] for line in (tmp_path / "train_log.jsonl").read_text().splitlines()] == [20, 40]
    assert (tmp_path / "nonfinite.jsonl").read_text() == ""
    RunFiles(tmp_path / "fresh").rewind(10)  # nothing logged yet: nothing to do
