"""Where a radio song's phrases start, for mood changes."""

from __future__ import annotations

from bgm.form import Section
from bgm.meter import THREE_FOUR
from bot.radio.songs import MAX_PHRASE_S, phrase_starts

SECTIONS = [Section("verse1", 0, 64), Section("chorus", 64, 64)]  # 4 bars each


def test_phrases_are_as_many_bars_as_fit_in_the_longest_wait():
    # 240 bpm: a bar lasts 1 s, so 4 bars (4 s) fit; 120 bpm: 2 bars; 40 bpm: a bar is 6 s, so every bar.
    assert phrase_starts(240, SECTIONS, rate=1000) == (4000,)
    assert phrase_starts(120, SECTIONS, rate=1000) == (4000, 8000, 12000)
    assert phrase_starts(40, SECTIONS, rate=1000) == tuple(6000 * bar for bar in range(1, 8))


def test_no_phrase_is_longer_than_the_promise_unless_a_bar_is():
    for tempo in range(60, 241, 7):
        marks = (0, *phrase_starts(tempo, SECTIONS, rate=1000))
        assert max(b - a for a, b in zip(marks, marks[1:], strict=False)) <= MAX_PHRASE_S * 1000 + 1


def test_phrases_are_counted_in_bars_of_the_songs_meter():
    # 120 bpm in 3/4: a bar lasts 1.5 s, so 2 bars (3 s) fit and 4 (6 s) do not: every 24 steps.
    waltz = [Section("verse1", 0, 48), Section("chorus", 48, 48)]
    assert phrase_starts(120, waltz, rate=1000, meter=THREE_FOUR) == (3000, 6000, 9000)
