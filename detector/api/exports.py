"""A trained detector for deployment, from Python: what ``focaldet export`` runs.

    >>> exported = export("runs/shapes_focal/best.pt", "retinanet.onnx", check=["photo.jpg"])
    >>> exported.path, exported.check["max_box_diff"], exported.check["same_labels"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.core.errors import require_extra
from detector.inference.detector import load_detector
from detector.inference.export import compare_with_torch, export_onnx, export_program

FORMATS = ("onnx", "program")


@dataclass
class Export:
    path: Path  # the file written
    format: str  # "onnx" or "program" (torch.export)
    check: dict[str, Any] | None = None  # ONNX Runtime against PyTorch on the images checked, or None


def export(checkpoint: str | Path, output: str | Path, format: str = "onnx", opset: int = 18,
           check: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> Export:
    """Write ``checkpoint``'s network (on the CPU) to ``output``: ONNX (``opset``) or a torch.export
    program (``format="program"``). ``check``: images run through both ONNX Runtime and PyTorch, the
    largest differences returned. ONNX needs the ``export`` extra (a one-line error names it)."""
    if format not in FORMATS:
        raise ValueError(f"export format '{format}' is not one of {', '.join(FORMATS)}")
    if format == "onnx":  # torch's dynamo ONNX exporter needs onnx and onnxscript; the check runs ONNX Runtime
        for module in ("onnx", "onnxscript", *(["onnxruntime"] if check else [])):
            require_extra(module, "export")
    detector = load_detector(checkpoint, ["train.device=cpu", *overrides])
    if format == "program":
        return Export(export_program(detector, output), format)
    path = export_onnx(detector, output, opset)
    return Export(path, format, compare_with_torch(path, detector, [Path(p) for p in check]) if check else None)


__all__ = ["Export", "export"]
