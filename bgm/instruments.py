"""General MIDI instruments by name or number, as people ask for them ("violin", "41", "nylon guitar").

Numbers are General MIDI's own, 1 to 128 as the standard and most synthesisers print them
(41 = Violin); programs inside bgm count from 0 (``bgm.styles``), so ``program("41")`` is 40.
"""

from __future__ import annotations

import difflib
import re

from bgm.errors import BgmError

# The General MIDI 1 sound set, program 0 first.
GM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp",
    "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs",
    "Voice Oohs", "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon",
    "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter",
    "Applause", "Gunshot",
)  # fmt: skip
assert len(GM_NAMES) == 128
# Common words that pick one program when they alone are asked for (the first of a family).
ALIASES = {
    "piano": 0, "guitar": 24, "nylon guitar": 24, "steel guitar": 25, "electric guitar": 27, "bass": 32,
    "strings": 48, "harp": 46, "organ": 19, "sax": 65, "saxophone": 65, "horn": 60, "choir": 52,
    "synth": 80, "pad": 88, "bells": 14,
}  # fmt: skip


def _key(text: str) -> str:
    """Lower case, punctuation as spaces: "Acoustic Guitar (nylon)" -> "acoustic guitar nylon"."""
    return " ".join(re.sub(r"[^a-z0-9+]+", " ", text.lower()).split())


_BY_KEY = {_key(name): program for program, name in enumerate(GM_NAMES)} | {
    _key(alias): program for alias, program in ALIASES.items()
}


# GM programs (from 0) whose note dies away once struck: pianos, chromatic percussion, guitars,
# basses, pizzicato, harp, timpani, the plucked ethnic ones (sitar to kalimba), percussion and
# effects. The rest (organs, bowed strings, ensembles, brass, reeds, pipes, synth leads and pads,
# bagpipe, fiddle, shanai) hold a note as long as it is written.
DECAYING = frozenset([*range(0, 16), *range(24, 40), 45, 46, 47, *range(104, 109), *range(112, 128)])


def sustains(program: int) -> bool:
    """Whether General MIDI ``program`` (from 0) holds a long note at full voice."""
    return program not in DECAYING


def name(program: int) -> str:
    return GM_NAMES[program]


def program(text: str) -> int:
    """The program (0..127) that ``text`` names: a General MIDI number 1..128 or a name; ``BgmError``
    with the closest names otherwise."""
    wanted = _key(text or "")
    if wanted.isdigit():
        number = int(wanted)
        if 1 <= number <= 128:
            return number - 1
        raise BgmError(f"General MIDI instruments are numbered 1 to 128, not {number}.")
    if wanted in _BY_KEY:
        return _BY_KEY[wanted]
    words = [key for key in _BY_KEY if wanted and wanted in key.split()]  # "violin", "flute", "oboe"
    if len(words) == 1:
        return _BY_KEY[words[0]]
    close = matches(text, 3) if wanted else []
    shown = "".join(c for c in (text or "")[:40] if c.isprintable())
    hint = f"; did you mean {', '.join(close)}?" if close else "; give a name or a number from 1 to 128."
    raise BgmError(f"{shown!r} is not a General MIDI instrument{hint}")


def matches(text: str, limit: int = 25) -> list[str]:
    """Instrument names for ``text``: those containing it first, then those spelled like it (for
    autocomplete and for "did you mean")."""
    wanted = _key(text or "")
    if not wanted:
        return list(GM_NAMES[:limit])
    containing = [n for n in GM_NAMES if wanted in _key(n)]
    close = difflib.get_close_matches(wanted, [_key(n) for n in GM_NAMES], n=limit, cutoff=0.5)
    by_key = {_key(n): n for n in GM_NAMES}
    found = containing + [by_key[k] for k in close if by_key[k] not in containing]
    return found[:limit]
