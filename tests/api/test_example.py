"""docs/api.md's example runs as written, in a fresh folder, and its objects are what the page says."""

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    page = (ROOT / "docs" / "api.md").read_text()
    example = re.search(r"## An example you can run.*?```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(example, "docs/api.md", "exec"), scope)
    run, predictions, evaluation = scope["run"], scope["predictions"], scope["evaluation"]
    assert run.run_dir == Path("runs/api_example") and (run.run_dir / "best.pt").is_file()
    assert set(run.metrics["per_class_AP"]) == {"circle", "square", "triangle"} and run.metrics["step"] == 20
    assert len(predictions) == 2
    for out in predictions:
        assert out["boxes"].dtype == torch.float32 and out["boxes"].shape[1:] == (4,)
        assert (out["scores"] >= 0.1).all() and set(out["labels"].tolist()) <= {1, 2, 3}
        assert len(out["names"]) == len(out["scores"])
    # the same weights on the same 16 images (training evaluated in channels_last: last digits differ)
    assert len(evaluation.dataset) == 16 and evaluation.result.stats["AP"] == pytest.approx(run.metrics["AP"], abs=1e-3)
    assert (evaluation.output / "eval_metrics.json").is_file()
    assert "runs/api_example" in capsys.readouterr().out
