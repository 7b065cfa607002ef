"""A loop's tail folded into its start, work done on it as a circle, and its seam measured; a song's
loop whole bars of its meter long."""

import mido
import numpy as np
import soundfile as sf

from bgm.arrangement import arrange
from bgm.audio import render
from bgm.form import layout, song_onsets
from bgm.loop import around, fold_tail, seam_step
from bgm.meter import THREE_FOUR
from bgm.midi import TICKS_PER_QUARTER, write_midi
from tests.bgm.song_form import PITCHES, part
from tests.bgm.test_audio import needs_fluidsynth


def test_the_tail_is_added_onto_the_start_and_the_length_is_the_songs():
    audio = np.arange(10, dtype=np.float32).reshape(-1, 1).repeat(2, axis=1)
    loop = fold_tail(audio, 4)
    assert loop.shape == (4, 2)
    assert loop[:, 0].tolist() == [0 + 4 + 8, 1 + 5 + 9, 2 + 6, 3 + 7]


def test_a_sine_of_whole_periods_played_as_a_loop_has_no_step_at_the_seam():
    rate, frames = 48000, 48000
    t = np.arange(frames + 4800) / rate
    tone = np.sin(2 * np.pi * 441 * t).astype(np.float32)[:, None].repeat(2, axis=1)
    tone[frames:] *= np.linspace(1, 0, 4800, dtype=np.float32)[:, None]  # a tail dying away
    seam, nearby = seam_step(fold_tail(tone, frames), rate)
    assert seam <= nearby


def test_a_cut_loop_shows_its_click():
    rate = 48000
    ramp = np.linspace(0, 1, rate, dtype=np.float32)[:, None].repeat(2, axis=1)
    seam, nearby = seam_step(ramp, rate)
    assert seam > 100 * nearby


def test_work_around_the_circle_sees_each_end_next_to_the_other():
    audio = np.arange(8, dtype=np.float32)[:, None]
    seen = []
    around(audio, rate=2, work=lambda a: seen.append(a.copy()) or a)
    assert seen[0][:, 0].tolist() == [6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1]


@needs_fluidsynth
def test_a_3_4_loop_is_whole_3_4_bars_long_and_its_seam_does_not_click(tmp_path):
    tokens, sections = layout({name: part(p, 48) for name, p in PITCHES.items()})  # 4 bars of 3/4 each
    arrangement = arrange(song_onsets(tokens, sections), len(tokens), "happy", sections, meter=THREE_FOUR)
    midi = mido.MidiFile(write_midi(arrangement, tmp_path / "waltz.mid"))
    assert [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"] == [(3, 4)]
    bar_ticks = 3 * TICKS_PER_QUARTER
    ends = {sum(m.time for m in track) for track in midi.tracks}
    assert len(ends) == 1 and ends.pop() % bar_ticks == 0  # the MIDI ends on a 3/4 bar line
    bars = sum(m.time for m in midi.tracks[0]) // bar_ticks
    path = render(arrangement, sections, tmp_path / "waltz.wav", "wav", loop=True)
    audio, rate = sf.read(path, dtype="float32")
    assert len(audio) == round(bars * 3 * 60 / arrangement.tempo * rate)  # to the sample
    seam, nearby = seam_step(audio, rate)
    assert seam <= nearby, f"a step of {seam:.4f} at the seam, at most {nearby:.4f} within 10 ms of it"
