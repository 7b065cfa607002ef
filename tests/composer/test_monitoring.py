"""The song-making process's metrics module: answered songs by outcome and error kind, timings."""

import pytest

from composer import monitoring
from composer.errors import ServerUnavailable


def value(name: str, **labels) -> float:
    return monitoring.REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_answered_song_counts_posted_or_failed_with_its_error_kind():
    before = (
        value("bgm_songs_total", mood="epic", outcome="posted"),
        value("bgm_songs_total", mood="epic", outcome="failed"),
        value("bgm_errors_total", kind="ServerUnavailable"),
    )
    monitoring.song_answered("epic")
    monitoring.song_answered("epic", ServerUnavailable("127.0.0.1:1", "down"))
    after = (
        value("bgm_songs_total", mood="epic", outcome="posted"),
        value("bgm_songs_total", mood="epic", outcome="failed"),
        value("bgm_errors_total", kind="ServerUnavailable"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def test_timed_observes_a_block_that_fails_too():
    before = value("bgm_render_seconds_count")
    with pytest.raises(RuntimeError), monitoring.timed(monitoring.RENDER):
        raise RuntimeError("render failed")
    assert value("bgm_render_seconds_count") == before + 1


def test_the_queue_and_radios_are_read_when_scraped():
    depth = [3]
    monitoring.watch_queue(lambda: depth[0], lambda: 1)
    monitoring.watch_radios(lambda: 2)
    assert (value("bgm_queue_depth"), value("bgm_queue_running"), value("bgm_radios")) == (3, 1, 2)
    depth[0] = 0
    assert value("bgm_queue_depth") == 0


def test_a_taken_port_is_an_os_error():
    server = monitoring.serve(0)
    try:
        with pytest.raises(OSError):
            monitoring.serve(server.server_port)
    finally:
        server.shutdown()
