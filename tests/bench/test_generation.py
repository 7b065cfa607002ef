"""bench/generation.py's account of what bounds a missed speed target, on figures made up here."""

from __future__ import annotations

import pytest

from bench import generation


def results(seed_s: float, command_cpu: float, server_cpu: float, median_s: float, together: float) -> dict:
    return {
        "cores": 2,
        "seed": {"s_per_song": seed_s, "songs_per_min": 60 / seed_s},
        "end_to_end": {"cpu_s": command_cpu, "server_cpu_s_per_song": server_cpu, "median_s": median_s},
        "render": {"bgm": {"cpu_s": 2.0}},
        "rendered_concurrently": {"speedup": together},
    }


def test_a_song_is_bound_by_its_cpu_seconds_over_the_cores():
    b = generation.cpu_bounds(
        results(seed_s=60.0, command_cpu=2.5, server_cpu=0.5, median_s=2.4, together=30)
    )
    assert b["song_cpu_s"] == pytest.approx(3.0)
    assert b["best_song_s"] == pytest.approx(1.5)  # two cores, perfectly overlapped
    assert b["best_speedup"] == pytest.approx(40.0)
    assert b["needed_song_s"] == pytest.approx(60.0 / generation.TARGETS["e2e_speedup"])
    # 16 songs together: 2 cores x 60 s / 2 s of rendering = 60 songs a minute, the seed's 1 a minute
    assert b["best_concurrent_speedup"] == pytest.approx(60.0)
    assert b["needed_cpu_per_song_s"] == pytest.approx(
        120 / generation.TARGETS["rendered_concurrent_speedup"]
    )


def test_bounds_are_printed_only_for_missed_targets(capsys):
    generation.print_bounds(results(seed_s=60.0, command_cpu=2.5, server_cpu=0.5, median_s=1.6, together=150))
    assert capsys.readouterr().out == ""  # 37.5x the seed and 150x together: both met

    generation.print_bounds(results(seed_s=60.0, command_cpu=2.5, server_cpu=0.5, median_s=2.4, together=30))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "3.00 s of CPU" in lines[0] and "at best 1.50 s = 40.0x" in lines[0]
    assert "at best 60x the seed" in lines[1] and "2.00 s of CPU" in lines[1]
