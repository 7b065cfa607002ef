"""The radio's timeline, without Discord: what ``read`` returns as songs are placed, joined and cut."""

from __future__ import annotations

import numpy as np

from bot.radio.stream import FRAME, FRAME_BYTES, SILENCE, PcmStream

CROSSFADE = 4 * FRAME


def tone(frames: int, level: int = 10_000, seed: int = 0) -> np.ndarray:
    """Noise at a steady level: any gap, jump or repeat shows in it."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (frames, 2)) * level).astype(np.int16)


def read_frames(stream: PcmStream, count: int) -> np.ndarray:
    chunks = [stream.read() for _ in range(count)]
    assert all(len(chunk) == FRAME_BYTES for chunk in chunks)
    return np.frombuffer(b"".join(chunks), dtype="<i2").reshape(-1, 2)


def test_a_song_reads_back_as_placed_after_its_first_frame_fade():
    stream = PcmStream(CROSSFADE)
    song = tone(50 * FRAME)
    assert stream.append("a", song) == 0
    out = read_frames(stream, 50)
    np.testing.assert_array_equal(out[FRAME:], song[FRAME:])  # the first 20 ms fades in (no click)
    assert stream.underruns == 0 and stream.position == 50 * FRAME


def test_nothing_placed_reads_silence_and_counts_an_underrun_without_blocking():
    stream = PcmStream(CROSSFADE)
    assert stream.read() == SILENCE and stream.underruns == 1
    stream.append("a", tone(2 * FRAME))
    read_frames(stream, 2)
    assert stream.underruns == 1
    assert stream.read() == SILENCE and stream.underruns == 2  # the song ran out


def test_two_songs_overlap_by_the_crossfade_with_equal_power_and_no_gap():
    stream = PcmStream(CROSSFADE)
    a, b = tone(20 * FRAME, seed=1), tone(20 * FRAME, seed=2)
    stream.append("a", a)
    start_b = stream.append("b", b)
    assert start_b == 20 * FRAME - CROSSFADE
    out = read_frames(stream, 36).astype(np.float64)
    assert stream.underruns == 0
    np.testing.assert_array_equal(out[FRAME:start_b], a[FRAME:start_b])
    np.testing.assert_array_equal(out[20 * FRAME :], b[CROSSFADE:])
    # Across the crossfade the two uncorrelated songs keep their loudness (equal power) within 1 dB.
    middle = out[start_b : 20 * FRAME]
    level = 10 * np.log10(np.mean(middle**2) / np.mean(a.astype(np.float64) ** 2))
    assert abs(level) < 1.0, level


def test_a_song_placed_late_starts_at_the_play_head():
    stream = PcmStream(CROSSFADE)
    stream.append("a", tone(2 * FRAME))
    read_frames(stream, 5)
    assert stream.append("b", tone(2 * FRAME)) == 5 * FRAME


def test_cut_in_drops_what_was_queued_and_fades_the_current_song_out():
    stream = PcmStream(CROSSFADE)
    a, queued, new = tone(100 * FRAME, seed=1), tone(100 * FRAME, seed=2), tone(100 * FRAME, seed=3)
    stream.append("a", a)
    stream.append("queued", queued)
    read_frames(stream, 10)
    at = 30 * FRAME
    assert stream.cut_in("new", new, at) == at
    assert stream.waiting() == 1  # "queued" is gone, "new" waits
    out = read_frames(stream, 60)  # frames 10..70
    np.testing.assert_array_equal(out[: at - 10 * FRAME], a[10 * FRAME : at])
    np.testing.assert_array_equal(out[at + CROSSFADE - 10 * FRAME :], new[CROSSFADE : 70 * FRAME - at])
    assert stream.underruns == 0


def test_next_phrase_is_the_first_mark_at_or_after_a_frame():
    stream = PcmStream(CROSSFADE)
    stream.append("a", tone(100 * FRAME), phrases=(20 * FRAME, 50 * FRAME, 99 * FRAME))
    start_b = stream.append("b", tone(100 * FRAME), phrases=(30 * FRAME,))
    assert stream.next_phrase(0) == 0
    assert stream.next_phrase(1) == 20 * FRAME
    assert stream.next_phrase(21 * FRAME) == 50 * FRAME
    # 99 frames in is inside the last crossfade: the next mark is the following song's start.
    assert stream.next_phrase(51 * FRAME) == start_b
    assert stream.next_phrase(start_b + 1) == start_b + 30 * FRAME
    assert PcmStream(CROSSFADE).next_phrase(0) is None


def test_on_start_is_told_once_when_each_song_begins_to_sound():
    started = []
    stream = PcmStream(CROSSFADE, on_start=started.append)
    stream.append("a", tone(10 * FRAME))
    stream.append("b", tone(10 * FRAME))
    read_frames(stream, 1)
    assert started == ["a"]
    read_frames(stream, 5)  # b starts at frame 6 (10 less the 4-frame crossfade)
    assert started == ["a"]
    read_frames(stream, 1)
    assert started == ["a", "b"] and stream.waiting() == 0
