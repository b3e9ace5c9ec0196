"""A training run's progress on stderr: a tqdm bar on an interactive terminal, plain lines in logs and pipes."""

from __future__ import annotations

import sys
import time
from typing import Any

PROGRESS_LINES = 10  # plain progress lines per run where no terminal shows a bar (logs, pipes)


def progress_bar(total: int, label: str, lines: bool = False, start: int = 0) -> Any:
    """A tqdm bar on an interactive terminal; else plain lines if ``lines``, else None (no output). ``start``: the
    iterations done before (a resumed run)."""
    if not sys.stderr.isatty():
        return ProgressLines(total, label, start) if lines else None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=label, leave=False, unit="it")


class ProgressLines:
    """Progress as plain stderr lines, about every tenth of a run: for logs and pipes, where a bar is unreadable.

    Has the part of tqdm's interface the trainer uses (``n``, ``update``, ``set_postfix``, ``close``).
    """

    def __init__(self, total: int, label: str, start: int = 0) -> None:
        self.total = total
        self.label = label
        self.n = start
        self.start = time.perf_counter()
        self.every = max(1, total // PROGRESS_LINES)
        self.next_line = (start // self.every + 1) * self.every  # the lines an unbroken run would print
        resuming = f", resuming at iteration {start}" if start else ""
        print(f"{label}: training {total} iterations{resuming}", file=sys.stderr, flush=True)

    def update(self, steps: int) -> None:
        self.n += steps

    def set_postfix(self, loss: str) -> None:
        if self.n < self.next_line and self.n < self.total:
            return
        self.next_line = self.n + self.every
        percent = 100 * self.n // self.total
        elapsed = time.perf_counter() - self.start
        line = f"{self.label}: iteration {self.n}/{self.total} ({percent}%), loss {loss}, {elapsed:.0f} s"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Nothing to tidy: every line is already complete."""
