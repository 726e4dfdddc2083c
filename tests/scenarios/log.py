"""``logging``: a warning through a real file handler; the failing call is logging's own
``Handler.emit`` (``NotImplementedError`` for a handler without one)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tests.scenarios import Scenario


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


class WarningRecord(Scenario):
    label = "logging"
    fixture = "tmp_path"
    imports = ("logging",)
    span_name = "log"
    error_path = ("log",)
    error = NotImplementedError

    def call(self, target: Path) -> Any:
        logger = _logger("scenario.app", logging.FileHandler(target / "app.log"))
        logger.warning("order %s not found", 42)
        return (target / "app.log").read_text().splitlines()[-1]

    def failing_call(self, target: Path) -> Any:
        _logger("scenario.broken", logging.Handler()).warning("no emit")


SCENARIOS = [WarningRecord()]
