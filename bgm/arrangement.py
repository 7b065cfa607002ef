"""A melody arranged for a small band: melody, harmony (chords or a pad), bass and drums.

The harmony is read from the melody itself: one diatonic triad per bar of the
song's meter (bgm.meter), the one whose tones the melody sounds longest in that
bar. The bass plays its root, the harmony part the triad. Phrases end on
cadences, as in the tunes the model learnt from: each section on the dominant
then the tonic, each 4-bar phrase within a section on the dominant (a half
cadence). Read from the melody alone, the chords lean to the subdominant or
the relative key as often as not (the tune's notes fit those triads as well),
and a listener, or music21's key analysis, then hears that key instead of the
song's (issue 15: 27 of 48 short songs asked for a key were heard in their key,
48 of 48 with the cadences; bench/key_agreement.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from bgm.form import Section
from bgm.harmony import MAJOR_PROFILE, MINOR_PROFILE, Key, estimate_key, pitch_class_histogram
from bgm.meter import FOUR_FOUR, Meter
from bgm.styles import CRASH, KICK, Rhythm, Style, drums_for, for_meter, style_for
from bgm.tokens import STEP_QUARTERS, Onset

BASS_LOW = 36  # roots land in C2..B2, under everything else
HARMONY_LOW = 53  # triads voiced inside F3..E4, just under a melody centred above middle C
HARMONY_FLOOR = 45  # a section with a low tune takes its chords down, to A2 at most: lower is mud
SECTION_SPREAD = 6  # semitones a section's middle may lie from the song's before it moves an octave
# The accompaniment sits below the melody's level so the tune stays in front.
HARMONY_DROP, BASS_DROP, DRUM_DROP = 22, 12, 14
# Choruses lift, the bridge breathes.
SECTION_DYNAMICS = {"verse1": 0, "verse2": 4, "chorus": 10, "bridge": -8}
OFFBEAT_16TH = -3  # a 16th off the eighths; on them, the meter's accents (bgm.meter)
# Relative keys share their notes; take the style's mode unless the other fits clearly better.
KEY_MARGIN = 0.05
# A bar goes to the tonic triad unless another covers this share of the bar's melody more: the
# tonic heard often is what tells the key (with the section cadences alone, 44 -> 46 of 48 medium
# songs were heard in their key).
TONIC_LEAN = 0.15
# A phrase's last bar takes V (a half cadence) when the tune fits it nearly as well as the chord it
# would have had: V forced under a held tonic is a clash (melody on chord tones 46% in those bars
# against 62% elsewhere).
HALF_CADENCE_FIT = 0.75

MAJOR, MINOR = (0, 4, 7), (0, 3, 7)
# Diatonic triads as (numeral, root above the tonic), upper case major, lower case minor, in
# tie-break order: I, IV, V first. Diminished triads are left out: alone they sound unfinished.
TRIADS = {
    "major": (("I", 0), ("IV", 5), ("V", 7), ("vi", 9), ("ii", 2), ("iii", 4)),
    "minor": (("i", 0), ("iv", 5), ("V", 7), ("VI", 8), ("III", 3), ("VII", 10)),
}


@dataclass(frozen=True)
class Note:
    start: int  # step
    steps: int
    pitch: int
    velocity: int

    @property
    def end(self) -> int:
        return self.start + self.steps


@dataclass(frozen=True)
class Track:
    name: str
    program: int  # General MIDI, from 0
    is_drum: bool
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class Arrangement:
    tracks: tuple[Track, ...]
    tempo: int  # quarters per minute
    steps: int
    key: Key
    meter: Meter = FOUR_FOUR  # what the parts count their bars in

    @property
    def seconds(self) -> float:
        return self.steps * STEP_QUARTERS * 60.0 / self.tempo

    def track(self, name: str) -> Track:
        return next(t for t in self.tracks if t.name == name)


@dataclass(frozen=True)
class Triad:
    numeral: str  # e.g. "IV"
    root: int  # pitch class
    pitch_classes: tuple[int, ...]


def triads(key: Key) -> list[Triad]:
    """The diatonic triads of ``key``, in tie-break order."""
    chords = []
    for numeral, offset in TRIADS[key.mode]:
        root = (key.tonic + offset) % 12
        intervals = MAJOR if numeral.isupper() else MINOR
        chords.append(Triad(numeral, root, tuple((root + i) % 12 for i in intervals)))
    return chords


def key_for(melody: list[Onset], mode: str) -> Key:
    """``estimate_key``, moved to its relative key in ``mode`` when that fits nearly as well."""
    key = estimate_key(melody)
    if key.mode == mode or not melody:
        return key
    relative = Key((key.tonic + 9) % 12, "minor") if mode == "minor" else Key((key.tonic + 3) % 12, "major")
    histogram = pitch_class_histogram(melody)

    def fit(k: Key) -> float:
        profile = MAJOR_PROFILE if k.mode == "major" else MINOR_PROFILE
        return float(np.corrcoef(histogram, np.roll(profile, k.tonic))[0, 1])

    return relative if fit(relative) >= fit(key) - KEY_MARGIN else key


def bar_weights(melody: list[Onset], start: int, end: int) -> np.ndarray:
    """Steps each pitch class sounds between ``start`` and ``end``."""
    weights = np.zeros(12, dtype=int)
    for onset in melody:
        overlap = min(onset.end, end) - max(onset.step, start)
        if overlap > 0:
            for pitch in onset.pitches:
                weights[pitch % 12] += overlap
    return weights


def progression(
    melody: list[Onset],
    steps: int,
    key: Key,
    section_ends: Iterable[int] = (),
    phrase_ends: Iterable[int] = (),
    meter: Meter = FOUR_FOUR,
) -> list[Triad]:
    """One triad per bar of ``meter``: the one covering the most melody (the tonic by ``TONIC_LEAN``),
    the previous one over silence; then the cadences: V in the last bar of a phrase (ending at a step
    of ``phrase_ends``), V then I in the last two bars of a section (``section_ends``) and of the song."""
    candidates = triads(key)
    chords: list[Triad] = []
    for start in range(0, steps, meter.bar):
        weights = bar_weights(melody, start, start + meter.bar)
        if not weights.any():
            chords.append(chords[-1] if chords else candidates[0])
            continue
        lean = TONIC_LEAN * int(weights.sum())
        # max() keeps the first of equal scores, so ties go to I, IV, V in that order.
        chords.append(
            max(
                candidates,
                key=lambda t: sum(int(weights[pc]) for pc in t.pitch_classes) + lean * (t is candidates[0]),
            )
        )
    tonic, dominant = candidates[0], next(t for t in candidates if t.numeral == "V")
    for end in phrase_ends:
        bar = -(-end // meter.bar) - 1
        if 0 < end <= steps:
            cadence, kept = _cover(melody, bar, dominant, meter), _cover(melody, bar, chords[bar], meter)
            chords[bar] = dominant if cadence >= HALF_CADENCE_FIT * kept else chords[bar]
    for end in {*section_ends, steps}:
        last = -(-end // meter.bar) - 1  # the bar the section's last step falls in
        if 0 <= last < len(chords):
            chords[last] = tonic
            if last >= 1:
                chords[last - 1] = dominant
    return chords


def _cover(melody: list[Onset], bar: int, triad: Triad, meter: Meter) -> int:
    """Steps of ``bar``'s melody on ``triad``'s tones."""
    weights = bar_weights(melody, bar * meter.bar, (bar + 1) * meter.bar)
    return sum(int(weights[pc]) for pc in triad.pitch_classes)


def level(base: int, step: int, sections: list[Section], meter: Meter = FOUR_FOUR) -> int:
    """A velocity: ``base`` shaped by the section and the beat of ``meter``, within MIDI's 1..127."""
    section = next((s.name for s in sections if s.start <= step < s.start + s.steps), "")
    accent = OFFBEAT_16TH if step % 2 else meter.accent(step)  # every meter's accents fall on eighths
    return max(1, min(127, base + SECTION_DYNAMICS.get(section, 0) + accent))


def fit_register(melody: list[Onset], register: tuple[int, int]) -> list[Onset]:
    """``melody`` moved by whole octaves only when its median pitch lies outside ``register``."""
    if not melody:
        return melody
    low, high = register
    median = float(np.median([max(o.pitches) for o in melody]))
    shift = 0
    while median + shift > high:
        shift -= 12
    while median + shift < low:
        shift += 12
    return _shifted(melody, shift) if shift else melody


def _shifted(melody: list[Onset], shift: int) -> list[Onset]:
    return [Onset(o.step, tuple(min(127, max(0, p + shift)) for p in o.pitches), o.steps) for o in melody]


def _in_section(melody: list[Onset], section: Section) -> list[Onset]:
    return [o for o in melody if section.start <= o.step < section.start + section.steps]


def align_sections(
    melody: list[Onset], sections: list[Section], anchor: Section | None = None
) -> list[Onset]:
    """Each section moved by whole octaves towards the song's middle pitch: the model writes each
    part on its own, and a bridge a ninth above the chorus sounds like another instrument. With an
    ``anchor`` (the section a user's primer opens), towards its middle, and the anchor stays."""
    if not melody or not sections:
        return melody
    anchored = _in_section(melody, anchor) if anchor else []
    middle = float(np.median([max(o.pitches) for o in anchored or melody]))
    aligned = [o for o in melody if not any(o.step in range(s.start, s.start + s.steps) for s in sections)]
    for section in sections:
        notes = _in_section(melody, section)
        if notes and section == anchor:
            aligned += notes
        elif notes:
            offset = middle - float(np.median([max(o.pitches) for o in notes]))
            aligned += _shifted(notes, 12 * round(offset / 12) if abs(offset) > SECTION_SPREAD else 0)
    return sorted(aligned, key=lambda o: o.step)


def harmony_lows(
    melody: list[Onset], steps: int, sections: list[Section], meter: Meter = FOUR_FOUR
) -> list[int]:
    """Per bar of ``meter``, the lowest pitch of the chord voicing: HARMONY_LOW, or lower in a section
    whose tune dips into that octave, so the chords stay under the tune (down to HARMONY_FLOOR)."""
    bar = meter.bar
    lows = [HARMONY_LOW] * -(-steps // bar)
    for section in sections:
        pitches = [min(o.pitches) for o in _in_section(melody, section)]
        if pitches:
            floor = int(np.percentile(pitches, 10))  # a passing low note may cross the chords
            low = max(HARMONY_FLOOR, min(HARMONY_LOW, floor - 12))
            first, last = section.start // bar, -(-(section.start + section.steps) // bar)
            lows[first:last] = [low] * (min(last, len(lows)) - first)
    return lows


def bass_voicing(triad: Triad, bar: int = 0) -> list[int]:
    return [BASS_LOW + triad.root]


def close_voicing(triad: Triad, low: int = HARMONY_LOW) -> list[int]:
    """The triad inside one octave from ``low``: neighbouring chords move by small steps."""
    return sorted(low + (pc - low) % 12 for pc in triad.pitch_classes)


def _note(start: int, length: int, pitch: int, velocity: int, steps: int) -> Note | None:
    """A note cut at the end of the song, or ``None`` when it would start after it."""
    length = min(length, steps - start)
    return Note(start, length, pitch, velocity) if length > 0 and start >= 0 else None


def _melody(
    melody: list[Onset], steps: int, style: Style, sections: list[Section], meter: Meter
) -> list[Note | None]:
    """The onsets as notes; one still ringing when its pitch is struck again stops there,
    since in MIDI the old note's note-off would cut the new one short."""
    notes: list[Note | None] = []
    next_strike: dict[int, int] = {}
    for o in sorted(melody, key=lambda o: o.step, reverse=True):
        for pitch in sorted(set(o.pitches)):
            length = min(o.steps, next_strike.get(pitch, o.end) - o.step)
            notes.append(_note(o.step, length, pitch, level(style.velocity, o.step, sections, meter), steps))
            next_strike[pitch] = o.step
    return notes


def _comping(
    chords: list[Triad],
    steps: int,
    rhythm: Rhythm,
    voicing: Callable[[Triad, int], list[int]],
    base: int,
    sections: list[Section],
    meter: Meter,
) -> list[Note | None]:
    """The chords played in ``rhythm`` (a bar of ``meter``), the last bar held; ``voicing`` maps a
    triad and its bar to pitches."""
    notes = []
    held = ((0, meter.bar),)
    for bar, triad in enumerate(chords):
        start = bar * meter.bar
        for offset, length in held if bar == len(chords) - 1 else rhythm:
            velocity = level(base, start + offset, sections, meter)
            pitches = voicing(triad, bar)
            notes += [_note(start + offset, length, pitch, velocity, steps) for pitch in pitches]
    return notes


def _drums(steps: int, style: Style, sections: list[Section], meter: Meter) -> list[Note | None]:
    base = style.velocity - DRUM_DROP
    bars = range(0, steps, meter.bar)
    section_starts = {s.start for s in sections}
    notes = []
    for start in bars:
        if start == bars[-1]:  # the last bar: one final hit
            hits = ((0, KICK, 0), (0, CRASH, 0))
        else:
            hits = drums_for(style.drums, meter)
            if style.drums == "driving" and start in section_starts:
                hits += ((0, CRASH, -4),)
        for offset, key, accent in hits:
            notes.append(_note(start + offset, 1, key, max(1, min(127, base + accent)), steps))
    return notes


def _track(name: str, program: int, notes: list[Note | None], is_drum: bool = False) -> Track:
    kept = sorted((n for n in notes if n is not None), key=lambda n: (n.start, n.pitch))
    return Track(name, program, is_drum, tuple(kept))


def arrange(
    melody: list[Onset],
    steps: int,
    mood: str,
    sections: list[Section] | None = None,
    tempo: int | None = None,
    key: Key | None = None,
    lead: int | None = None,
    keep_register: bool = False,
    meter: Meter = FOUR_FOUR,
) -> Arrangement:
    """The melody with harmony, bass and (if the mood's style has them) drums, ``steps`` long, in
    ``key`` when the composer knows it (else the key estimated from the melody), in bars of
    ``meter``. ``lead``: the melody's program instead of the mood's; ``keep_register``: the melody
    stays in its octave (a user's primer is played where it was written)."""
    style = style_for(mood)
    if lead is not None:
        style = replace(style, melody_program=lead)
    sections = sections or []
    melody = sorted(melody, key=lambda o: o.step)
    if keep_register:  # the primer is played where it was written, the other sections around it
        melody = align_sections(melody, sections, anchor=sections[0] if sections else None)
    else:
        melody = fit_register(align_sections(melody, sections), style.register)
    key = key or key_for(melody, style.mode)
    # An empty melody gives nothing to harmonise: every part stays silent.
    ends = [s.start + s.steps for s in sections]
    # The tunes' phrases are 4 bars of the meter (bgm.phrases plans them so).
    phrases = [s.start + step for s in sections for step in range(meter.phrase, s.steps, meter.phrase)]
    chords = progression(melody, steps, key, ends, phrases, meter) if melody else []

    base = style.velocity
    lows = harmony_lows(melody, steps, sections, meter)

    def under_the_tune(triad: Triad, bar: int) -> list[int]:
        return close_voicing(triad, lows[bar])

    chord_rhythm = for_meter(style.harmony_rhythm, meter)
    bass_rhythm = for_meter(style.bass_rhythm, meter, bass=True)
    harmony = _comping(chords, steps, chord_rhythm, under_the_tune, base - HARMONY_DROP, sections, meter)
    bass = _comping(chords, steps, bass_rhythm, bass_voicing, base - BASS_DROP, sections, meter)
    tracks = [
        _track("melody", style.melody_program, _melody(melody, steps, style, sections, meter)),
        _track("harmony", style.harmony_program, harmony),
        _track("bass", style.bass_program, bass),
    ]
    if style.has_drums:
        drums = _drums(steps, style, sections, meter) if melody else []
        tracks.append(_track("drums", 0, drums, is_drum=True))
    return Arrangement(tuple(tracks), tempo or style.tempo, steps, key, meter)
