"""The verdict words, defined once, for every effect or difference a report judges.

- *helps* / *hurts*: the (multiplicity-adjusted) interval excludes 0 and the effect is at least the margin;
- *no effect*: equivalent within ±margin by a two-one-sided test (TOST) at the same adjusted level, i.e. the
  1 - 2·alpha' interval lies inside ±margin;
- *inconclusive*: anything else.

A comparison of two genotypes (a confirmation) says the same in its own words: *better*, *worse*,
*equivalent*, *inconclusive*.
"""

from __future__ import annotations

HELPS, HURTS, NO_EFFECT, INCONCLUSIVE = "helps", "hurts", "no effect", "inconclusive"
AS_COMPARISON = {HELPS: "better", HURTS: "worse", NO_EFFECT: "equivalent", INCONCLUSIVE: "inconclusive"}


def classify(
    estimate: float,
    low: float,
    high: float,
    equivalence_low: float,
    equivalence_high: float,
    margin_db: float,
    gate_open: bool = True,
) -> str:
    """The verdict word of one effect; never helps/hurts when an omnibus gate before it is closed.

    Args:
        estimate: The effect, in dB.
        low: Low end of its adjusted interval.
        high: High end of its adjusted interval.
        equivalence_low: Low end of its 1 - 2·alpha' interval (the TOST's).
        equivalence_high: High end of that interval.
        margin_db: The smallest effect that matters.
        gate_open: Whether the omnibus test before it rejected (or there is none).
    """
    if gate_open and (low > 0 or high < 0) and abs(estimate) >= margin_db:
        return HELPS if estimate > 0 else HURTS
    if -margin_db < equivalence_low and equivalence_high < margin_db:
        return NO_EFFECT
    return INCONCLUSIVE
