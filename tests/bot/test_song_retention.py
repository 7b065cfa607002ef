"""Songs past their retention are removed while the bot runs; their Stems button says so."""

from __future__ import annotations

from tests.bot import test_discord
from tests.bot.test_discord import SONG_S, bot_against, compose
from tests.fake_discord import FakeDiscord

shared_server = test_discord.shared_server  # the fixtures of the bot's Discord tests, reused
restore_discord = test_discord.restore_discord


async def test_the_oldest_song_goes_past_the_count_and_its_stems_are_refused(
    shared_server, tmp_path, restore_discord
):
    settings = dict(keep_songs=1, prune_every_s=0.2)
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path, **settings) as bot:
        _, first = await compose(fake, fake.regular, mood="calm", length="short", seed=1)
        _, second = await compose(fake, fake.regular, mood="calm", length="short", seed=2)
        songs = tmp_path / "songs"
        await fake.wait_for(lambda: not (songs / "1").exists(), 30, what="the first song removed")
        assert (songs / "2").is_dir() and bot.tracks.songs.root == songs
        click = await fake.click_button(first, "bgm:stems:1", user=fake.regular)
        message = await fake.wait_for(lambda: click.original, SONG_S)
        assert message.ephemeral and message.content == "I have no record of that track's song any more."
        assert (await bot.store.get(1)).message_id == first.id  # the record stays
