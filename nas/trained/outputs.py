"""The files a command on trained networks writes into its ``--out`` folder: checked before any work (a folder that
cannot take them stops the command before it computes anything), written after it. JSON is written valid: a number
that is not finite (the PSNR of identical images) is null. Every file is written as ``nas.files`` writes: beside its
path and moved into place, so a symbolic link in its place is replaced, its target kept."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas import files, paths
from nas.errors import InputError
from nas.json_values import jsonable

logger = logging.getLogger(__name__)


def json_text(record: dict[str, Any]) -> str:
    """``record`` as valid JSON: a number that is not finite (a PSNR of identical images) is null."""
    return json.dumps(jsonable(record), indent=2, allow_nan=False)


def output_folder(out: str | None, name: str) -> None:
    """Checks, before any work, that ``--out`` can take ``NAME.json`` and ``NAME.png`` (creating the folder).

    Raises:
        InputError: ``--out`` is empty, a file or cannot be created, or one of the two outputs is a folder or
            cannot be written there.
    """
    if out is None:
        return
    folder = checked_folder(out)
    for path in (folder / f"{name}.json", folder / f"{name}.png"):
        checked_file(out, path)


def checked_folder(out: str) -> Path:
    """``--out``, made if missing, checked to be a folder before any work.

    Raises:
        InputError: it is empty (the working folder, silently), a file, a device or a link loop, or cannot be made.
    """
    folder = paths.not_empty(out, "--out", "a folder such as results/exported")
    if os.path.lexists(folder) and not folder.is_dir():
        what = paths.kind(folder) or "is a file"
        raise InputError(f"--out {out} {what}; pass a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create the folder ({error.strerror}); pass a writable folder") from None
    return folder


def checked_file(out: str, path: Path) -> None:
    """Raises:
    InputError: ``path``, a file a command writes in ``--out``, is a folder, a device or a pipe, or the folder
    takes no file (``nas.files.check_writable``). A symbolic link there is replaced when written, its target kept."""
    if path.is_dir() and not path.is_symlink():
        raise InputError(f"--out {out}: {path} is a folder; move it aside or pass another --out")
    files.check_writable(path, f"--out {out}:", path.name)


def write_outputs(out: str | None, name: str, record: dict, draw: Callable[[Path], None]) -> None:
    """With ``--out DIR``: ``DIR/NAME.json`` holds ``record`` and ``draw(DIR/NAME.png)`` draws the figure (each
    written beside its path and moved into place, ``nas.files``: a link there is replaced, never written through)."""
    if out is None:
        return
    folder = Path(out)  # made by ``output_folder`` before the work
    files.write_atomically(folder / f"{name}.json", json_text(record))
    draw(folder / f"{name}.png")
    logger.info("wrote %s.json and %s.png", folder / name, folder / name)
