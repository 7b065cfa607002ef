"""The fake Discord, proven with a real discord.py bot: slash command group, defer + edit with a file,
an embed and a button, button clicks, channel.send, followups, attachments, permissions, autocomplete,
gateway drops and resumes, rate limits, and Discord's own refusals."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord, Perm, Upload, running_bot

MIDI = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


class PingView(discord.ui.View):
    def __init__(self, log: list) -> None:
        super().__init__(timeout=60)
        self.log = log

    @discord.ui.button(label="Again", custom_id="bgm:again", style=discord.ButtonStyle.primary)
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.log.append(
            ("clicked", interaction.user.id, interaction.message.id if interaction.message else None)
        )
        await interaction.response.edit_message(content="clicked", view=self)


def make_bot(log: list, *, slow: float = 0.0) -> commands.Bot:
    intents = discord.Intents.default()
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05, help_command=None)
    group = app_commands.Group(name="bgm", description="Background music")

    @group.command(name="ping", description="Defer, then answer with a file, an embed and a button")
    async def ping(interaction: discord.Interaction) -> None:
        if slow:
            await asyncio.sleep(slow)
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.append(("defer_failed", exc.status, exc.code))
            return
        log.append(("ping", interaction.user.id, interaction.filesize_limit, interaction.locale.value))
        await asyncio.sleep(0.02)
        embed = discord.Embed(title="Pong", description="a tiny song")
        embed.add_field(name="mood", value="calm")
        try:
            message = await interaction.edit_original_response(
                content="pong",
                embed=embed,
                attachments=[discord.File(io.BytesIO(MIDI), filename="ping.mid")],
                view=PingView(log),
            )
        except discord.HTTPException as exc:
            log.append(("edit_failed", exc.status, exc.code))
            return
        log.append(("edited", message.id, [a.filename for a in message.attachments]))

    @group.command(name="announce", description="channel.send and an ephemeral followup")
    async def announce(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sent = await interaction.channel.send(
            "announcement", file=discord.File(io.BytesIO(b"abc"), "notes.txt")
        )
        log.append(("sent", sent.id, sent.attachments[0].url))
        await interaction.followup.send("done", ephemeral=True)
        extra = await interaction.followup.send("second", wait=True)
        log.append(("followup", extra.id))

    @group.command(name="upload", description="Read a user's attachment")
    @app_commands.describe(file="a MIDI file")
    async def upload(
        interaction: discord.Interaction, file: discord.Attachment, note: str | None = None
    ) -> None:
        data = await file.read()
        log.append(("upload", file.filename, file.content_type, len(data), note))
        await interaction.response.send_message(f"{file.filename} {hashlib.sha256(data).hexdigest()}")

    @group.command(name="train", description="Admins only, checked at run time")
    async def train(interaction: discord.Interaction) -> None:
        allowed = interaction.permissions.manage_guild
        log.append(("train", interaction.user.id, allowed, interaction.app_permissions.attach_files))
        text = "training" if allowed else "you need Manage Server"
        await interaction.response.send_message(text, ephemeral=not allowed)

    @group.command(name="mood", description="Autocompleted mood")
    @app_commands.describe(mood="how it should feel")
    async def mood(
        interaction: discord.Interaction, mood: str, length: app_commands.Range[int, 1, 8] = 2
    ) -> None:
        await interaction.response.send_message(f"{mood} x{length}")

    @mood.autocomplete("mood")
    async def mood_complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        moods = ["calm", "calmer", "happy", "tense"]
        return [app_commands.Choice(name=m, value=m) for m in moods if m.startswith(current)]

    @group.command(name="big", description="Upload a file bigger than the limit")
    async def big(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.followup.send(
                file=discord.File(io.BytesIO(b"x" * (interaction.filesize_limit + 1)), "big.ogg")
            )
        except discord.HTTPException as exc:
            log.append(("too_big", exc.status, exc.code))
            await interaction.followup.send("the song is too large")

    @group.command(name="twice", description="Responds twice: the second is refused")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("one")
        try:
            await interaction.followup.send("x" * 2001)
        except discord.HTTPException as exc:
            log.append(("too_long", exc.status, exc.code))

    class PickView(discord.ui.View):
        @discord.ui.select(
            custom_id="bgm:pick", options=[discord.SelectOption(label=m) for m in ("calm", "tense")]
        )
        async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
            log.append(("picked", select.values))
            await interaction.response.defer()
            await interaction.edit_original_response(content=f"picked {select.values[0]}", view=None)

    @app_commands.command(name="hello", description="Works in DMs too")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def hello(interaction: discord.Interaction) -> None:
        log.append(
            (
                "hello",
                type(interaction.channel).__name__,
                interaction.guild_id,
                type(interaction.user).__name__,
            )
        )
        await interaction.response.send_message("pick a mood", view=PickView())

    gate = asyncio.Event()

    @group.command(name="report", description="Long job: reports in the channel once the token is gone")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await gate.wait()
        try:
            await interaction.edit_original_response(content="finished")
        except discord.HTTPException as exc:
            log.append(("token_gone", exc.status, exc.code))
            await interaction.channel.send(f"{interaction.user.mention} finished")
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()  # refused too (recorded)
        log.append(("reported",))

    bot.tree.add_command(group)
    bot.tree.add_command(hello)
    bot.gate = gate  # type: ignore[attr-defined]
    return bot


@pytest.fixture
async def fake():
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def bot_log(fake):
    log: list = []
    bot = make_bot(log)
    bot.tree.copy_global_to(guild=discord.Object(fake.guild.id))
    async with running_bot(fake, bot, patch=False):
        await bot.tree.sync(guild=discord.Object(fake.guild.id))
        yield bot, log


async def test_login_ready_and_guild_state(fake, bot_log):
    bot, _ = bot_log
    assert bot.user.id == fake.bot_user.id
    assert bot.application_id == fake.application_id
    assert [r.path for r in fake.requests[:2]] == ["/api/v10/users/@me", "/api/v10/oauth2/applications/@me"]
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None and guild.name == fake.guild.name
    assert {c.name for c in guild.text_channels} == {"general", "music"}
    assert guild.me is not None and guild.me.guild_permissions.attach_files
    connect = fake.gateway_events("connect")[0]
    assert connect.detail["query"] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    identify = fake.gateway_events("identify")[0]
    assert identify.detail["intents"] == discord.Intents.default().value
    assert fake.gateway_events("heartbeat"), "discord.py heartbeats right after HELLO"
    fake.assert_no_unknown_routes()


async def test_tree_sync_registers_the_group_with_ids(fake, bot_log):
    bot, _ = bot_log
    synced = fake.commands[fake.guild.id][("bgm", 1)]
    subcommands = {o["name"] for o in synced["options"]}
    assert {"ping", "announce", "upload", "train", "mood", "big", "twice"} <= subcommands
    assert synced["guild_id"] == str(fake.guild.id)
    again = await bot.tree.sync(guild=discord.Object(fake.guild.id))
    assert {c.name: c.id for c in again}["bgm"] == int(synced["id"]), "ids are stable across syncs"
    assert fake.requests_to("PUT", rf"/applications/{fake.application_id}/guilds/{fake.guild.id}/commands$")


async def test_ping_defers_then_edits_with_file_embed_and_button(fake, bot_log):
    _, log = bot_log
    inter = await fake.invoke_slash("bgm", "ping", user=fake.regular)
    callback = await fake.wait_for_callback(inter)
    assert callback.ok and callback.callback_type == 5
    assert inter.ack_latency is not None and inter.ack_latency < 3.0
    message = await fake.wait_for_response(inter)
    assert message.content == "pong"
    assert message.files == {"ping.mid": MIDI}
    assert message.attachment("ping.mid").content_type == "audio/midi"
    assert message.embeds[0]["title"] == "Pong" and message.embeds[0]["fields"][0]["value"] == "calm"
    assert message.custom_ids == ["bgm:again"]
    assert not message.ephemeral and message.history[0].flags & 128, "it began as a 'thinking...' message"
    await fake.wait_for(lambda: any(e[0] == "edited" for e in log))
    assert ("ping", fake.regular.id, fake.attachment_size_limit, "en-US") in log
    assert ("edited", message.id, ["ping.mid"]) in log, "discord.py parsed the fake's message object"
    assert [e.kind for e in fake.responses_for(inter)] == ["callback", "edit_original"]
    assert inter.payload["data"]["options"] == [{"name": "ping", "type": 1, "options": []}]
    assert inter.payload["member"]["permissions"] == str(fake.regular.permissions)

    # the uploaded file is served by the fake's CDN, as Discord's would be
    bot = bot_log[0]
    assert await bot.http.get_from_cdn(message.attachment("ping.mid").url) == MIDI

    click = await fake.click_button(message, "bgm:again", user=fake.admin)
    await fake.wait_for_callback(click)
    assert click.callback_type == 7
    assert ("clicked", fake.admin.id, message.id) in log
    assert message.content == "clicked" and message.files == {"ping.mid": MIDI}
    fake.assert_no_unknown_routes()
    fake.assert_no_errors()


async def test_channel_send_and_followups(fake, bot_log):
    _, log = bot_log
    inter = await fake.invoke_slash("bgm announce")
    await fake.wait_for(lambda: len(inter.followups) == 2)
    sent = fake.wait_for_message(lambda m: m.content == "announcement", channel=fake.channel)
    channel_message = await sent
    assert channel_message.interaction is None and channel_message.files == {"notes.txt": b"abc"}
    assert channel_message.attachment("notes.txt").content_type == "text/plain; charset=utf-8"
    # the first followup after a thinking defer replaces the thinking message, ephemeral like the defer
    assert (
        inter.followups[0] is inter.original and inter.original.content == "done" and inter.original.ephemeral
    )
    # later followups are new messages; this one asked for no ephemeral flag
    assert inter.followups[1].content == "second" and not inter.followups[1].ephemeral
    assert ("followup", inter.followups[1].id) in log
    assert any(e[0] == "sent" and e[1] == channel_message.id for e in log)
    assert [m.content for m in fake.channel_messages()] == ["done", "announcement", "second"]
    assert [e.kind for e in inter.events] == ["callback", "followup", "followup"]


async def test_attachment_option_is_downloaded_from_the_fake(fake, bot_log):
    _, log = bot_log
    data = MIDI * 50
    inter = await fake.invoke_slash(
        "bgm upload", attachments={"file": Upload("tune.mid", data)}, options={"note": "hi"}
    )
    message = await fake.wait_for_response(inter)
    assert message.content == f"tune.mid {hashlib.sha256(data).hexdigest()}"
    assert ("upload", "tune.mid", "audio/midi", len(data), "hi") in log
    resolved = inter.payload["data"]["resolved"]["attachments"]
    assert list(resolved.values())[0]["size"] == len(data)
    assert fake.uploads == [], "user uploads are not the bot's uploads"


async def test_permissions_reach_the_bot(fake, bot_log):
    _, log = bot_log
    for member, allowed in (
        (fake.regular, False),
        (fake.manager, True),
        (fake.admin, True),
        (fake.owner, True),
    ):
        inter = await fake.invoke_slash("bgm train", user=member)
        message = await fake.wait_for_response(inter)
        assert message.ephemeral is (not allowed)
        assert ("train", member.id, allowed, True) in log
    assert fake.admin.to_payload(with_permissions=True)["permissions"] == str(discord.Permissions.all().value)
    assert int(fake.manager.to_payload(with_permissions=True)["permissions"]) & Perm.MANAGE_GUILD


async def test_option_validation_matches_the_registered_command(fake, bot_log):
    with pytest.raises(ValueError, match="required"):
        await fake.invoke_slash("bgm upload")
    with pytest.raises(ValueError, match="no option"):
        await fake.invoke_slash("bgm mood", options={"mood": "calm", "tempo": 3})
    with pytest.raises(ValueError, match="max_value"):
        await fake.invoke_slash("bgm mood", options={"mood": "calm", "length": 9})
    with pytest.raises(ValueError, match="not a registered subcommand"):
        await fake.invoke_slash("bgm nope")
    with pytest.raises(LookupError):
        await fake.invoke_slash("other")
    inter = await fake.invoke_slash("bgm mood", options={"mood": "calm", "length": 3})
    assert (await fake.wait_for_response(inter)).content == "calm x3"


async def test_autocomplete(fake, bot_log):
    inter = await fake.autocomplete("bgm mood", focused="mood", options={"mood": "ca"})
    await fake.wait_for_callback(inter)
    assert inter.callback_type == 8
    assert [c["value"] for c in inter.choices] == ["calm", "calmer"]


async def test_gateway_drop_resumes_and_commands_still_work(fake, bot_log):
    bot, _ = bot_log
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    await fake.drop_gateway(4000)
    # dispatched while the bot is (probably) away: replayed on RESUME
    inter = await fake.invoke_slash("bgm ping")
    await asyncio.wait_for(resumed.wait(), 5)
    await fake.wait_for_response(inter)
    resume = fake.gateway_events("resume")[-1]
    assert resume.detail["path"] == "/resume" and resume.detail["session_id"] == fake.session.id
    assert len(fake.gateway_events("identify")) == 1

    await fake.drop_gateway(None)  # TCP cut, no close frame
    await fake.wait_for(lambda: len(fake.gateway_events("resume")) == 2 and fake.connected)
    again = await fake.invoke_slash("bgm ping")
    assert (await fake.wait_for_response(again)).files == {"ping.mid": MIDI}
    assert len(fake.gateway_events("identify")) == 1
    fake.assert_no_unknown_routes()


async def test_reconnect_op_and_invalid_session(fake, bot_log):
    bot, _ = bot_log

    async def no_identify_delay(shard_id, *, initial):  # discord.py sleeps 5 s before a re-IDENTIFY
        return None

    bot.before_identify_hook = no_identify_delay
    await fake.send_reconnect()
    await fake.wait_for(lambda: fake.gateway_events("resume") and fake.connected)
    old_session = fake.session.id
    await fake.invalidate_session(resumable=False)
    await fake.wait_for(lambda: len(fake.gateway_events("identify")) == 2 and fake.connected, timeout=5)
    assert fake.session.id != old_session
    await bot.wait_until_ready()
    inter = await fake.invoke_slash("bgm ping")
    assert (await fake.wait_for_response(inter)).content == "pong"


async def test_discords_refusals_become_http_exceptions(fake, bot_log):
    _, log = bot_log
    fake.attachment_size_limit = 4096
    inter = await fake.invoke_slash("bgm big")
    message = await fake.wait_for_response(inter)
    assert message.content == "the song is too large"
    assert ("too_big", 413, 40005) in log
    assert [e.status for e in inter.events] == [200, 413, 200]

    inter = await fake.invoke_slash("bgm twice")
    await fake.wait_for(lambda: any(e[0] == "too_long" for e in log))
    assert ("too_long", 400, 50035) in log
    fake.assert_no_unknown_routes()


async def test_late_callback_is_unknown_interaction(fake):
    log: list = []
    bot = make_bot(log, slow=0.3)
    fake.callback_deadline = 0.1  # Discord's is 3 s; shortened so the test is quick
    async with running_bot(fake, bot, patch=False):
        await bot.tree.sync()
        inter = await fake.invoke_slash("bgm ping")
        event = await fake.wait_for_callback(inter)
    assert event.status == 404 and event.error["code"] == 10062
    assert ("defer_failed", 404, 10062) in log
    assert not inter.acknowledged and inter.ack_latency is None


async def test_rate_limit_and_server_errors_are_retried(fake, bot_log):
    bot, _ = bot_log
    # (a 5xx is retried too, but discord.py sleeps 1 + 2 * attempt seconds first: too slow to test here)
    fake.fail_next("POST", rf"/channels/{fake.channel.id}/messages$", status=429, retry_after=0.05, times=2)
    channel = bot.get_channel(fake.channel.id)
    started = asyncio.get_running_loop().time()
    message = await channel.send("after a retry")
    assert message.content == "after a retry"
    statuses = [r.status for r in fake.requests_to("POST", rf"/channels/{fake.channel.id}/messages$")]
    assert statuses == [429, 429, 200]
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_missing_permissions_and_unknown_routes_are_recorded(fake, bot_log):
    bot, _ = bot_log
    fake.guild.everyone.permissions = Perm.VIEW_CHANNEL  # effective = @everyone | the bot's role
    fake.set_bot_permissions(Perm.VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden):
        await bot.get_channel(fake.channel.id).send("no")
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/voice/regions"))
    assert [r.path for r in fake.unknown_requests] == ["/api/v10/voice/regions"]
    with pytest.raises(AssertionError):
        fake.assert_no_unknown_routes()
    fake.unknown_requests.clear()


async def test_dm_invocation_and_select_menu(fake, bot_log):
    _, log = bot_log
    await bot_log[0].tree.sync()  # "hello" is global too (copy_global_to made guild copies)
    inter = await fake.invoke_slash("hello", dm=True)
    message = await fake.wait_for_response(inter)
    assert ("hello", "DMChannel", None, "User") in log
    assert message.guild_id is None and "guild_id" not in inter.payload and inter.payload["context"] == 1

    inter = await fake.invoke_slash("hello")
    message = await fake.wait_for_response(inter)
    assert ("hello", "TextChannel", fake.guild.id, "Member") in log
    with pytest.raises(ValueError, match="not among"):
        await fake.select(message, "bgm:pick", ["loud"])
    picked = await fake.select(message, "bgm:pick", ["tense"])
    await fake.wait_for(lambda: message.content == "picked tense")
    assert picked.callback_type == 6 and message.components == [] and ("picked", ["tense"]) in log
    with pytest.raises(KeyError):  # the bot removed the menu
        await fake.select(message, "bgm:pick", ["calm"])


async def test_autosharded_bot_uses_gateway_bot(fake):
    bot = commands.AutoShardedBot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05
    )

    @bot.tree.command(name="shard", description="Which shard")
    async def shard(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"shard {interaction.guild.shard_id}")

    async with running_bot(fake, bot, patch=False):
        assert fake.requests_to("GET", r"/gateway/bot$")
        await bot.tree.sync()
        inter = await fake.invoke_slash("shard")
        assert (await fake.wait_for_response(inter)).content == "shard 0"


async def test_two_processes_on_two_shards_each_get_their_own_guilds_and_interactions(fake):
    """As Discord routes them: a guild's events go to shard ``(guild_id >> 22) % shard_count``."""
    first = (fake.guild.id >> 22) % 2
    other = fake.add_guild("other guild", shard=(1 - first, 2))
    member = fake.add_member("olga", guild=other)
    answers: dict[int, list] = {}

    def sharded(shard_id: int) -> commands.AutoShardedBot:
        bot = commands.AutoShardedBot(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            shard_ids=[shard_id],
            shard_count=2,
        )

        @bot.tree.command(name="shard", description="Which shard")
        async def shard(interaction: discord.Interaction) -> None:
            answers.setdefault(shard_id, []).append(interaction.guild_id)
            await interaction.response.send_message(f"shard {interaction.guild.shard_id}")

        return bot

    async with (
        running_bot(fake, sharded(first), patch=False) as mine,
        running_bot(fake, sharded(1 - first), patch=False) as theirs,
    ):
        assert [g.id for g in mine.guilds] == [fake.guild.id]
        assert [g.id for g in theirs.guilds] == [other.id]
        await mine.tree.sync()
        inter = await fake.invoke_slash("shard", user=member)
        assert (await fake.wait_for_response(inter)).content == f"shard {1 - first}"
        inter = await fake.invoke_slash("shard", user=fake.regular)
        assert (await fake.wait_for_response(inter)).content == f"shard {first}"
    assert answers == {1 - first: [other.id], first: [fake.guild.id]}
    assert sorted(tuple(e.detail["shard"]) for e in fake.gateway_events("identify")) == [(0, 2), (1, 2)]


async def test_wrong_token_is_refused(fake):
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        async with running_bot(fake, bot, token="not-the-token", patch=False):
            pass
    assert fake.errors[-1].status == 401 and fake.errors[-1].path == "/api/v10/users/@me"


async def test_expired_token_falls_back_to_channel_send(fake, bot_log):
    bot, log = bot_log
    inter = await fake.invoke_slash("bgm report", user=fake.admin)
    await fake.wait_for_callback(inter)
    fake.expire_interaction(inter)  # as if the job outlived the 15-minute token
    bot.gate.set()
    message = await fake.wait_for_message(lambda m: m.content.endswith("finished") and m.interaction is None)
    assert message.content == f"<@{fake.admin.id}> finished"
    await fake.wait_for(lambda: ("reported",) in log)
    assert ("token_gone", 401, 50027) in log
    kinds = [(e.kind, e.status) for e in inter.events]
    assert kinds == [("callback", 200), ("edit_original", 401), ("delete_original", 401)]
    assert inter.original.loading, "the thinking message stays as it was"


async def test_custom_world_and_user_messages():
    async with FakeDiscord(default_world=False) as fake:
        guild = fake.add_guild("studio", channels=("lobby", "renders"))
        dj = fake.add_member("dj", guild=guild, permissions=Perm.MANAGE_GUILD)
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True  # else discord.py caches no member from GUILD_CREATE but itself
        bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        heard: list = []

        @bot.command()
        async def echo(ctx: commands.Context, *, text: str) -> None:
            heard.append((ctx.author.id, ctx.guild.id))
            await ctx.send(f"echo {text}")

        async with running_bot(fake, bot, patch=False):
            assert bot.get_guild(guild.id).get_member(dj.id).guild_permissions.manage_guild
            found = await bot.get_guild(guild.id).query_members("d")  # op 8 -> GUILD_MEMBERS_CHUNK
            assert [m.id for m in found] == [dj.id]
            await fake.post_user_message("!echo la la", user=dj, channel=guild.channel("renders"))
            reply = await fake.wait_for_message(lambda m: m.author is fake.bot_user)
        assert reply.content == "echo la la" and reply.channel_id == guild.channel("renders").id
        assert heard == [(dj.id, guild.id)]
        fake.assert_no_unknown_routes()


async def test_patch_is_restored():
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as fake:
        assert Route.BASE == fake.api_base and str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url_str
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == before
    assert Route.BASE == "https://discord.com/api/v10"
