"""Phrase form inside a part: which bars repeat an earlier bar of the same part.

A tune people remember states an idea, says it again, departs and comes
back. Each part follows a plan over its bars: ``plan(bars)[b]`` is the bar
that bar ``b`` starts as a copy of, or ``None`` for a bar the model writes
freely. The copies are fed to the model as if it had chosen them, so what it
writes next follows on from them, and the free bar after a copy is its
variation (a a' b a''). Song form (verse, chorus, bridge) sits above this.
"""

from __future__ import annotations

# 8 bars: A (bars 0-1), A' (0 again, then a new answer), B (free), A'' (0 again, a new cadence).
PLANS: dict[int, tuple[int | None, ...]] = {
    4: (None, None, 0, None),
    8: (None, None, 0, None, None, None, 0, None),
    12: (None, None, 0, None, None, None, 4, None, None, None, 0, None),
}


def plan(bars: int) -> tuple[int | None, ...]:
    """The plan of a part of ``bars`` bars (free bars only when no plan fits)."""
    if bars in PLANS:
        return PLANS[bars]
    return tuple(PLANS[8][b % 8] if bars >= 8 else None for b in range(bars))


def forced(tokens_so_far: list[int], step: int, bar: int, plan_: tuple[int | None, ...]) -> int | None:
    """The token forced at ``step`` of a part by ``plan_`` (``None``: the model chooses)."""
    b = step // bar
    source = plan_[b] if b < len(plan_) else None
    if source is None:
        return None
    return tokens_so_far[source * bar + step % bar]
