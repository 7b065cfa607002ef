"""A loop's tail folded into its start, work done on it as a circle, and its seam measured."""

import numpy as np

from bgm.loop import around, fold_tail, seam_step


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
