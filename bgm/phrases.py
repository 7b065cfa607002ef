"""Phrase form inside a part: which bars repeat or echo an earlier bar of the same part.

A tune people remember states an idea, says it again, departs and comes
back. Each part follows a plan over its bars: ``plan(bars)[b]`` is the bar
that bar ``b`` starts as a copy of, an ``Echo`` of the bar whose rhythm bar
``b`` keeps while the model writes new pitches to it, or ``None`` for a bar
the model writes freely. Copies are fed to the model as if it had chosen
them, so what it writes next follows on from them, and the free bar after a
copy is its variation (a a' b a''). Song form (verse, chorus, bridge) sits
above this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Echo:
    """A bar that keeps bar ``bar``'s rhythm (its onsets and their lengths) with new pitches."""

    bar: int


# 8 bars: A (bars 0-1), A' (0 again, then a new answer), B (free), A'' (0's rhythm, a new cadence).
# The return echoes bar 0 (a tune whose returns are literal, a reel's, copies it: ``plan``).
Plan = tuple[int | Echo | None, ...]
PLANS: dict[int, Plan] = {
    4: (None, None, 0, None),
    8: (None, None, 0, None, None, None, Echo(0), None),
    12: (None, None, 0, None, None, None, 4, None, None, None, Echo(0), None),
}


def plan(bars: int, literal_returns: bool = False) -> Plan:
    """The plan of a part of ``bars`` bars (free bars only when no plan fits); with
    ``literal_returns`` every echo is a copy."""
    chosen = PLANS.get(bars) or tuple(PLANS[8][b % 8] if bars >= 8 else None for b in range(bars))
    if literal_returns:
        return tuple(source.bar if isinstance(source, Echo) else source for source in chosen)
    return chosen


def _entry(plan_: Plan, step: int, bar: int) -> int | Echo | None:
    b = step // bar
    return plan_[b] if b < len(plan_) else None


def forced(tokens_so_far: Sequence[int], step: int, bar: int, plan_: Plan) -> int | None:
    """The token forced at ``step`` of a part by ``plan_`` (``None``: the model chooses)."""
    source = _entry(plan_, step, bar)
    return tokens_so_far[source * bar + step % bar] if isinstance(source, int) else None


def echoed(tokens_so_far: Sequence[int], step: int, bar: int, plan_: Plan) -> int | None:
    """The token whose rhythm ``step`` keeps under ``plan_`` (``None``: no echo here)."""
    source = _entry(plan_, step, bar)
    return tokens_so_far[source.bar * bar + step % bar] if isinstance(source, Echo) else None
