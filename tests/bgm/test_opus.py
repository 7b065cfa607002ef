"""Ogg Opus files: valid, as long as their audio, and as faithful at the joins between pieces encoded
on different threads as anywhere else."""

import numpy as np
import pytest
import soundfile as sf

from bgm import opus

pytestmark = pytest.mark.skipif(not opus.available(), reason="needs libopus and libogg")
RATE = opus.RATE


def _music(seconds: float, channels: int = 2) -> np.ndarray:
    """Chords with a beat and a little noise, different in each channel."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(0)
    out = []
    for c in range(channels):
        tone = sum(np.sin(2 * np.pi * f * (1 + 0.01 * c) * t) for f in (220, 277, 330, 440, 880))
        beat = 0.5 + 0.5 * np.cos(2 * np.pi * 2 * t) ** 8
        out.append(0.05 * tone * beat + 0.01 * rng.standard_normal(len(t)))
    return np.stack(out, axis=1).astype(np.float32)


def _snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - decoded) ** 2)))


def test_a_file_reads_back_as_opus_of_the_same_length(tmp_path):
    audio = _music(3.3)
    path = opus.write(audio, tmp_path / "a.ogg", 128_000, workers=1)
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", RATE, 2)
    assert info.frames == len(audio)  # the encoder's lookahead and the padding are not played


def test_mono_is_written_as_mono(tmp_path):
    info = sf.info(opus.write(_music(1.0, channels=1), tmp_path / "m.ogg", 64_000))
    assert info.channels == 1 and info.frames == RATE


def test_pieces_encoded_on_threads_join_without_a_seam(tmp_path):
    """Around each join, 10 ms windows decode as close to the source as the song's windows in general."""
    audio = _music(40.0)
    path = opus.write(audio, tmp_path / "p.ogg", 128_000, workers=3)
    decoded, _ = sf.read(path, dtype="float32", always_2d=True)
    assert len(decoded) == len(audio)
    probe = opus._Encoder(2, 128_000, opus.COMPLEXITY)
    frames = -(-(len(audio) + probe.lookahead) // opus.FRAME)
    probe.close()
    joins = [start * opus.FRAME for start, _ in opus._pieces(frames, 3)[1:]]
    assert len(joins) == 2
    window = RATE // 100
    everywhere = [
        _snr_db(audio[i : i + window], decoded[i : i + window])
        for i in range(RATE, len(audio) - RATE, window)
    ]
    floor = np.percentile(everywhere, 5)
    for join in joins:
        for i in range(join - 4 * window, join + 4 * window, window):
            assert _snr_db(audio[i : i + window], decoded[i : i + window]) >= floor - 1.0


def test_threads_give_the_same_song_as_one_encoder(tmp_path):
    audio = _music(30.0)
    one, _ = sf.read(opus.write(audio, tmp_path / "1.ogg", 128_000, workers=1), dtype="float32")
    two, _ = sf.read(opus.write(audio, tmp_path / "2.ogg", 128_000, workers=2), dtype="float32")
    assert len(one) == len(two) == len(audio)
    assert abs(_snr_db(audio, one) - _snr_db(audio, two)) < 0.5
