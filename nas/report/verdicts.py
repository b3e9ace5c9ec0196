"""The verdict words, defined once: every word follows from one simultaneous interval [L, U] of the effect.

- *helps*: L > 0 (the interval excludes 0 above); *hurts*: U < 0. Their size is said only when the interval
  settles it: "by at least the margin" when the near end is beyond the margin (L >= margin, or U <= -margin),
  "by less than the margin" when the far end is within it (U < margin, or L > -margin): significant, too small
  to matter.
- *no effect*: the interval lies within ±margin (an equivalence test at the same level as the interval).
- *inconclusive*: anything else.
- *not drawn*: the arms behind the effect have not learned (their gain over bicubic upsampling is under the
  space's ``proxy.min_gain_db``): the interval is shown, no word is read from it, and a claim that needs it is not
  drawn either.

A comparison of two genotypes (a confirmation) says the same in its own words: *better*, *worse*,
*equivalent*, *inconclusive*; whether some of several genotypes beat a reference reads *yes* (one is better),
*no* (each is equivalent or worse) or *inconclusive*.

The claim of a tested block over depth groups (A2N's "attention helps only where it helps") reads the group
verdicts together; the intervals are simultaneous, so the group statements hold jointly:
*depth-selective* (some group helps by at least the margin and another reads no effect, or one helps and another
hurts: either way the two groups' intervals do not overlap), *helps everywhere*, *hurts everywhere*,
*no effect anywhere*, else *inconclusive*.

Attention *helps beyond capacity* when attention - none, attention - the capacity control (the same added
parameters) and attention - the mechanism control (the same block with a constant gate) all read *helps* (an
intersection-union test); without one of the controls it cannot be shown. In place of a trained parent's block with
a freshness control, the capacity leg is the fresh block - its fresh capacity control, both started fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nas.report import learned

HELPS, HURTS, NO_EFFECT, INCONCLUSIVE = "helps", "hurts", "no effect", "inconclusive"
NOT_DRAWN = learned.NOT_DRAWN
AT_LEAST_MARGIN, BELOW_MARGIN = "by at least the margin", "by less than the margin"
AS_COMPARISON = {
    HELPS: "better", HURTS: "worse", NO_EFFECT: "equivalent", INCONCLUSIVE: "inconclusive", NOT_DRAWN: NOT_DRAWN
}  # fmt: skip
DEPTH_SELECTIVE, HELPS_EVERYWHERE, HURTS_EVERYWHERE, NO_EFFECT_ANYWHERE = (
    "depth-selective",
    "helps everywhere",
    "hurts everywhere",
    "no effect anywhere",
)


@dataclass(frozen=True)
class Verdict:
    word: str  # helps | hurts | no effect | inconclusive
    size: str | None = None  # helps / hurts only: AT_LEAST_MARGIN, BELOW_MARGIN, or None where the interval straddles

    def text(self) -> str:
        return f"{self.word} {self.size}" if self.size else self.word

    def comparison_text(self) -> str:
        """The verdict of "genotype - reference": better / worse / equivalent / inconclusive, with its size."""
        word = AS_COMPARISON[self.word]
        return f"{word} {self.size}" if self.size else word


def classify(low: float, high: float, margin_db: float) -> Verdict:
    """The verdict of one effect from its simultaneous interval [``low``, ``high``] (dB), ``margin_db`` the smallest
    effect that matters."""
    if low > 0:
        return Verdict(HELPS, _size(low, high, margin_db))
    if high < 0:
        return Verdict(HURTS, _size(-high, -low, margin_db))
    if -margin_db < low and high < margin_db:
        return Verdict(NO_EFFECT)
    return Verdict(INCONCLUSIVE)


def _size(near: float, far: float, margin_db: float) -> str | None:
    """The size of a significant effect whose interval runs from ``near`` to ``far`` away from 0."""
    if near >= margin_db:
        return AT_LEAST_MARGIN
    if far < margin_db:
        return BELOW_MARGIN
    return None


def claim(group_verdicts: Sequence[Verdict], every_group: bool = True) -> str:
    """The claim of one block over its depth groups (each group's verdict on the same footing).

    ``every_group`` False: some groups were not tested (in a design of changes to a trained parent, a change that
    leaves the parent as it was); *everywhere* / *anywhere* then hold only at the groups tested, and say so.
    """
    words = [verdict.word for verdict in group_verdicts]
    if NOT_DRAWN in words:
        return NOT_DRAWN
    # Helping at one group and not at another must say the two differ, or it is a difference in significance only:
    # help by at least the margin beside no effect (L >= margin > U), or help beside hurt (L > 0 > U).
    settled = any(v.word == HELPS and v.size == AT_LEAST_MARGIN for v in group_verdicts)
    if (settled and NO_EFFECT in words) or (HELPS in words and HURTS in words):
        return DEPTH_SELECTIVE
    for word, everywhere in ((HELPS, HELPS_EVERYWHERE), (HURTS, HURTS_EVERYWHERE), (NO_EFFECT, NO_EFFECT_ANYWHERE)):
        if words and all(w == word for w in words):
            return everywhere if every_group else f"{word} at every group tested"
    return INCONCLUSIVE


def beyond(attention: Verdict, over_controls: Sequence[Verdict]) -> bool:
    """Whether attention helps beyond capacity: attention - none and its effect over each control (the capacity
    control, or in place of a trained parent's block the fresh block over its fresh capacity control; and the
    mechanism control) all read *helps*.

    An intersection-union test: each verdict holds at the family-wise level, so their conjunction does too.
    """
    return attention.word == HELPS and bool(over_controls) and all(v.word == HELPS for v in over_controls)


def beyond_text(shown: bool, missing: Sequence[str] = ()) -> str:
    """``helps beyond capacity``, that the data do not show it, or that a missing control keeps it from being shown."""
    if missing:
        return f"cannot be shown to help beyond capacity: no {' and no '.join(missing)}"
    return f"{HELPS} beyond capacity" if shown else "not shown to help beyond capacity"


def beats(comparisons: Sequence[Verdict]) -> str:
    """Whether some of the genotypes compared with one reference beat it: yes, no or inconclusive."""
    words = [verdict.word for verdict in comparisons]
    if NOT_DRAWN in words:  # a comparison that cannot be read leaves "no" unshown, and "yes" rests on the rest
        return "yes" if HELPS in words else NOT_DRAWN
    if HELPS in words:
        return "yes"
    if all(word in (NO_EFFECT, HURTS) for word in words):
        return "no"
    return INCONCLUSIVE
