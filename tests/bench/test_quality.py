"""bench/quality.py's pure functions on tiny MIDI files made here (pretty_midi, 120 bpm: a beat is 0.5 s)."""

from __future__ import annotations

import math
from pathlib import Path

import muspy
import pytest

pretty_midi = pytest.importorskip("pretty_midi")

from bench import quality  # noqa: E402
from bench.quality_features import (  # noqa: E402
    distinct,
    melody_track,
    novelty,
    song_metrics,
    tokens_to_melody,
    two_sample,
    window_metrics,
)

BEAT = 0.5  # seconds at 120 bpm
MOTIF = [(0, 1), (2, 1), (4, 1), (0, 1)]  # (semitones above the bar's root, beats): C D E C


def write(path: Path, tracks: dict[str, list[tuple[int, float, float]]], drums: str | None = None) -> Path:
    """A MIDI file with one instrument per named track of (pitch, start beat, beats) notes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    for name, notes in tracks.items():
        inst = pretty_midi.Instrument(program=0, is_drum=name == drums, name=name)
        inst.notes = [
            pretty_midi.Note(velocity=80, pitch=p, start=s * BEAT, end=(s + d) * BEAT) for p, s, d in notes
        ]
        pm.instruments.append(inst)
    pm.write(str(path))
    return path


def motif_bars(bars: int, root: int = 60, transpose_each: int = 0) -> list[tuple[int, float, float]]:
    """The motif once per bar, each bar ``transpose_each`` semitones above the one before."""
    notes, beat = [], 0.0
    for bar in range(bars):
        for offset, beats in MOTIF:
            notes.append((root + bar * transpose_each + offset, beat, beats))
            beat += beats
    return notes


def test_melody_track_by_name_else_first_pitched(tmp_path):
    named = muspy.read_midi(str(write(tmp_path / "a.mid", {"bass": [(40, 0, 1)], "melody": [(72, 0, 1)]})))
    assert melody_track(named).notes[0].pitch == 72
    unnamed = write(tmp_path / "b.mid", {"kit": [(36, 0, 1)], "lead": [(67, 0, 1)]}, drums="kit")
    assert melody_track(muspy.read_midi(str(unnamed))).notes[0].pitch == 67


def test_window_metrics_of_a_repeated_transposed_motif(tmp_path):
    path = write(tmp_path / "m.mid", {"melody": motif_bars(8, transpose_each=2)})
    music = muspy.read_midi(str(path))
    [window] = window_metrics(muspy.Music(resolution=music.resolution, tracks=[melody_track(music)]))
    assert window["bars"] == 8 and window["notes"] == 32
    assert window["rhythm_repeat"] == 1.0  # every bar after the first: the first bar's rhythm
    assert window["interval_repeat"] == 1.0  # ... and its intervals, a tone higher
    assert window["polyphony"] == 1.0
    assert window["pitch_range"] == 14 + 4  # roots C..C+14, each bar reaching a third above
    assert window["notes_per_bar"] == 4.0 and window["eighth_share"] == 0.0
    # Intervals: +2 +2 -4 in the bar, then +2 from one bar's C to the next bar's D.
    assert window["step_share"] == pytest.approx(23 / 31)
    assert window["repeat_share"] == 0.0 and window["leap_share"] == 0.0
    assert sum(window["interval_hist"]) == pytest.approx(1.0) and sum(window["duration_hist"]) == 1.0


def test_windows_are_8_bars_and_sparse_ones_are_skipped(tmp_path):
    notes = motif_bars(16)[:-1]  # 16 bars, the last note left out
    music = muspy.read_midi(str(write(tmp_path / "m.mid", {"melody": notes})))
    whole = muspy.Music(resolution=music.resolution, tracks=[music.tracks[0]])
    assert [w["start_bar"] for w in window_metrics(whole)] == [0, 8]  # the second one fills its 8th bar
    assert window_metrics(whole)[0]["interval_repeat"] == 1.0  # the same motif at the same pitch
    sparse = muspy.Music(resolution=music.resolution, tracks=[music.tracks[0].deepcopy()])
    sparse.tracks[0].notes = [n for n in sparse.tracks[0].notes if n.time < 8 * 4 * music.resolution] + [
        n for n in sparse.tracks[0].notes if n.time >= 15 * 4 * music.resolution
    ]  # the second window: 3 notes in its last bar
    assert [w["start_bar"] for w in window_metrics(sparse)] == [0]
    short = muspy.Music(resolution=music.resolution, tracks=[music.tracks[0].deepcopy()])
    short.tracks[0].notes = short.tracks[0].notes[: 4 * 12]  # 12 bars: the second window is a 4-bar tail
    assert [w["start_bar"] for w in window_metrics(short)] == [0]


def test_song_metrics_silence_empty_beats_and_key(tmp_path):
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    cadence = [72, 67, 64, 67, 65, 62, 59, 60]
    half = [(p, k, 1) for k, p in enumerate(scale)] + [(p, 11 + k, 1) for k, p in enumerate(cadence)]
    notes = half + [(p, 19 + start, d) for p, start, d in half]  # 38 beats: one full 8-bar window
    path = write(tmp_path / "s.mid", {"melody": notes})
    result = song_metrics(path)
    assert result["windows_measured"] == 1  # the 9th and 10th bars do not fill a second window
    assert result["longest_silence_beats"] == 3.0  # beats 8, 9 and 10
    assert result["empty_beat_rate"] == pytest.approx(4 / 39)  # MusPy: a note's end beat counts as sounding
    assert result["mode"] == "major" and result["tonic"] == "C"
    assert result["melody"][:2] == [(60, 4, 0), (62, 4, 4)]  # in 16ths
    assert result["pitch_range"] == 13 and result["n_pitches_used"] == 9
    minor = [
        (p, k, 1) for k, p in enumerate([57, 60, 64, 69, 64, 60, 59, 57, 69, 68, 69, 64, 62, 60, 59, 57])
    ]
    assert song_metrics(write(tmp_path / "m.mid", {"melody": minor}))["key"] == "A minor"


def test_tokens_to_melody_takes_the_top_of_a_chord():
    assert tokens_to_melody(["60:4", "_", "_", "_", "48.64.67:8", "_"]) == [(60, 4, 0), (67, 8, 4)]


def test_novelty_finds_a_transposed_copy_and_not_a_new_tune():
    tune = [(60 + (k * 5) % 12, 2 if k % 3 else 4, 0) for k in range(80)]
    onset = 0
    for k, (p, d, _) in enumerate(tune):  # onsets from the durations: a monophonic line
        tune[k] = (p, d, onset)
        onset += d
    copied = [(p + 7, d, o) for p, d, o in tune]  # another key, same tune
    fresh = [(60 + (k * k) % 13, 2, 2 * k) for k in range(80)]
    result = novelty([copied, fresh], [[(50, 4, 0), (52, 4, 4)], tune])
    found, new = result["songs"]
    assert found["longest_run_notes"] == 80 and found["eight_bar_found"]
    assert found["longest_run_bars"] == onset / 16 and found["two_bar_found_share"] == 1.0
    assert new["longest_run_notes"] < 4 and not new["eight_bar_found"]
    assert result["eight_bar_found"] and result["longest_run_bars"] == found["longest_run_bars"]


def test_novelty_does_not_match_across_pieces():
    a = [(60, 2, 0), (62, 2, 2), (64, 2, 4)]
    b = [(65, 2, 0), (67, 2, 2)]
    joined = a + [(p, d, o + 6) for p, d, o in b]
    assert novelty([joined], [a, b])["songs"][0]["longest_run_notes"] == 3


def window(value: float, noise: float) -> dict:
    """A window record whose every feature is ``value`` plus a little ``noise``."""
    metrics = quality.WINDOW_METRICS
    return {
        **{m: value + noise * (k % 3) for k, m in enumerate(metrics)},
        "interval_hist": [value] * 25,
        "duration_hist": [noise] * 8,
    }


def test_two_sample_tells_apart_what_differs_and_not_what_does_not():
    import random

    rng = random.Random(0)

    def songs(mean: float, count: int = 20) -> list[list[dict]]:
        return [[window(rng.gauss(mean, 1), rng.random()) for _ in range(3)] for _ in range(count)]

    corpus, same, apart = songs(0), songs(0), songs(5)
    assert two_sample(apart, corpus) > 0.95
    assert 0.3 < two_sample(same, corpus) < 0.7
    assert math.isnan(two_sample(apart[:3], corpus))  # too few songs for 5 folds


def test_a_song_s_repeated_windows_count_once():
    a, b = window(0.5, 0.1), window(2.0, 0.1)
    song = [a, dict(b), dict(a), b, dict(a)]  # a chorus (a) played three times around a verse (b)
    assert distinct(song) == [a, b]


def test_judge_and_file_names():
    stats = {"mean": 2.5, "sd": 0.2}
    assert quality.judge("sd1", 2.65, stats) and not quality.judge("sd1", 2.75, stats)
    assert quality.judge("sd2", 2.85, stats) and quality.judge("low1", 2.4, stats)
    assert quality.judge(("max", 0.02), 0.01, stats) and not quality.judge(("min", 6), 5.5, stats)
    assert quality.judge(None, 1.0, stats) is None and quality.judge("sd1", math.nan, stats) is False
    assert quality.mood_from_name(Path("out/bgm-sad-101.mid")) == "sad"
    assert quality.mood_from_name(Path("bgm-sad-101-v2.mid")) == "sad"
    assert quality.mood_from_name(Path("notes.mid")) is None


def test_piano_roll_writes_a_png(tmp_path):
    path = write(tmp_path / "p.mid", {"melody": motif_bars(4), "kit": [(36, 0, 1)]}, drums="kit")
    png = quality.piano_roll(path, tmp_path / "p.png", "test", [("verse", 0), ("chorus", 8)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_songs_as_a_whole_are_taken_in_the_corpus_s_mood_proportions():
    corpus = [{"training_mood": m} for m in ["playful"] * 6 + ["sad"] * 3 + ["calm"] + [None] * 5]
    songs = [{"mood": m, "seed": k} for m in ("playful", "sad", "calm", "epic") for k in range(4)]
    mixed = quality.in_corpus_mix(songs, corpus)
    counts = {m: sum(s["mood"] == m for s in mixed) for m in ("playful", "sad", "calm", "epic")}
    # playful all 4, sad 4 * 3/6 = 2, calm at least one, epic (no corpus piece is epic) none
    assert counts == {"playful": 4, "sad": 2, "calm": 1, "epic": 0}
    assert [s["seed"] for s in mixed if s["mood"] == "sad"] == [0, 1]
