"""Page forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, StringField

try:  # WTForms 3.3 and later deprecate (value, label) pairs
    from wtforms import SelectChoice as Choice
except ImportError:  # the WTForms releases Python 3.10 still gets

    def Choice(value: str, label: str) -> tuple[str, str]:  # noqa: N802 - stands in for a class
        return (value, label)


DATASET, UPLOAD, ROW = "dataset", "upload", "row"


class PredictionForm(FlaskForm):
    source = RadioField(
        "Rows to predict",
        choices=[
            Choice(DATASET, "The configured dataset"),
            Choice(UPLOAD, "An uploaded CSV file"),
            Choice(ROW, "One row typed in"),
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
            Choice(DATASET, "The configured dataset"),
            Choice(UPLOAD, "An uploaded labelled CSV file"),
        ],
        default=DATASET,
    )
    csv_file = FileField("Labelled CSV file (features, then the 0/1 label)")
