"""Where a song repeats itself: the spans it is synthesised in, each distinct one once.

The form plays the chorus three times note for note (the last time ending on the tonic), and
synthesis is the slowest step of making a song. Synthesis and its reverb and chorus are linear and
do not depend on when a note is played, so a span rendered once with its tail (releases and reverb)
and added in wherever it occurs sounds as the song rendered whole: each tail rings over the next
span as it would have. What is not linear in FluidSynth (a note struck again ending its own release,
a closed hi-hat choking an open one) can only differ for the few notes ringing across a join.

Spans are the form's sections. Two sections of one length that agree on their first bars are both
cut where they part: the three choruses share their first bars, and only the last one's final bar
is rendered apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgm.arrangement import Arrangement, Note, Track
from bgm.form import Section


@dataclass(frozen=True)
class Span:
    start: int  # step
    steps: int

    @property
    def end(self) -> int:
        return self.start + self.steps


@dataclass(frozen=True)
class Plan:
    renders: tuple[Span, ...]  # the distinct spans, each synthesised once
    places: tuple[tuple[int, int], ...]  # (index into renders, start step): every span of the song

    @property
    def rendered_steps(self) -> int:
        return sum(span.steps for span in self.renders)


def content(arrangement: Arrangement, span: Span) -> tuple:
    """What sounds in ``span``: per track, the notes that start in it, timed from its start."""
    return (span.steps,) + tuple(
        tuple((n.start - span.start, n.steps, n.pitch, n.velocity) for n in notes_in(t, span))
        for t in arrangement.tracks
    )


def notes_in(track: Track, span: Span) -> list[Note]:
    """The notes of ``track`` that start in ``span`` (they may ring past its end)."""
    return [n for n in track.notes if span.start <= n.start < span.end]


def _bars(arrangement: Arrangement) -> dict[int, tuple]:
    """What sounds in each bar of the song (as ``content`` has it), by bar number; silent bars absent."""
    bars: dict[int, list[list[tuple]]] = {}
    for t, track in enumerate(arrangement.tracks):
        for n in track.notes:
            bar, offset = divmod(n.start, arrangement.meter.bar)
            tracks = bars.setdefault(bar, [[] for _ in arrangement.tracks])
            tracks[t].append((offset, n.steps, n.pitch, n.velocity))
    return {bar: tuple(map(tuple, tracks)) for bar, tracks in bars.items()}


def _bars_in_common(bars: dict[int, tuple], a: Span, b: Span, bar: int) -> int:
    """How many whole bars (of ``bar`` steps) ``a`` and ``b`` (of one length, starting on bar lines)
    play alike."""
    first_a, first_b = a.start // bar, b.start // bar
    count = a.steps // bar
    for n in range(count):
        if bars.get(first_a + n) != bars.get(first_b + n):
            return n
    return count


def sections_as_spans(steps: int, sections: list[Section]) -> list[Span]:
    """The song cut at each section's start (one span when there are no sections)."""
    starts = sorted({0, *(s.start for s in sections if 0 < s.start < steps)})
    return [Span(a, b - a) for a, b in zip(starts, [*starts[1:], steps], strict=True) if b > a]


def plan(arrangement: Arrangement, sections: list[Section]) -> Plan:
    """The distinct spans to synthesise, and where each span of the song comes from."""
    spans = sections_as_spans(arrangement.steps, sections)
    cuts: list[set[int]] = [{0, span.steps} for span in spans]
    bars, bar = _bars(arrangement), arrangement.meter.bar
    on_bar_lines = [s.start % bar == 0 and s.steps % bar == 0 for s in spans]
    for i, a in enumerate(spans):
        for j in range(i + 1, len(spans)):
            b = spans[j]
            if a.steps != b.steps or not (on_bar_lines[i] and on_bar_lines[j]):
                continue
            shared = _bars_in_common(bars, a, b, bar) * bar
            if 0 < shared < a.steps:  # alike, then apart: both cut where they part
                cuts[i].add(shared)
                cuts[j].add(shared)
    renders: list[Span] = []
    seen: dict[tuple, int] = {}
    places = []
    for span, offsets in zip(spans, cuts, strict=True):
        bounds = sorted(offsets)
        for a, b in zip(bounds, bounds[1:], strict=False):
            piece = Span(span.start + a, b - a)
            key = content(arrangement, piece)
            if key not in seen:
                seen[key] = len(renders)
                renders.append(piece)
            places.append((seen[key], piece.start))
    return Plan(tuple(renders), tuple(places))
