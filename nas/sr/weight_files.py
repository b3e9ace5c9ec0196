"""Weight files: reading state dicts safely, writing them with JSON metadata, and loading them into a network with
messages that say exactly what does not match (``nas.trained.checkpoints`` builds harness checkpoints on them)."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas import files, paths
from nas.errors import InputError

# Trainers wrap the state dict: BasicSR under "params"/"params_ema", Lightning and others under "state_dict".
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
LISTED_KEYS = 8
METADATA_KEY = "metadata"  # beside "state_dict" in files written by ``write``
HASH_KEY = "content_sha256"  # in the metadata: ``content_hash`` of the file as written
DEFAULT_HINT = "check --arch and --scale against the checkpoint"

# What torch's weights-only unpickler says when a file holds more than tensors and plain containers; its message
# goes on to advise weights_only=False, which would run the file's code, so it is never passed on.
WEIGHTS_ONLY_REFUSALS = ("Weights only load failed", "weights_only")
EXPORT_ADVICE = "torch.save(model.state_dict(), 'weights.pt') where the model was made"


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6: a zip archive
PICKLE_PROTOCOL = 0x80  # the first byte of a pickle of protocol 2 or later: torch.save's older format


def _load(given: str | Path) -> object:
    """``torch.load`` restricted to tensors and plain containers, its failures as one message. What is not a file
    torch.save writes (a device, a folder, random bytes, a file of zeros) is said so from the path and the file's
    first bytes, never by reading a large file whole."""
    fix = "pass the path of a .pt/.pth state dict"
    path = paths.existing_file(given, "checkpoint", fix)
    with path.open("rb") as handle:
        head = handle.read(len(ZIP_MAGIC))
    if not head:
        raise InputError(f"checkpoint {path} is empty (0 bytes); {fix}")
    if head != ZIP_MAGIC and head[0] != PICKLE_PROTOCOL:
        raise InputError(
            f"checkpoint {path} is not a file that torch.save writes (neither a zip archive nor a pickle; "
            f"{paths.file_size(path):,} bytes starting {head.hex(' ')}); {fix}"
        )
    try:
        with warnings.catch_warnings():  # torch's own warnings (an unusual pickle protocol) precede no message here
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file fails anywhere in torch's unpickler, with any exception type
        text = str(error).strip()
        if any(marker in text for marker in WEIGHTS_ONLY_REFUSALS) and "global" in text.lower():
            raise InputError(
                f"checkpoint {path} holds pickled Python code (classes or functions besides tensors), which the "
                f"harness never runs; export a plain state dict of tensors: {EXPORT_ADVICE}"
            ) from None
        if any(marker in text for marker in WEIGHTS_ONLY_REFUSALS):
            found = re.search(r"Unsupported operand \d+", text)
            what = found.group(0) if found else "not tensors and plain containers"
            raise InputError(
                f"checkpoint {path} is a pickle that torch's safe loader cannot read ({what}: damaged, or not written "
                f"by torch.save); {EXPORT_ADVICE}"
            ) from None
        first_line = text.splitlines()[0] if text else type(error).__name__
        raise InputError(
            f"cannot read checkpoint {path}: {first_line}; it must be a state dict saved with torch.save "
            "(re-download or re-export it)"
        ) from None


def _tensors(content: object, path: Path) -> dict[str, torch.Tensor]:
    state = content
    for key in WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"checkpoint {path} does not hold a state dict of tensors")
    # A diverged or damaged run's NaN/inf weights would score silently as garbage.
    broken = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if broken:
        raise InputError(
            f"checkpoint {path} holds NaN or infinite values in {_listing(broken)}; it comes from a diverged or "
            "damaged run: use another checkpoint"
        )
    return {key.removeprefix("module."): value for key, value in state.items()}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from common trainer containers; never runs pickled code.

    Raises:
        InputError: the file is missing or a directory, corrupt, not a state dict, needs code to load, or holds
            NaN or infinite values.
    """
    content = _load(path)
    return _tensors(content, Path(path))


def read_with_metadata(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of a checkpoint file and the JSON metadata saved with them by ``write`` (None if it has none).

    Raises:
        InputError: as ``read_state_dict``, or the metadata is not a JSON object.
    """
    content = _load(path)
    path = Path(path)
    metadata = None
    if isinstance(content, dict) and METADATA_KEY in content:
        try:
            metadata = json.loads(content[METADATA_KEY])
        except (TypeError, json.JSONDecodeError) as error:
            raise InputError(f"checkpoint {path}: its metadata is not valid JSON ({error}); save it again") from None
        if not isinstance(metadata, dict):
            raise InputError(f"checkpoint {path}: its metadata is not a JSON object; save it again")
    return _tensors(content, path), metadata


def write(path: str | Path, state: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Writes ``state`` (moved to the CPU) and JSON ``metadata`` in one file that ``read_with_metadata`` and
    ``torch.load(path, weights_only=True)`` read: ``{"state_dict": tensors, "metadata": JSON text}``. The metadata
    also gets ``HASH_KEY``: their ``content_hash``, so that an edit of either is found on load. The file is written
    as every file of the harness is (``nas.files.replace_with``): a symbolic link at ``path`` is replaced, its target
    kept."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    metadata = {**metadata, HASH_KEY: content_hash(tensors, metadata)}
    content = {"state_dict": tensors, METADATA_KEY: json.dumps(metadata)}
    files.replace_with(Path(path), lambda temporary: torch.save(content, temporary))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: a weights file named by its content, wherever it lies."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(state: dict[str, torch.Tensor], metadata: dict[str, Any]) -> str:
    """SHA-256 of ``metadata`` (as JSON, keys sorted, without ``HASH_KEY``) and of every tensor (name, dtype, shape
    and bytes, in name order): ``write`` stores it in the metadata, and a reader that computes it again finds any
    edit of the metadata or of the tensors since, such as a scale changed to another one the tensors also fit."""
    digest = hashlib.sha256()
    facts = {key: value for key, value in metadata.items() if key != HASH_KEY}
    # Through JSON and back, so the hash is the same before writing (tuples) and after reading (lists).
    digest.update(json.dumps(json.loads(json.dumps(facts)), sort_keys=True).encode())
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"\n{key} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def structure_hash(content: Any) -> str:
    """SHA-256 of a nested structure of dicts, lists, tensors and plain values (a resumable state: weights, Adam's
    moments, the schedule, generator states, counts): every key, type and value, every tensor's dtype, shape and
    bytes, dicts in key order. A reader that computes it again finds any edit since it was stored (a schedule's
    ``last_epoch``, a weight), whatever the file's bytes look like."""
    digest = hashlib.sha256()
    _digest_into(digest, content)
    return digest.hexdigest()


def _digest_into(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}:".encode())
        for key, item in sorted(value.items(), key=lambda pair: (type(pair[0]).__name__, repr(pair[0]))):
            digest.update(f"{type(key).__name__} {key!r}=".encode())
            _digest_into(digest, item)
    elif isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__} {len(value)}:".encode())
        for item in value:
            _digest_into(digest, item)
    else:  # str, int, float, bool, None, and anything else torch's weights-only loader gives back
        digest.update(f"{type(value).__name__} {value!r};".encode())


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:LISTED_KEYS])
    return shown + (f" and {len(keys) - LISTED_KEYS} more" if len(keys) > LISTED_KEYS else "")


def load_exactly(
    model: nn.Module, state: dict[str, torch.Tensor], source: str | Path, hint: str = DEFAULT_HINT
) -> None:
    """Loads every tensor of ``state`` into ``model``; any missing, unexpected or misshapen key is an error.

    Args:
        model: The network to fill.
        state: Its tensors.
        source: Where they came from, for the message.
        hint: What the user should check when they do not match.

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
        raise InputError(f"checkpoint {source} does not match the network ({'; '.join(problems)}); {hint}")
    model.load_state_dict(state)
