"""Page forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectChoice, StringField

DATASET, UPLOAD, ROW = "dataset", "upload", "row"


class PredictionForm(FlaskForm):
    source = RadioField(
        "Rows to predict",
        choices=[
            SelectChoice(DATASET, "The configured dataset"),
            SelectChoice(UPLOAD, "An uploaded CSV file"),
            SelectChoice(ROW, "One row typed in"),
        ],
        default=DATASET,
    )
    csv_file = FileField("CSV file (features, optionally followed by the 0/1 label)")
    row = StringField(
        "Row (comma-separated features)", render_kw={"placeholder": "6,148,72,35,0,33.6,0.627,50"}
    )


class AccuracyForm(FlaskForm):
    source = RadioField(
        "Labelled rows",
        choices=[
            SelectChoice(DATASET, "The configured dataset"),
            SelectChoice(UPLOAD, "An uploaded labelled CSV file"),
        ],
        default=DATASET,
    )
    csv_file = FileField("Labelled CSV file (features, then the 0/1 label)")
