"""Accuracy of the performance model against measurements, and calibration from them."""

from fleetplan.accuracy.predict import Prediction, predict_row, predict_rows
from fleetplan.accuracy.rows import ValidationRow, read_rows_csv, validation_set_path

__all__ = [
    "Prediction",
    "ValidationRow",
    "predict_row",
    "predict_rows",
    "read_rows_csv",
    "validation_set_path",
]
