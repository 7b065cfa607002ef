"""A melody in 3/4 or 6/8 arranged in its own meter: chords, bass, drums, accents and cadences in its
12-step bars, and the piano roll and the synthesised spans counting them."""

import pytest

from bgm.arrangement import arrange, progression
from bgm.form import Section, layout, song_onsets
from bgm.harmony import Key
from bgm.meter import FOUR_FOUR, SIX_EIGHT, THREE_FOUR
from bgm.segments import plan
from bgm.styles import CLOSED_HAT, KICK, SIDE_STICK, SNARE
from bgm.tokens import Onset
from tests.bgm.song_form import PITCHES, part

C_MAJOR = Key(0, "major")
# Eight 3/4 bars of quarter-note arpeggios: I IV V vi ii V I, and a closing bar on C.
BARS = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (69, 72, 76)]
BARS += [(62, 65, 69), (67, 71, 74), (60, 64, 67), (64, 67, 72)]
WALTZ = [Onset(12 * bar + 4 * beat, (p,), 4) for bar, ps in enumerate(BARS) for beat, p in enumerate(ps)]
STEPS = 12 * len(BARS)
TRIADS = {"I": {0, 4, 7}, "IV": {5, 9, 0}, "V": {7, 11, 2}, "vi": {9, 0, 4}, "ii": {2, 5, 9}}


def waltz(mood, meter=THREE_FOUR, sections=None):
    return arrange(WALTZ, STEPS, mood, sections, key=C_MAJOR, keep_register=True, meter=meter)


def starts(arrangement, name, pitch=None):
    return sorted({n.start for n in arrangement.track(name).notes if pitch is None or n.pitch == pitch})


def test_an_arrangement_records_its_meter():
    assert waltz("calm").meter == THREE_FOUR
    assert arrange(WALTZ, STEPS, "calm").meter == FOUR_FOUR  # what it was before meters


def test_each_12_step_bar_gets_its_own_chord_and_the_song_closes_on_v_then_i():
    chords = [c.numeral for c in progression(WALTZ, STEPS, C_MAJOR, meter=THREE_FOUR)]
    assert chords == ["I", "IV", "V", "vi", "ii", "V", "V", "I"]


def test_a_pad_holds_each_bars_chord_for_the_whole_12_step_bar():
    harmony = waltz("calm").track("harmony").notes
    assert {(n.start, n.steps) for n in harmony} == {(12 * bar, 12) for bar in range(len(BARS))}
    numerals = ["I", "IV", "V", "vi", "ii", "V", "V", "I"]
    for bar, numeral in enumerate(numerals):
        assert {n.pitch % 12 for n in harmony if n.start == 12 * bar} == TRIADS[numeral]


def test_a_waltz_puts_the_bass_on_1_and_the_chords_on_2_and_3():
    happy = waltz("happy")
    assert starts(happy, "bass") == list(range(0, STEPS, 12))  # one bass note a bar, on its downbeat
    chords = starts(happy, "harmony")
    last = STEPS - 12
    assert chords == sorted([b + o for b in range(0, last, 12) for o in (4, 8)] + [last])  # the last held
    assert {n.steps for n in happy.track("harmony").notes if n.start == last} == {12}


def test_waltz_drums_kick_on_each_downbeat_with_the_backbeat_on_2_and_3():
    happy = waltz("happy")
    assert starts(happy, "drums", KICK) == list(range(0, STEPS, 12))
    assert {s % 12 for s in starts(happy, "drums", SIDE_STICK)} == {4, 8}


def test_6_8_drums_have_the_snare_on_the_second_dotted_beat_and_hats_in_eighths():
    epic = waltz("epic", SIX_EIGHT)
    snares = starts(epic, "drums", SNARE)
    assert snares == list(range(6, STEPS - 12, 12))  # every bar but the last, the final hit's
    assert {s % 12 for s in starts(epic, "drums", CLOSED_HAT)} == {0, 2, 4, 6, 8, 10}
    assert 0 in starts(epic, "drums", KICK) and all(s % 2 == 0 for s in starts(epic, "drums", KICK))


def test_a_jig_bounces_its_bass_in_quarter_eighth_and_plays_its_chords_after_each_beat():
    playful = waltz("playful", SIX_EIGHT)
    last = STEPS - 12
    assert {s % 12 for s in starts(playful, "bass") if s < last} == {0, 4, 6, 10}
    assert {s % 12 for s in starts(playful, "harmony") if s < last} == {2, 4, 8, 10}


def test_the_downbeat_of_each_bar_of_the_meter_is_the_loudest():
    velocity = {n.start: n.velocity for n in waltz("calm").track("melody").notes}
    for bar in range(0, STEPS, 12):
        assert velocity[bar] > velocity[bar + 4] == velocity[bar + 8]  # 3/4: 1, then 2 and 3 alike
    eighths = [Onset(2 * i, (60 + i % 5,), 2) for i in range(STEPS // 2)]
    jig = arrange(eighths, STEPS, "calm", key=C_MAJOR, keep_register=True, meter=SIX_EIGHT)
    velocity = {n.start: n.velocity for n in jig.track("melody").notes}
    for bar in range(0, STEPS, 12):
        assert velocity[bar] > velocity[bar + 6] > velocity[bar + 2] == velocity[bar + 4]  # 3 + 3


def test_a_phrase_of_four_3_4_bars_ends_on_a_half_cadence():
    # Bar 4 (steps 36-47) would take iii (E G B); V (G B D) fits it nearly as well, and the phrase
    # ends there: 4 bars of 3/4 are 48 steps.
    melody = [Onset(step, (60,), 4) for step in range(0, 96, 4) if not 36 <= step < 48]
    melody += [Onset(36, (67,), 6), Onset(42, (64,), 3), Onset(45, (71,), 3)]
    unphrased = progression(melody, 96, C_MAJOR, meter=THREE_FOUR)
    assert unphrased[3].numeral == "iii"
    happy = arrange(melody, 96, "happy", [Section("verse1", 0, 96)], key=C_MAJOR, keep_register=True,
                    meter=THREE_FOUR)  # fmt: skip
    assert {n.pitch % 12 for n in happy.track("harmony").notes if 36 <= n.start < 48} == TRIADS["V"]


def test_the_piano_roll_counts_bars_of_the_songs_meter(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from bgm.picture import draw_piano_roll

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: drawn.append(figure))
    sections = [Section("verse1", 0, 48), Section("chorus", 48, 48)]
    draw_piano_roll(waltz("happy", sections=sections), sections, tmp_path / "roll.png")
    (axes,) = drawn[0].axes
    assert axes.get_xlim() == (0, len(BARS))  # eight 3/4 bars, not six of 4/4
    assert sorted(line.get_xdata()[0] for line in axes.lines) == [0, 4]  # a line where each section starts


@pytest.mark.parametrize("meter", [THREE_FOUR, SIX_EIGHT])
def test_the_chorus_is_rendered_once_and_only_the_last_ones_final_12_step_bar_apart(meter):
    part_steps = 96  # eight 12-step bars
    tokens, sections = layout({name: part(p, part_steps) for name, p in PITCHES.items()})
    arrangement = arrange(song_onsets(tokens, sections), len(tokens), "epic", sections, meter=meter)
    p = plan(arrangement, sections)
    # verse 1, verse 2, bridge, the chorus's first bars, its last bar, the last chorus's last bar
    assert p.rendered_steps == 4 * part_steps + 12
    chorus_starts = [s.start for s in sections if s.name == "chorus"]
    assert {p.renders[i].steps for i, at in p.places if at in chorus_starts} == {part_steps - 12}
