"""The Python API: ``load`` a trained detector and ``predict``; ``train``; ``evaluate``.
Every ``focaldet`` subcommand that trains, evaluates or detects is one call of these."""

from detector.api.predictor import Prediction, Predictor, detection_records, load
from detector.api.runs import Evaluation, TrainResult, evaluate, train

__all__ = ["Evaluation", "Prediction", "Predictor", "TrainResult", "detection_records", "evaluate", "load", "train"]
