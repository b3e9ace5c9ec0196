"""Reading checkpoints safely and loading them with messages that say exactly what does not match."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nas.errors import InputError

# Trainers wrap the state dict: BasicSR under "params"/"params_ema", Lightning and others under "state_dict".
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
LISTED_KEYS = 8


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from common trainer containers; never runs pickled code.

    Raises:
        InputError: the file is missing, corrupt, not a state dict, or needs code to load.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist; pass the path of a .pt/.pth state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file fails anywhere in torch's unpickler, with any exception type
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"cannot read checkpoint {path}: {first_line}; it must be a state dict saved with torch.save "
            "(re-download or re-export it)"
        ) from None
    for key in WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"checkpoint {path} does not hold a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:LISTED_KEYS])
    return shown + (f" and {len(keys) - LISTED_KEYS} more" if len(keys) > LISTED_KEYS else "")


def load_exactly(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Loads every tensor of ``state`` into ``model``; any missing, unexpected or misshapen key is an error.

    Raises:
        InputError: naming the missing, unexpected and misshapen keys.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if misshapen:
        problems.append(f"shape mismatches (checkpoint vs model): {_listing(misshapen)}")
    if problems:
        raise InputError(
            f"checkpoint {source} does not match the network ({'; '.join(problems)}); "
            "check --arch and --scale against the checkpoint"
        )
    model.load_state_dict(state)
