"""RetinaNet with focal loss: the package, in layers. Nothing imports upward (tests/test_layers.py):

    core        config (defaults, type-checked merging, where config files are found), box geometry,
                typed batch/prediction structures, device, distributed, checkpoint, RNG and signal
                helpers: knows nothing else
    model | losses | data      each knows core only, never each other
    inference   post-processing, the restored Detector, ONNX / torch.export
    evaluation  COCO / VOC metrics, prediction over a dataset, figures, drawing, anchor coverage
    engine      builds a run from the config; the training loop; the run files
    analysis    imbalance instruments, sweeps, reports, the toy study
    api         the Python API: load + predict, train, evaluate
    cli         the ``focaldet`` command line (``python -m detector``), one module per subcommand

The API is also reachable from the top (imported on first use, so ``import detector`` stays light):

    import detector
    model = detector.load("runs/shapes_focal/best.pt")
    predictions = model.predict(["photo.jpg"])       # [{"boxes", "scores", "labels", "names"}]
    run = detector.train("shapes_quick", ["solver.max_iters=200"])
    result = detector.evaluate(run.run_dir / "best.pt")
    checked, cover = detector.scan("raccoon"), detector.anchors("raccoon")   # a dataset before training
    exported = detector.export(run.run_dir / "best.pt", "retinanet.onnx")
"""

from typing import Any

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("model", "losses", "data"),
    ("inference",),
    ("evaluation",),
    ("engine",),
    ("analysis",),
    ("api",),
    ("cli",),
)

__all__ = ["LAYERS", "AnchorCoverage", "Evaluation", "Export", "Prediction", "Predictor", "Scan", "TrainResult",
           "anchors", "detection_records", "evaluate", "export", "load", "scan", "train"]
_API = frozenset(__all__) - {"LAYERS"}


def __getattr__(name: str) -> Any:
    if name in _API:
        import detector.api  # the first use of the API loads torch and the layers below it

        return getattr(detector.api, name)
    raise AttributeError(f"module 'detector' has no attribute '{name}'")
