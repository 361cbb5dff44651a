"""The OGC exception: a status, an OGC code and a description that names the parameter."""
from __future__ import annotations


class OgcError(Exception):
    """An answer in the OGC exception form (`{"code", "description"}`) with its HTTP status."""

    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self) -> dict:
        """The JSON body OGC API clients expect for an exception."""
        return {"code": self.code, "description": self.description}


def bad_parameter(name: str, message: str) -> OgcError:
    """400 InvalidParameterValue naming the parameter."""
    return OgcError(400, "InvalidParameterValue", f"{name}: {message}")


def not_found(message: str) -> OgcError:
    """404 NotFound (an unknown collection, feature or generation)."""
    return OgcError(404, "NotFound", message)
