"""``render_stream``: the files of ``render_files`` and, synthesised once with them, the PCM a radio plays;
and the meter a song's files are arranged in."""

from __future__ import annotations

import mido
import numpy as np
import pytest
import soundfile as sf

from bgm import audio, synth
from bgm.form import layout
from bgm.midi import TICKS_PER_STEP
from composer.render import Extras, NoAudio, render_midi, render_stream
from tests.bgm.song_form import PITCHES, part

needs_fluidsynth = pytest.mark.skipif(not synth.available(), reason="needs libfluidsynth")


def short_song():
    return layout({name: part(pitches, 64) for name, pitches in PITCHES.items()})


@needs_fluidsynth
def test_the_pcm_is_the_posted_audio_as_16_bit_stereo_at_48_khz(tmp_path):
    tokens, sections = short_song()
    files, pcm_path = render_stream(
        tokens, sections, "calm", tmp_path, "song", tempo=240, fmt="wav", soundfont=None, max_bytes=10**8
    )
    pcm = np.fromfile(pcm_path, dtype="<i2").reshape(-1, 2)
    assert files.no_audio is None and files.midi.exists()
    # As long as the song, plus at most the short reverb tail the posted file keeps.
    assert files.seconds * audio.RATE <= len(pcm) <= (files.seconds + audio.TAIL_MAX_S) * audio.RATE + 1
    posted, rate = sf.read(files.audio, dtype="int16")
    assert rate == audio.RATE and posted.shape == pcm.shape
    # The same samples: libsndfile scales by 32768 and truncates, the PCM by 32767 and rounds (-84 dB).
    assert np.abs(posted.astype(np.int32) - pcm).max() <= 2


def test_without_a_synthesizer_there_is_no_pcm_and_the_midi_says_why(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("libfluidsynth is not installed")

    monkeypatch.setattr(audio, "song_audio", missing)
    tokens, sections = short_song()
    files, pcm_path = render_stream(
        tokens, sections, "calm", tmp_path, "song", tempo=None, fmt="ogg", soundfont=None, max_bytes=10**8
    )
    assert pcm_path is None and files.no_audio is NoAudio.UNAVAILABLE and files.midi.exists()


@needs_fluidsynth
def test_audio_too_large_for_the_message_still_gives_the_radio_its_pcm(tmp_path):
    tokens, sections = short_song()
    files, pcm_path = render_stream(
        tokens, sections, "calm", tmp_path, "song", tempo=240, fmt="wav", soundfont=None, max_bytes=20_000
    )
    assert files.audio is None and files.no_audio is NoAudio.TOO_LARGE and pcm_path.stat().st_size > 0


@pytest.mark.parametrize("signature, bar", [("3/4", 12), ("6/8", 12), ("2/4", 16), ("4/4", 16)])
def test_a_song_is_arranged_in_bars_of_the_grid_its_time_signature_is_written_on(tmp_path, signature, bar):
    tokens, sections = layout({name: part(pitches, 48) for name, pitches in PITCHES.items()})
    extras = Extras(meter=signature)
    files = render_midi(tokens, sections, "calm", tmp_path, "song", tempo=None, extras=extras)
    midi = mido.MidiFile(files.midi)
    (time_signature,) = [m for m in midi.tracks[0] if m.type == "time_signature"]
    assert f"{time_signature.numerator}/{time_signature.denominator}" == signature  # as the primer wrote it
    bass = next(t for t in midi.tracks if t.name == "bass")
    ticks, strikes = 0, []
    for message in bass:
        ticks += message.time
        if message.type == "note_on" and message.velocity:
            strikes.append(ticks // TICKS_PER_STEP)
    assert strikes == list(range(0, len(tokens), bar))  # calm's bass holds each bar of the grid
