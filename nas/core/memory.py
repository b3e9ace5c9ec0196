"""Whether a training batch fits the device's memory: a lower bound checked before any work, and torch's report of
an allocation that failed, both said as one message that names what to lower."""

from __future__ import annotations

import torch

from nas.core.genotypes import Genotype
from nas.core.precision import uses_bf16
from nas.core.settings import ProxyBudget
from nas.errors import InputError

MEMORY_HINT = (
    "lower the batch or the patch size (proxy.batch_size, proxy.patch_size; nas train: --batch-size, --patch-size)"
)
# What torch says when an allocation fails: torch.OutOfMemoryError on CUDA, the CPU allocator's RuntimeError.
OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "Cannot allocate memory")


class OutOfMemory(InputError):
    """A training batch that does not fit the device's memory; the message says what to lower."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is torch's report of an allocation that failed."""
    return isinstance(error, torch.OutOfMemoryError) or any(text in str(error) for text in OUT_OF_MEMORY)


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def batch_memory_floor(genotype: Genotype, budget: ProxyBudget, device: str) -> int:
    """A lower bound on the bytes one training iteration holds at once: the feature maps that backward needs and
    that no block can do without (the stem's output, each slot's output and the trunk conv's, at the training
    precision) and the HR patches, the output and its gradient in float32. Every block keeps more than this."""
    lr_pixels = budget.batch_size * budget.patch_size**2
    element = 2 if uses_bf16(device) else 4
    features = lr_pixels * genotype.channels * element * (len(genotype.blocks) + 2)
    images = 3 * lr_pixels * genotype.scale**2 * 3 * 4
    return features + images


def available_memory(device: str) -> int | None:
    """Bytes free for a training on ``device``: the GPU's free memory, or the kernel's MemAvailable on a Linux CPU;
    None where it cannot be told."""
    if torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(genotype: Genotype, budget: ProxyBudget, device: str) -> None:
    """Raises:
    OutOfMemory: a lower bound on a training batch's memory (``batch_memory_floor``) exceeds what ``device`` has
    free, so the training could only fail, after its data are read (checked before any work)."""
    need, free = batch_memory_floor(genotype, budget, device), available_memory(device)
    if free is not None and need > free:
        raise OutOfMemory(
            f"a training batch of {budget.batch_size} patches of {budget.patch_size}² LR pixels (×{genotype.scale}) "
            f"needs at least {need / 2**30:.1f} GiB at once, and {device} has {free / 2**30:.1f} GiB free; "
            f"{MEMORY_HINT}"
        )
