"""An arrangement to audio: FluidSynth synthesises in process each distinct span of the song once
(``bgm.segments``), numpy levels and trims, soundfile encodes (OGG, MP3 or WAV)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from bgm import loop as loops
from bgm import midi, opus, segments, synth
from bgm.arrangement import Arrangement
from bgm.form import Section
from bgm.loudness import level_in_place
from bgm.segments import Plan, Span, notes_in
from bgm.tokens import STEP_QUARTERS

RATE = opus.RATE  # 48 kHz: what Opus codes; MP3 and WAV are written at it too
MAX_BYTES = 10 * 1024 * 1024  # the default cap on a song's files: what a chat upload takes without extras
TAIL_FRACTION, TAIL_MAX_S = 0.01, 1.0  # reverb kept after the last note: at most 1% of the song
FADE_S = 0.05  # a click-free cut
DC_BLOCK_S, DC_SMOOTHING_S = 0.01, 0.05  # see remove_dc
DC_CHUNK_BLOCKS = 512  # blocks taken off at a time: 1 MB of line at 48 kHz, kept in cache
BLOCK_FRAMES = 65536  # libsndfile 1.2.2's Vorbis writer segfaults on minutes of audio in one call
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian's fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
# Encodings from best to smallest, tried in turn until one fits. Opus: (channels, bits per second),
# always at 48 kHz; 128 kbit/s stereo is past where listeners tell Opus from its source. libsndfile:
# (rate, channels, compression level); LAME refuses compression level 1.0, so the smallest is 0.99.
OPUS_TRIES = ((2, 128_000), (2, 96_000), (1, 64_000), (1, 32_000))
LOSSY_TRIES = ((RATE, 2, None), (RATE, 2, 0.8), (RATE // 2, 1, 0.9), (RATE // 2, 1, 0.99))
PCM_TRIES = ((RATE, 2, None), (RATE // 2, 2, None), (RATE // 2, 1, None), (RATE // 4, 1, None))
ENCODINGS = {  # format name: (libsndfile format, subtype, tries); ogg is Opus when libopus is here
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


Job = tuple[Span, tuple[int, ...]]  # a span to synthesise, with the tracks (by index) it plays


class SpanStore:
    """Renders of spans kept in a folder, by what sounds in them, for another render to reuse.

    A song is rendered in pieces while it is still being composed (``composer.song``): its draft's
    spans first, from another process maybe (a render worker), then the whole song, which
    synthesises only what the draft did not have. A render is found again only when its sound is
    the same: the SoundFont, rate, effects, tempo, programs and every note timed from the span's
    start (a draft arranged otherwise simply misses). Written by rename, so a reader never sees
    half a file. Without a folder, renders are kept in this process's memory: enough when the draft
    and the song render on threads of one process (``bgm compose``), and it spares writing and
    reading back some 40 MB a song (0.25 s of CPU, measured).
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        self._held: dict[str, np.ndarray] = {}

    def _name(self, key: tuple) -> str:
        return hashlib.sha1(repr(key).encode()).hexdigest()

    def _path(self, key: tuple) -> Path:
        assert self.folder is not None
        return self.folder / f"{self._name(key)}.npy"

    def get(self, key: tuple) -> np.ndarray | None:
        if self.folder is None:
            return self._held.get(self._name(key))
        try:
            return np.load(self._path(key))
        except (FileNotFoundError, ValueError, OSError):
            return None

    def put(self, key: tuple, audio: np.ndarray) -> None:
        if self.folder is None:
            self._held[self._name(key)] = audio
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
        with partial.open("wb") as file:
            np.save(file, audio)
        partial.replace(path)


def _jobs(
    arrangement: Arrangement, renders: tuple[Span, ...], workers: int, only: tuple[int, ...] | None = None
) -> list[Job]:
    """Each distinct span, its tracks (``only`` these, when given) dealt into groups of similar note
    counts when there are fewer spans than workers (a short song is one span): synthesis is linear,
    so the groups sum to it."""
    groups = max(1, workers // max(1, len(renders)))
    jobs = []
    for span in renders:
        notes = {
            i: len(notes_in(t, span)) for i, t in enumerate(arrangement.tracks) if only is None or i in only
        }
        dealt: list[list[int]] = [[] for _ in range(max(1, min(groups, sum(1 for n in notes.values() if n))))]
        loads = [0] * len(dealt)
        for i in sorted(notes, key=lambda i: -notes[i]):
            lightest = loads.index(min(loads))
            dealt[lightest].append(i)
            loads[lightest] += notes[i]
        jobs += [(span, tuple(sorted(group))) for group in dealt if group]
    return sorted(jobs, key=lambda job: -job[0].steps)  # longest first: the threads finish together


def synthesize(
    arrangement: Arrangement,
    plan: Plan,
    soundfont: str | Path,
    rate: int = RATE,
    *,
    workers: int | None = None,
    effects: bool = True,
    only: tuple[int, ...] | None = None,
    store: SpanStore | None = None,
) -> np.ndarray:
    """The song as stereo float audio, tails and all: each of ``plan``'s distinct spans synthesised
    once (on up to one thread per core) and added in at every place it plays. ``effects``: reverb
    and chorus (off: dry); ``only``: these tracks (by index), for a stem; ``store``: spans found
    there are not synthesised again, and those synthesised are put there."""
    frames_per_step = rate * STEP_QUARTERS * 60.0 / arrangement.tempo

    def frame(step: int) -> int:
        return round(step * frames_per_step)

    tracks, channels_ = arrangement.tracks, midi.channels(arrangement)

    def run(job: Job) -> np.ndarray:
        span, indices = job
        origin = frame(span.start)
        events = [
            event
            for i in indices
            for n in notes_in(tracks[i], span)
            for event in (
                synth.Event(frame(n.start) - origin, n.velocity, channels_[i], n.pitch),
                synth.Event(frame(n.end) - origin, 0, channels_[i], n.pitch),
            )
        ]
        programs = {channels_[i]: tracks[i].program for i in indices}
        key = None
        if store is not None:
            at = span.start
            heard = tuple(
                (channels_[i], tracks[i].program, tracks[i].is_drum)
                + tuple((n.start - at, n.steps, n.pitch, n.velocity) for n in notes_in(tracks[i], span))
                for i in indices
            )
            key = (str(soundfont), rate, effects, arrangement.tempo, span.steps, heard)
            found = store.get(key)
            if found is not None:
                return found
        with synth.fresh(soundfont, rate, effects=effects) as synthesizer:
            rendered = synthesizer.render(programs, events, frame(span.end) - origin)
        if store is not None:
            store.put(key, rendered)
        return rendered

    workers = workers or os.cpu_count() or 1
    jobs = _jobs(arrangement, plan.renders, workers, only)
    with ThreadPoolExecutor(min(workers, len(jobs)) or 1) as pool:
        rendered = list(pool.map(run, jobs))
    parts: list[list[np.ndarray]] = [[] for _ in plan.renders]  # a span's renders: one per track group
    index = {span: i for i, span in enumerate(plan.renders)}
    for (span, _), part in zip(jobs, rendered, strict=True):
        parts[index[span]].append(part)
    frames = max([frame(arrangement.steps)] + [frame(at) + max(map(len, parts[i])) for i, at in plan.places])
    song = np.zeros((frames, 2), dtype=np.float32)
    for i, at in plan.places:
        for part in parts[i]:
            song[frame(at) : frame(at) + len(part)] += part
    return song


def remove_dc(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` less its offset and its drift below a few hertz, in place.

    FluidR3's pads carry a large DC offset (a third of a calm song's power, measured): it would count
    as loudness, take headroom from the limiter, and be thrown away by the Opus encoder, leaving the
    file quieter than its target. The offset is followed per 10 ms block, smoothed by a two-sided
    exponential (0.2 dB off at 20 Hz, nothing audible touched) and taken off.
    """
    block = max(1, round(DC_BLOCK_S * rate))
    count = len(audio) // block
    if count < 2:
        audio -= audio.mean(axis=0, dtype=np.float64).astype(audio.dtype)
        return audio
    # reduceat sums each block's frames in one pass (ten times faster than a mean over a reshape)
    means = np.add.reduceat(audio[: count * block], np.arange(0, count * block, block), axis=0) / block
    reach = round(5 * DC_SMOOTHING_S / DC_BLOCK_S)
    kernel = np.exp(-np.abs(np.arange(-reach, reach + 1)) * DC_BLOCK_S / DC_SMOOTHING_S)
    padded = np.pad(means, ((reach + 1, reach + 1), (0, 0)), mode="edge")
    smooth = np.stack(
        [np.convolve(padded[:, c], kernel / kernel.sum(), mode="valid") for c in range(audio.shape[1])], 1
    )  # one value per block, and one more on each side
    # The offset at each block's edges, then a straight line across the block between them. One
    # channel and a few hundred blocks at a time: a line for the whole song broadcast over its two
    # channels cost three times as long (numpy's inner loop ran over the channels) and 60 MB more.
    edges = ((smooth[:-1] + smooth[1:]) / 2).astype(audio.dtype)
    rises = edges[1:] - edges[:-1]
    ramp = np.arange(block, dtype=audio.dtype) / block
    blocks = audio[: count * block].reshape(count, block, -1)
    line = np.empty((min(count, DC_CHUNK_BLOCKS), block), dtype=audio.dtype)
    for first in range(0, count, DC_CHUNK_BLOCKS):
        stop = min(count, first + DC_CHUNK_BLOCKS)
        part = line[: stop - first]
        for c in range(audio.shape[1]):
            np.multiply(rises[first:stop, c, None], ramp, out=part)
            part += edges[first:stop, c, None]
            blocks[first:stop, :, c] -= part
    audio[count * block :] -= edges[-1]
    return audio


def fit_length(audio: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """``audio`` cut (or padded) to ``seconds`` plus a short reverb tail, faded out at the end: its own
    first frames, faded in place, when it is long enough (a render is: it rings on), else a copy."""
    tail = min(TAIL_FRACTION * seconds, TAIL_MAX_S)
    frames = max(round((seconds + tail) * rate), rate // 10)  # encoders want at least a little audio
    if len(audio) >= frames and audio.dtype == np.float32:
        fitted = audio[:frames]  # a copy of a song is 60 MB of fresh memory: slow to touch the first time
    else:
        fitted = np.zeros((frames, audio.shape[1]), dtype=np.float32)
        fitted[: min(frames, len(audio))] = audio[:frames]
    fade = min(frames, max(round(tail * rate), round(FADE_S * rate)))
    fitted[frames - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return fitted


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


def encode(
    audio: np.ndarray,
    rate: int,
    out_path: str | Path,
    fmt: str,
    max_bytes: int = MAX_BYTES,
    like: Path | None = None,
) -> Path:
    """Write ``audio`` as ``fmt``, stepping down in quality until the file fits ``max_bytes``.
    ``ogg`` is Opus (libopus, on every core) when the audio is at 48 kHz and libopus is installed,
    else Vorbis through libsndfile. ``like``: at the best encoding with that file's sample rate and
    channels, whatever its size (stems as their mix)."""
    container, subtype, tries = _encoding(fmt)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    opus_tries = OPUS_TRIES
    if like is not None:
        info = sf.info(str(like))
        opus_tries = tuple(t for t in OPUS_TRIES if t[0] == info.channels)[:1]
        tries = tuple(t for t in tries if t[:2] == (info.samplerate, info.channels))[:1]
        max_bytes = 2**62
    if fmt == "ogg" and rate == opus.RATE and opus.available():
        for channels, bitrate in opus_tries:
            data = audio if channels == audio.shape[1] else audio.mean(axis=1, keepdims=True)
            size = opus.write(data, out_path, bitrate).stat().st_size
            if size <= max_bytes:
                return out_path
        out_path.unlink()
        raise AudioTooLargeError(size, max_bytes, fmt)
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


def shaped(audio: np.ndarray, rate: int, seconds: float, loop: bool = False) -> np.ndarray:
    """A render made ready to level: its DC taken out, then cut to the song and a short tail, faded;
    or, for a ``loop``, its tail folded into its start and the DC taken out around the seam. Linear
    in ``audio``: the stems of a song shaped one by one add up to the song shaped whole."""
    if not loop:
        return fit_length(remove_dc(audio, rate), rate, seconds)
    folded = loops.fold_tail(audio, round(seconds * rate))
    return loops.around(folded, rate, lambda a: remove_dc(a, rate))


def levelled(audio: np.ndarray, rate: int, loop: bool = False) -> np.ndarray:
    """``level_in_place``, on a loop as a circle (its limiter must treat both ends of the seam alike)."""
    if not loop:
        return level_in_place(audio, rate)
    return loops.around(audio, rate, lambda a: level_in_place(a, rate))


def warm_up(soundfont: str | Path) -> None:
    """The library loaded and ``soundfont`` opened once now (its presets checked; samples load when a
    program first needs them), so that a missing library or a bad SoundFont shows before the first song."""
    try:
        synth.library()
    except OSError as error:
        raise RuntimeError(f"libfluidsynth is not installed: {error}") from None
    with synth.fresh(soundfont, RATE):
        pass


def render(
    arrangement: Arrangement,
    sections: list[Section],
    out_path: str | Path,
    fmt: str = "ogg",
    soundfont: str | Path | None = None,
    max_bytes: int = MAX_BYTES,
    loop: bool = False,
    store: SpanStore | None = None,
) -> Path:
    """``arrangement`` as ``fmt`` audio at a common loudness, as long as the song plus a short tail
    (a ``loop``: exactly as long as the song, see ``bgm.loop``); ``store``: see ``synthesize``."""
    _encoding(fmt)  # fail before the slow part
    audio = song_audio(arrangement, sections, soundfont, loop, store)
    return encode(audio, RATE, out_path, fmt, max_bytes)


def song_audio(
    arrangement: Arrangement,
    sections: list[Section],
    soundfont: str | Path | None = None,
    loop: bool = False,
    store: SpanStore | None = None,
) -> np.ndarray:
    """``arrangement`` as float stereo at ``RATE`` and the common loudness: what ``render`` encodes,
    and what the radio streams."""
    font = _synth_ready(soundfont)
    audio = synthesize(arrangement, segments.plan(arrangement, sections), font, RATE, store=store)
    return levelled(shaped(audio, RATE, arrangement.seconds, loop), RATE, loop)


def ready_to_render(fmt: str, soundfont: str | Path | None) -> Path:
    """The SoundFont to render ``fmt`` with, once it is known that it can be (before the slow part)."""
    _encoding(fmt)
    return _synth_ready(soundfont)


def _synth_ready(soundfont: str | Path | None) -> Path:
    font = find_soundfont(soundfont)
    try:
        synth.library()
    except OSError as error:
        raise FileNotFoundError(f"libfluidsynth is not installed (apt install fluidsynth): {error}") from None
    return font
