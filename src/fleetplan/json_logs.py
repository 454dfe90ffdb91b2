"""Server logs as JSON lines (`fleetplan gateway --json`, `fleetplan serve --json`): one object
per line on stderr, for log collectors; the message is folded onto one line."""

from __future__ import annotations

import json
import logging
from typing import Any


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message (`fleetplan gateway --json`)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": " ".join(record.getMessage().split()),
        }
        if record.exc_info:
            line["error"] = " ".join(self.formatException(record.exc_info).split())
        return json.dumps(line)


def json_log_config() -> dict[str, Any]:
    """logging.config for uvicorn and the router writing JSON lines to stderr."""
    handler = {"handlers": ["json"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLogFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {name: handler for name in ("uvicorn", "uvicorn.access", "fleetplan")},
    }
