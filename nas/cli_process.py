"""How a ``nas`` command runs as a process: its messages on stderr, SIGTERM taken as Ctrl-C, and an error raised
while a stop unwinds read as that stop."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


class CommandFormatter(logging.Formatter):
    """The harness's messages as this command says them: ``nas COMMAND: [warning: ]message``."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.prefix = f"nas {command}: "

    def format(self, record: logging.LogRecord) -> str:
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.prefix}{level}{record.getMessage()}"


@contextlib.contextmanager
def messages_said(command: str, verbosity: int) -> Iterator[None]:
    """While a command runs, the library's messages (loggers under ``nas``) go to stderr prefixed with the command,
    and only there; afterwards the ``nas`` logger is as it was (a caller embedding ``main`` keeps its own setup)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandFormatter(command))
    logger = logging.getLogger("nas")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(verbosity)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, a job scheduler) stops as cleanly as Ctrl-C


def raised_while_stopping(error: BaseException) -> bool:
    """Whether ``error`` was raised while a stop (Ctrl-C, SIGTERM) unwound: a library releasing a lock or a file
    the interrupt left half-done can fail on it, and that failure is the stop's, not a crash of its own."""
    seen = error.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False
