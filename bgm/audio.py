"""MIDI to audio: FluidSynth renders, numpy levels and trims, soundfile encodes (OGG, MP3 or WAV)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from bgm.midi import midi_seconds

RATE = 44100
MAX_BYTES = 10 * 1024 * 1024  # the default cap on a song's files: what a chat upload takes without extras
TARGET_DBFS = -16.0  # loudness every mood is brought to, so a calm song is not half as loud as an epic one
PEAK_DBFS = -1.0  # headroom for the encoder's overshoot
LEVEL_TOLERANCE_DB = 0.2  # closer than this to the target is left alone (a pass costs a second on a song)
TAIL_FRACTION, TAIL_MAX_S = 0.01, 1.0  # reverb kept after the last note: at most 1% of the song
FADE_S = 0.05  # a click-free cut
BLOCK_FRAMES = 65536  # libsndfile 1.2.2's Vorbis writer segfaults on minutes of audio in one call
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian's fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
# Encodings from best to smallest, tried in turn until one fits: (rate, channels, compression level).
# (LAME refuses compression level 1.0, so the smallest is 0.99.)
LOSSY_TRIES = ((RATE, 2, None), (RATE, 2, 0.8), (RATE // 2, 1, 0.9), (RATE // 2, 1, 0.99))
PCM_TRIES = ((RATE, 2, None), (RATE // 2, 2, None), (RATE // 2, 1, None), (RATE // 4, 1, None))
ENCODINGS = {  # format name: (libsndfile format, subtype, tries)
    "ogg": ("OGG", "VORBIS", LOSSY_TRIES),
    "mp3": ("MP3", "MPEG_LAYER_III", LOSSY_TRIES),
    "wav": ("WAV", "PCM_16", PCM_TRIES),
}


class AudioTooLargeError(RuntimeError):
    """Even the smallest encoding is over the size limit."""

    def __init__(self, size: int, max_bytes: int, fmt: str):
        super().__init__(f"{fmt} audio is {size} bytes at its smallest, over the {max_bytes}-byte limit")
        self.size, self.max_bytes, self.fmt = size, max_bytes, fmt


def _pretty_midi_soundfont() -> Path | None:
    """The TimGM6mb.sf2 shipped inside the pretty_midi wheel, found without importing it."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def find_soundfont(explicit: str | Path | None = None) -> Path:
    """The SoundFont to render with: ``explicit``, else $BGM_SOUNDFONT, else a system or pretty_midi one."""
    # A font the caller named must exist: falling back would hide a typo behind a different sound.
    named = explicit or os.environ.get("BGM_SOUNDFONT")
    if named:
        if Path(named).is_file():
            return Path(named)
        source = "argument" if explicit else "BGM_SOUNDFONT"
        raise FileNotFoundError(f"SoundFont {named} (from {source}) does not exist")
    pretty = _pretty_midi_soundfont()
    for candidate in (*SYSTEM_SOUNDFONTS, pretty):
        if candidate is not None and candidate.is_file():
            return candidate
    tried = ["$BGM_SOUNDFONT (unset)", *map(str, SYSTEM_SOUNDFONTS)]
    tried.append(str(pretty) if pretty else "pretty_midi's TimGM6mb.sf2 (pretty_midi not installed)")
    raise FileNotFoundError(
        f"no General MIDI SoundFont found; tried {', '.join(tried)}. "
        "Install fluid-soundfont-gm or set BGM_SOUNDFONT."
    )


def synthesize(midi_path: str | Path, wav_path: str | Path, soundfont: str | Path) -> Path:
    """Render ``midi_path`` to a 32-bit float WAV (float, so loud mixes cannot clip before levelling)."""
    _wait_for(_start_fluidsynth(midi_path, wav_path, soundfont), wav_path)
    return Path(wav_path)


def _start_fluidsynth(midi_path: str | Path, wav_path: str | Path, soundfont: str | Path) -> subprocess.Popen:
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise FileNotFoundError("the fluidsynth program is not installed (apt install fluidsynth)")
    command = [binary, "-ni", "-q", "-F", str(wav_path), "-T", "wav", "-O", "float", "-r", str(RATE)]
    command += ["-g", "0.5", str(soundfont), str(midi_path)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, wav_path: str | Path) -> None:
    try:
        _, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError("fluidsynth took more than 10 minutes") from None
    if process.returncode != 0 or not Path(wav_path).is_file():
        raise RuntimeError(f"fluidsynth failed ({process.returncode}): {stderr.strip()[-500:]}")


def track_groups(midi: mido.MidiFile, count: int) -> list[list[int]]:
    """The note tracks of a type-1 MIDI dealt into at most ``count`` groups of similar note counts."""
    notes = {
        i: sum(1 for m in track if m.type == "note_on" and m.velocity)
        for i, track in enumerate(midi.tracks)
        if i > 0
    }
    groups: list[list[int]] = [[] for _ in range(max(1, min(count, sum(1 for n in notes.values() if n))))]
    loads = [0] * len(groups)
    for i in sorted(notes, key=lambda i: -notes[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(i)
        loads[lightest] += notes[i]
    return [sorted(g) for g in groups if g]


def synthesize_parallel(
    midi_path: str | Path, soundfont: str | Path, workdir: Path
) -> tuple[np.ndarray, int]:
    """The song as float audio, its tracks rendered by up to one FluidSynth per core and summed.

    Synthesis, reverb and chorus are linear, so the sum of the groups' renders is the song's render;
    each FluidSynth is single-threaded, so the groups run side by side.
    """
    midi = mido.MidiFile(midi_path)
    groups = track_groups(midi, os.cpu_count() or 1) if midi.type == 1 else []
    if len(groups) < 2:
        audio, rate = sf.read(
            synthesize(midi_path, workdir / "render.wav", soundfont), dtype="float32", always_2d=True
        )
        return audio, rate
    jobs = []
    for k, group in enumerate(groups):
        part = mido.MidiFile(type=1, ticks_per_beat=midi.ticks_per_beat)
        part.tracks = [midi.tracks[0], *(midi.tracks[i] for i in group)]  # track 0: the tempo map
        part.save(workdir / f"part{k}.mid")
        wav = workdir / f"part{k}.wav"
        jobs.append((_start_fluidsynth(workdir / f"part{k}.mid", wav, soundfont), wav))
    try:
        for process, wav in jobs:
            _wait_for(process, wav)
    finally:
        for process, _ in jobs:
            if process.poll() is None:
                process.kill()
                process.wait()
    renders = [sf.read(wav, dtype="float32", always_2d=True) for _, wav in jobs]
    mix = np.zeros((max(len(a) for a, _ in renders), renders[0][0].shape[1]), dtype=np.float32)
    for audio, _ in renders:
        mix[: len(audio)] += audio
    return mix, renders[0][1]


def fit_length(audio: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """``audio`` cut (or padded) to ``seconds`` plus a short reverb tail, faded out at the end."""
    tail = min(TAIL_FRACTION * seconds, TAIL_MAX_S)
    frames = max(round((seconds + tail) * rate), rate // 10)  # encoders want at least a little audio
    fitted = np.zeros((frames, audio.shape[1]), dtype=np.float32)
    fitted[: min(frames, len(audio))] = audio[:frames]
    fade = min(frames, max(round(tail * rate), round(FADE_S * rate)))
    fitted[frames - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return fitted


def loudness_dbfs(audio: np.ndarray, rate: int) -> float:
    """RMS level in dBFS over 400 ms blocks, gated like EBU R128 so silences and fades do not count."""
    block = max(1, int(0.4 * rate))
    count = len(audio) // block
    if count == 0:
        return -np.inf
    frames = audio[: count * block]
    squares = np.einsum("ij,ij->i", frames, frames)  # per frame, without a float64 copy of the song
    power = squares.reshape(count, block).mean(axis=1, dtype=np.float64) / audio.shape[1]
    power = power[power > 10 ** (-70 / 10)]  # absolute gate
    if power.size == 0:
        return -np.inf
    power = power[power > power.mean() * 10 ** (-10 / 10)]  # relative gate
    return float(10 * np.log10(power.mean()))


def limit(audio: np.ndarray, rate: int, ceiling_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Peaks held under the ceiling by a gain that dips 10 ms before a peak and holds 100 ms after it."""
    ceiling = 10 ** (ceiling_dbfs / 20)
    block = max(1, rate // 200)  # 5 ms
    magnitude = np.abs(audio)
    whole = len(audio) // block * block
    peaks = magnitude[:whole].reshape(-1, block * audio.shape[1]).max(axis=1)
    if whole < len(audio):
        peaks = np.append(peaks, magnitude[whole:].max())
    if peaks.max() <= ceiling:
        return audio  # nothing to limit
    count = len(peaks)
    gains = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    # Each dip reaches 2 blocks back and 20 forward; neighbours share it, so interpolation cannot overshoot.
    smoothed = gains.copy()
    for shift in range(1, 21):
        smoothed[shift:] = np.minimum(smoothed[shift:], gains[:-shift])
    for shift in range(1, 3):
        smoothed[:-shift] = np.minimum(smoothed[:-shift], gains[shift:])
    centres = np.arange(count) * block + block / 2
    envelope = np.interp(np.arange(len(audio)), centres, smoothed).astype(audio.dtype)
    limited = audio * envelope[:, None]
    return np.clip(limited, -ceiling, ceiling, out=limited)


def normalize(audio: np.ndarray, rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``audio`` at ``target_dbfs``, peaks limited; a second pass makes up what the limiter took."""
    for _ in range(2):
        level = loudness_dbfs(audio, rate)
        if not np.isfinite(level):
            return audio
        if abs(level - target_dbfs) < LEVEL_TOLERANCE_DB and np.abs(audio).max() <= 10 ** (PEAK_DBFS / 20):
            return audio  # already there: the pass would change nothing audible
        audio = limit(audio * np.float32(10 ** ((target_dbfs - level) / 20)), rate)
    return audio


def resample(audio: np.ndarray, factor: int) -> np.ndarray:
    """``audio`` at 1/``factor`` of its rate, low-passed first so nothing folds back."""
    if factor == 1:
        return audio
    taps = np.arange(-32, 33)
    kernel = np.sinc(taps / factor) / factor * np.hanning(len(taps))
    filtered = np.stack([np.convolve(channel, kernel, mode="same") for channel in audio.T], axis=1)
    return filtered[::factor].astype(np.float32)


def _encoding(fmt: str) -> tuple[str, str, tuple]:
    if fmt not in ENCODINGS:
        raise ValueError(f"audio format must be one of {', '.join(ENCODINGS)}, not {fmt!r}")
    container, subtype, tries = ENCODINGS[fmt]
    if container not in sf.available_formats():
        raise RuntimeError(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}; use ogg")
    return container, subtype, tries


def encode(audio: np.ndarray, rate: int, out_path: str | Path, fmt: str, max_bytes: int = MAX_BYTES) -> Path:
    """Write ``audio`` as ``fmt``, stepping down in quality until the file fits ``max_bytes``."""
    container, subtype, tries = _encoding(fmt)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for try_rate, channels, level in tries:
        data = resample(audio, rate // try_rate)
        if channels == 1:
            data = data.mean(axis=1, keepdims=True)
        with sf.SoundFile(
            out_path, "w", try_rate, channels, subtype=subtype, format=container, compression_level=level
        ) as file:
            for start in range(0, len(data), BLOCK_FRAMES):
                file.write(data[start : start + BLOCK_FRAMES])
        size = out_path.stat().st_size
        if size <= max_bytes:
            return out_path
    out_path.unlink()
    raise AudioTooLargeError(size, max_bytes, fmt)


def render(
    midi_path: str | Path,
    out_path: str | Path,
    fmt: str = "ogg",
    soundfont: str | Path | None = None,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """``midi_path`` as ``fmt`` audio at a common loudness, as long as the MIDI plus a short tail."""
    _encoding(fmt)  # fail before the slow part
    font = find_soundfont(soundfont)
    with tempfile.TemporaryDirectory(prefix="bgm-render-") as tmp:
        audio, rate = synthesize_parallel(midi_path, font, Path(tmp))
    audio = normalize(fit_length(audio, rate, midi_seconds(midi_path)), rate)
    return encode(audio, rate, out_path, fmt, max_bytes)
