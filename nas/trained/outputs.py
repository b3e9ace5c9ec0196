"""The files a command on trained networks writes into its ``--out`` folder: checked before any work (a folder that
cannot take them stops the command before it computes anything), written after it. JSON is written valid: a number
that is not finite (the PSNR of identical images) is null."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import InputError
from nas.json_values import jsonable

logger = logging.getLogger(__name__)


def json_text(record: dict[str, Any]) -> str:
    """``record`` as valid JSON: a number that is not finite (a PSNR of identical images) is null."""
    return json.dumps(jsonable(record), indent=2, allow_nan=False)


def output_folder(out: str | None, name: str) -> None:
    """Checks, before any work, that ``--out`` can take ``NAME.json`` and ``NAME.png`` (creating the folder).

    Raises:
        InputError: ``--out`` is a file or cannot be created, or one of the two outputs is a folder.
    """
    if out is None:
        return
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out} is a file; pass a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create the folder ({error.strerror}); pass a writable folder") from None
    for path in (folder / f"{name}.json", folder / f"{name}.png"):
        if path.is_dir():
            raise InputError(f"--out {out}: {path} is a folder; move it aside or pass another --out")


def write_outputs(out: str | None, name: str, record: dict, draw: Callable[[Path], None]) -> None:
    """With ``--out DIR``: ``DIR/NAME.json`` holds ``record`` and ``draw(DIR/NAME.png)`` draws the figure."""
    if out is None:
        return
    folder = Path(out)  # made by ``output_folder`` before the work
    (folder / f"{name}.json").write_text(json_text(record))
    draw(folder / f"{name}.png")
    logger.info("wrote %s.json and %s.png", folder / name, folder / name)
