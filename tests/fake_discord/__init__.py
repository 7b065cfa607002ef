"""A fake Discord (REST API + CDN + gateway websocket) on loopback, for the *real* discord.py client.

A slash command sent through the fake travels the bot's production code path: gateway frame
-> ``ConnectionState.parse_interaction_create`` -> ``CommandTree`` -> the command -> REST calls
through ``discord.http`` / ``discord.webhook.async_`` -> the fake, which records them.

Quick start (pytest-asyncio, ``asyncio_mode = "auto"``)::

    import discord
    from discord.ext import commands
    from tests.fake_discord import FakeDiscord, Perm, Upload, running_bot

    async def test_compose():
        async with FakeDiscord() as fake:               # start() + patch_discord(); undone on exit
            bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(),
                               guild_ready_timeout=0.05)   # on_ready 50 ms after the last GUILD_CREATE
            ...add the cog / app_commands.Group named "bgm"...
            async with running_bot(fake, bot):            # login() + connect() task + wait_until_ready()
                await bot.tree.sync(guild=discord.Object(fake.guild.id))   # -> PUT .../guilds/{id}/commands
                inter = await fake.invoke_slash("bgm compose", options={"mood": "calm"}, user=fake.regular)
                await fake.wait_for_callback(inter)
                assert inter.ack_latency < 3 and inter.callback_type == 5        # deferred in time
                message = await fake.wait_for_response(inter)    # the final original response
                assert message.attachment("song.mid").data.startswith(b"MThd")
                click = await fake.click_button(message, "bgm:again:calm")
            fake.assert_no_unknown_routes()

A ready-made fixture: ``from tests.fake_discord.fixtures import fake_discord  # noqa: F401``.

Patches (``fake.patch_discord()``; ``async with FakeDiscord()`` applies it; restored on exit)
---------------------------------------------------------------------------------------------
* ``discord.http.Route.BASE = fake.api_base`` (``http://127.0.0.1:PORT/api/v10``). This covers the
  interaction and webhook routes too: ``discord/webhook/async_.py`` builds its requests with the same
  ``discord.http.Route`` class (only ``Webhook.url``, a display property, hard-codes discord.com).
* ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = fake.gateway_url`` (``yarl.URL('ws://127.0.0.1:PORT/')``).
  ``Client.connect()`` in 2.7.1 does *not* call ``GET /gateway[/bot]`` (only AutoShardedClient does);
  it connects to DEFAULT_GATEWAY with ``?v=10&encoding=json&compress=zlib-stream``. Resumes go to
  READY's ``resume_gateway_url``, which the fake sets to ``ws://127.0.0.1:PORT/resume``.
* ``discord.asset.Asset.BASE = fake.http_base`` (CDN assets such as avatars; the fake has none,
  so a bot reading one shows up in ``fake.unknown_requests`` instead of reaching the internet).
The patches are process-global: one fake at a time per process.

What the bot sees
-----------------
* REST: ``GET /users/@me`` (login), ``GET /oauth2/applications/@me`` (login: application_id),
  ``GET /gateway``, ``GET /gateway/bot``, application commands (``GET/PUT/POST`` global and guild,
  ``GET/PATCH/DELETE`` one, with Discord's validation of names/descriptions/options),
  ``POST /interactions/{id}/{token}/callback`` (types 4, 5, 6, 7, 8, 9; ``?with_response=1`` answered
  with the InteractionCallback object discord.py 2.7 parses), ``POST /webhooks/{app}/{token}``
  (followups, ``?wait=true``), ``GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{@original|id}``,
  ``GET /channels/{id}``, ``GET/POST /channels/{id}/messages``, ``GET/PATCH/DELETE
  /channels/{id}/messages/{mid}``, ``POST /channels/{id}/typing``, reactions (``@me``),
  ``POST /users/@me/channels`` (DMs), ``GET /users/{id}``,
  ``GET /guilds/{id}[/channels|/roles|/members/{uid}]``,
  and a CDN ``GET /attachments/{channel}/{id}/{filename}`` serving every uploaded file (the bot's and
  the users'), so ``Attachment.read()`` works. JSON bodies and multipart (``payload_json`` +
  ``files[n]``) are parsed. Unknown routes: 404 ``{"message": "404: Not Found", "code": 0}``,
  recorded in ``fake.unknown_requests``.
* Discord's rules, as errors discord.py turns into exceptions: a callback later than
  ``callback_deadline`` (3 s) after the INTERACTION_CREATE frame left -> 404 10062 Unknown interaction;
  a second callback -> 400 40060; webhook calls after the token expired (``token_ttl`` = 15 min, or
  ``fake.expire_interaction(inter)``) -> 401 50027; a followup before any callback -> 404 10015;
  content > 2000 chars, > 10 embeds/attachments, embed limits, bad/duplicate component custom_ids
  -> 400 50035; a file bigger than ``attachment_size_limit`` (10 MiB; sent to the bot as
  ``attachment_size_limit``, i.e. ``interaction.filesize_limit``) -> 413 40005; an empty message ->
  400 50006; ``channel.send`` without Send Messages / Attach Files -> 403 50013.
  After a *deferred* (type 5) response, the first followup replaces the "thinking..." message
  (as on Discord) instead of making a new one.
* Shards: an IDENTIFY with ``shard: [id, count]`` gets only the guilds Discord would route to it,
  ``(guild_id >> 22) % count == id`` (DMs: shard 0), and so do their interactions
  (``fake.session_for(guild_id)``); ``add_guild(..., shard=(id, count))`` makes a guild on a shard.
  A new IDENTIFY replaces the session of its own shard only.
* Gateway: HELLO, heartbeat ACKs, IDENTIFY (token checked, close 4004 otherwise) -> READY (user,
  application {id, flags}, unavailable guilds, session_id, resume_gateway_url) and one GUILD_CREATE
  per guild (roles, channels, members incl. the bot); RESUME -> replay of missed dispatches + RESUMED;
  REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK; MESSAGE_CREATE/UPDATE/DELETE for non-ephemeral
  messages when the bot asked for the GUILD_MESSAGES intent; zlib-stream frames as requested.

Driving the bot and reading what it did
---------------------------------------
* The default world: ``fake.guild`` with ``#general`` (``fake.channel``) and ``#music``; members
  ``fake.regular`` (only what ``@everyone`` grants: ``Perm.EVERYONE_DEFAULT``, no Manage Server),
  ``fake.manager`` (a role with Manage Server 0x20), ``fake.admin`` (a role with Administrator 0x8, so
  ``permissions`` = all bits, as Discord computes it), ``fake.owner`` (all bits); ``fake.bot_user``
  (its managed role: ``Perm.BOT_DEFAULT``). ``FakeDiscord(default_world=False)`` starts empty; build with
  ``add_guild/add_channel/add_role/add_member(permissions=Perm.X)/set_bot_permissions`` (effective
  permissions are ``@everyone | roles``, as on Discord). Change the world before the bot connects, or
  ``await fake.push_guild(guild)`` afterwards (interactions carry their own member/channel data).
* ``await fake.invoke_slash("bgm compose", options={...}, attachments={"corpus": Upload("a.mid", data)},
  user=fake.admin, channel=..., dm=False, locale="en-US")`` -> :class:`FakeInteraction` (type 2; options
  nested under subcommand (type 1) / group (type 2) nodes, typed from the command the bot
  registered; attachments in ``data.resolved.attachments`` with URLs served by the fake; ``member``
  with ``permissions`` and roles; ``app_permissions``; ``channel``; ``token``; ``locale``...).
* ``await fake.click_button(message, custom_id | label=..., user=...)``, ``await fake.select(message,
  custom_id, values)``, ``await fake.autocomplete("bgm compose", focused="mood", options={"mood": "ca"})``
  (choices in ``inter.choices``), ``await fake.post_user_message("hi")``.
* ``FakeInteraction``: ``events`` (= ``fake.responses_for(inter)``: every callback / @original GET,
  PATCH, DELETE / followup, with ``at``, ``status``, ``payload``, ``files``, ``message``), ``callback``,
  ``callback_type``, ``dispatched_at``, ``ack_latency``, ``deferred``, ``original``, ``followups``,
  ``messages``, ``attachments``, ``ephemeral``, ``errors``.
* ``FakeMessage``: ``content``, ``embeds`` (dicts), ``components``, ``buttons``, ``custom_ids``,
  ``flags``, ``ephemeral``, ``loading``, ``attachments`` (``FakeAttachment``: ``filename``, ``data``,
  ``size``, ``content_type``, ``url``), ``files`` ({filename: bytes}), ``history`` (each revision).
* ``fake.messages`` (by id), ``fake.channel_messages(channel)``, ``fake.uploads``, ``fake.requests``,
  ``fake.requests_to("PUT", r"/commands$")``, ``fake.errors``, ``fake.unknown_requests``,
  ``fake.commands``, ``fake.command_syncs``, ``fake.typing``, ``fake.gateway_log`` /
  ``fake.gateway_events("resume")``, ``fake.assert_no_unknown_routes()``, ``fake.assert_no_errors()``.
* Waiting: ``await fake.wait_for(lambda: ..., timeout)``, ``wait_for_callback(inter)``,
  ``wait_for_response(inter)`` (original no longer "thinking"), ``wait_for_message(pred, channel=)``,
  ``wait_until_connected()``. Timeouts raise ``TimeoutError`` with a dump of the fake's state.
* Faults: ``await fake.drop_gateway(4000)`` (close frame; ``None`` cuts TCP) -> the bot RESUMEs;
  ``send_reconnect()`` (op 7); ``invalidate_session(resumable=False)`` (op 9 -> new IDENTIFY);
  ``fail_next("POST", r"/callback$", status=500 | 429, times=1)``.

Voice (``tests/fake_discord/voice.py``)
--------------------------------------
``voice = await FakeVoice(fake, cert, key).start()`` (a certificate from ``make_certificate``, trusted
through ``SSL_CERT_FILE``; give the bot a connector with ``ssl=trusting_context()``): the gateway then
answers the bot's op 4 with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE, a TLS voice websocket (v8)
does the handshake, and RTP packets arriving on UDP are decrypted and kept (``voice.received()``,
``voice.decoded(packets)``). Drive it with ``voice.join/leave(member, channel)``, ``move_bot``,
``disconnect_bot``, ``fail_over`` (a new voice server) and ``drop`` (close or cut the websocket).
Voice channels are ``fake.add_channel(name, type=2)``.

discord.py 2.7.1 quirks worth knowing
-------------------------------------
* JSON is recognised only if ``Content-Type`` is exactly ``application/json`` (aiohttp's
  ``json_response`` adds ``; charset=utf-8``, which discord.py would hand back as a *str*).
* ``on_ready`` fires ``guild_ready_timeout`` (default 2 s) after the last GUILD_CREATE: pass a small value.
* A re-IDENTIFY (after op 9 INVALID_SESSION) first sleeps 5 s in ``Client.before_identify_hook``;
  override it in tests that invalidate sessions. RESUMEs do not wait.
* 5xx replies are retried after ``1 + 2 * attempt`` seconds; 429s (with the ``Via`` header the fake
  sends) after ``retry_after``. Keep 5xx out of fast tests.
* Without the members intent discord.py caches no member from GUILD_CREATE except the bot itself.
* The heartbeat runs in a thread (``KeepAliveHandler``) and the first heartbeat goes right after HELLO.
* Interaction responses go out with ``?with_response=1`` and discord.py builds
  ``InteractionCallbackResponse`` from ``{"interaction": {...}, "resource": {"type", "message"}}``.
* The interaction payload must carry ``attachment_size_limit`` (read unconditionally as
  ``interaction.filesize_limit``) and ``version``; resolved members must carry ``flags``.
* Guild commands are found by ``data.guild_id`` (the fake sets it when the command was synced to a
  guild); a tree command added with ``guild=`` is not found for an interaction without it.
* ``File`` parts are always sent as ``application/octet-stream``; the fake (like Discord) derives
  ``content_type`` from the filename (``.mid`` -> ``audio/midi``, ``.ogg`` -> ``audio/ogg``...).
* A server close with any code but 1000/4004/4010-4014 (or a cut connection) makes discord.py RESUME
  at READY's ``resume_gateway_url``; 4004 ends ``connect()`` with ``ConnectionClosed``. A wrong token
  never gets that far: ``login()`` raises ``LoginFailure`` on the 401 from ``GET /users/@me``.
* ``AutoShardedClient`` does call ``GET /gateway/bot`` and connects to the ``url`` it returns (the fake's).
* Voice: aiohttp builds its default TLS context when imported, before a test can set ``SSL_CERT_FILE``.
  A voice connection cut at the TCP level is taken back only after up to 30 s: discord.py's socket
  reader thread sits in a 30 s ``select`` on the UDP socket it closed, so the new one's IP discovery
  reply waits. A repeated op 4 with a new voice token makes it reconnect; the fake keeps one token per
  guild voice session.
"""

from .gateway import GatewayEvent, GatewaySession
from .rest import RequestRecord
from .runner import running_bot
from .server import FakeDiscord
from .state import (
    ApiError,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Perm,
    ResponseEvent,
    Upload,
)

__all__ = [
    "ApiError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "GatewayEvent",
    "GatewaySession",
    "Perm",
    "RequestRecord",
    "ResponseEvent",
    "Upload",
    "running_bot",
]
