import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgm.arrangement import BASS_LOW, Note, arrange, key_for, progression
from bgm.form import Section
from bgm.harmony import Key
from bgm.moods import MOODS
from bgm.styles import STYLES
from bgm.tokens import Onset

# Eight bars of quarter-note arpeggios in C major: I IV V vi ii V I ii.
BARS = [(60, 64, 67, 72), (65, 69, 72, 69), (67, 71, 74, 71), (69, 72, 76, 69)]
BARS += [(62, 65, 69, 65), (67, 71, 74, 67), (60, 64, 67, 64), (62, 65, 69, 62)]
MELODY = [
    Onset(16 * bar + 4 * beat, (pitch,), 4)
    for bar, notes in enumerate(BARS)
    for beat, pitch in enumerate(notes)
]
STEPS = 128


@pytest.fixture(scope="module")
def happy():
    return arrange(MELODY, STEPS, "happy")


def test_melody_harmony_and_bass_use_the_styles_programs(happy):
    style = STYLES["happy"]
    programs = {t.name: t.program for t in happy.tracks}
    assert programs["melody"] == style.melody_program
    assert programs["harmony"] == style.harmony_program
    assert programs["bass"] == style.bass_program


def test_the_melody_is_played_as_given(happy):
    assert [(n.start, n.steps, n.pitch) for n in happy.track("melody").notes] == [
        (o.step, o.steps, o.pitches[0]) for o in MELODY
    ]


def test_chords_in_the_melody_keep_every_pitch():
    arrangement = arrange([Onset(0, (60, 64, 67), 8)], 16, "calm")
    assert sorted(n.pitch for n in arrangement.track("melody").notes) == [60, 64, 67]


def test_the_key_comes_from_the_melody(happy):
    assert happy.key == Key(0, "major")


def test_each_bar_gets_the_triad_covering_most_of_its_melody():
    chords = progression(MELODY, STEPS, Key(0, "major"))
    # The last two bars are the song's closing cadence (the melody's bar 7 is I, its bar 8 ii).
    assert [c.numeral for c in chords] == ["I", "IV", "V", "vi", "ii", "V", "V", "I"]


def test_a_bar_the_tonic_covers_nearly_as_well_as_another_chord_goes_to_the_tonic():
    # C 6 steps, G 4, F 3, A 3: IV (F A C) covers 12 steps, I (C E G) 10, within TONIC_LEAN of 16.
    bar = [Onset(0, (60,), 6), Onset(6, (67,), 4), Onset(10, (65,), 3), Onset(13, (69,), 3)]
    assert progression(bar, 64, Key(0, "major"))[0].numeral == "I"


def test_each_section_ends_on_a_cadence_whatever_its_melody():
    """Bars of the subdominant alone (as a tune read bar by bar often gives) still end V I at each
    section's end, so the song is heard in its key, not in the key of its IV."""
    on_iv = [Onset(16 * bar, (65, 69, 72), 16) for bar in range(8)]  # F A C in C major, every bar
    chords = progression(on_iv, 128, Key(0, "major"), section_ends=[64, 128])
    assert [c.numeral for c in chords] == ["IV", "IV", "V", "I", "IV", "IV", "V", "I"]


def _section_chords(fourth_bar: tuple[int, ...]) -> list[list[int]]:
    """Pitch classes of each bar's chord in an 8-bar section of F A C bars but its fourth."""
    bars = [(65, 69, 72)] * 3 + [fourth_bar] + [(65, 69, 72)] * 4
    tune = [Onset(16 * bar, pitches, 16) for bar, pitches in enumerate(bars)]
    sections = [Section("verse1", 0, 128)]
    harmony = arrange(tune, 128, "calm", sections, key=Key(0, "major")).track("harmony").notes
    return [sorted({n.pitch % 12 for n in harmony if n.start // 16 == bar}) for bar in range(8)]


def test_a_phrase_within_a_section_ends_on_the_dominant_where_its_tune_fits_it():
    """A section of 8 bars is two 4-bar phrases: the first ends on V (a half cadence) when its last
    bar's tune fits V about as well as its own chord (C D G: I or V), the second V I."""
    f, g, c = [0, 5, 9], [2, 7, 11], [0, 4, 7]
    assert _section_chords((60, 62, 67)) == [f, f, f, g, f, f, g, c]


def test_a_phrase_ending_on_the_tonic_keeps_its_chord():
    """V under a held C and E would clash: that bar keeps I."""
    f, g, c = [0, 5, 9], [2, 7, 11], [0, 4, 7]
    assert _section_chords((60, 64)) == [f, f, f, c, f, f, g, c]


def test_a_minor_cadence_uses_the_major_dominant_and_the_minor_tonic():
    on_iii = [Onset(16 * bar, (60, 64, 67), 16) for bar in range(4)]  # C E G: A minor's III
    chords = progression(on_iii, 64, Key(9, "minor"), section_ends=[64])
    assert [c.pitch_classes for c in chords[-2:]] == [(4, 8, 11), (9, 0, 4)]


def test_ties_between_triads_go_to_the_tonic():
    # C and E lie in both I and vi.
    # Four bars: the first is not part of the closing cadence.
    chords = progression([Onset(0, (60,), 8), Onset(8, (64,), 8), Onset(16, (60,), 16)], 64, Key(0, "major"))
    assert chords[0].numeral == "I"


def test_minor_keys_use_a_major_dominant():
    chords = progression([Onset(0, (64, 68, 71), 16), Onset(16, (57,), 16)], 64, Key(9, "minor"))
    assert chords[0].numeral == "V" and chords[0].pitch_classes == (4, 8, 11)


def test_the_styles_mode_decides_between_relative_keys():
    scale = [Onset(4 * i, (p,), 4) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])]
    assert key_for(scale, "major") == Key(0, "major")
    assert key_for(scale, "minor") == Key(9, "minor")


def test_a_clear_key_is_kept_whatever_the_style_prefers():
    arpeggio = [Onset(4 * i, (p,), 4) for i, p in enumerate([60, 64, 67, 72, 67, 64, 60])]
    assert key_for(arpeggio, "minor") == Key(0, "major")


def test_bass_plays_each_bars_chord_root_in_a_low_register(happy):
    roots = [c.root for c in progression(MELODY, STEPS, happy.key)]
    for note in happy.track("bass").notes:
        assert BASS_LOW <= note.pitch < BASS_LOW + 12
        assert note.pitch % 12 == roots[note.start // 16]


def test_bass_stays_in_the_key(happy):
    assert all(happy.key.in_scale(n.pitch) for n in happy.track("bass").notes)


def test_harmony_voices_triads_in_a_middle_register(happy):
    notes = happy.track("harmony").notes
    assert all(50 <= n.pitch <= 67 for n in notes)
    by_start = {}
    for n in notes:
        by_start.setdefault(n.start, set()).add(n.pitch % 12)
    assert all(len(pcs) == 3 for pcs in by_start.values())


def test_the_song_ends_on_the_tonic_chord(happy):
    last_bar = STEPS - 16
    assert {n.pitch % 12 for n in happy.track("harmony").notes if n.start >= last_bar} == {0, 4, 7}
    assert {n.pitch % 12 for n in happy.track("bass").notes if n.start >= last_bar} == {0}


@pytest.mark.parametrize("mood", MOODS)
def test_drums_play_only_when_the_style_has_them(mood):
    arrangement = arrange(MELODY, STEPS, mood)
    drums = [t for t in arrangement.tracks if t.is_drum]
    if STYLES[mood].has_drums:
        assert len(drums) == 1 and drums[0].notes
        assert {36, 42} <= {n.pitch for n in drums[0].notes}
    else:
        assert drums == []


def test_choruses_are_louder_than_verses():
    sections = [Section("verse1", 0, 64), Section("chorus", 64, 64)]
    melody = arrange(MELODY, STEPS, "happy", sections).track("melody").notes
    # Compare the same beat positions in each half.
    verse = [n.velocity for n in melody if n.start < 64]
    chorus = [n.velocity for n in melody if n.start >= 64]
    assert min(c - v for c, v in zip(chorus, verse, strict=True)) > 0


def test_downbeats_are_accented(happy):
    velocity = {n.start: n.velocity for n in happy.track("melody").notes}
    assert velocity[16] > velocity[20] and velocity[24] > velocity[28]


def test_an_empty_melody_gives_tracks_without_notes():
    arrangement = arrange([], 64, "epic")
    assert [t.name for t in arrangement.tracks] == ["melody", "harmony", "bass", "drums"]
    assert all(t.notes == () for t in arrangement.tracks)
    assert arrangement.steps == 64


def test_seconds_counts_sixteenths_at_the_tempo():
    assert arrange(MELODY, STEPS, "happy", tempo=120).seconds == pytest.approx(16.0)


def test_the_styles_tempo_is_the_default(happy):
    assert happy.tempo == STYLES["happy"].tempo


def test_a_section_written_an_octave_away_joins_the_others():
    # Verse and chorus around middle C, then a bridge written a ninth higher: it comes down an octave.
    bridge = [Onset(o.step + STEPS, (o.pitches[0] + 14,), o.steps) for o in MELODY[:16]]
    sections = [Section("verse1", 0, 64), Section("chorus", 64, 64), Section("bridge", STEPS, 64)]
    notes = arrange(MELODY + bridge, STEPS + 64, "happy", sections).track("melody").notes
    played = [n.pitch for n in notes if n.start >= STEPS]
    assert played == [o.pitches[0] + 2 for o in MELODY[:16]]
    assert [n.pitch for n in notes if n.start < STEPS] == [o.pitches[0] for o in MELODY]


def test_chords_move_down_under_a_low_section_and_stay_put_elsewhere():
    # A high verse keeps its chords in F3..E4; a chorus down to B-flat 3 takes them under the tune
    # (the two within half an octave of each other: neither is moved, see the next test).
    high = [Onset(o.step, (o.pitches[0] + 4,), o.steps) for o in MELODY[:16]]
    low = [Onset(o.step + 64, (o.pitches[0] - 2,), o.steps) for o in MELODY[:16]]
    sections = [Section("verse1", 0, 64), Section("chorus", 64, 64)]
    arrangement = arrange(high + low, STEPS, "sad", sections, keep_register=True)
    harmony = arrangement.track("harmony").notes
    chorus_tune = sorted(n.pitch for n in arrangement.track("melody").notes if n.start >= 64)
    assert all(53 <= n.pitch <= 64 for n in harmony if n.start < 64)
    # Under all but a passing low note or two (the lowest tenth of the tune may cross the chords).
    assert all(45 <= n.pitch < chorus_tune[len(chorus_tune) // 10] for n in harmony if n.start >= 64)


def test_with_a_primer_the_other_sections_move_by_octaves_towards_verse_1_which_stays():
    verse = [Onset(o.step, (o.pitches[0] + 12,), o.steps) for o in MELODY[:16]]  # the primer, high
    bridge = [Onset(o.step + 64, (o.pitches[0] - 2,), o.steps) for o in MELODY[:16]]  # 14 below it
    near = [Onset(o.step + 128, (o.pitches[0] + 7,), o.steps) for o in MELODY[:16]]  # 5 below it
    sections = [Section("verse1", 0, 64), Section("bridge", 64, 64), Section("chorus", 128, 64)]
    notes = arrange(verse + bridge + near, 192, "sad", sections, keep_register=True).track("melody").notes
    assert [n.pitch for n in notes if n.start < 64] == [o.pitches[0] for o in verse]
    assert [n.pitch for n in notes if 64 <= n.start < 128] == [o.pitches[0] + 12 for o in bridge]
    assert [n.pitch for n in notes if n.start >= 128] == [o.pitches[0] for o in near]


def test_a_melody_far_below_the_register_moves_up_by_octaves():
    low = [Onset(o.step, (o.pitches[0] - 36,), o.steps) for o in MELODY]
    shifted = arrange(low, STEPS, "happy").track("melody").notes
    assert [n.pitch for n in shifted] == [o.pitches[0] for o in MELODY]


onsets = st.builds(
    Onset,
    step=st.integers(0, 200),
    pitches=st.lists(st.integers(0, 127), min_size=1, max_size=4).map(tuple),
    steps=st.sampled_from((1, 2, 4, 8, 16)),
)


@settings(max_examples=25, deadline=None)
@given(melody=st.lists(onsets, max_size=30), steps=st.integers(0, 160), mood=st.sampled_from(MOODS))
def test_every_note_fits_the_song_and_midi(melody, steps, mood):
    for track in arrange(melody, steps, mood).tracks:
        for note in track.notes:
            assert isinstance(note, Note)
            assert 0 <= note.start < note.end <= steps
            assert 0 <= note.pitch <= 127 and 1 <= note.velocity <= 127


def test_a_pitch_struck_again_stops_the_one_still_ringing():
    notes = arrange([Onset(0, (67,), 16), Onset(4, (67,), 4)], 16, "calm").track("melody").notes
    assert [(n.start, n.steps) for n in notes] == [(0, 4), (4, 4)]
