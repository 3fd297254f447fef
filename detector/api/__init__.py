"""The Python API: ``load`` a trained detector and ``predict``; ``train``; ``evaluate``; ``scan`` and
``anchors`` for a dataset; ``export``. Every ``focaldet`` subcommand but ``study`` and ``toy`` is one
call of these (``study`` and ``toy`` are the analysis layer's own)."""

from detector.api.datasets import AnchorCoverage, Scan, anchors, scan
from detector.api.exports import Export, export
from detector.api.predictor import Prediction, Predictor, detection_records, load
from detector.api.runs import Evaluation, TrainResult, evaluate, train

__all__ = ["AnchorCoverage", "Evaluation", "Export", "Prediction", "Predictor", "Scan", "TrainResult", "anchors",
           "detection_records", "evaluate", "export", "load", "scan", "train"]
