"""The spans a song is synthesised in: each distinct stretch of music once, placed wherever it plays."""

from bgm.arrangement import arrange
from bgm.form import BAR_STEPS, layout, song_onsets
from bgm.segments import Span, content, plan
from bgm.tokens import Onset
from tests.bgm.song_form import PART_STEPS, song

BAR = BAR_STEPS


def _covered(p, steps):
    """Each render placed end to end tiles the song exactly."""
    pieces = sorted((at, p.renders[i].steps) for i, at in p.places)
    return all(a + n == b for (a, n), (b, _) in zip(pieces, pieces[1:], strict=False)) and (
        pieces[0][0] == 0 and pieces[-1][0] + pieces[-1][1] == steps
    )


def test_the_chorus_is_rendered_once_and_only_the_last_ones_final_bar_apart():
    arrangement, sections = song("happy")
    p = plan(arrangement, sections)
    # verse 1, verse 2, bridge, the chorus's first bars, its last bar, the last chorus's last bar
    assert p.rendered_steps == 4 * PART_STEPS + BAR
    chorus_starts = [s.start for s in sections if s.name == "chorus"]
    first_bars = {i for i, at in p.places if at in chorus_starts}
    assert len(first_bars) == 1 and p.renders[first_bars.pop()].steps == PART_STEPS - BAR
    assert _covered(p, arrangement.steps)


def test_every_place_plays_what_its_render_holds():
    arrangement, sections = song("epic")
    p = plan(arrangement, sections)
    for i, at in p.places:
        render = p.renders[i]
        assert content(arrangement, Span(at, render.steps)) == content(arrangement, render)


def test_sections_that_differ_from_their_first_bar_are_not_cut():
    arrangement, sections = song("calm")
    p = plan(arrangement, sections)
    verses = [s for s in sections if s.name.startswith("verse")]
    assert {(r.start, r.steps) for r in p.renders} >= {(v.start, v.steps) for v in verses}


def test_a_song_without_sections_is_one_span():
    arrangement = arrange([Onset(4 * i, (60 + i,), 4) for i in range(8)], 32, "calm")
    p = plan(arrangement, [])
    assert p.renders == (Span(0, 32),) and p.places == ((0, 0),)


def test_a_song_with_no_repeats_renders_every_step_once():
    parts = {name: ["60:4", "_", "_", "_"] * (PART_STEPS // 4) for name in ("verse1", "verse2", "bridge")}
    parts["chorus"] = ["67:2", "_"] * (PART_STEPS // 2)
    tokens, sections = layout(parts)
    sections = [s for s in sections if s.name != "chorus"]  # the choruses fold into the spans before them
    arrangement = arrange(song_onsets(tokens, sections), len(tokens), "calm", sections)
    p = plan(arrangement, sections)
    assert p.rendered_steps == arrangement.steps and _covered(p, arrangement.steps)
