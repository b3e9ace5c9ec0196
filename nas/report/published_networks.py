"""Published lightweight ×2 SR networks: reference costs for a ×2 study's front, with their papers' Set5 PSNR.

Their PSNRs come from full training (DIV2K, hundreds of thousands of iterations); a proxy PSNR comes from a short
training validated on the space's images, so the two are not on one axis. The networks are therefore drawn as
cost markers (vertical lines on the front's cost axis), and their PSNRs are only listed. Their MACs use the
convention of this harness (multiply-adds for a 1280×720 HR output, one MAC per multiply-add); each source counts
convolutions only, where the harness also counts attention's matrix products, so a network of this harness with
attention counts slightly more than its papers would say. A2N's numbers are the harness's own count of the
released network (its tests check them against ``nas.core.counting``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas.core.objectives import COUNTED_COSTS, OBJECTIVES

SCALE = 2  # every number below is the ×2 network's


@dataclass(frozen=True)
class PublishedNetwork:
    name: str
    set5_psnr_db: float  # Y channel, border = scale, full training, as published
    params: float
    macs: float  # multiply-adds for a 1280×720 HR output
    source: str


FALSR_SOURCE = (
    "Chu et al., arXiv 1901.07261; table of github.com/xiaomi-automl/FALSR (MACs for a 480×480 input: 640×360's pixels)"
)
PAPER_NETWORKS = (
    PublishedNetwork("CARN", 37.76, 1_592e3, 222.8e9,
                     "Ahn et al., ECCV 2018; results table of github.com/nmhkahn/CARN-pytorch (its parameters hold "
                     "the ×2, ×3 and ×4 upsamplers of one multi-scale network)"),
    PublishedNetwork("FALSR-A", 37.82, 1_021e3, 234.7e9, FALSR_SOURCE),
    PublishedNetwork("FALSR-B", 37.61, 326e3, 74.7e9, FALSR_SOURCE),
    PublishedNetwork("FALSR-C", 37.66, 408e3, 93.7e9, FALSR_SOURCE),
    PublishedNetwork("IMDN", 38.00, 694e3, 158.8e9,
                     "Hui et al., ACM MM 2019; PSNR and parameters from github.com/Zheng222/IMDN, MACs as SwinIR "
                     "(Liang et al., ICCVW 2021) Table 3 quotes them"),
    PublishedNetwork("PAN", 38.00, 261e3, 70.5e9,
                     "Zhao et al., ECCVW 2020 (arXiv 2010.01073); PSNR from the ×2 test log of "
                     "github.com/zhaohengyuan1/PAN, MACs as that code counts them (test_summary.py, 720p output)"),
    PublishedNetwork("A2N", 38.06, 1_036_443, 247.514e9,
                     "Chen et al., arXiv 2104.09497; PSNR reproduced and cost counted by this harness from the "
                     "released weights (`nas cost --genotype a2n`)"),
)  # fmt: skip


def networks(scale: int) -> tuple[PublishedNetwork, ...]:
    """The published networks of ``scale`` (none but ×2 are listed), cheapest first."""
    return tuple(sorted(PAPER_NETWORKS, key=lambda network: network.macs)) if scale == SCALE else ()


def markers(scale: int, cost: str, ceiling: float) -> list[tuple[str, float]]:
    """(label, cost) of every published network of ``scale`` whose ``cost`` is within ``ceiling``: the vertical lines
    of a front figure (beyond the space's ceiling they would only stretch its axis). Only counted costs: the papers
    publish those too, and a latency of theirs was measured on no machine of ours."""
    if cost not in COUNTED_COSTS:
        return []
    return [(n.name, getattr(n, cost)) for n in networks(scale) if getattr(n, cost) <= ceiling]


def table_lines(scale: int, cost: str, ceiling: float) -> list[str]:
    """The report's lines on the published networks: what they are, why cost markers only, and their table with
    whether each is drawn on the ``cost`` figure (within ``ceiling``, the space's ceiling of that cost)."""
    listed = networks(scale)
    if not listed:
        return []
    divisor, prefix = OBJECTIVES["macs"].text_scale
    drawn = {name for name, _ in markers(scale, cost, ceiling)}
    if cost not in COUNTED_COSTS:
        where = f" No {cost} is published for them, so none is drawn on the {cost} figure."
    elif not drawn:
        where = (f" None is within the space's {cost} ceiling, so none is drawn on the {cost} figure: every "
                 "published network is larger than this space's.")  # fmt: skip
    else:
        where = ""
    lines = [
        f"Published lightweight ×{scale} networks (reference costs, not proxy results): their Set5 PSNRs come from "
        "full training (each paper's own Y-channel convention), a proxy PSNR from a short one, so they are not on one "
        f"axis: the MACs and parameter figures draw each network as a vertical line at its cost where it is within "
        f"the space's ceiling, and the PSNRs below are the papers'.{where}",
        f"| network | Set5 ×2 PSNR (paper) | params | MACs (1280×720 HR) | on the {cost} figure | source |",
        "|---|---|---|---|---|---|",
    ]
    for network in listed:
        lines.append(
            f"| {network.name} | {network.set5_psnr_db:.2f} dB | {network.params / 1e3:,.0f}K | "
            f"{network.macs / divisor:.1f}{prefix} | {'yes' if network.name in drawn else 'no'} | {network.source} |"
        )
    return lines
