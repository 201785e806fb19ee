"""Page forms (Flask-WTF: every form carries a CSRF token).

Each source of rows has a form, and a button, of its own: a chosen file or a typed row is
never passed over for another source.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField

# Each form also carries the model picked on its page, in a hidden `model` input its template
# writes: the pages read it as they read a GET request's `?model=`.


class ModelDataForm(FlaskForm):
    """The rows the model was trained and measured on (its bundle's copy)."""


class UploadForm(FlaskForm):
    csv_file = FileField("CSV file")


class RowForm(FlaskForm):
    row = StringField("Feature values, separated by commas")


class FeedbackForm(FlaskForm):
    """The true class of logged predictions, by their feedback key (``request_id,label[,row]``)."""

    labels_file = FileField("Feedback CSV file")
