"""A primer: the opening of someone's tune (MIDI, MusicXML, ABC) that a song starts with and the model
continues.

Its melody is read as training reads a piece (``bgm.score.melody_of``: the first part with notes, the
top note of each onset, on the 16th grid), from the bar line before its first note, and its first
``MAX_BARS`` bars are kept with their pitches and positions. The song keeps the primer's meter (its
MIDI file says so): a primer's time signature must be on the grid of a meter bgm writes in
(bgm/meter.py: 4/4, also as 2/4, 2/2 or 4/2; 3/4; 6/8), and the composer checks that the model it
composes with has learnt that meter.

The bytes pass ``bgm.files``' content checks before music21 sees them (a 10,000-bar MIDI file or a zip
renamed .mid never reaches it), are parsed in memory (nothing is written anywhere), and a parse that
runs past ``PARSE_TIME_S`` is given up.
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from bgm import files
from bgm.errors import BgmError
from bgm.files import MUSIC_SUFFIXES, ZipLimits, shown
from bgm.harmony import Key, estimate_key, with_mode
from bgm.melody import floor_steps, normal_shift, transpose
from bgm.meter import Meter, meter_for, signature_steps
from bgm.tokens import HOLD, Onset, decode, encode, onset_token, parse_token

MAX_BARS = 8  # bars of the primer's own meter that open the song
MAX_BYTES = 1024 * 1024  # a few bars of music are a few kilobytes, even as MusicXML
PARSE_TIME_S = 20.0
LIMITS = ZipLimits(max_members=50, max_expanded=8 * MAX_BYTES)  # for compressed MusicXML (.mxl)
FORMATS = {".mid": "midi", ".midi": "midi", ".abc": "abc", ".krn": "humdrum"}  # else MusicXML


class PrimerRejected(BgmError):
    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"The primer {shown(name)} {reason}.")

    def __reduce__(self):  # raised in a render worker, it crosses back pickled: with both arguments
        return type(self), (self.name, self.reason)


@dataclass(frozen=True)
class Primer:
    """A primer's melody on the grid, from the bar line before its first note, in whole bars of its meter."""

    tokens: tuple[str, ...]
    key: str  # estimated, e.g. "D minor"
    meter: str  # as the file has it ("" when it has none: 4/4)
    source: str = ""  # the file's name, for messages

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "key": self.key, "meter": self.meter, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> Primer:
        return cls(tuple(data["tokens"]), str(data["key"]), str(data["meter"]), str(data.get("source", "")))

    @property
    def grid(self) -> Meter:
        """The meter the song is written in."""
        grid = meter_for(self.meter)
        if grid is None:  # read_primer never makes one
            raise ValueError(f"a primer in {self.meter} has no grid")
        return grid

    @property
    def bars(self) -> int:
        return len(self.tokens) // self.grid.bar

    def in_normal_key(self, mode: str) -> list[str]:
        """The tokens moved to C major (``mode`` major) or A minor, as a key-normalised model writes;
        a primer in the other mode is first moved to its parallel ``mode`` (D major -> D minor)."""
        key = Key.from_name(self.key)
        tokens = list(self.tokens)
        if key.mode != mode:
            tokens = encode(with_mode(decode(tokens), mode), len(tokens))
            key = Key(key.tonic, mode)
        return transpose(tokens, normal_shift(key))


def check_meter(primer: Primer, meter: str | None) -> None:
    """Refuse a primer that cannot open a song in ``meter`` (None: any)."""
    if meter is not None and primer.grid.name != meter:
        raise PrimerRejected(
            primer.source,
            f"is in {primer.meter}, so the song opening with it is too; leave out the meter or ask for "
            f"{primer.grid.name}",
        )


def read_primer(name: str, data: bytes) -> Primer:
    """The primer in the file ``name`` holding ``data``; ``PrimerRejected`` (one sentence) if unusable."""
    check_name_and_size(name, len(data))
    suffix = files.suffix(name)
    if problem := files.content_problem(suffix, data, LIMITS, quote=shown):
        raise PrimerRejected(name, problem)
    try:
        with _time_limit(PARSE_TIME_S):
            return primer_of(_parse(name, suffix, data), name)
    except _OutOfTime:
        raise PrimerRejected(name, f"took longer than {PARSE_TIME_S:g} s to read (far too long?)") from None


def check_name_and_size(name: str, size: int) -> None:
    """What can be told before reading a byte (an attachment, before downloading it)."""
    if files.suffix(name) not in MUSIC_SUFFIXES:
        raise PrimerRejected(name, f"is not a music file (a primer is one of {' '.join(MUSIC_SUFFIXES)})")
    if size > MAX_BYTES:
        raise PrimerRejected(name, f"is {files.megabytes(size)}, over the {files.megabytes(MAX_BYTES)} limit")


def primer_of(score, name: str = "") -> Primer:
    """The primer of a parsed music21 score (its first ``MAX_BARS`` bars)."""
    from bgm.score import melody_of, meter_of

    meter = meter_of(score)
    grid = meter_for(meter)
    if grid is None:
        raise PrimerRejected(
            name, f"is in {meter}, but songs are in 4/4 (also written 2/4, 2/2 or 4/2), 3/4 or 6/8 only"
        )
    melody = melody_of(score)
    if melody is None or not melody.onsets:
        raise PrimerRejected(name, "has no notes to start a song with")
    origin = melody.onsets[0].step - melody.phase  # the bar line before the first note
    limit = MAX_BARS * signature_steps(meter)
    kept = []
    for onset in melody.onsets:
        step = onset.step - origin
        if step < limit:
            kept.append(Onset(step, onset.pitches, floor_steps(min(onset.steps, limit - step))))
    length = -(-max(o.end for o in kept) // grid.bar) * grid.bar  # whole bars
    tokens = tuple(encode(kept, length))
    return Primer(tokens, _key_of(score, kept).name, meter, name)


def _key_of(score, melody: list[Onset]) -> Key:
    """The key the file says it is in (MusicXML, ABC and MIDI can), else music21's analysis of the
    score (the one a reader would check the song with), else the melody's Krumhansl estimate."""
    from music21 import key

    written = [k for k in score.recurse().getElementsByClass(key.Key) if k.mode in ("major", "minor")]
    try:
        found = written[0] if written else score.analyze("key")
    except Exception:  # music21's analysis of an odd score: the melody alone still tells
        return estimate_key(melody)
    if found is None or found.mode not in ("major", "minor"):
        return estimate_key(melody)
    return Key(found.tonic.pitchClass, found.mode)


def fit_vocab(tokens: list[str], vocab: tuple[str, ...]) -> list[str]:
    """``tokens`` as a model with ``vocab`` can be fed them: a note it has no token for moves by
    octaves towards its range, then is shortened; one it still lacks is left out (HOLD)."""
    known = set(vocab)
    fitted = []
    for token in tokens:
        parsed = parse_token(token)
        if token in known or parsed is None:
            fitted.append(token if token in known else HOLD)
            continue
        pitch, steps = max(parsed[0]), parsed[1]
        choices = [
            onset_token((pitch + octave,), length)
            for length in sorted({d for d in (steps, floor_steps(steps)) if d <= steps}, reverse=True)
            + [d for d in (16, 12, 8, 6, 4, 3, 2, 1) if d < steps]
            for octave in sorted(range(-36, 37, 12), key=abs)
            if 0 <= pitch + octave <= 127
        ]
        fitted.append(next((c for c in choices if c in known), HOLD))
    return fitted


class _OutOfTime(BaseException):
    """The parse's alarm: a BaseException, so music21's own ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``_OutOfTime`` after ``seconds`` (on the main thread only, where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def out_of_time(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _musicxml_in(name: str, data: bytes) -> bytes:
    """The score inside compressed MusicXML, read in memory (its members were checked already)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    scores = [
        m.filename
        for m in archive.infolist()
        if files.suffix(m.filename) in (".xml", ".musicxml")
        and PurePosixPath(m.filename).parts[0] != "META-INF"
    ]
    if not scores:
        raise PrimerRejected(name, "holds no MusicXML score")
    return archive.read(scores[0])


def _parse(name: str, suffix: str, data: bytes):
    """music21's score of ``data``, parsed from memory within ``PARSE_TIME_S``."""
    from music21 import converter

    from bgm.score import scores_of

    fmt = FORMATS.get(suffix, "musicxml")
    try:
        content = _musicxml_in(name, data) if suffix == ".mxl" else data
        if fmt != "midi":
            content = content.decode("utf-8", errors="replace")
            if fmt == "musicxml" and "<!ENTITY" in content:
                raise PrimerRejected(name, "declares XML entities, which music files never need")
        scores = scores_of(converter.parseData(content, format=fmt))
    except PrimerRejected:
        raise
    except MemoryError:
        raise PrimerRejected(name, "needs too much memory to read") from None
    except Exception as error:  # music21 raises anything from IndexError to its own exceptions
        raise PrimerRejected(name, f"could not be read as {fmt} ({type(error).__name__})") from None
    if not scores:
        raise PrimerRejected(name, "has no notes to start a song with")
    return scores[0]
