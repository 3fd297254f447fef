"""Non-finite losses and gradients found on the device, without synchronising the host each step.

Each step's verdict stays a device tensor: the optimiser skips the update on the device (the
``found_inf`` of the fused optimisers, the mechanism ``torch.amp.GradScaler`` uses), and the
verdicts are read together at the trainer's next synchronisation point (a log, checkpoint or
evaluation step), where the offending steps are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from detector.core.distributed import current, gather_lists


@dataclass
class _Step:
    step: int
    flags: Tensor  # (2,) bool on the device: loss non-finite, gradient non-finite
    terms: dict[str, Tensor]  # loss terms and grad_norm, scalars on the device
    image_ids: Tensor  # (N,) on the CPU, as the loader gave them


class NonFiniteWatch:
    """Collects each step's finiteness verdict; ``settle`` reads them all with one synchronisation."""

    def __init__(self) -> None:
        self.pending: list[_Step] = []

    def check(self, step: int, losses: dict[str, Tensor], grad_norm: Tensor | None, image_ids: Tensor) -> Tensor:
        """The verdict of ``step`` (1-based) as a () float tensor on the device, 1.0 when the total
        loss or ``grad_norm`` (None: not checked) is not finite; kept until ``settle``."""
        total = torch.stack([v.detach() for v in losses.values()]).sum()
        bad_loss = ~torch.isfinite(total)
        bad_grad = ~torch.isfinite(grad_norm) if grad_norm is not None else torch.zeros_like(bad_loss)
        terms = {k: v.detach() for k, v in losses.items()}
        if grad_norm is not None:
            terms["grad_norm"] = grad_norm.detach()
        self.pending.append(_Step(step, torch.stack([bad_loss, bad_grad]), terms, image_ids))
        return (bad_loss | bad_grad).float()

    def settle(self) -> list[dict[str, Any]]:
        """Records of the pending steps that were not finite on any process ({"step", "what",
        loss terms, "grad_norm", "image_ids" of all processes}), oldest first; clears the pending."""
        pending, self.pending = self.pending, []
        if not pending:
            return []
        flags = torch.stack([p.flags for p in pending]).int()  # (S, 2)
        if current().world > 1:  # every process reports (and skips) the same steps
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        records = []
        for p, row in zip(pending, flags.tolist()):  # the one host synchronisation
            if not any(row):
                continue
            terms = {k: float(v) for k, v in p.terms.items()}
            records.append({"step": p.step, "what": "loss" if row[0] else "gradient", **terms,
                            "image_ids": gather_lists(p.image_ids.tolist())})
        return records


def step_unless(optimizer: torch.optim.Optimizer, found_inf: Tensor) -> None:
    """``optimizer.step()``, skipped on the device where ``found_inf`` (a () float tensor) is 1.

    Fused optimisers (``fused=True``) take ``found_inf`` in their kernels, so nothing waits for
    the verdict; any other optimiser reads it on the host first.
    """
    if optimizer.defaults.get("fused"):
        fused: Any = optimizer  # the fused kernels read these two attributes, which Optimizer does not declare
        fused.found_inf, fused.grad_scale = found_inf, None
        try:
            optimizer.step()
        finally:
            del fused.found_inf, fused.grad_scale
    elif not bool(found_inf):
        optimizer.step()
