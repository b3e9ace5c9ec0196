"""Whether a proxy has learned: its networks' gain over bicubic upsampling of the validation images, read against
the space's ``proxy.min_gain_db``.

A network that has not beaten interpolation by that much measures how fast a block starts learning, not whether it
helps a network that super-resolves, so no verdict rests on it: a designed effect, a claim, a confirmation's
comparison, the search's front composition and its band answers each say "not drawn" and why, never "no effect" or
"inconclusive".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

NOT_DRAWN = "not drawn"


def short_of_gain(gains: Mapping[str, float], min_gain_db: float, what: str = "these networks") -> str | None:
    """Why no verdict may rest on the networks ``gains`` names (label → mean gain over bicubic, dB): one is under
    ``min_gain_db`` or its gain is unknown; None when every one reaches it."""
    if all(np.isfinite(gain) and gain >= min_gain_db for gain in gains.values()):
        return None
    known = {label: gain for label, gain in gains.items() if np.isfinite(gain)}
    if len(known) < len(gains):
        unknown = ", ".join(label for label in gains if label not in known)
        return f"{NOT_DRAWN}: the gain over bicubic of {unknown} is unknown (the validation images cannot be read)"
    low, high = min(known.values()), max(known.values())
    spread = f"{low:+.2f} dB" if len(known) == 1 else f"{low:+.2f} to {high:+.2f} dB"
    weakest = min(known, key=known.__getitem__)
    return (
        f"{NOT_DRAWN}: {what} score {spread} over bicubic (the weakest: {weakest}), under the {min_gain_db:g} dB this "
        "space asks of a proxy that has learned (proxy.min_gain_db)"
    )


def with_gain(frame: pd.DataFrame, floor_db: float | None) -> pd.DataFrame:
    """``frame`` (rows with ``psnr``) with ``gain_db`` over bicubic: as recorded, else PSNR minus ``floor_db`` (the
    space's floor, for trials recorded before trainings stated theirs; None: unknown)."""
    recorded = (
        pd.to_numeric(frame["gain_db"], errors="coerce") if "gain_db" in frame else pd.Series(np.nan, frame.index)
    )
    if floor_db is not None:
        recorded = recorded.fillna(pd.to_numeric(frame["psnr"], errors="coerce") - floor_db)
    return frame.assign(gain_db=recorded)
