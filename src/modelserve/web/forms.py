"""Page forms (Flask-WTF: every form carries a CSRF token).

Each source of rows has a form, and a button, of its own: a chosen file or a typed row is
never passed over for another source.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField


class _ForModel(FlaskForm):
    # NAME or NAME:VERSION, as the page's model picker chose it.
    model = HiddenField()


class ModelDataForm(_ForModel):
    """The rows the model was trained and measured on (its bundle's copy)."""


class UploadForm(_ForModel):
    csv_file = FileField("CSV file")


class RowForm(_ForModel):
    row = StringField("Feature values, separated by commas")
