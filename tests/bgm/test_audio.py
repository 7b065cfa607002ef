from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bgm import audio, loudness, opus, segments, synth
from bgm.arrangement import arrange
from bgm.audio import (
    AudioTooLargeError,
    encode,
    find_soundfont,
    fit_length,
    remove_dc,
    render,
)
from bgm.loudness import loudness_dbfs, normalize
from bgm.midi import midi_seconds, write_midi
from bgm.segments import Plan, Span
from bgm.styles import STYLES
from bgm.tokens import Onset
from tests.bgm.song_form import song

RATE = audio.RATE
MELODY = [Onset(4 * i, (60 + (2 * i) % 12, 64 + (2 * i) % 12), 4) for i in range(16)]


def _has_soundfont() -> bool:
    try:
        find_soundfont()
    except FileNotFoundError:
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(
    not synth.available() or not _has_soundfont(), reason="needs libfluidsynth and a GM SoundFont"
)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Four bars each of a soft (calm) and a loud (epic) song: MIDI, OGG and the raw synth level."""
    folder = tmp_path_factory.mktemp("audio")
    songs = {}
    for mood in ("calm", "epic"):
        arrangement = arrange(MELODY, 64, mood, tempo=120)
        raw = audio.synthesize(arrangement, segments.plan(arrangement, []), find_soundfont())
        songs[mood] = (
            write_midi(arrangement, folder / f"{mood}.mid"),
            render(arrangement, [], folder / f"{mood}.ogg", "ogg"),
            loudness_dbfs(remove_dc(raw, RATE), RATE),
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
@pytest.mark.skipif(not opus.available(), reason="needs libopus and libogg")
def test_the_audio_is_ogg_opus_at_48_khz_under_discords_limit(rendered):
    for _, ogg, _ in rendered.values():
        info = sf.info(ogg)
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 48000, 2)
        assert ogg.stat().st_size < 10 * 1024 * 1024


@needs_fluidsynth
def test_the_posted_file_is_at_the_target_loudness(rendered):
    """Measured on the decoded file: nothing the encoder drops (a DC offset) counted as loudness."""
    for _, ogg, _ in rendered.values():
        decoded, rate = sf.read(ogg, dtype="float32", always_2d=True)
        assert loudness_dbfs(decoded, rate) == pytest.approx(loudness.TARGET_DBFS, abs=0.5)


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
            loudness.TARGET_DBFS, abs=0.5
        )


def test_peaks_are_limited_under_the_ceiling():
    spiky = _tone(2, 0.05)
    spiky[RATE // 2 : RATE // 2 + 100] = 0.99  # a transient 26 dB above the tone
    assert np.abs(normalize(spiky, RATE)).max() <= 10 ** (loudness.PEAK_DBFS / 20) + 1e-6


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
        render(arrange(MELODY, 64, "calm"), [], tmp_path / "x.flac", "flac")


@needs_fluidsynth
def test_a_missing_fluidsynth_library_is_a_clear_error(tmp_path, monkeypatch):
    def missing():
        raise OSError("libfluidsynth.so.3: cannot open shared object file")

    monkeypatch.setattr(audio.synth, "library", missing)
    with pytest.raises(FileNotFoundError, match="fluidsynth"):
        render(arrange(MELODY, 64, "calm"), [], tmp_path / "x.ogg")


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


def _whole(arrangement) -> Plan:
    return Plan((Span(0, arrangement.steps),), ((0, 0),))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def _band_levels(x: np.ndarray, hop: int = 2048) -> np.ndarray:
    """dB in 30 log-spaced bands per 43 ms frame: what is heard, not the waveform's phase."""
    mono = x.mean(axis=1)
    frames = len(mono) // hop
    spectra = np.abs(np.fft.rfft(mono[: frames * hop].reshape(frames, hop) * np.hanning(hop), axis=1))
    edges = np.unique(np.geomspace(2, hop // 2, 31).astype(int))
    bands = np.stack([spectra[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)], 1)
    return 20 * np.log10(bands + 1e-9)


@needs_fluidsynth
def test_a_chorus_rendered_once_and_placed_three_times_is_the_song_rendered_whole_dry():
    """Dry (no reverb or chorus, whose modulation makes two renders of one note differ) and at a tempo
    whose steps fall on FluidSynth's 64-frame blocks: placing the spans reproduces the whole render."""
    arrangement, sections = song("epic", tempo=90)  # 48000 * 15 / 90 = 8000 frames a step, 125 blocks
    p = segments.plan(arrangement, sections)
    assert p.rendered_steps < 0.75 * arrangement.steps
    font = find_soundfont()
    placed = audio.synthesize(arrangement, p, font, RATE, effects=False)
    whole = audio.synthesize(arrangement, _whole(arrangement), font, RATE, effects=False)
    n = min(len(placed), len(whole))
    assert abs(len(placed) - len(whole)) < RATE // 10  # only the last tail's cut may differ
    assert _rms(placed[:n] - whole[:n]) < 10 ** (-40 / 20) * _rms(whole[:n])


@needs_fluidsynth
def test_a_chorus_rendered_once_sounds_as_the_song_rendered_whole():
    """With reverb and chorus, at the mood's tempo: the same level and the same spectrum over time."""
    arrangement, sections = song("calm")
    font = find_soundfont()
    placed = audio.synthesize(arrangement, segments.plan(arrangement, sections), font, RATE)
    whole = audio.synthesize(arrangement, _whole(arrangement), font, RATE)
    n = min(len(placed), len(whole))
    assert loudness_dbfs(placed[:n], RATE) == pytest.approx(loudness_dbfs(whole[:n], RATE), abs=0.1)
    heard, reference = _band_levels(placed[:n]), _band_levels(whole[:n])
    loud = reference > reference.max() - 60
    assert np.corrcoef(heard[loud], reference[loud])[0, 1] > 0.99
    assert np.abs(heard - reference)[loud].mean() < 1.0  # dB


@needs_fluidsynth
def test_the_joins_between_placed_spans_do_not_click():
    """A click is a jump between samples: around each join no larger than the whole render's there."""
    arrangement, sections = song("happy")
    font = find_soundfont()
    p = segments.plan(arrangement, sections)
    placed = audio.synthesize(arrangement, p, font, RATE)
    whole = audio.synthesize(arrangement, _whole(arrangement), font, RATE)
    frames_per_step = RATE * 15 / arrangement.tempo
    joins = sorted({round(at * frames_per_step) for _, at in p.places} - {0})
    assert len(joins) >= 5
    window = RATE // 100
    for join in joins:
        jump = np.abs(np.diff(placed[join - window : join + window], axis=0)).max()
        reference = np.abs(np.diff(whole[join - window : join + window], axis=0)).max()
        assert jump <= 1.5 * reference + 1e-4


@needs_fluidsynth
def test_spans_split_into_track_groups_sum_to_the_span():
    """With more cores than spans, a span's tracks are dealt to threads and summed (synthesis is linear)."""
    arrangement = arrange(MELODY, 64, "epic", tempo=90)  # melody, harmony, bass and drums
    font = find_soundfont()
    one = audio.synthesize(arrangement, _whole(arrangement), font, RATE, workers=1, effects=False)
    three = audio.synthesize(arrangement, _whole(arrangement), font, RATE, workers=3, effects=False)
    assert len(audio._jobs(arrangement, (Span(0, 64),), 3)) == 3
    n = min(len(one), len(three))
    assert _rms(three[:n] - one[:n]) < 10 ** (-40 / 20) * _rms(one[:n])


def test_tracks_are_dealt_into_groups_by_note_count():
    arrangement = arrange(MELODY, 64, "epic")  # melody 32 notes, harmony and bass fewer, drums many
    span = Span(0, 64)
    counts = [len(segments.notes_in(t, span)) for t in arrangement.tracks]
    jobs = audio._jobs(arrangement, (span,), 2)
    assert sorted(i for _, tracks in jobs for i in tracks) == [0, 1, 2, 3]
    loads = [sum(counts[i] for i in tracks) for _, tracks in jobs]
    assert len(jobs) == 2 and max(loads) - min(loads) <= max(counts)
    assert len(audio._jobs(arrangement, (span,), 1)) == 1


def test_a_dc_offset_is_taken_off_and_the_music_left_alone():
    t = np.arange(4 * RATE) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 100 * t)
    offset = np.where(t < 2, 0.1, 0.05)  # a pad with an offset starts, then another stops
    mixed = np.stack([tone + offset, tone + offset], axis=1).astype(np.float32)
    cleaned = remove_dc(mixed.copy(), RATE)
    inner = slice(RATE // 4, -RATE // 4)
    assert abs(cleaned[inner].mean()) < 1e-3
    assert 20 * np.log10(_rms(cleaned[inner]) / _rms(tone[inner])) == pytest.approx(0, abs=0.1)
    away_from_the_step = np.r_[RATE // 4 : int(1.7 * RATE), int(2.3 * RATE) : 15 * RATE // 4]
    assert np.abs(cleaned[away_from_the_step, 0] - tone[away_from_the_step]).max() < 0.005


def test_audio_already_at_the_level_still_has_its_peaks_limited():
    tone = _tone(4.0, 1.0)
    tone *= np.float32(10 ** ((loudness.TARGET_DBFS - loudness_dbfs(tone, RATE)) / 20))
    tone[RATE] = 0.99  # one click over the ceiling
    out = normalize(tone, RATE)
    assert np.abs(out).max() <= 10 ** (loudness.PEAK_DBFS / 20) + 1e-6
    assert abs(loudness_dbfs(out, RATE) - loudness.TARGET_DBFS) < 0.3


@needs_fluidsynth
def test_a_song_sounds_the_same_whatever_was_rendered_before_it():
    """With reverb and chorus, on two threads: the same seed gives the same file."""
    arrangement, sections = song("calm")
    font, plan = find_soundfont(), segments.plan(arrangement, sections)
    first = audio.synthesize(arrangement, plan, font, RATE, workers=2)
    other, other_sections = song("epic")
    audio.synthesize(other, segments.plan(other, other_sections), font, RATE, workers=2)
    assert np.array_equal(first, audio.synthesize(arrangement, plan, font, RATE, workers=2))


@needs_fluidsynth
def test_spans_in_a_store_are_not_synthesised_again(tmp_path, monkeypatch):
    arrangement, sections = song("calm")
    font, plan = find_soundfont(), segments.plan(arrangement, sections)
    store = audio.SpanStore(tmp_path / "spans")
    first = audio.synthesize(arrangement, plan, font, RATE, effects=False, store=store)
    assert len(list((tmp_path / "spans").glob("*.npy"))) >= len(plan.renders)
    monkeypatch.setattr(synth, "fresh", None)  # synthesising anything now would fail
    again = audio.synthesize(arrangement, plan, font, RATE, effects=False, store=store)
    assert np.array_equal(first, again)


@needs_fluidsynth
def test_a_store_without_a_folder_keeps_its_spans_in_memory(monkeypatch):
    arrangement, sections = song("calm")
    font, plan, store = find_soundfont(), segments.plan(arrangement, sections), audio.SpanStore()
    first = audio.synthesize(arrangement, plan, font, RATE, effects=False, store=store)
    monkeypatch.setattr(synth, "fresh", None)  # synthesising anything now would fail
    assert np.array_equal(first, audio.synthesize(arrangement, plan, font, RATE, effects=False, store=store))


@needs_fluidsynth
def test_a_store_tells_spans_apart_by_what_sounds_in_them(tmp_path):
    arrangement, sections = song("calm")
    font, store = find_soundfont(), audio.SpanStore(tmp_path / "spans")
    span = Plan((Span(0, 16),), ((0, 0),))
    one = {"workers": 1, "store": store}  # all tracks in one render (more workers deal them out)
    audio.synthesize(arrangement, span, font, RATE, effects=False, **one)
    louder = arrange(MELODY, 64, "epic", tempo=120)  # other notes, programs and tempo
    audio.synthesize(louder, span, font, RATE, effects=False, **one)
    audio.synthesize(arrangement, span, font, RATE, effects=True, **one)
    audio.synthesize(arrangement, span, font, RATE, effects=True, **one)  # found: nothing new
    assert len(list((tmp_path / "spans").glob("*.npy"))) == 3
