"""The bot's Prometheus endpoint against the fake Discord: songs, errors, queue and timings counted."""

from __future__ import annotations

import socket
import urllib.request
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from composer import monitoring
from tests.bot import test_discord
from tests.bot.test_discord import SONG_S, bot_against, compose
from tests.fake_discord import FakeDiscord

shared_server = test_discord.shared_server  # the fixtures of the bot's Discord tests, reused
restore_discord = test_discord.restore_discord


@pytest.fixture
def endpoint():
    server = monitoring.serve(0)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample, read by prometheus_client's parser: {(name, labels): value}."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def counted(mood: str, outcome: str) -> float:
    """Songs counted so far, read in process: to wait for the count, which follows the posting."""
    value = monitoring.REGISTRY.get_sample_value("bgm_songs_total", {"mood": mood, "outcome": outcome})
    return value or 0.0


def grew(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_a_posted_song_is_counted_with_its_wait_and_times(
    shared_server, tmp_path, restore_discord, endpoint
):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        base, before = counted("calm", "posted"), scrape(endpoint)
        await compose(fake, fake.regular, mood="calm", length="short", seed=3)
        await fake.wait_for(lambda: counted("calm", "posted") > base, 30)  # counted just after posting
        after = scrape(endpoint)
    assert grew(before, after, "bgm_songs_total", mood="calm", outcome="posted") == 1
    for histogram in ("bgm_queue_wait_seconds", "bgm_compose_seconds", "bgm_render_seconds"):
        assert grew(before, after, f"{histogram}_count") == 1, histogram
    assert grew(before, after, "bgm_compose_seconds_sum") > 0
    assert after[("bgm_queue_depth", ())] == 0 and after[("bgm_radios", ())] == 0
    assert after[("process_cpu_seconds_total", ())] > 0


async def test_a_failed_song_is_counted_by_its_error_kind(tmp_path, restore_discord, endpoint):
    with socket.socket() as probe:  # a port where no model server answers
        probe.bind(("127.0.0.1", 0))
        nowhere = SimpleNamespace(address=f"127.0.0.1:{probe.getsockname()[1]}", models_root=tmp_path)
    async with FakeDiscord() as fake, bot_against(fake, nowhere, tmp_path, retry_s=0.5):
        base, before = counted("sad", "failed"), scrape(endpoint)
        inter = await fake.invoke_slash("bgm compose", options={"mood": "sad"}, user=fake.regular)
        await fake.wait_for(
            lambda: inter.original is not None and inter.original.content.startswith("❌"), SONG_S
        )
        await fake.wait_for(lambda: counted("sad", "failed") > base, 30)
        after = scrape(endpoint)
    assert grew(before, after, "bgm_songs_total", mood="sad", outcome="failed") == 1
    assert grew(before, after, "bgm_errors_total", kind="ServerUnavailable") == 1
