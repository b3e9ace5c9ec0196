"""Writing files that readers can trust: whole or not at all, and never through a symbolic link.

Every file the harness writes into a folder someone else may read at the same time (a study folder, an analysis's
``--out``) goes through here: text and figures are written beside their path and moved into place, so a reader (and
a run resumed after kill -9) never sees a partial file, and a symbolic link in the path's place is replaced, never
written through.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nas.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_DPI = 120


class LinkRefused(InputError):
    """A path the harness would write through is a symbolic link."""


def _temporary(path: Path) -> Path:
    """Where a file for ``path`` is written before it is moved or linked into place (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def replace_with(path: Path, write: Callable[[Path], object]) -> None:
    """Lets ``write`` make the file beside ``path``, then moves it into ``path``'s place in one step."""
    temporary = _temporary(path)
    write(temporary)
    os.replace(temporary, path)


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` so that readers (and a resumed run after kill -9) never see a partial file; a symbolic link
    in ``path``'s place is replaced, never written through."""
    replace_with(path, lambda temporary: temporary.write_text(text))


def save_figure(figure: Figure, path: Path) -> None:
    """Saves a matplotlib ``figure`` as a PNG at ``path`` as ``write_atomically`` writes text, and closes it."""
    import matplotlib.pyplot as plt

    replace_with(path, lambda temporary: figure.savefig(temporary, dpi=FIGURE_DPI, format="png"))
    plt.close(figure)


def create_exclusively(path: Path, text: str) -> bool:
    """Creates ``path`` holding ``text`` unless it exists (then False); readers never see it partly written."""
    temporary = _temporary(path)
    temporary.write_text(text)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def refuse_links(*paths: Path) -> None:
    """Raises:
    LinkRefused: one of ``paths`` is a symbolic link, which a write would follow out of its folder."""
    for path in paths:
        if path.is_symlink():
            raise LinkRefused(
                f"{path} is a symbolic link; the harness never writes through one (it could overwrite a file outside "
                "the study): remove the link, or move the study folder aside"
            )


def open_appending(path: Path, read: bool = False) -> TextIO:
    """``path`` opened to append text (and to read, with ``read``), created if missing; a symbolic link in its
    place is refused (``refuse_links``), also one made between the check and the open (``O_NOFOLLOW``)."""
    refuse_links(path)
    flags = (os.O_RDWR if read else os.O_WRONLY) | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, 0o644), "a+" if read else "a", newline="")
