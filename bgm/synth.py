"""FluidSynth in this process: libfluidsynth through ctypes, notes in, float audio out.

The same synthesiser, SoundFont, gain, reverb and chorus as the ``fluidsynth`` program, without a
process, a MIDI file to parse or a WAV file to read back per render. ctypes lets go of the GIL
while the library renders, so synths on several threads use several cores. A SoundFont loads in a
few tens of milliseconds (samples are read when a program first needs them), so each render has a
fresh synth: one that has played before sounds slightly different.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAIN = 0.5  # as ``fluidsynth -g 0.5``: loud mixes stay clear of clipping before levelling
SILENT = 1e-5  # -100 dBFS: a tail this quiet is over
TAIL_BLOCK = 2048  # frames rendered at a time while a tail dies away
MAX_TAIL_S = 5.0  # longer than any release and reverb in a General MIDI font
_LOG_LEVELS = range(5)  # FLUID_PANIC .. FLUID_DBG: kept out of the terminal

_P, _I = ctypes.c_void_p, ctypes.c_int
_SIGNATURES = {  # name: (result, arguments)
    "new_fluid_settings": (_P, []),
    "delete_fluid_settings": (None, [_P]),
    "fluid_settings_setnum": (_I, [_P, ctypes.c_char_p, ctypes.c_double]),
    "fluid_settings_setint": (_I, [_P, ctypes.c_char_p, _I]),
    "new_fluid_synth": (_P, [_P]),
    "delete_fluid_synth": (None, [_P]),
    "fluid_synth_sfload": (_I, [_P, ctypes.c_char_p, _I]),
    "fluid_synth_program_change": (_I, [_P, _I, _I]),
    "fluid_synth_noteon": (_I, [_P, _I, _I, _I]),
    "fluid_synth_noteoff": (_I, [_P, _I, _I]),
    "fluid_synth_write_float": (_I, [_P, _I, _P, _I, _I, _P, _I, _I]),
    "fluid_set_log_function": (_P, [_I, _P, _P]),
}
_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()
# The first synth fills the library's shared tables while later ones may already read them: two synths
# made at once on two threads have rendered one of them far too loud. Synths are made one at a time.
_create_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """libfluidsynth (Debian's libfluidsynth3, which the fluidsynth program depends on); OSError if absent."""
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
            lib = ctypes.CDLL(name)
            for function, (result, arguments) in _SIGNATURES.items():
                getattr(lib, function).restype = result
                getattr(lib, function).argtypes = arguments
            for level in _LOG_LEVELS:
                lib.fluid_set_log_function(level, None, None)
            _lib = lib
        return _lib


def available() -> bool:
    try:
        library()
    except OSError:
        return False
    return True


@dataclass(frozen=True, order=True)
class Event:
    """A note starting (``velocity`` > 0) or stopping at ``frame``; stops sort first at equal frames."""

    frame: int
    velocity: int
    channel: int
    key: int


class Synth:
    """One FluidSynth with one SoundFont loaded, for one ``render``."""

    def __init__(self, soundfont: str | Path, rate: int, *, effects: bool = True, gain: float = GAIN) -> None:
        """``effects``: FluidSynth's reverb and chorus, as its program has them (off: dry)."""
        with _create_lock:
            self._create(soundfont, rate, effects, gain)

    def _create(self, soundfont: str | Path, rate: int, effects: bool, gain: float) -> None:
        self._lib = lib = library()
        self.rate = rate
        self._used = False
        self._settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(self._settings, b"synth.sample-rate", float(rate))
        lib.fluid_settings_setnum(self._settings, b"synth.gain", gain)
        lib.fluid_settings_setint(self._settings, b"synth.dynamic-sample-loading", 1)
        lib.fluid_settings_setint(self._settings, b"synth.reverb.active", int(effects))
        lib.fluid_settings_setint(self._settings, b"synth.chorus.active", int(effects))
        self._synth = lib.new_fluid_synth(self._settings)
        if not self._synth:
            lib.delete_fluid_settings(self._settings)
            raise RuntimeError("FluidSynth could not start a synthesiser")
        if lib.fluid_synth_sfload(self._synth, str(soundfont).encode(), 1) < 0:
            self.close()
            raise RuntimeError(f"FluidSynth could not load the SoundFont {soundfont}")

    def close(self) -> None:
        if self._synth:
            self._lib.delete_fluid_synth(self._synth)
            self._lib.delete_fluid_settings(self._settings)
            self._synth = None

    def render(self, programs: dict[int, int], events: Iterable[Event], frames: int) -> np.ndarray:
        """Stereo float32 audio of ``events``: at least ``frames`` long, then on until the last note's
        release and the reverb have died away."""
        lib, synth = self._lib, self._synth
        if self._used:
            raise RuntimeError("a synth renders once: one that has played sounds different (see fresh)")
        self._used = True
        for channel, program in programs.items():
            lib.fluid_synth_program_change(synth, channel, program)
        events = sorted(events)
        length = max([frames, *(e.frame for e in events[-1:])])
        out = np.zeros((length + round(MAX_TAIL_S * self.rate), 2), dtype=np.float32)
        now = 0
        for event in events:
            self._write(out, now, event.frame - now)
            now = event.frame
            if event.velocity:
                lib.fluid_synth_noteon(synth, event.channel, event.key, event.velocity)
            else:
                lib.fluid_synth_noteoff(synth, event.channel, event.key)
        self._write(out, now, length - now)
        now = length
        while now + TAIL_BLOCK <= len(out):
            self._write(out, now, TAIL_BLOCK)
            now += TAIL_BLOCK
            if np.abs(out[now - TAIL_BLOCK : now]).max() < SILENT:
                break
        return out[:now]

    def _write(self, out: np.ndarray, start: int, frames: int) -> None:
        """``frames`` of audio into ``out`` from ``start``: left and right interleaved in place."""
        if frames > 0:
            base = out.ctypes.data
            self._lib.fluid_synth_write_float(self._synth, frames, base, 2 * start, 2, base, 2 * start + 1, 2)


@contextmanager
def fresh(soundfont: str | Path, rate: int, *, effects: bool = True) -> Iterator[Synth]:
    """A new synth with ``soundfont`` loaded, closed when done: one per render. A used synth keeps
    what no reset clears (its chorus and reverb modulation, its recycled voices), so the same notes
    came out up to -43 dB different after other songs, and a seed did not give the same file twice.
    Making one costs ~30 ms (the SoundFont's samples come from the page cache)."""
    synthesizer = Synth(soundfont, rate, effects=effects)
    try:
        yield synthesizer
    finally:
        synthesizer.close()
