"""The block catalogue shown by ``nas blocks``: what each registered block costs at a given width."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import blocks


@dataclass(frozen=True)
class BlockRow:
    """One block at one width.

    Attributes:
        name: Registry name.
        params: Parameter count with default options; None where the block cannot be built at this width.
        min_size: Smallest H and W the official structure accepts (smaller inputs are padded).
        quadratic: Memory grows with (H·W)².
        paper: Source paper.
        note: Why the block cannot be built at this width, else empty.
    """

    name: str
    params: int | None
    min_size: int
    quadratic: bool
    paper: str
    note: str = ""


@dataclass(frozen=True)
class Catalogue:
    """The registered blocks at one feature width, as ``nas blocks`` lists them."""

    channels: int
    rows: list[BlockRow]

    def to_json(self) -> dict[str, Any]:
        return {"channels": self.channels, "blocks": [asdict(row) for row in self.rows]}

    def to_text(self) -> str:
        """A fixed-width text table."""
        header = ("block", f"params@C={self.channels}", "min input", "memory", "source")
        lines = [
            (
                row.name,
                f"{row.params:,}" if row.params is not None else f"n/a ({row.note})",
                f"{row.min_size}x{row.min_size}",
                "O((HW)^2)" if row.quadratic else "O(HW)",
                row.paper,
            )
            for row in self.rows
        ]
        widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
            for cells in [header, *lines]
        )


def catalogue(channels: int) -> Catalogue:
    return Catalogue(channels, block_rows(channels))


def block_rows(channels: int) -> list[BlockRow]:
    """One row per registered block, in registry order."""
    rows = []
    for name in blocks.names():
        entry = blocks.spec(name)
        try:
            module = blocks.create(name, channels)
        except ValueError as error:
            rows.append(BlockRow(name, None, entry.min_size, entry.quadratic, entry.paper, str(error)))
            continue
        params = sum(p.numel() for p in module.parameters())
        rows.append(BlockRow(name, params, entry.min_size, entry.quadratic, entry.paper))
    return rows
