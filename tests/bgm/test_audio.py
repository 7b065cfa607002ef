import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bgm import audio
from bgm.arrangement import arrange
from bgm.audio import (
    AudioTooLargeError,
    encode,
    find_soundfont,
    fit_length,
    loudness_dbfs,
    normalize,
    render,
)
from bgm.midi import midi_seconds, write_midi
from bgm.styles import STYLES
from bgm.tokens import Onset

RATE = audio.RATE
MELODY = [Onset(4 * i, (60 + (2 * i) % 12, 64 + (2 * i) % 12), 4) for i in range(16)]


def _has_soundfont() -> bool:
    try:
        find_soundfont()
    except FileNotFoundError:
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not _has_soundfont(), reason="needs fluidsynth and a GM SoundFont"
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Four bars each of a soft (calm) and a loud (epic) song: MIDI, OGG and the raw synth level."""
    folder = tmp_path_factory.mktemp("audio")
    songs = {}
    for mood in ("calm", "epic"):
        midi = write_midi(arrange(MELODY, 64, mood, tempo=120), folder / f"{mood}.mid")
        raw = audio.synthesize(midi, folder / f"{mood}.wav", find_soundfont())
        songs[mood] = (
            midi,
            render(midi, folder / f"{mood}.ogg", "ogg"),
            loudness_dbfs(*sf.read(raw, always_2d=True)),
        )
    return songs


def _tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    mono = amplitude * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    return np.stack([mono, mono], axis=1).astype(np.float32)


@needs_fluidsynth
def test_the_audio_lasts_as_long_as_the_midi(rendered):
    for midi, ogg, _ in rendered.values():
        assert sf.info(ogg).duration == pytest.approx(midi_seconds(midi), rel=0.02)


@needs_fluidsynth
def test_the_audio_is_ogg_vorbis_under_discords_limit(rendered):
    for _, ogg, _ in rendered.values():
        info = sf.info(ogg)
        assert (info.format, info.subtype) == ("OGG", "VORBIS")
        assert ogg.stat().st_size < 10 * 1024 * 1024


@needs_fluidsynth
def test_soft_and_loud_moods_differ_before_levelling(rendered):
    assert STYLES["epic"].velocity - STYLES["calm"].velocity >= 30
    assert rendered["epic"][2] - rendered["calm"][2] > 3


@needs_fluidsynth
def test_soft_and_loud_moods_end_up_equally_loud(rendered):
    levels = [loudness_dbfs(*sf.read(ogg, always_2d=True)) for _, ogg, _ in rendered.values()]
    assert abs(levels[0] - levels[1]) < 1.5


def test_normalizing_brings_quiet_and_loud_audio_to_the_target():
    for amplitude in (0.01, 0.9):
        assert loudness_dbfs(normalize(_tone(2, amplitude), RATE), RATE) == pytest.approx(
            audio.TARGET_DBFS, abs=0.5
        )


def test_peaks_are_limited_under_the_ceiling():
    spiky = _tone(2, 0.05)
    spiky[RATE // 2 : RATE // 2 + 100] = 0.99  # a transient 26 dB above the tone
    assert np.abs(normalize(spiky, RATE)).max() <= 10 ** (audio.PEAK_DBFS / 20) + 1e-6


def test_silence_has_no_loudness_and_stays_silent():
    silence = np.zeros((RATE, 2), dtype=np.float32)
    assert loudness_dbfs(silence, RATE) == -np.inf
    assert not normalize(silence, RATE).any()


def test_a_long_reverb_tail_is_cut_to_a_short_one():
    fitted = fit_length(_tone(14, 0.5), RATE, 10.0)
    assert len(fitted) / RATE == pytest.approx(10.1)
    assert fitted[-1].max() == 0  # faded out, no click


def test_short_audio_is_padded_to_the_midi_length():
    assert len(fit_length(_tone(1, 0.5), RATE, 3.0)) / RATE == pytest.approx(3.03)


def test_mp3_is_written_when_libsndfile_can(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 encoder")
    out = encode(_tone(1, 0.3), RATE, tmp_path / "a.mp3", "mp3")
    assert sf.info(out).format == "MP3" and sf.info(out).duration == pytest.approx(1.0, rel=0.1)


def test_mp3_without_an_encoder_suggests_ogg(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "available_formats", lambda: {"OGG": "OGG", "WAV": "WAV"})
    with pytest.raises(RuntimeError, match="ogg"):
        encode(_tone(1, 0.3), RATE, tmp_path / "a.mp3", "mp3")


def test_too_large_audio_is_re_encoded_smaller(tmp_path):
    tone = _tone(2, 0.3)  # 2 s of 16-bit stereo at 44.1 kHz is ~350 kB
    out = encode(tone, RATE, tmp_path / "a.wav", "wav", max_bytes=100_000)
    info = sf.info(out)
    assert out.stat().st_size <= 100_000 and (info.samplerate, info.channels) == (RATE // 2, 1)
    assert info.duration == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "wav"])
def test_audio_that_cannot_fit_is_a_clear_error_after_every_encoding_is_tried(tmp_path, fmt):
    if fmt == "mp3" and "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 encoder")
    with pytest.raises(AudioTooLargeError, match="limit") as error:
        encode(_tone(0.5, 0.3), RATE, tmp_path / f"a.{fmt}", fmt, max_bytes=100)
    assert error.value.max_bytes == 100 and not (tmp_path / f"a.{fmt}").exists()


def test_an_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="ogg"):
        render(tmp_path / "x.mid", tmp_path / "x.flac", "flac")


def test_a_missing_fluidsynth_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="fluidsynth"):
        audio.synthesize(tmp_path / "x.mid", tmp_path / "x.wav", tmp_path / "font.sf2")


@pytest.fixture
def no_fonts(monkeypatch, tmp_path):
    """Nothing to find: no env var, no system font, no pretty_midi."""
    monkeypatch.delenv("BGM_SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SYSTEM_SOUNDFONTS", (tmp_path / "missing" / "FluidR3_GM.sf2",))
    monkeypatch.setattr(audio, "_pretty_midi_soundfont", lambda: None)


def _font(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"RIFF")
    return path


def test_an_explicit_soundfont_comes_first(no_fonts, tmp_path, monkeypatch):
    monkeypatch.setenv("BGM_SOUNDFONT", str(_font(tmp_path, "env.sf2")))
    assert find_soundfont(_font(tmp_path, "mine.sf2")) == tmp_path / "mine.sf2"


def test_the_env_var_names_the_soundfont(no_fonts, tmp_path, monkeypatch):
    monkeypatch.setenv("BGM_SOUNDFONT", str(_font(tmp_path, "env.sf2")))
    assert find_soundfont() == tmp_path / "env.sf2"


def test_a_named_soundfont_that_does_not_exist_is_an_error(no_fonts, tmp_path, monkeypatch):
    monkeypatch.setenv("BGM_SOUNDFONT", str(tmp_path / "typo.sf2"))
    with pytest.raises(FileNotFoundError, match="typo.sf2"):
        find_soundfont()


def test_the_system_soundfont_is_the_fallback(no_fonts, tmp_path, monkeypatch):
    monkeypatch.setattr(
        audio, "SYSTEM_SOUNDFONTS", (tmp_path / "gone.sf2", _font(tmp_path, "default-GM.sf2"))
    )
    assert find_soundfont() == tmp_path / "default-GM.sf2"


def test_pretty_midis_soundfont_is_the_last_resort(no_fonts, tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "_pretty_midi_soundfont", lambda: _font(tmp_path, "TimGM6mb.sf2"))
    assert find_soundfont() == tmp_path / "TimGM6mb.sf2"


def test_no_soundfont_anywhere_says_what_was_tried(no_fonts, tmp_path):
    with pytest.raises(FileNotFoundError, match="BGM_SOUNDFONT.*FluidR3_GM.sf2.*TimGM6mb"):
        find_soundfont()


@needs_fluidsynth
def test_tracks_rendered_side_by_side_sum_to_the_song_rendered_whole(rendered, tmp_path, monkeypatch):
    midi = rendered["epic"][0]  # melody, harmony, bass and drums
    whole, _ = sf.read(audio.synthesize(midi, tmp_path / "whole.wav", find_soundfont()), always_2d=True)
    monkeypatch.setattr(audio.os, "cpu_count", lambda: 3)
    mix, rate = audio.synthesize_parallel(midi, find_soundfont(), tmp_path)
    assert rate == RATE and len(list(tmp_path.glob("part*.wav"))) == 3
    assert mix.shape == whole.shape
    # The same audio up to float rounding in the effects (a few samples differ by < 1%).
    assert np.sqrt(np.mean((mix - whole) ** 2)) < 1e-3 * np.sqrt(np.mean(whole**2))
    assert np.abs(mix - whole).max() < 0.02 and np.abs(whole).max() > 0.05


def test_tracks_are_dealt_into_groups_by_note_count():
    import mido

    midi = mido.MidiFile(type=1)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    for notes in (10, 6, 5, 0):
        midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90)] * notes))
    # No more groups than tracks with notes; a track without notes still goes somewhere.
    assert audio.track_groups(midi, 2) == [[1, 4], [2, 3]]
    assert audio.track_groups(midi, 8) == [[1], [2], [3, 4]]
    assert audio.track_groups(midi, 1) == [[1, 2, 3, 4]]


def test_audio_already_at_the_level_still_has_its_peaks_limited():
    tone = _tone(4.0, 1.0)
    tone *= np.float32(10 ** ((audio.TARGET_DBFS - loudness_dbfs(tone, RATE)) / 20))
    tone[RATE] = 0.99  # one click over the ceiling
    out = normalize(tone, RATE)
    assert np.abs(out).max() <= 10 ** (audio.PEAK_DBFS / 20) + 1e-6
    assert abs(loudness_dbfs(out, RATE) - audio.TARGET_DBFS) < 0.3
