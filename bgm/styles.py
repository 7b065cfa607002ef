"""How each mood sounds: tempo, General MIDI instruments, rhythm, dynamics and sampling defaults.

Programs are General MIDI numbers counted from 0 (0 = Acoustic Grand Piano).
Rhythms are ``(step, steps)`` pairs inside one bar: each is written for 4/4's 16 steps, and has its
form in the 12-step bars of 3/4 and 6/8 (``for_meter``); so has each drum pattern (``drums_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bgm.constraints import Rules, longest_note
from bgm.meter import FOUR_FOUR, Meter
from bgm.moods import MOODS

Rhythm = tuple[tuple[int, int], ...]

WHOLE: Rhythm = ((0, 16),)
HALVES: Rhythm = ((0, 8), (8, 8))
QUARTERS: Rhythm = ((0, 4), (4, 4), (8, 4), (12, 4))
EIGHTHS: Rhythm = tuple((step, 2) for step in range(0, 16, 2))
BOUNCE: Rhythm = ((0, 4), (6, 2), (8, 4), (14, 2))  # long-short, a skipping feel
OFFBEATS: Rhythm = ((2, 2), (6, 2), (10, 2), (14, 2))  # "oom-pah" chords between the bass notes

# Each rhythm in 3/4 and in 6/8, as (the chords play it, the bass plays it). 3/4 is a waltz: where
# 4/4 keeps the beat, the bass takes 1 and the chords 2 and 3 ("oom-pah-pah"). 6/8 moves in two
# dotted beats of three eighths: the bass on each beat, the chords on the eighths after it, or the
# jig's quarter-eighth lilt. A pad or held bass fills the bar; eighths stay eighths (6/8's accents,
# bgm.meter, group them 3 + 3).
BAR_12: Rhythm = ((0, 12),)
EIGHTHS_12: Rhythm = tuple((step, 2) for step in range(0, 12, 2))
IN_METER: dict[str, dict[Rhythm, tuple[Rhythm, Rhythm]]] = {
    "3/4": {
        WHOLE: (BAR_12, BAR_12),
        HALVES: (((0, 8), (8, 4)),) * 2,  # a half and a quarter: moving on beat 3
        QUARTERS: (((4, 4), (8, 4)), ((0, 4),)),  # the waltz
        EIGHTHS: (EIGHTHS_12, EIGHTHS_12),
        BOUNCE: (((0, 4), (6, 2)),) * 2,  # 4/4's first half bar: 1 and the "and" of 2
        OFFBEATS: (((4, 2), (8, 2)),) * 2,  # short chords on 2 and 3, around the bouncing bass
    },
    "6/8": {
        WHOLE: (BAR_12, BAR_12),
        HALVES: (((0, 6), (6, 6)),) * 2,  # the two dotted beats
        QUARTERS: (((2, 2), (4, 2), (8, 2), (10, 2)), ((0, 6), (6, 6))),  # oom-pah-pah twice
        EIGHTHS: (EIGHTHS_12, EIGHTHS_12),
        BOUNCE: (((0, 4), (4, 2), (6, 4), (10, 2)),) * 2,  # the jig's quarter-eighth
        OFFBEATS: (((2, 2), (4, 2), (8, 2), (10, 2)),) * 2,  # the eighths after each beat
    },
}

# General MIDI percussion keys (channel 10).
KICK, SIDE_STICK, SNARE, CLOSED_HAT, CRASH = 36, 37, 38, 42, 49

# One bar of drums: (step, key, velocity offset from the drum level).
Pattern = tuple[tuple[int, int, int], ...]

DRUM_PATTERNS: dict[str, Pattern] = {
    "none": (),
    # Kick on 1 and 3, a soft side-stick backbeat, hats on eighths: keeps time without pushing.
    "light": (
        ((0, KICK, 0), (8, KICK, -6), (4, SIDE_STICK, -10), (12, SIDE_STICK, -10))
        + tuple((step, CLOSED_HAT, -18 if step % 4 else -12) for step in range(0, 16, 2))
    ),
    # Syncopated kick, full snare backbeat, sixteenth hats: momentum for tense and epic.
    "driving": (
        ((0, KICK, 0), (6, KICK, -8), (8, KICK, -2), (10, KICK, -8), (4, SNARE, 0), (12, SNARE, 0))
        + tuple((step, CLOSED_HAT, -14 if step % 4 else -6) for step in range(16))
    ),
}
# Each pattern in 3/4 (the kick on 1, the backbeat on 2 and 3) and in 6/8 (the kick on 1, the
# backbeat on 4, hats in eighths, louder on the two beats).
DRUMS_IN_METER: dict[str, dict[str, Pattern]] = {
    "3/4": {
        "none": (),
        "light": (
            ((0, KICK, 0), (4, SIDE_STICK, -10), (8, SIDE_STICK, -10))
            + tuple((step, CLOSED_HAT, -18 if step % 4 else -12) for step in range(0, 12, 2))
        ),
        "driving": (
            ((0, KICK, 0), (6, KICK, -8), (4, SNARE, 0), (8, SNARE, 0))
            + tuple((step, CLOSED_HAT, -14 if step % 4 else -6) for step in range(12))
        ),
    },
    "6/8": {
        "none": (),
        "light": (
            ((0, KICK, 0), (6, SIDE_STICK, -10))
            + tuple((step, CLOSED_HAT, -18 if step % 6 else -12) for step in range(0, 12, 2))
        ),
        "driving": (
            ((0, KICK, 0), (4, KICK, -8), (10, KICK, -8), (6, SNARE, 0))
            + tuple((step, CLOSED_HAT, -14 if step % 6 else -6) for step in range(0, 12, 2))
        ),
    },
}


def for_meter(rhythm: Rhythm, meter: Meter, bass: bool = False) -> Rhythm:
    """``rhythm`` (as written, for 4/4) in a bar of ``meter``, as the chords or the ``bass`` play it."""
    if meter == FOUR_FOUR:
        return rhythm
    chords, low = IN_METER[meter.name][rhythm]
    return low if bass else chords


def drums_for(name: str, meter: Meter) -> Pattern:
    """Drum pattern ``name`` in a bar of ``meter``."""
    return DRUM_PATTERNS[name] if meter == FOUR_FOUR else DRUMS_IN_METER[meter.name][name]


@dataclass(frozen=True)
class Style:
    mood: str
    tempo: int  # beats (quarters) per minute
    melody_program: int
    harmony_program: int
    bass_program: int
    drums: str  # a key of DRUM_PATTERNS
    velocity: int  # the melody's base MIDI velocity; the accompaniment sits below it
    mode: str  # preferred mode, "major" or "minor": breaks ties between relative keys
    register: tuple[int, int]  # lowest and highest MIDI pitch the melody should centre in
    harmony_rhythm: Rhythm  # as in 4/4 (see ``for_meter``); WHOLE means a sustained pad
    bass_rhythm: Rhythm
    temperature: float  # sampling defaults for the melody model
    top_p: float
    keys: tuple[int, ...] = (0, 2, 5, 7)  # tonics (pitch classes) a song of this mood is drawn in
    # Whether a phrase's return repeats its opening note for note (bgm.phrases), as the corpus's
    # dance tunes of tense and playful do (a bar's intervals repeated in 30-33% of their bars), or
    # keeps its rhythm with new pitches, as the airs of the other moods do (13-18%).
    literal_returns: bool = False
    # What striking the last pitch again, and leaping beyond a whole step, cost the sampled melody
    # (log-probability, bgm.constraints). Happy tunes repeat notes (18% of their intervals) and leap
    # (17%) as much as the network does unruled (20%, 18%); under the costs happy songs did 15% and 12%.
    repeat_cost: float = Rules.repeat_cost
    leap_cost: float = Rules.leap_cost

    def __post_init__(self) -> None:
        programs = (self.melody_program, self.harmony_program, self.bass_program)
        if not all(0 <= p <= 127 for p in programs):
            raise ValueError(f"{self.mood}: GM programs are 0..127, got {programs}")
        if self.drums not in DRUM_PATTERNS:
            raise ValueError(f"{self.mood}: drums must be one of {sorted(DRUM_PATTERNS)}")
        if not all({self.harmony_rhythm, self.bass_rhythm} <= forms.keys() for forms in IN_METER.values()):
            raise ValueError(f"{self.mood}: a rhythm without its 3/4 and 6/8 forms (IN_METER)")
        if self.mode not in ("major", "minor"):
            raise ValueError(f"{self.mood}: mode must be major or minor, not {self.mode!r}")
        if not (1 <= self.velocity <= 127 and self.register[0] < self.register[1]):
            raise ValueError(f"{self.mood}: bad velocity or register")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ValueError(f"{self.mood}: temperature must be > 0 and top_p in (0, 1]")
        if not self.keys or not all(0 <= k < 12 for k in self.keys):
            raise ValueError(f"{self.mood}: keys must be pitch classes 0..11")
        if self.repeat_cost < 0 or self.leap_cost < 0:
            raise ValueError(f"{self.mood}: repeat_cost and leap_cost must be >= 0")

    def rules(self, mode: str, lead: int) -> Rules:
        """The rules this mood's melody is sampled under, in ``mode``, played by program ``lead``."""
        return Rules(
            mode=mode, longest=longest_note(lead), repeat_cost=self.repeat_cost, leap_cost=self.leap_cost
        )

    @property
    def has_drums(self) -> bool:
        return bool(DRUM_PATTERNS[self.drums])


# The melody model samples from its own distribution (temperature 1, no top-p cut: lower made calm
# and sad tunes repeat notes and lose pitch variety, and trimming the tail did too, on tuning seeds);
# playful and tense get a little more surprise. bgm.constraints keeps the rare bad pick out.
STYLES: dict[str, Style] = {
    # Flute over a warm pad and a whole-note bass: slow, soft, no drums, nothing to distract.
    "calm": Style(
        "calm", 72, 73, 89, 32, "none", 64, "major", (62, 86), WHOLE, WHOLE, 1.0, 1.0,
        keys=(5, 2, 3, 0, 10, 7)
    ),
    # Piano tune, nylon-guitar chords on the beat, walking quarter bass, light kit at a brisk walk.
    "happy": Style(
        "happy", 112, 0, 24, 33, "light", 84, "major", (60, 84), QUARTERS, QUARTERS, 1.0, 1.0,
        keys=(0, 2, 5, 7, 9, 10), repeat_cost=0.0, leap_cost=0.0
    ),
    # Cello over sustained strings, slow and quiet, in minor; the bass moves only on half bars. A lead
    # that sustains: sad tunes hold 18% of their notes a whole bar, which a piano's note, 30 dB down
    # in 3 s, cannot (bgm.constraints holds it a dotted half, and the tune turned to quarter notes).
    "sad": Style(
        "sad", 66, 42, 48, 32, "none", 60, "minor", (55, 79), WHOLE, HALVES, 1.0, 1.0,
        keys=(2, 4, 9, 7, 0, 11)
    ),
    # French horn over strings and a contrabass, loud, full drums; major because the corpus
    # labels hymn-like chorales "epic" (bgm.moods), and heroic themes sit in major.
    "epic": Style(
        "epic", 96, 60, 48, 43, "driving", 100, "major", (55, 79), WHOLE, EIGHTHS, 1.0, 1.0,
        keys=(2, 0, 3, 10, 5)
    ),
    # Pizzicato strings over a string pad and a pulsing synth bass in eighths, fast, minor.
    "tense": Style(
        "tense", 132, 45, 49, 38, "driving", 92, "minor", (60, 84), WHOLE, EIGHTHS, 1.05, 1.0,
        keys=(4, 0, 2, 6, 11, 7), literal_returns=True
    ),
    # Clarinet with off-beat piano chords and a bouncing bass: jig-like, light and quick.
    "playful": Style(
        "playful", 120, 71, 0, 32, "light", 80, "major", (64, 88), OFFBEATS, BOUNCE, 1.1, 1.0,
        keys=(7, 2, 9, 0, 5, 4), literal_returns=True
    ),
}


def style_for(mood: str) -> Style:
    """The style of ``mood``; a clear error for an unknown one."""
    try:
        return STYLES[mood]
    except KeyError:
        raise ValueError(f"unknown mood {mood!r}; choose one of {', '.join(MOODS)}") from None
