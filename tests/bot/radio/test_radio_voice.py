"""The radio end to end: the real bot (``create_bot``) in a voice channel of the fake Discord, its
Opus packets received on UDP by the fake voice server, decrypted and decoded, songs composed by the
tiny model through one shared ``bgm serve``.

Songs here are short and fast (``radio_length=short``, 240 bpm: about 25 s each) so that a song
boundary comes within a test. Timing assertions are the issue's protocol properties only, with the
tolerance each states: the CI machine is a shared 2-core box, so they bound what a listener would
hear (a gap over 60 ms), not how evenly this machine schedules threads.
"""

from __future__ import annotations

import contextlib
import sys

import aiohttp
import numpy as np
import pytest

from bot.app import create_bot, model_client
from bot.radio.stream import FRAME, RATE
from bot.settings import BotSettings
from tests.bot.test_discord import compose, restore_discord, shared_server  # noqa: F401
from tests.fake_discord import FakeDiscord, running_bot
from tests.fake_discord.voice import FakeVoice, make_certificate, trusting_context

SONG_S = 180  # the first song composed and rendered on a busy 2-core machine
RADIO = dict(
    radio_length="short", radio_tempo=240, radio_empty_s=3, radio_reconnect_s=6, radio_crossfade_s=1.0
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("voice-tls"))


@pytest.fixture
async def world(certificate, monkeypatch, restore_discord):  # noqa: F811
    """The fake Discord with a voice channel #lounge and its voice server (TLS trusted through
    ``SSL_CERT_FILE``, as a deployment trusts a private CA)."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with FakeDiscord() as fake:
        lounge = fake.add_channel("lounge", type=2)
        voice = await FakeVoice(fake, cert, key).start()
        try:
            yield fake, voice, lounge
        finally:
            await voice.stop()


@contextlib.asynccontextmanager
async def radio_bot(fake, server, data_dir, **overrides):
    values = dict(
        discord_token=fake.token,
        discord_api_base=fake.api_base,
        discord_gateway_url=str(fake.gateway_url),
        guild_ids=[fake.guild.id],
        server=server.address,
        models_dir=server.models_root,
        data_dir=data_dir,
        cooldown_s=0,
        retry_s=2,
        train_command=[sys.executable, "-m", "cli.main", "train"],
    )
    settings = BotSettings(**{**values, **RADIO, **overrides})
    client = model_client(settings, server.address)
    # The connector's context is made now, after SSL_CERT_FILE points at the test's certificate.
    connector = aiohttp.TCPConnector(limit=0, ssl=trusting_context())
    bot = create_bot(settings, client, guild_ready_timeout=0.05, connector=connector)
    try:
        async with running_bot(fake, bot, patch=False, timeout=30):
            yield bot
    finally:
        await client.close()


async def start_radio(fake, voice, lounge, mood="calm", user=None):
    user = user or fake.regular
    await voice.join(user, lounge)
    await fake.wait_for(lambda: True, 0.1)
    inter = await fake.invoke_slash("bgm radio start", options={"mood": mood}, user=user)
    await fake.wait_for_callback(inter)
    return inter


async def now_playing(fake, timeout=30):
    return await fake.wait_for_message(
        lambda m: bool(m.embeds) and "Now playing" in m.embeds[0]["title"], timeout=timeout
    )


def mono(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float64).mean(axis=1)


def best_correlation(received: np.ndarray, source: np.ndarray, max_lag: int = 4 * FRAME) -> tuple[float, int]:
    """The highest correlation coefficient of ``source`` with ``received`` delayed by 0..max_lag frames
    (Opus's decoder runs a few milliseconds behind its encoder)."""
    best = (-1.0, 0)
    n = len(source)
    for lag in range(0, max_lag, 8):
        window = received[lag : lag + n]
        if len(window) < n:
            break
        r = float(np.corrcoef(window, source)[0, 1])
        best = max(best, (r, lag))
    return best


def rms_db(pcm: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(mono(pcm) ** 2)) / 32768 + 1e-12)


async def test_start_joins_the_callers_channel_and_streams_the_song(world, shared_server, tmp_path):  # noqa: F811
    fake, voice, lounge = world
    async with radio_bot(fake, shared_server, tmp_path) as bot:
        inter = await start_radio(fake, voice, lounge)
        assert not inter.ephemeral and f"<#{lounge.id}>" in inter.original.content
        # 6 s of audio: well into the first song.
        await fake.wait_for(lambda: len(voice.received()) >= 300, SONG_S, what="6 s of packets")
        session = bot.radios.sessions[fake.guild.id]
        song = session.current
        packets = voice.received()[:300]

        # The handshake went as Discord's does: TLS websocket v8, the rtpsize AEAD mode, DAVE off.
        identify = voice.events("identify")[0]
        assert identify["max_dave_protocol_version"] >= 1  # davey is installed: the bot offers DAVE
        assert voice.events("select_protocol")[0]["mode"] == "aead_xchacha20_poly1305_rtpsize"
        assert voice.events("select_protocol")[0]["port"] > 0  # the address IP discovery gave it
        assert any(e["speaking"] for e in voice.events("speaking"))
        assert voice.undecryptable == 0

        # One packet per 20 ms of audio: consecutive sequence numbers, timestamps 960 samples apart, and
        # sent in real time (6 s of packets over 6 s, within 5%: a thread's sleep on a busy machine).
        assert [p.sequence - packets[0].sequence for p in packets] == list(range(len(packets)))
        assert all(b.timestamp - a.timestamp == FRAME for a, b in zip(packets, packets[1:], strict=False))
        span = packets[-1].at - packets[0].at
        assert abs(span / (len(packets) - 1) - 0.020) < 0.001, (
            f"{span / (len(packets) - 1) * 1000:.2f} ms a packet"
        )

        # What was heard is the song rendered: 4 s from 1 s in, correlated with the song's own PCM.
        heard = mono(voice.decoded(packets))
        source = mono(song.pcm[RATE : 5 * RATE])
        r, lag = best_correlation(heard[RATE:], source)
        assert r > 0.9, f"correlation {r:.3f} at lag {lag}"

        # The now-playing card: the song's details and its audio and MIDI.
        card = await fake.wait_for_message(
            lambda m: m.embeds and "Now playing" in m.embeds[0]["title"], timeout=30
        )
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        request = song.composition.request
        assert (fields["Mood"], fields["Seed"], fields["Model version"]) == ("calm", str(request.seed), "1")
        assert fields["Tempo"] == "240 bpm" and fields["Key"] == song.files.key
        assert {a.filename for a in card.attachments} == {
            f"bgm-calm-{request.seed}.ogg",
            f"bgm-calm-{request.seed}.mid",
        }
        fake.assert_no_unknown_routes()
