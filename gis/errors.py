"""Generic domain errors for what has no capability-specific error: each names the field it is about.
The HTTP layer (api/errors.py) maps every domain error to one status in one table."""
from __future__ import annotations


class FieldError(ValueError):
    """A domain error about one named field; the message is `field: what is wrong`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class Invalid(FieldError):
    """A value that cannot be used (422)."""


class NotFound(LookupError):
    """Something asked for that does not exist (404); the message says what and why."""


class NotReady(RuntimeError):
    """What the record holds does not allow this yet, e.g. no walking network (409)."""


class TooLarge(FieldError):
    """A request over one of the service's size limits (413)."""
