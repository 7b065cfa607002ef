"""With ``BGM_S3_BUCKET`` a composed song lands in the bucket and its Stems button still works (the
record read back from the store); with the store down the song is posted all the same, and Stems
says why it cannot, in one sentence."""

from __future__ import annotations

import asyncio

from bot.tracks.s3songs import S3Songs
from bot.tracks.store import FAILED, POSTED
from tests.bot import test_discord
from tests.bot.conftest import free_port
from tests.bot.test_discord import SONG_S, bot_against, compose
from tests.fake_discord import FakeDiscord

shared_server = test_discord.shared_server  # the fixtures of the bot's Discord tests, reused
restore_discord = test_discord.restore_discord


def s3_settings(url: str, bucket: str) -> dict:
    return dict(
        s3_url=url,
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )


async def test_a_composed_song_lands_in_the_bucket_and_its_stems_still_work(
    shared_server, tmp_path, restore_discord, s3_store
):
    bucket = s3_store.bucket()
    settings = s3_settings(s3_store.url, bucket)
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path, **settings) as bot:
        assert isinstance(bot.tracks.songs, S3Songs)
        _, message = await compose(fake, fake.regular, mood="calm", length="short", seed=1)
        await fake.wait_for(
            lambda: "songs/1/song.json" in s3_store.objects(bucket), 30, what="the song in the bucket"
        )
        kept = s3_store.objects(bucket)
        assert {f"songs/1/{a.filename}" for a in message.attachments} <= set(kept)
        assert not (tmp_path / "song-scratch" / "1").exists() and not (tmp_path / "songs").exists()

        click = await fake.click_button(message, "bgm:stems:1", user=fake.regular)
        await fake.wait_for(lambda: click.followups and click.followups[-1].attachments, SONG_S)
        posted = click.followups[-1]
        assert posted.content.startswith("🎚️ Stems of track #1, one file per part: melody, harmony, bass.")
        assert list(posted.files) == ["bgm-calm-1-stems.zip"]
        fake.assert_no_unknown_routes()


async def test_with_the_store_down_the_song_is_posted_and_stems_says_why(
    shared_server, tmp_path, restore_discord
):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with (
        FakeDiscord() as fake,
        bot_against(fake, shared_server, tmp_path, **s3_settings(url, "b")) as bot,
    ):
        _, message = await compose(fake, fake.regular, mood="calm", length="short", seed=1)
        # The upload failed after posting: the scratch is emptied all the same, the track is posted.
        await fake.wait_for(lambda: not (tmp_path / "song-scratch" / "1").exists(), 60, what="keep tried")
        assert (await bot.store.get(1)).state == POSTED

        click = await fake.click_button(message, "bgm:stems:1", user=fake.regular)
        reply = await fake.wait_for(lambda: click.original, SONG_S)
        assert reply.ephemeral
        # Refused at once, or slower than the answer may wait (a loaded machine): either, one sentence.
        assert reply.content in {
            f"❌ The song store at {url} cannot be reached. Try Stems again later.",
            "❌ The song store did not answer. Try Stems again later.",
        }


async def test_a_song_discord_refuses_to_post_leaves_nothing_in_the_scratch(
    shared_server, tmp_path, restore_discord, s3_store
):
    bucket = s3_store.bucket()
    settings = {**s3_settings(s3_store.url, bucket), "early_audio": False}  # the song's own post fails
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path, **settings) as bot:
        # Every edit of the reply refused (the bot lost the right to post), the song's included.
        fake.fail_next("PATCH", r"/messages/@original$", status=403, code=50013, times=1000)
        await fake.invoke_slash(
            "bgm compose", options={"mood": "calm", "length": "short", "seed": 1}, user=fake.regular
        )

        deadline = asyncio.get_running_loop().time() + SONG_S
        while (track := await bot.store.get(1)) is None or track.state != FAILED:
            assert asyncio.get_running_loop().time() < deadline, f"track 1 not failed: {track}"
            await asyncio.sleep(0.1)
        assert not (tmp_path / "song-scratch" / "1").exists()  # rendered, then dropped
        assert not s3_store.objects(bucket)
