"""The radio's timeline: songs placed one after another (or cut in at a phrase) on a frame clock,
read 20 ms at a time as 16-bit stereo PCM at 48 kHz, the way discord.py's voice encoder takes it.

Each song sits in the timeline from its ``start`` frame to its ``end`` frame with an equal-power
fade in and out where it overlaps its neighbours; ``read`` mixes whatever sounds in the next 20 ms.
Nothing here waits: the audio thread calls ``read`` every 20 ms and must get an answer at once, so
the event loop only places songs (under a lock held for microseconds), and when nothing is placed
``read`` answers silence and counts an underrun rather than block or end the stream. No Discord.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

RATE = 48_000
FRAME = 960  # 20 ms: one Opus packet
FRAME_BYTES = FRAME * 2 * 2  # stereo, 16-bit
SILENCE = bytes(FRAME_BYTES)


@dataclass
class Entry:
    """One song in the timeline; ``tag`` is handed to ``on_start`` when it begins to sound."""

    tag: Any
    pcm: np.ndarray  # int16, (frames, 2)
    phrases: tuple[int, ...]  # frames from the song's start where a phrase begins
    start: int
    end: int
    fade_in: int = 0
    fade_out: int = 0  # frames before ``end`` over which it fades to nothing
    started: bool = False


def _ramp(x: np.ndarray) -> np.ndarray:
    """Equal-power fade: a song fading in and one fading out keep the loudness of either."""
    return np.sin(np.pi / 2 * np.clip(x, 0.0, 1.0))


class PcmStream:
    """Songs on a timeline, read in 20 ms frames; ``crossfade`` frames join two songs."""

    def __init__(self, crossfade: int, on_start: Callable[[Any], None] | None = None) -> None:
        self.crossfade = crossfade
        self.on_start = on_start
        self.position = 0  # frames read so far: the play head
        self.underruns = 0  # 20 ms reads that found nothing (or not enough) placed to play
        self._entries: list[Entry] = []
        self._lock = threading.Lock()

    # -- placing songs (the event loop)

    def append(self, tag: Any, pcm: np.ndarray, phrases: tuple[int, ...] = ()) -> int:
        """Place a song after the last one, overlapping it by the crossfade; returns its start frame."""
        with self._lock:
            last = self._entries[-1] if self._entries else None
            if last is None or last.end <= self.position:
                return self._place(tag, pcm, phrases, self.position, fade_in=min(self.crossfade, FRAME))
            start = max(self.position, last.end - self.crossfade)
            overlap = last.end - start
            last.fade_out = max(last.fade_out, overlap)
            return self._place(tag, pcm, phrases, start, fade_in=overlap)

    def cut_in(self, tag: Any, pcm: np.ndarray, at: int, phrases: tuple[int, ...] = ()) -> int:
        """Place a song at frame ``at``: what was to start from then on is dropped, and what sounds
        then fades out over the crossfade as the new song fades in. Returns its start frame."""
        with self._lock:
            at = max(at, self.position)
            self._entries = [e for e in self._entries if e.start < at]
            for entry in self._entries:
                if entry.end > at:
                    entry.end = min(entry.end, at + self.crossfade)
                    entry.fade_out = entry.end - at
            return self._place(tag, pcm, phrases, at, fade_in=self.crossfade)

    def _place(self, tag: Any, pcm: np.ndarray, phrases: tuple[int, ...], start: int, fade_in: int) -> int:
        self._entries.append(Entry(tag, pcm, phrases, start, start + len(pcm), fade_in=fade_in))
        return start

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- what the event loop asks

    def ahead(self) -> int:
        """Frames placed past the play head."""
        with self._lock:
            return max([e.end for e in self._entries] + [self.position]) - self.position

    def waiting(self) -> int:
        """Songs placed that have not begun to sound."""
        with self._lock:
            return sum(1 for e in self._entries if not e.started)

    def next_phrase(self, after: int) -> int | None:
        """The first phrase start, or song start, at or after frame ``after`` (None: none placed)."""
        with self._lock:
            starts = [e.start for e in self._entries if e.start >= after]
            # a phrase with less than a crossfade of its song left is the song's end, not a phrase
            inside = [
                e.start + p
                for e in self._entries
                for p in e.phrases
                if after <= e.start + p < e.end - self.crossfade
            ]
            marks = starts + inside
        return min(marks, default=None)

    # -- the audio thread

    def read(self) -> bytes:
        """The next 20 ms: never blocks, never ends (silence, counted, when nothing is placed)."""
        started: list[Any] = []
        with self._lock:
            begin, stop = self.position, self.position + FRAME
            self._entries = [e for e in self._entries if e.end > begin]
            playing = [e for e in self._entries if e.start < stop]
            covered = begin
            mix = np.zeros((FRAME, 2), dtype=np.float32)
            for entry in sorted(playing, key=lambda e: e.start):
                if entry.start <= covered:
                    covered = max(covered, entry.end)
                a, b = max(begin, entry.start), min(stop, entry.end)
                frames = np.arange(a, b)
                gain = np.ones(b - a, dtype=np.float32)
                if entry.fade_in:
                    gain *= _ramp((frames - entry.start) / entry.fade_in)
                if entry.fade_out:
                    gain *= _ramp((entry.end - frames) / entry.fade_out)
                mix[a - begin : b - begin] += entry.pcm[a - entry.start : b - entry.start] * gain[:, None]
                if not entry.started:
                    entry.started = True
                    started.append(entry.tag)
            if covered < stop:
                self.underruns += 1
            self.position = stop
        if self.on_start is not None:
            for tag in started:
                self.on_start(tag)
        if not playing:
            return SILENCE
        return np.clip(mix, -32768, 32767).astype("<i2").tobytes()
