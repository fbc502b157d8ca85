"""multipart/form-data for flask-smorest: one request body of text parts and file parts.

webargs reads ``form`` and ``files`` as two locations, and flask-smorest documents only
one of them as the request body (the other is left as an invalid "in: files" parameter).
A multipart body is one thing on the wire, so it is one location here,
``form_and_files``: one schema loads its text parts and its files together (unknown
parts rejected), and the document shows one ``multipart/form-data`` body.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import fields
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from helpdesk.notify.attachments import Upload


class ApiParser(FlaskParser):
    __location_map__ = dict(FlaskParser.__location_map__, form_and_files="load_form_and_files")

    def load_form_and_files(self, req: Any, schema: Any) -> MultiDictProxy:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class Blueprint(SmorestBlueprint):
    """An API blueprint that also parses ``location="form_and_files"``."""

    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **SmorestBlueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, "form_and_files": "multipart/form-data",
    }


class UploadField(fields.Field):
    """One file part, loaded as an ``Upload`` (None for an empty file input)."""

    default_error_messages = {"invalid": "Send a file."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"type": "string", "format": "binary"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Upload | None:
        if not isinstance(value, FileStorage):
            raise self.make_error("invalid")
        if not value.filename:
            return None
        return Upload(filename=value.filename, data=value.read())
