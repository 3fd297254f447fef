"""RetinaNet with focal loss: the package, in layers. Nothing imports upward (tests/test_layers.py):

    core        config, box geometry, typed batch/prediction structures, device, distributed,
                checkpoint, RNG and signal helpers: knows nothing else of the package
    model | losses | data      each knows core only, never each other
    inference   post-processing, the restored Detector, ONNX / torch.export
    evaluation  COCO / VOC metrics, prediction over a dataset, figures, drawing, anchor coverage
    engine      builds a run from the config; the training loop; the run files
    analysis    imbalance instruments, sweeps, reports
    scripts     train.py, evaluate.py, detect.py, scan.py, ... at the repository root (thin)
"""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("model", "losses", "data"),
    ("inference",),
    ("evaluation",),
    ("engine",),
    ("analysis",),
)
