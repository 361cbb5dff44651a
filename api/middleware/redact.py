"""No API key in any log line: a logging filter that masks `api_key=...` and `wg_...` tokens, and the
log configuration `wangge serve` hands to uvicorn with that filter on every handler (access log too)."""
from __future__ import annotations

import copy
import logging
import re

_IN_URL = re.compile(r"(api_key=)[^&\s\"'#]*", re.IGNORECASE)
_TOKEN = re.compile(r"\bwg_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """`text` with every key in a URL (`api_key=***`) and every bare key (`wg_***`) masked."""
    if "wg_" not in text and "api_key" not in text.lower():
        return text
    return _TOKEN.sub("wg_***", _IN_URL.sub(r"\1***", text))


def _clean(value):
    return redact(value) if isinstance(value, str) else value


class RedactKeys(logging.Filter):
    """Mask keys in a record's message and arguments (uvicorn's access line is built from its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def log_config() -> dict:
    """uvicorn's default logging configuration with `RedactKeys` on every handler, and the application's
    own loggers (warnings and up) sent through the same filtered handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_keys": {"()": "api.middleware.redact.RedactKeys"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_keys"]
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
