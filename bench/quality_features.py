"""Melody measurements for bench/quality.py: MusPy's own metrics on 8-bar windows, the shape of
the line, novelty against the training corpus, and a classifier two-sample test.

Times are beats of the MIDI file's resolution, read as 4/4 bars: bgm writes 4/4, and corpus pieces
in other meters are grouped the same way so that every figure means the same thing for both.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import random
import re
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import muspy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

RESOLUTION = 12  # ticks per beat once read: 16ths (3) and triplet 8ths (4) both land on ticks
STEP = RESOLUTION // 4  # one 16th note
BAR = 4 * RESOLUTION  # 4/4
WINDOW_BARS = 8
MIN_WINDOW_NOTES = 4
INTERVAL_CLIP = 12  # interval histogram bins: -12..12 semitones, wider ones clipped
DURATION_BINS = (1, 2, 3, 4, 6, 8, 12, 16)  # in 16ths, as bgm's tokens
MUSPY_METRICS = ("pitch_class_entropy", "scale_consistency", "polyphony", "pitch_range", "n_pitches_used")
SHAPE_METRICS = (
    "rhythm_repeat",  # bars (after the first) repeating an earlier bar's rhythm in the window
    "interval_repeat",  # ... an earlier bar's interval pattern (a motif, in any transposition)
    "step_share",  # intervals of 1-2 semitones
    "repeat_share",  # intervals of 0
    "leap_share",  # intervals over 4 semitones
    "eighth_share",  # notes lasting an 8th
    "notes_per_bar",
)
WINDOW_METRICS = MUSPY_METRICS + SHAPE_METRICS
Note = tuple[int, int, int]  # (pitch, duration in 16ths, onset in 16ths)
CORPUS_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "bach")
CORPUS_SUFFIXES = (".abc", ".mxl", ".xml", ".krn")  # scores; bach's .rntxt are chord analyses
PIECE_SECONDS = 120  # a piece taking longer to read and measure is skipped
CORPUS_VERSION = 3  # bump when a measurement changes: it keys the cache


# --- reading -----------------------------------------------------------------------------------------


def melody_track(music: muspy.Music) -> muspy.Track:
    """The track named "melody", else the first non-drum track."""
    pitched = [t for t in music.tracks if not t.is_drum]
    if not pitched:
        raise ValueError("no pitched track")
    return next((t for t in pitched if (t.name or "").strip().lower() == "melody"), pitched[0])


def solo(track: muspy.Track, resolution: int) -> muspy.Music:
    """A Music holding only ``track``, read at ``RESOLUTION`` ticks per beat."""
    music = muspy.Music(resolution=resolution, tracks=[track.deepcopy()])
    music.adjust_resolution(RESOLUTION)
    for note in music.tracks[0].notes:
        note.duration = max(1, note.duration)  # a grace note must not vanish in the rounding
    return music


def line_of(notes: Sequence[muspy.Note]) -> list[muspy.Note]:
    """The top line: the highest note of each onset, in time order."""
    top: dict[int, muspy.Note] = {}
    for n in notes:
        if n.time not in top or n.pitch > top[n.time].pitch:
            top[n.time] = n
    return [top[t] for t in sorted(top)]


def melody_notes(music: muspy.Music) -> list[Note]:
    """The top line of a RESOLUTION Music as (pitch, duration, onset), in 16ths."""
    return [
        (n.pitch, max(1, round(n.duration / STEP)), round(n.time / STEP))
        for n in line_of(music.tracks[0].notes)
    ]


# --- windows -----------------------------------------------------------------------------------------


def _histogram(values: Sequence[int], bins: int, index) -> list[float]:
    counts = np.zeros(bins)
    for v in values:
        counts[index(v)] += 1
    return (counts / max(1, len(values))).tolist()


def _share(items: Sequence, test) -> float:
    return sum(1 for x in items if test(x)) / len(items) if items else math.nan


def _repeat_share(patterns: list[tuple], least: int) -> float:
    """Bars after the first whose pattern (of at least ``least`` items) occurred in an earlier bar."""
    if len(patterns) < 2:
        return math.nan
    hits = sum(len(p) >= least and p in patterns[:b] for b, p in enumerate(patterns) if b > 0)
    return hits / (len(patterns) - 1)


def shape(line: list[muspy.Note], start: int) -> dict:
    """Line-shape figures and histograms of a window's top line (times in ticks, window at ``start``)."""
    bars = (line[-1].time - start) // BAR + 1
    by_bar: list[list[muspy.Note]] = [[] for _ in range(bars)]
    for n in line:
        by_bar[(n.time - start) // BAR].append(n)
    rhythms = [tuple((n.time % BAR, n.duration) for n in bar) for bar in by_bar]
    motifs = [tuple(b.pitch - a.pitch for a, b in zip(bar, bar[1:], strict=False)) for bar in by_bar]
    intervals = [b.pitch - a.pitch for a, b in zip(line, line[1:], strict=False)]
    steps16 = [n.duration / STEP for n in line]
    return {
        "bars": bars,
        "rhythm_repeat": _repeat_share(rhythms, 1),
        "interval_repeat": _repeat_share(motifs, 1),
        "step_share": _share(intervals, lambda i: 1 <= abs(i) <= 2),
        "repeat_share": _share(intervals, lambda i: i == 0),
        "leap_share": _share(intervals, lambda i: abs(i) > 4),
        "eighth_share": _share(line, lambda n: n.duration == 2 * STEP),
        "notes_per_bar": len(line) / bars,
        "interval_hist": _histogram(
            intervals, 2 * INTERVAL_CLIP + 1, lambda i: max(-INTERVAL_CLIP, min(INTERVAL_CLIP, i)) + 12
        ),
        "duration_hist": _histogram(
            steps16,
            len(DURATION_BINS),
            lambda d: min(range(len(DURATION_BINS)), key=lambda k: abs(DURATION_BINS[k] - d)),
        ),
    }


def window_metrics(track_music: muspy.Music, end: int | None = None) -> list[dict]:
    """Per 8-bar window of a one-track Music: MusPy's metrics, line shape and histograms; only
    windows the music fills (it lasts into their last bar: a piece's 4-bar tail would bring down
    range and pitches used) holding at least 4 notes. ``end`` in ticks defaults to the last note's."""
    music = track_music
    if music.resolution != RESOLUTION:
        music = solo(music.tracks[0], music.resolution)
        end = None if end is None else round(end * RESOLUTION / track_music.resolution)
    track = music.tracks[0]
    notes = sorted(track.notes, key=lambda n: (n.time, n.pitch))
    end = max((n.end for n in notes), default=0) if end is None else end
    size = WINDOW_BARS * BAR
    windows = []
    for w in range(end // size + 1):
        start = w * size
        inside = [n for n in notes if start <= n.time < start + size]
        if len(inside) < MIN_WINDOW_NOTES or end <= start + size - BAR:
            continue
        # MusPy measures a Music: one holding just this window's notes, moved to time 0.
        shifted = [muspy.Note(n.time - start, n.pitch, n.duration, n.velocity) for n in inside]
        window = muspy.Music(resolution=RESOLUTION, tracks=[muspy.Track(track.program, notes=shifted)])
        record: dict = {"start_bar": w * WINDOW_BARS, "notes": len(inside)}
        record.update({m: float(getattr(muspy, m)(window)) for m in MUSPY_METRICS})
        record.update(shape(line_of(inside), start))
        windows.append(record)
    return windows


# --- songs -------------------------------------------------------------------------------------------


def longest_silence(music: muspy.Music, end: int | None = None) -> float:
    """Longest stretch in beats with no note sounding, from time 0 to ``end`` (default: the last note's)."""
    spans = sorted((n.time, n.end) for t in music.tracks for n in t.notes)
    last = end if end is not None else max((e for _, e in spans), default=0)
    longest, covered = 0, 0
    for start, stop in spans + [(last, last)]:
        longest = max(longest, start - covered)
        covered = max(covered, stop)
    return longest / music.resolution


def mean_of(windows: list[dict], metric: str) -> float:
    """Mean of a metric over windows, NaN-free; NaN when no window has it."""
    values = [w[metric] for w in windows if w[metric] is not None and not math.isnan(w[metric])]
    return float(np.mean(values)) if values else math.nan


def key_of(midi_path: Path) -> dict:
    """Tonic and mode by music21's key analysis of the whole file."""
    from music21 import converter

    key = converter.parse(str(midi_path)).analyze("key")
    return {"key": f"{key.tonic.name} {key.mode}", "tonic": key.tonic.name, "mode": key.mode}


def song_metrics(midi_path: str | Path, key: bool = True) -> dict:
    """The melody of a MIDI file: window means, empty-beat rate, longest silence, key, windows, notes."""
    music = muspy.read_midi(str(midi_path))
    melody = solo(melody_track(music), music.resolution)
    end = round(music.get_end_time() * RESOLUTION / music.resolution)  # the song's, rests included
    windows = window_metrics(melody, end)
    result: dict = {"file": str(midi_path), "windows_measured": len(windows)}
    result.update({m: mean_of(windows, m) for m in WINDOW_METRICS})
    result["empty_beat_rate"] = float(muspy.empty_beat_rate(melody)) if melody.tracks[0].notes else 1.0
    result["longest_silence_beats"] = longest_silence(melody, end)
    if key:
        result.update(key_of(Path(midi_path)))
    result["windows"] = windows
    result["melody"] = melody_notes(melody)
    return result


# --- novelty -----------------------------------------------------------------------------------------

SEPARATOR = "\x00"


class _Alphabet:
    """One character per duration and per interval, from disjoint ranges, so that a match of
    ``D0 I1 D1 I2 D2`` can only start on a duration: a run of k notes is 2k-1 characters."""

    def __init__(self) -> None:
        self.chars: dict[tuple[str, int], str] = {}

    def char(self, kind: str, value: int) -> str:
        if (kind, value) not in self.chars:
            self.chars[(kind, value)] = chr(0x100 + 2 * len(self.chars) + (kind == "i"))
        return self.chars[(kind, value)]

    def encode(self, melody: Sequence[Note]) -> str:
        out = []
        for k, (pitch, duration, _) in enumerate(melody):
            if k:
                out.append(self.char("i", pitch - melody[k - 1][0]))
            out.append(self.char("d", duration))
        return "".join(out)


GRAM = 4  # notes: every run this long is first looked up in a set of the corpus's, not searched for


class _Corpus:
    """Encoded corpus melodies joined by separators, with the set of their GRAM-note runs."""

    def __init__(self, alphabet: _Alphabet, melodies: Sequence[Sequence[Note]]) -> None:
        texts = [alphabet.encode(m) for m in melodies]
        self.text = SEPARATOR + SEPARATOR.join(texts) + SEPARATOR
        width = 2 * GRAM - 1
        self.grams = {t[k : k + width] for t in texts for k in range(0, len(t) - width + 1, 2)}

    def found(self, text: str, first: int, last: int) -> bool:
        """Whether notes first..last (inclusive) of an encoded melody occur verbatim."""
        if last - first + 1 >= GRAM and text[2 * (last - GRAM + 1) : 2 * last + 1] not in self.grams:
            return False
        return text[2 * first : 2 * last + 1] in self.text


def _longest_run(melody: Sequence[Note], text: str, corpus: _Corpus) -> tuple[int, int]:
    """Length and first note of the longest run of notes found verbatim (two pointers: a sub-run of
    a found run is found, so the end never moves back)."""
    best, best_start, end = 0, 0, 0
    for start in range(len(melody)):
        end = max(end, start)
        while end < len(melody) and corpus.found(text, start, end):
            end += 1
        if end - start > best:
            best, best_start = end - start, start
    return best, best_start


def _stretches(melody: Sequence[Note], bars: int) -> list[tuple[int, int]]:
    """Note index ranges [first, last] of every bar-aligned ``bars``-long stretch with 2+ notes."""
    if not melody:
        return []
    out, span = [], 16 * bars
    for bar in range(melody[-1][2] // 16 + 1):
        idx = [k for k, n in enumerate(melody) if bar * 16 <= n[2] < bar * 16 + span]
        if len(idx) >= 2 and (bars == 1 or melody[-1][2] >= bar * 16 + span - 16):
            out.append((idx[0], idx[-1]))
    return out


def _novelty_of(melody: list[Note], alphabet: _Alphabet, corpus: _Corpus) -> dict:
    text = alphabet.encode(melody)
    run, first = _longest_run(melody, text, corpus)
    last = first + run - 1
    run_bars = (melody[last][2] + melody[last][1] - melody[first][2]) / 16 if run else 0.0
    return {
        "longest_run_notes": run,
        "longest_run_bars": run_bars,
        "two_bar_found_share": _share(_stretches(melody, 2), lambda s: corpus.found(text, *s)),
        "eight_bar_found": run_bars >= 8 or any(corpus.found(text, *s) for s in _stretches(melody, 8)),
    }


def novelty(melodies: Sequence[Sequence[Note]], corpus_melodies: Sequence[Sequence[Note]]) -> dict:
    """New music, not recall: per melody the longest run of notes found verbatim in the corpus (as
    intervals and durations, so in any key), its length in bars, the share of 2-bar stretches found,
    and whether an 8-bar stretch is found."""
    alphabet = _Alphabet()
    corpus = _Corpus(alphabet, corpus_melodies)
    songs = [_novelty_of(sorted(m, key=lambda n: n[2]), alphabet, corpus) for m in melodies]
    return {
        "songs": songs,
        "longest_run_bars": max((s["longest_run_bars"] for s in songs), default=0.0),
        "two_bar_found_share": mean_of(songs, "two_bar_found_share"),
        "eight_bar_found": any(s["eight_bar_found"] for s in songs),
    }


def tokens_to_melody(tokens: Sequence[str]) -> list[Note]:
    """bgm tokens ("_" or "60:4", chords "48.64.67:8") as notes, the top pitch of a chord."""
    notes = []
    for step, token in enumerate(tokens):
        if token != "_":
            pitches, steps = token.split(":")
            notes.append((max(int(p) for p in pitches.split(".")), int(steps), step))
    return notes


def held_out_by_mood(
    per_mood: int = 40, cache: Path = ROOT / "bench" / "results" / "mood_reference.json"
) -> dict[str, list[dict]]:
    """Up to ``per_mood`` pieces per mood from those training holds out (its validation split, as the
    default model was trained: seed 0), each measured as ``corpus_reference`` measures a piece: its
    first part, repeats expanded; cached. ``corpus_reference`` holds only 3-54 pieces of a mood, too
    few for a two-sample test (its figure moved by 0.15 between runs); the model's own training
    melodies would do, but they are read without their repeats, which a performance plays."""
    from bgm.training_defaults import DEFAULTS
    from training import corpus, dataset

    key = f"per_mood={per_mood} v={CORPUS_VERSION}"
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if key in cached:
        return cached[key]
    sources, _ = corpus.collect(corpus.default_corpus_files())
    pieces, _ = corpus.load(sources, DEFAULTS.cache_dir, progress=False)
    _, held_out = dataset.split(dataset.label(pieces), DEFAULTS.validation, DEFAULTS.seed)
    reference: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in np.random.default_rng(0).permutation(len(held_out)):
            item = held_out[int(i)]
            chosen = reference.setdefault(item.mood, [])
            if len(chosen) < per_mood:
                record = _measured_piece(*_score_of(item.piece.source), Path(tmp) / "piece.mid")
                if record is not None and record["training_mood"] == item.mood:  # the same piece
                    chosen.append(record)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cached[key] = reference
    cache.write_text(json.dumps(json_safe(cached)) + "\n")
    return reference


def _score_of(source: str) -> tuple[str, int | None]:
    """A cached piece's ``<file>#<score index>`` as (file, ABC tune number or None)."""
    path, index = source.rsplit("#", 1)
    if not path.endswith(".abc"):
        return path, None
    numbers = re.findall(r"^X:\s*(\d+)", Path(path).read_text(encoding="utf-8", errors="replace"), re.M)
    return path, int(numbers[int(index)]) if int(index) < len(numbers) else None


def training_melodies(cache_dir: Path | None = None, parse_missing: bool = True) -> list[list[Note]]:
    """bgm's default training corpus as melodies (call under ``if __name__ == "__main__"``: the
    parser spawns workers). With ``parse_missing`` False, refuse to parse what the cache lacks."""
    from bgm.tokens import TOKENIZER_VERSION
    from training import corpus

    cache_dir = cache_dir or Path.home() / ".cache" / "bgm" / "parsed"
    sources, _ = corpus.collect(corpus.default_corpus_files())
    missing = [s for s in sources if not (cache_dir / f"{s.digest}-t{TOKENIZER_VERSION}.json").exists()]
    if missing and not parse_missing:
        raise RuntimeError(f"{len(missing)} of {len(sources)} corpus files are not parsed in {cache_dir}")
    pieces, _ = corpus.load(sources, cache_dir, progress=False)
    return [tokens_to_melody(p.tokens) for p in pieces]


# --- the two-sample test -----------------------------------------------------------------------------


def feature_vector(window: dict) -> list[float]:
    """A window's features for the classifier: its metrics, then its two histograms (None: NaN, as
    JSON stores it)."""
    metrics = [math.nan if window[m] is None else float(window[m]) for m in WINDOW_METRICS]
    return metrics + window["interval_hist"] + window["duration_hist"]


def distinct(windows: Sequence[dict]) -> list[dict]:
    """A song's windows, each distinct one once: a chorus played three times is one melody, and
    counting it thrice would let the test recognise a window it was trained on."""
    seen, kept = set(), []
    for w in windows:
        key = tuple(feature_vector(w))
        if key not in seen:
            seen.add(key)
            kept.append(w)
    return kept


def two_sample(
    generated: Sequence[Sequence[dict]], corpus: Sequence[Sequence[dict]], seed: int = 0, draws: int = 5
) -> float:
    """Cross-validated ROC AUC of a logistic regression telling generated windows from corpus ones
    (0.5: indistinguishable). Each side is given as songs (pieces), each a list of windows; a song's
    distinct windows stay together in one fold, so the test must generalise to songs it has not
    seen; the side with more windows is subsampled to balance the classes. The mean over ``draws``
    subsamples and fold splits: one alone moves by about ±0.05 with the draw."""
    return float(np.mean([_two_sample_once(generated, corpus, seed * draws + k) for k in range(draws)]))


def _two_sample_once(
    generated: Sequence[Sequence[dict]], corpus: Sequence[Sequence[dict]], seed: int
) -> float:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    sides = [[(g, w) for g, song in enumerate(side) for w in distinct(song)] for side in (generated, corpus)]
    n = min(len(side) for side in sides)
    groups_per_side = min(len({g for g, _ in side}) for side in sides)
    if n < 5 or groups_per_side < 5:
        return math.nan  # too few windows, or songs, for 5 folds
    picked = [[side[i] for i in sorted(rng.choice(len(side), size=n, replace=False))] for side in sides]
    x = np.array([feature_vector(w) for side in picked for _, w in side])
    y = np.array([1] * n + [0] * n)
    groups = np.array([g for g, _ in picked[0]] + [len(generated) + g for g, _ in picked[1]])
    model = make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True),  # NaN: e.g. no second bar to repeat
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(model, x, y, groups=groups, cv=folds, scoring="roc_auc")))


def two_sample_sanity(corpus: Sequence[Sequence[dict]], seed: int = 0, splits: int = 5) -> float:
    """The test on corpus pieces against corpus pieces, averaged over ``splits`` random halvings
    (one alone swings by ±0.05): should be about 0.5."""
    aucs = []
    for k in range(splits):
        order = np.random.default_rng([seed, k]).permutation(len(corpus))
        half = len(corpus) // 2
        aucs.append(two_sample([corpus[i] for i in order[:half]], [corpus[i] for i in order[half:]], seed))
    return float(np.mean(aucs))


# --- the corpus reference: first parts of music21 corpus pieces ----------------------------------------


def corpus_pool(seed: int) -> list[tuple[str, int | None]]:
    """Every corpus piece as (file, ABC tune number or None), shuffled, the collections taking turns:
    Essen alone holds two thirds of the tunes, and one style is not the corpus."""
    from music21 import corpus

    pools = []
    for collection in CORPUS_COLLECTIONS:
        pool: list[tuple[str, int | None]] = []
        for path in sorted(str(p) for p in corpus.getComposer(collection)):
            if path.endswith(".abc"):  # an ABC file is an opus of tunes
                text = Path(path).read_text(encoding="utf-8", errors="replace")
                pool += [(path, int(x)) for x in re.findall(r"^X:\s*(\d+)", text, re.M)]
            elif path.endswith(CORPUS_SUFFIXES):
                pool.append((path, None))
        random.Random(f"{seed}-{collection}").shuffle(pool)
        pools.append(pool)
    return [p for turn in itertools.zip_longest(*pools) for p in turn if p is not None]


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError in the main thread after ``seconds``: music21 loops for ever on a few pieces
    (reading back the MIDI of airdsAirs/book1.abc #102 ran for over 15 minutes)."""

    def expired(*_):
        raise TimeoutError(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def parse_piece(path: str, number: int | None):
    from music21 import converter

    return converter.parse(path, number=number) if number is not None else converter.parse(path)


def mood_of_piece(parsed, source: str) -> str | None:
    """The mood training gives this piece (bgm.moods' rule on the whole score), or ``None`` for a
    piece training leaves out (a meter off the song grid, e.g. 3/4 or 6/8)."""
    from bgm.score import pieces_of
    from training.dataset import label

    labelled = label(pieces_of(parsed, source))
    return labelled[0].mood if labelled else None


def first_part_midi(parsed, midi_path: Path) -> None:
    """Write the first part of a parsed corpus piece to MIDI (repeats expanded, as music21 does),
    without grace notes: written with no length, each one's note-off pairs with a later note of its
    pitch, and the tune gets notes held for bars (a lead's polyphony of 1.14 ± 0.50 in issue 11)."""
    from music21 import stream

    part = parsed.parts[0] if parsed.parts else parsed
    for grace in [n for n in part.recurse().notes if n.duration.isGrace]:
        if grace.activeSite is not None:
            grace.activeSite.remove(grace)
    try:
        part.write("midi", fp=str(midi_path))
    except Exception:  # music21's writer breaks on some meter changes: notes at their offsets will do
        flat = stream.Part()
        for element in part.flatten().notes:
            flat.insert(element.offset, copy.deepcopy(element))
        flat.write("midi", fp=str(midi_path))


def corpus_reference(
    n: int = 150, seed: int = 0, cache: Path = ROOT / "bench" / "results" / "corpus_reference.json"
) -> list[dict]:
    """The first part of ``n`` seeded music21-corpus pieces, measured as songs are, each with the
    mood training would give it; cached."""
    key = f"n={n} seed={seed} v={CORPUS_VERSION}"
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if key in cached:
        return cached[key]
    pool = corpus_pool(seed)
    pieces: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, number in pool:  # the shuffled pool, until n pieces have a measurable window
            if len(pieces) == n:
                break
            record = _measured_piece(path, number, Path(tmp) / "piece.mid")
            if record is not None:
                pieces.append(record)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cached[key] = pieces
    cache.write_text(json.dumps(json_safe(cached)) + "\n")
    return pieces


def _measured_piece(path: str, number: int | None, midi_path: Path) -> dict | None:
    """A corpus piece's first part measured as a song's melody, with the mood training gives the
    piece; None for a piece music21 or MusPy cannot read or with no window to measure."""
    try:
        with time_limit(PIECE_SECONDS):
            parsed = parse_piece(path, number)
            first_part_midi(parsed, midi_path)
            record = song_metrics(midi_path)
            record["training_mood"] = mood_of_piece(parsed, path)
    except Exception as error:
        print(f"  corpus: skipped {Path(path).name} #{number}: {error!r}", file=sys.stderr)
        return None
    if not record["windows_measured"]:
        return None
    record.pop("melody")
    record["file"] = f"{Path(path).parent.name}/{Path(path).name}#{number or ''}"
    return record


def json_safe(value):
    """``value`` with NaN as null (strict JSON) and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
