"""The training step never waits for the device: no op that reads a tensor's value on the host
(``.item()``, ``bool()``, boolean-mask indexing, ``nonzero``...) runs between synchronisation
points, and the criterion and the model forward compile as single graphs.

On the CPU every read is free, so the step is watched at the ATen level for the ops that would
synchronise a GPU; ``tests/engine/test_cuda.py`` runs the same steps under CUDA's own sync check.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from detector.core.config import load_config
from detector.engine.setup import build_trainer
from detector.losses.criterion import build_criterion
from detector.model.retinanet import build_model
from tests.conftest import small_model_cfg, tiny_config

aten = torch.ops.aten
# ops whose result size or value the host must know: each is a device -> host wait on a GPU
SYNCING = {aten._local_scalar_dense.default, aten.nonzero.default, aten.masked_select.default,
           aten._unique2.default, aten.unique_dim.default, aten.unique_consecutive.default,
           aten.bincount.default, aten.equal.default, aten.is_nonzero.default, aten.argwhere.default,
           aten.repeat_interleave.Tensor}
BOOL_INDEXED = {aten.index.Tensor, aten.index_put_.default, aten.index_put.default, aten._index_put_impl_.default}


class SyncWatch(TorchDispatchMode):
    """Records every op run inside it that would make the host wait for a GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNCING:
            self.found.append(str(func))
        elif func in BOOL_INDEXED and any(i is not None and i.dtype == torch.bool for i in args[1]):
            self.found.append(f"{func} with a boolean mask")
        return func(*args, **(kwargs or {}))


def test_the_watch_sees_what_would_synchronise():
    x = torch.rand(8)
    with SyncWatch() as watch:
        x.sum().item(), bool(x[0] > 0), x[x > 0.5], torch.nonzero(x)
        x[x > 0.9] = 0
    assert len(watch.found) == 5, watch.found


@pytest.mark.parametrize("loss", ["focal", "ohem", "ghm", "qfl", "efl"])
def test_training_steps_read_nothing_from_the_device(tmp_path, loss):
    cfg = tiny_config(tmp_path)
    cfg.loss.cls, cfg.loss.box, cfg.loss.normalizer_momentum = loss, "giou" if loss == "qfl" else "smooth_l1", 0.9
    cfg.solver.clip_grad_norm = 10.0
    trainer = build_trainer(cfg)
    batches = iter(trainer.batches())
    for _ in range(2):
        batch = next(batches)  # the loader reads files and its own indices; only the step is watched
        with SyncWatch() as watch:
            trainer.train_step(*batch)
        trainer.step += 1
        assert watch.found == [], watch.found
    trainer.settle()  # the one read, at the synchronisation point
    assert trainer.skipped == 0


@pytest.mark.parametrize("loss,box", [("focal", "smooth_l1"), ("bce", "l1"), ("ohem", "smooth_l1"),
                                      ("ghm", "smooth_l1"), ("qfl", "giou"), ("efl", "smooth_l1")])
def test_criterion_compiles_as_one_graph(loss, box):
    cfg = load_config(None, [f"loss.cls={loss}", f"loss.box={box}", "loss.normalizer_momentum=0.9"])
    criterion = build_criterion(cfg.loss, cfg.matcher)
    torch.manual_seed(0)
    model = build_model(small_model_cfg(), 3)
    preds = model(torch.rand(2, 3, 64, 64))
    targets = {"boxes": torch.tensor([[[8.0, 8, 40, 40], [0, 0, 0, 0]], [[20, 10, 60, 50], [4, 4, 30, 30]]]),
               "labels": torch.tensor([[0, 0], [1, 2]]), "valid": torch.tensor([[True, False], [True, True]]),
               "crowd": torch.tensor([[False, False], [False, True]])}
    expected, _ = criterion(preds, targets)
    torch._dynamo.reset()
    compiled = torch.compile(lambda p, t: criterion(p, t), fullgraph=True, backend="eager")  # a break raises
    losses, stats = compiled(preds, targets)
    for key in expected:
        torch.testing.assert_close(losses[key], expected[key])
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.cls_head.parameters())


def test_model_forward_compiles_as_one_graph():
    torch.manual_seed(0)
    model = build_model(small_model_cfg(), 3).train()
    images = torch.rand(2, 3, 64, 64)
    expected = model(images)
    torch._dynamo.reset()
    preds = torch.compile(model, fullgraph=True, backend="eager")(images)
    torch.testing.assert_close(preds["cls_logits"], expected["cls_logits"])
    torch.testing.assert_close(preds["anchors"], expected["anchors"])
