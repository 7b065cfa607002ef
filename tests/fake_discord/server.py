"""``FakeDiscord``: the in-process fake (REST + gateway on loopback) and the API tests drive it with."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import yarl
from aiohttp import web

from .gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    GatewayConnection,
    GatewayEvent,
    GatewaySession,
)
from .rest import InjectedFault, RequestRecord, build_app
from .state import (
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
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
    SnowflakeFactory,
    Upload,
    form_error,
    guess_content_type,
    iso_now,
    validate_message,
)

_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
_OPTION_TYPES = {1: "SUB_COMMAND", 2: "SUB_COMMAND_GROUP", 3: "STRING", 4: "INTEGER", 5: "BOOLEAN", 6: "USER",
                 7: "CHANNEL", 8: "ROLE", 9: "MENTIONABLE", 10: "NUMBER", 11: "ATTACHMENT"}  # fmt: skip

INTERACTION_FLAGS = (
    FLAG_EPHEMERAL | FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2
)
FileMap = dict[int, tuple[str, bytes, "str | None"]]


class FakeDiscord:
    """A fake Discord (REST API, CDN and gateway) on ``127.0.0.1``, for the real discord.py client.

    See the package docstring (``tests/fake_discord/__init__.py``) for a walk-through.
    """

    def __init__(
        self,
        *,
        token: str = "fake-token",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "bgm-test",
        callback_deadline: float = 3.0,
        token_ttl: float = 15 * 60,
        heartbeat_interval_ms: int = 41250,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        require_registered_commands: bool = True,
        default_world: bool = True,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.callback_deadline = callback_deadline
        self.token_ttl = token_ttl
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.attachment_size_limit = attachment_size_limit
        self.require_registered_commands = require_registered_commands

        self.snowflake = SnowflakeFactory()
        self.bot_user = FakeUser(self.snowflake(), bot_name, bot=True, discriminator="0001")
        self.application_id = self.bot_user.id
        self.application_flags = 0
        self.app_owner = FakeUser(self.snowflake(), "app-owner")
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.app_owner)}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.commands: dict[int | None, dict[tuple[str, int], dict]] = {}
        self.command_syncs: list[tuple[float, int | None, list[str]]] = []
        self.interactions: list[FakeInteraction] = []
        self._interactions_by_id: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}

        #: Every request to ``/api/...`` and ``/attachments/...`` and every unknown path, in order.
        self.requests: list[RequestRecord] = []
        #: Requests answered with a status >= 400 (including unknown routes).
        self.errors: list[RequestRecord] = []
        #: Requests to routes the fake does not implement (answered 404 with a JSON error).
        self.unknown_requests: list[RequestRecord] = []
        #: (time, channel_id) of each typing indicator.
        self.typing: list[tuple[float, int]] = []
        #: Gateway happenings: connect, identify, resume, heartbeat, close, ...
        self.gateway_log: list[GatewayEvent] = []
        self._gateway_sessions: list[GatewaySession] = []
        self._gateway_connections: list[GatewayConnection] = []
        self._faults: list[InjectedFault] = []
        #: Voice (``tests.fake_discord.voice.FakeVoice``), when a test starts it.
        self.voice: Any = None

        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None

        self.guild: FakeGuild | None = None
        self.channel: FakeChannel | None = None
        self.owner: FakeMember | None = None
        self.regular: FakeMember | None = None
        self.manager: FakeMember | None = None
        self.admin: FakeMember | None = None
        if default_world:
            self._build_default_world()

    # ================================================================== lifecycle

    async def start(self) -> FakeDiscord:
        self._changed = asyncio.Event()
        self._runner = web.AppRunner(
            build_app(self), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for conn in list(self._gateway_connections):
            if not conn.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(1001), 2.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        self._patch_cm = self.patch_discord()
        self._patch_cm.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._patch_cm.__exit__(None, None, None)
        await self.stop()

    @property
    def http_base(self) -> str:
        self._require_started()
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.http_base + "/api/v10"

    @property
    def gateway_url(self) -> yarl.URL:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``."""
        return yarl.URL(self.gateway_url_str)

    @property
    def gateway_url_str(self) -> str:
        self._require_started()
        return f"ws://{self.host}:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        """READY's ``resume_gateway_url``: a separate path, so tests can tell resumes apart."""
        return f"ws://{self.host}:{self.port}/resume"

    def _require_started(self) -> None:
        if self._runner is None:
            raise RuntimeError("FakeDiscord is not started: await fake.start() first")

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[FakeDiscord]:
        """Point discord.py at this fake for the duration of the ``with`` block, then restore.

        Patches ``discord.http.Route.BASE`` (REST, and the interaction/webhook routes, which are
        built from the same ``Route`` class), ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``
        (first connect; resumes use READY's ``resume_gateway_url``, which points here too) and
        ``discord.asset.Asset.BASE`` (CDN assets such as avatars; attachments carry full URLs).
        """
        from discord.asset import Asset
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY, Asset.BASE)
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = self.gateway_url
        Asset.BASE = self.http_base
        try:
            yield self
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY, Asset.BASE = saved

    # ================================================================== the world

    def _build_default_world(self) -> None:
        owner = self.add_user("guild-owner")
        guild = self.add_guild("bgm test guild", owner=owner, channels=("general", "music"))
        self.guild = guild
        self.channel = guild.channel("general")
        #: The guild's owner (all permissions, as on Discord).
        self.owner = guild.members[owner.id]
        #: A member with no extra permission (what ``@everyone`` gets).
        self.regular = self.add_member("alice")
        #: A member whose role grants Manage Server (0x20) only.
        self.manager = self.add_member("manny", roles=[self.add_role("Manager", Perm.MANAGE_GUILD)])
        #: A member whose role grants Administrator (0x8).
        self.admin = self.add_member("ada", roles=[self.add_role("Admin", Perm.ADMINISTRATOR)])

    def add_user(self, username: str, *, bot: bool = False) -> FakeUser:
        user = FakeUser(self.snowflake(), username, bot=bot, global_name=username.title())
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: FakeUser | None = None,
        channels: tuple[str, ...] = ("general",),
        everyone_permissions: int = Perm.EVERYONE_DEFAULT,
        bot_permissions: int = Perm.BOT_DEFAULT,
        locale: str = "en-US",
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """A guild the bot is in (the bot gets a managed role with ``bot_permissions``).

        ``shard=(shard_id, shard_count)`` gives it an id that Discord routes to that shard.

        Added before the bot connects, it arrives in READY/GUILD_CREATE; added later, call
        ``await fake.push_guild(guild)`` to send its GUILD_CREATE (the bot "joins" it).
        """
        owner = owner or self.add_user(f"{name}-owner")
        guild_id = self.snowflake.on_shard(*shard) if shard else self.snowflake()
        guild = FakeGuild(guild_id, name, owner.id, locale=locale)
        guild.roles[guild.id] = FakeRole(guild.id, guild.id, "@everyone", everyone_permissions)
        bot_role = FakeRole(
            self.snowflake(), guild.id, self.bot_user.username, bot_permissions, 1, True, self.bot_user.id
        )
        guild.roles[bot_role.id] = bot_role
        self.guilds[guild.id] = guild
        guild.members[self.bot_user.id] = FakeMember(self.bot_user, guild, [bot_role.id])
        guild.members[owner.id] = FakeMember(owner, guild, [])
        for channel_name in channels:
            self.add_channel(channel_name, guild=guild)
        return guild

    def add_channel(self, name: str, *, guild: FakeGuild | None = None, type: int = 0) -> FakeChannel:
        guild = guild or self._default_guild()
        channel = FakeChannel(self.snowflake(), name, guild.id, type=type, position=len(guild.channels))
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def add_role(self, name: str, permissions: int, *, guild: FakeGuild | None = None) -> FakeRole:
        guild = guild or self._default_guild()
        role = FakeRole(self.snowflake(), guild.id, name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        username: str,
        *,
        guild: FakeGuild | None = None,
        permissions: int = 0,
        roles: list[FakeRole] | tuple[FakeRole, ...] = (),
        user: FakeUser | None = None,
    ) -> FakeMember:
        """A guild member. ``permissions`` (e.g. ``Perm.MANAGE_GUILD``) makes a role granting exactly that."""
        guild = guild or self._default_guild()
        user = user or self.add_user(username)
        role_ids = [r.id for r in roles]
        if permissions:
            role = next((r for r in guild.roles.values() if r.name == f"perms-{permissions:#x}"), None)
            role = role or self.add_role(f"perms-{permissions:#x}", permissions, guild=guild)
            role_ids.append(role.id)
        member = FakeMember(user, guild, role_ids)
        guild.members[user.id] = member
        return member

    def set_bot_permissions(self, permissions: int, *, guild: FakeGuild | None = None) -> None:
        """What the bot's managed role grants (``app_permissions`` and channel-message checks follow)."""
        guild = guild or self._default_guild()
        for role in guild.roles.values():
            if role.bot_id == self.bot_user.id:
                role.permissions = permissions

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        for channel in self.channels.values():
            if channel.type == 1 and channel.recipient is user:
                return channel
        channel = FakeChannel(self.snowflake(), "", None, type=1, recipient=user)
        self.channels[channel.id] = channel
        return channel

    def bot_member(self, guild: FakeGuild | None = None) -> FakeMember:
        return (guild or self._default_guild()).members[self.bot_user.id]

    def _default_guild(self) -> FakeGuild:
        if self.guild is None:
            if not self.guilds:
                raise RuntimeError("no guild: call fake.add_guild(...) first")
            return next(iter(self.guilds.values()))
        return self.guild

    def application_payload(self) -> dict:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "fake application",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.app_owner.to_payload(),
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user.to_payload(),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    # ================================================================== helpers for tests

    @staticmethod
    def time() -> float:
        """The clock every recorded timestamp uses (``time.monotonic``, the same as the event loop's)."""
        return time.monotonic()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        *,
        what: str | None = None,
        poll: float = 0.05,
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return its value; else TimeoutError with a state dump.

        Re-checked whenever the fake records something, and every ``poll`` seconds (so predicates
        about the bot's own state work too).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what or predicate}\n{self.describe()}"
                )
            changed = self._changed
            if changed is None:
                await asyncio.sleep(min(poll, remaining))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(poll, remaining))

    async def wait_for_callback(self, interaction: FakeInteraction, timeout: float = 5.0) -> ResponseEvent:
        """Wait for the interaction's initial response (accepted or refused) and return it."""
        return await self.wait_for(
            lambda: next((e for e in interaction.events if e.kind == "callback"), None),
            timeout,
            what=f"a callback for {interaction!r}",
        )

    async def wait_for_response(self, interaction: FakeInteraction, timeout: float = 10.0) -> FakeMessage:
        """Wait until the interaction has a final (not "thinking...") original response message."""
        return await self.wait_for(
            lambda: (
                interaction.original if interaction.original and not interaction.original.loading else None
            ),
            timeout,
            what=f"a final response to {interaction!r}",
        )

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        channel: FakeChannel | int | None = None,
        after: float | None = None,
        timeout: float = 5.0,
    ) -> FakeMessage:
        """Wait for a non-deleted message matching ``predicate`` (in ``channel``, created after ``after``)."""
        channel_id = channel.id if isinstance(channel, FakeChannel) else channel

        def find() -> FakeMessage | None:
            for message in self.messages.values():
                if message.deleted or (channel_id is not None and message.channel_id != channel_id):
                    continue
                if after is not None and message.created_at < after:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_for(find, timeout, what="a matching message")

    def responses_for(self, interaction: FakeInteraction) -> list[ResponseEvent]:
        """Every REST call the bot made for this interaction: callback, @original edits, followups..."""
        return list(interaction.events)

    def channel_messages(self, channel: FakeChannel | int | None = None) -> list[FakeMessage]:
        channel_id = (
            channel.id if isinstance(channel, FakeChannel) else channel
        ) or self._default_channel().id
        return [m for m in self.messages.values() if m.channel_id == channel_id and not m.deleted]

    @property
    def uploads(self) -> list[FakeAttachment]:
        """Every file the bot uploaded, in order (including ones in since-edited messages)."""
        return [a for a in self.attachments.values() if not a.from_user]

    def requests_to(self, method: str, path_pattern: str) -> list[RequestRecord]:
        """Requests whose method matches and whose path matches the regex ``path_pattern`` (``re.search``)."""
        rx = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    def assert_no_unknown_routes(self) -> None:
        assert not self.unknown_requests, (
            f"the bot called routes the fake does not know: {self.unknown_requests}"
        )

    def assert_no_errors(self, *, allow: Callable[[RequestRecord], bool] | None = None) -> None:
        bad = [r for r in self.errors if not (allow and allow(r))]
        assert not bad, f"requests answered with errors: {bad}"

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 500,
        code: int = 0,
        message: str = "fake failure",
        times: int = 1,
        retry_after: float = 0.05,
    ) -> None:
        """Answer the next ``times`` matching requests with an error (429 comes with rate-limit headers)."""
        self._faults.append(
            InjectedFault(method.upper(), re.compile(path_pattern), status, code, message, times, retry_after)
        )

    def _take_fault(self, method: str, path: str) -> InjectedFault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                fault.times -= 1
                return fault
        return None

    def describe(self, last: int = 15) -> str:
        lines = ["fake discord state:"]
        lines.append(f"  gateway: {[f'{e.kind}' for e in self.gateway_log[-last:]]}")
        lines.append(f"  last requests: {self.requests[-last:]}")
        for inter in self.interactions[-5:]:
            lines.append(f"  {inter!r}: {inter.events}")
        if self.errors:
            lines.append(f"  errors: {self.errors[-last:]}")
        return "\n".join(lines)

    # ================================================================== gateway control

    @property
    def session(self) -> GatewaySession | None:
        """The bot's current gateway session (the latest IDENTIFY), if any."""
        live = [s for s in self._gateway_sessions if not s.invalidated]
        return live[-1] if live else None

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session whose shard gets ``guild_id``'s events (DMs: shard 0), as Discord routes them."""
        for session in reversed(self._gateway_sessions):
            if not session.invalidated and session.receives(guild_id):
                return session
        return None

    @property
    def connected(self) -> bool:
        session = self.session
        return session is not None and session.connection is not None and not session.connection.closed

    def _gateway_record(self, kind: str, **detail: Any) -> None:
        self.gateway_log.append(GatewayEvent(self.time(), kind, detail))

    def gateway_events(self, kind: str) -> list[GatewayEvent]:
        return [e for e in self.gateway_log if e.kind == kind]

    async def wait_until_connected(self, timeout: float = 10.0) -> GatewaySession:
        await self.wait_for(lambda: self.connected, timeout, what="a connected gateway session")
        assert self.session is not None
        return self.session

    async def drop_gateway(self, code: int | None = 4000) -> None:
        """Close the bot's gateway connection: a close frame (4000: resumable), or ``None`` to cut TCP."""
        session = self.session
        if session is None or session.connection is None:
            raise RuntimeError("no connected gateway session to drop")
        conn = session.connection
        session.connection = None
        self._gateway_record("dropped", code=code)
        await conn.close(code)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py closes the socket and RESUMEs."""
        await self._send_op(OP_RECONNECT, None)

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with ``resumable=False`` the bot must IDENTIFY anew."""
        session = self.session
        if session is not None and not resumable:
            session.invalidated = True
        await self._send_op(OP_INVALID_SESSION, resumable, session)

    async def _send_op(self, op: int, data: Any, session: GatewaySession | None = None) -> None:
        session = session or self.session
        if session is None or session.connection is None:
            raise RuntimeError("no connected gateway session")
        await session.connection.send({"op": op, "d": data, "s": None, "t": None})

    async def dispatch(self, event: str, data: Any) -> bool:
        """Send any DISPATCH event to the bot (buffered for RESUME if it is disconnected)."""
        session = self._require_session()
        return await session.dispatch(event, data)

    async def push_guild(self, guild: FakeGuild) -> None:
        """Send GUILD_CREATE for ``guild`` (for guilds added after the bot connected)."""
        await self.dispatch("GUILD_CREATE", guild.to_payload())

    def _require_session(self) -> GatewaySession:
        session = self.session
        if session is None:
            raise RuntimeError("no bot has IDENTIFYed with the fake gateway (is the bot connected?)")
        return session

    # ================================================================== driving the bot: interactions

    async def invoke_slash(
        self,
        command: str,
        subcommand: str | None = None,
        *,
        group: str | None = None,
        options: dict[str, Any] | None = None,
        attachments: dict[str, Upload | tuple[str, bytes]] | None = None,
        user: FakeMember | FakeUser | None = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | int | str | None = None,
        dm: bool = False,
        locale: str = "en-US",
        app_permissions: int | None = None,
        validate: bool = True,
    ) -> FakeInteraction:
        """Send an APPLICATION_COMMAND interaction (type 2) for ``/command [group] [subcommand] options...``.

        ``command`` may hold the whole path (``"bgm compose"``). Option values: str/int/float/bool,
        :class:`Upload` (or ``(filename, bytes)``) for attachments, FakeMember/FakeUser, FakeChannel,
        FakeRole. Option types come from the command as the bot registered it (``tree.sync``); the
        interaction is refused (ValueError) for unknown/missing-required options or bad choices,
        as Discord's client would never send them, unless ``validate=False``.
        """
        path = command.split()
        if group:
            path.append(group)
        if subcommand:
            path.append(subcommand)
        values = dict(options or {})
        for name, upload in (attachments or {}).items():
            values[name] = upload
        ctx = self._context(user, guild, channel, dm)
        data = self._command_data(path, values, ctx["guild"], validate=validate, focused=None)
        return await self._send_interaction(2, data, ctx, locale, app_permissions, name=" ".join(path))

    async def autocomplete(
        self,
        command: str,
        subcommand: str | None = None,
        *,
        focused: str,
        options: dict[str, Any] | None = None,
        group: str | None = None,
        user: FakeMember | FakeUser | None = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | int | str | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4); the bot's answer: ``.choices``."""
        path = command.split() + [p for p in (group, subcommand) if p]
        ctx = self._context(user, guild, channel, False)
        data = self._command_data(path, dict(options or {}), ctx["guild"], validate=True, focused=focused)
        return await self._send_interaction(4, data, ctx, locale, None, name=" ".join(path))

    async def click_button(
        self,
        message: FakeMessage | int,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        user: FakeMember | FakeUser | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send a MESSAGE_COMPONENT interaction (type 3) for a button on ``message`` (custom_id or label)."""
        message = self._message(message)
        button = message.button(custom_id, label=label)
        if button.get("disabled"):
            raise ValueError(f"button {button.get('custom_id')!r} is disabled: a user cannot click it")
        if button.get("style") in (5, 6) or "custom_id" not in button:
            raise ValueError("link and premium buttons do not send interactions")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        if "id" in button:
            data["id"] = button["id"]
        return await self._component_interaction(message, data, user, locale)

    async def select(
        self,
        message: FakeMessage | int,
        custom_id: str,
        values: list[str],
        *,
        user: FakeMember | FakeUser | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send a MESSAGE_COMPONENT interaction for a select menu on ``message``."""
        message = self._message(message)
        component = next((c for c in message.iter_components() if c.get("custom_id") == custom_id), None)
        if component is None or component.get("type") not in (3, 5, 6, 7, 8):
            raise KeyError(f"no select menu {custom_id!r} on {message!r}")
        if component.get("type") == 3:
            allowed = {o["value"] for o in component.get("options", [])}
            if not set(values) <= allowed:
                raise ValueError(f"{values} not among the menu's options {sorted(allowed)}")
        data = {"custom_id": custom_id, "component_type": component["type"], "values": list(values)}
        return await self._component_interaction(message, data, user, locale)

    async def _component_interaction(
        self, message: FakeMessage, data: dict, user: FakeMember | FakeUser | None, locale: str
    ) -> FakeInteraction:
        if message.deleted:
            raise ValueError(f"{message!r} was deleted")
        channel = self.channels[message.channel_id]
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        if user is None and message.interaction is not None:
            user = message.interaction.member or message.interaction.user
        ctx = self._context(user, guild, channel, guild is None)
        return await self._send_interaction(
            3, data, ctx, locale, None, name=data["custom_id"], source=message
        )

    def _message(self, message: FakeMessage | int) -> FakeMessage:
        if isinstance(message, FakeMessage):
            return message
        return self.messages[int(message)]

    def _default_channel(self) -> FakeChannel:
        if self.channel is not None:
            return self.channel
        return self._default_guild().text_channels[0]

    def _context(
        self,
        user: FakeMember | FakeUser | None,
        guild: FakeGuild | None,
        channel: FakeChannel | int | str | None,
        dm: bool,
    ) -> dict:
        if dm:
            if isinstance(user, FakeMember):
                user = user.user
            if user is None:
                if self.regular is None:
                    raise ValueError("dm=True needs user=...")
                user = self.regular.user
            return {"guild": None, "member": None, "user": user, "channel": self.dm_channel(user)}
        if isinstance(user, FakeMember):
            guild = guild or user.guild
        guild = guild or self._default_guild()
        if user is None:
            if self.regular is not None and self.regular.guild is guild:
                member = self.regular
            else:
                member = next((m for m in guild.members.values() if not m.user.bot), None)
                if member is None:
                    raise ValueError(f"{guild!r} has no human member: fake.add_member(...)")
        elif isinstance(user, FakeUser):
            if user.id not in guild.members:
                raise ValueError(f"{user!r} is not a member of {guild!r}: use fake.add_member(...)")
            member = guild.members[user.id]
        else:
            member = user
        if channel is None:
            resolved_channel = (
                self.channel if self.channel and self.channel.guild_id == guild.id else guild.text_channels[0]
            )
        elif isinstance(channel, str):
            resolved_channel = guild.channel(channel)
        elif isinstance(channel, int):
            resolved_channel = self.channels[channel]
        else:
            resolved_channel = channel
        return {"guild": guild, "member": member, "user": member.user, "channel": resolved_channel}

    async def _send_interaction(
        self,
        type: int,
        data: dict,
        ctx: dict,
        locale: str,
        app_permissions: int | None,
        *,
        name: str,
        source: FakeMessage | None = None,
    ) -> FakeInteraction:
        guild: FakeGuild | None = ctx["guild"]
        session = self.session_for(guild.id if guild else None) or self._require_session()
        channel: FakeChannel = ctx["channel"]
        interaction_id = self.snowflake()
        token = f"fake-interaction.{interaction_id}.{secrets.token_urlsafe(32)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
            "channel_id": str(channel.id),
        }
        if guild is not None:
            member: FakeMember = ctx["member"]
            bot_perms = self.bot_member(guild).permissions if app_permissions is None else app_permissions
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.locale, "features": []},
                guild_locale=guild.locale,
                member=member.to_payload(with_permissions=True),
                app_permissions=str(bot_perms),
                channel=channel.to_payload(permissions=member.permissions),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=ctx["user"].to_payload(),
                app_permissions=str(Perm.EVERYONE_DEFAULT if app_permissions is None else app_permissions),
                channel=channel.to_payload(permissions=Perm.EVERYONE_DEFAULT),
                authorizing_integration_owners={"0": str(self.app_owner.id)},
                context=1,
            )
        if source is not None:
            payload["message"] = source.to_payload()
        now = self.time()
        inter = FakeInteraction(
            id=interaction_id,
            token=token,
            type=type,
            application_id=self.application_id,
            user=ctx["user"],
            member=ctx["member"],
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            created_at=now,
            expires_at=now + self.token_ttl,
            command_name=name,
            source_message=source,
        )
        self.interactions.append(inter)
        self._interactions_by_id[inter.id] = inter
        self._interactions_by_token[inter.token] = inter

        def sent(at: float) -> None:
            if inter.dispatched_at is None:
                inter.dispatched_at = at

        await session.dispatch("INTERACTION_CREATE", payload, on_sent=sent)
        self._notify()
        return inter

    def expire_interaction(self, interaction: FakeInteraction) -> None:
        """Make the interaction token expire now (as after 15 minutes): webhook calls then get 401 50027."""
        interaction.expires_at = -1.0

    # ------------------------------------------------------------------ command data and options

    def registered_command(self, name: str, guild: FakeGuild | None = None, type: int = 1) -> dict | None:
        """The command as the bot registered it: the guild's own first, then the global one."""
        if guild is not None and (name, type) in self.commands.get(guild.id, {}):
            return self.commands[guild.id][(name, type)]
        return self.commands.get(None, {}).get((name, type))

    def _command_data(
        self,
        path: list[str],
        values: dict[str, Any],
        guild: FakeGuild | None,
        *,
        validate: bool,
        focused: str | None,
    ) -> dict:
        if not path:
            raise ValueError("empty command")
        registered = self.registered_command(path[0], guild)
        if registered is None and self.require_registered_commands and validate:
            raise LookupError(
                f"/{path[0]} is not registered with the fake (registered: {self._registered_names()}); "
                "sync the bot's tree first (await bot.tree.sync(...)), or pass validate=False"
            )
        resolved: dict[str, dict] = {}
        schema: list | None = registered.get("options", []) if registered else None
        # walk to the subcommand, building the nested option skeleton
        chain: list[dict] = []
        for depth, part in enumerate(path[1:], start=1):
            kind = 2 if depth < len(path) - 1 else 1
            if schema is not None:
                node = next((o for o in schema if o["name"] == part and o.get("type") in (1, 2)), None)
                if node is None:
                    raise ValueError(f"/{' '.join(path[: depth + 1])} is not a registered subcommand")
                kind = node["type"]
                schema = node.get("options", [])
            chain.append({"name": part, "type": kind})
        if schema is not None and validate and any(o.get("type") in (1, 2) for o in schema):
            raise ValueError(f"/{' '.join(path)} is a group: name a subcommand")
        leaf = self._build_options(schema if validate else None, values, resolved, guild, focused, path)
        options: list = leaf
        for node in reversed(chain):
            options = [{**node, "options": options}]
        data: dict[str, Any] = {
            "id": registered["id"] if registered else str(self.snowflake()),
            "name": path[0],
            "type": 1,
            "options": options,
        }
        if registered and registered.get("guild_id"):
            data["guild_id"] = registered["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def _registered_names(self) -> list[str]:
        return sorted(
            {f"{scope or 'global'}:{name}" for scope, cmds in self.commands.items() for name, _ in cmds}
        )

    def _build_options(
        self,
        schema: list | None,
        values: dict[str, Any],
        resolved: dict[str, dict],
        guild: FakeGuild | None,
        focused: str | None,
        path: list[str],
    ) -> list[dict]:
        where = "/" + " ".join(path)
        by_name = {o["name"]: o for o in schema} if schema is not None else None
        if by_name is not None:
            unknown = set(values) - set(by_name)
            if unknown:
                raise ValueError(f"{where} has no option(s) {sorted(unknown)}; it has {sorted(by_name)}")
            if focused is None:
                missing = [n for n, o in by_name.items() if o.get("required") and n not in values]
                if missing:
                    raise ValueError(f"{where}: required option(s) {missing} missing")
            if focused is not None and focused not in by_name:
                raise ValueError(f"{where} has no option {focused!r}")
        out = []
        names = list(values)
        if focused is not None and focused not in values:
            names.append(focused)
        for name in names:
            value = values.get(name, "")
            spec = by_name[name] if by_name is not None else None
            opt_type = spec["type"] if spec else self._infer_type(value)
            if name == focused:
                if spec is not None and not spec.get("autocomplete"):
                    raise ValueError(f"{where} option {name!r} has no autocomplete")
                out.append({"name": name, "type": opt_type, "value": str(value), "focused": True})
                continue
            converted = self._convert_option(opt_type, value, resolved, guild, f"{where} {name}")
            if spec is not None:
                self._check_option_limits(spec, converted, f"{where} {name}")
            out.append({"name": name, "type": opt_type, "value": converted})
        return out

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        if isinstance(value, (Upload, FakeAttachment, tuple)):
            return 11
        if isinstance(value, (FakeUser, FakeMember)):
            return 6
        if isinstance(value, FakeChannel):
            return 7
        if isinstance(value, FakeRole):
            return 8
        return 3

    def _convert_option(
        self, opt_type: int, value: Any, resolved: dict, guild: FakeGuild | None, where: str
    ) -> Any:
        expected = _OPTION_TYPES.get(opt_type, opt_type)
        if opt_type == 3:
            if not isinstance(value, str):
                raise TypeError(f"{where}: {expected} option needs a str, got {value!r}")
            return value
        if opt_type == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{where}: {expected} option needs an int, got {value!r}")
            return value
        if opt_type == 5:
            if not isinstance(value, bool):
                raise TypeError(f"{where}: {expected} option needs a bool, got {value!r}")
            return value
        if opt_type == 10:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{where}: {expected} option needs a number, got {value!r}")
            return value
        if opt_type in (6, 9) and isinstance(value, (FakeUser, FakeMember)):
            user = value.user if isinstance(value, FakeMember) else value
            member = (
                value if isinstance(value, FakeMember) else (guild.members.get(user.id) if guild else None)
            )
            resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
            if member is not None:
                resolved.setdefault("members", {})[str(user.id)] = member.to_payload(
                    with_user=False, with_permissions=True
                )
            return str(user.id)
        if opt_type in (8, 9) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        if opt_type == 7 and isinstance(value, FakeChannel):
            payload = value.to_payload(permissions=Perm.EVERYONE_DEFAULT)
            resolved.setdefault("channels", {})[str(value.id)] = payload
            return str(value.id)
        if opt_type == 11:
            attachment = self._user_attachment(value, where)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.to_payload()
            return str(attachment.id)
        raise TypeError(f"{where}: cannot pass {value!r} as a {expected} option")

    def _user_attachment(self, value: Any, where: str) -> FakeAttachment:
        if isinstance(value, FakeAttachment):
            return value
        if isinstance(value, tuple):
            value = Upload(*value)
        if not isinstance(value, Upload):
            raise TypeError(f"{where}: ATTACHMENT option needs an Upload or (filename, bytes), got {value!r}")
        attachment_id = self.snowflake()
        channel_id = self._default_channel().id
        attachment = FakeAttachment(
            attachment_id,
            value.filename,
            bytes(value.data),
            self._attachment_url(channel_id, attachment_id, value.filename),
            value.content_type or guess_content_type(value.filename),
            ephemeral=True,
            from_user=True,
        )
        self.attachments[attachment.id] = attachment
        return attachment

    @staticmethod
    def _check_option_limits(spec: dict, value: Any, where: str) -> None:
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{where}: {value!r} is not one of the choices {[c['value'] for c in choices]}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if spec.get("min_value") is not None and value < spec["min_value"]:
                raise ValueError(f"{where}: {value} < min_value {spec['min_value']}")
            if spec.get("max_value") is not None and value > spec["max_value"]:
                raise ValueError(f"{where}: {value} > max_value {spec['max_value']}")
        if isinstance(value, str) and spec.get("type") == 3:
            if spec.get("min_length") is not None and len(value) < spec["min_length"]:
                raise ValueError(f"{where}: shorter than min_length {spec['min_length']}")
            if spec.get("max_length") is not None and len(value) > spec["max_length"]:
                raise ValueError(f"{where}: longer than max_length {spec['max_length']}")

    # ================================================================== driving the bot: other events

    async def post_user_message(
        self, content: str, *, user: FakeMember | FakeUser | None = None, channel: FakeChannel | None = None
    ) -> FakeMessage:
        """A user posts a message (MESSAGE_CREATE, if the bot asked for the GUILD_MESSAGES intent)."""
        channel = channel or self._default_channel()
        if user is None:
            if self.regular is None:
                raise ValueError("post_user_message needs user=...")
            user = self.regular
        author = user.user if isinstance(user, FakeMember) else user
        message = FakeMessage(
            self.snowflake(), channel.id, channel.guild_id, author, self.time(), content=content
        )
        message.snapshot(message.created_at, "create")
        self.messages[message.id] = message
        channel.last_message_id = message.id
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        self._notify()
        return message

    # ================================================================== REST internals (called by rest.py)

    def _attachment_url(self, channel_id: int, attachment_id: int, filename: str) -> str:
        return f"{self.http_base}/attachments/{channel_id}/{attachment_id}/{filename}"

    def _channel_or_404(self, channel_id: int) -> FakeChannel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _bot_can(self, channel: FakeChannel, *perms: str) -> bool:
        if channel.guild_id is None:
            return True
        value = self.bot_member(self.guilds[channel.guild_id]).permissions
        return all(value & getattr(Perm, p) for p in perms)

    def _new_attachments(self, channel_id: int, files: FileMap) -> dict[int, FakeAttachment]:
        made = {}
        for index, (filename, data, _ctype) in sorted(files.items()):
            attachment_id = self.snowflake()
            made[index] = FakeAttachment(
                attachment_id,
                filename,
                data,
                self._attachment_url(channel_id, attachment_id, filename),
                guess_content_type(filename),
            )
        return made

    @staticmethod
    def _resolve_attachments(
        payload: dict, new: dict[int, FakeAttachment], existing: list[FakeAttachment] | None
    ) -> list[FakeAttachment]:
        spec = payload.get("attachments")
        if spec is None:
            return list(existing or []) + [new[i] for i in sorted(new)]
        result = []
        pending = dict(new)
        for position, item in enumerate(spec):
            try:
                key = int(item["id"])
            except (KeyError, TypeError, ValueError) as exc:
                raise form_error(
                    f"attachments.{position}.id", "This field is required", "BASE_TYPE_REQUIRED"
                ) from exc
            if key in pending:
                attachment = pending.pop(key)
                if item.get("filename"):
                    attachment.filename = item["filename"]
                    attachment.url = attachment.url.rsplit("/", 1)[0] + "/" + item["filename"]
                    attachment.content_type = guess_content_type(item["filename"])
                attachment.description = item.get("description") or attachment.description
                attachment.title = item.get("title") or attachment.title
                result.append(attachment)
                continue
            kept = next((a for a in existing or [] if a.id == key), None)
            if kept is None:
                raise form_error(
                    f"attachments.{position}.id", f"Unknown attachment {key}", "ATTACHMENT_NOT_FOUND"
                )
            result.append(kept)
        result += [pending[i] for i in sorted(pending)]
        return result

    async def _create_message(
        self,
        channel: FakeChannel,
        payload: dict,
        files: FileMap,
        at: float,
        *,
        author: FakeUser | None = None,
        interaction: FakeInteraction | None = None,
        type: int = 0,
        flags_mask: int = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2,
        size_limit: int | None = None,
        validate: bool = True,
    ) -> FakeMessage:
        attachments = self._resolve_attachments(payload, self._new_attachments(channel.id, files), None)
        flags = int(payload.get("flags") or 0) & flags_mask
        content = payload.get("content") or ""
        embeds = [{"type": "rich", **e} if isinstance(e, dict) else e for e in payload.get("embeds") or []]
        components = payload.get("components") or []
        if validate:
            validate_message(
                content=content,
                embeds=embeds,
                components=components,
                attachments=attachments,
                flags=flags,
                size_limit=size_limit or self.attachment_size_limit,
            )
        message = FakeMessage(
            id=self.snowflake(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author or self.bot_user,
            created_at=at,
            content=content,
            embeds=embeds,
            components=components,
            flags=flags,
            attachments=attachments,
            type=type,
            tts=bool(payload.get("tts")),
            interaction=interaction,
            webhook_id=self.application_id if interaction is not None else None,
            application_id=self.application_id if interaction is not None else None,
            message_reference=payload.get("message_reference"),
        )
        for attachment in attachments:
            attachment.ephemeral = message.ephemeral
            self.attachments[attachment.id] = attachment
        message.snapshot(at, "create")
        self.messages[message.id] = message
        if not message.ephemeral:
            channel.last_message_id = message.id
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def _edit_message(
        self, message: FakeMessage, payload: dict, files: FileMap, at: float, *, size_limit: int
    ) -> FakeMessage:
        attachments = self._resolve_attachments(
            payload, self._new_attachments(message.channel_id, files), message.attachments
        )
        content = message.content if "content" not in payload else payload["content"] or ""
        embeds = message.embeds
        if "embeds" in payload:
            embeds = [{"type": "rich", **e} if isinstance(e, dict) else e for e in payload["embeds"] or []]
        components = message.components if "components" not in payload else payload["components"] or []
        flags = message.flags & ~FLAG_LOADING
        if "flags" in payload and payload["flags"] is not None:
            changeable = FLAG_SUPPRESS_EMBEDS | FLAG_IS_COMPONENTS_V2
            flags = (flags & ~changeable) | (int(payload["flags"]) & changeable)
        validate_message(
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=flags,
            size_limit=size_limit,
        )
        was_loading = message.loading
        message.content, message.embeds, message.components = content, embeds, components
        message.flags, message.attachments = flags, attachments
        if not was_loading:
            message.edited_timestamp = iso_now()
        for attachment in attachments:
            attachment.ephemeral = message.ephemeral
            self.attachments[attachment.id] = attachment
        message.snapshot(at, "edit")
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return message

    async def _delete_message(self, message: FakeMessage, at: float) -> None:
        message.deleted = True
        message.snapshot(at, "delete")
        if message.ephemeral:
            return
        session = self.session
        if session is not None and session.wants(
            INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        ):
            data = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
            await session.dispatch("MESSAGE_DELETE", data)

    async def _dispatch_message_event(self, event: str, message: FakeMessage) -> None:
        if message.ephemeral:
            return
        session = self.session
        if session is None:
            return
        if not session.wants(INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES):
            return
        data = message.to_payload()
        if message.guild_id:
            member = self.guilds[message.guild_id].members.get(message.author.id)
            if member is not None:
                data["member"] = member.to_payload(with_user=False)
        await session.dispatch(event, data)

    async def _bot_channel_message(
        self, channel: FakeChannel, payload: dict, files: FileMap, at: float
    ) -> FakeMessage:
        if not self._bot_can(channel, "VIEW_CHANNEL", "SEND_MESSAGES"):
            raise ApiError(403, 50013, "Missing Permissions")
        if files and not self._bot_can(channel, "ATTACH_FILES"):
            raise ApiError(403, 50013, "Missing Permissions")
        if payload.get("embeds") and not self._bot_can(channel, "EMBED_LINKS"):
            payload = {**payload, "embeds": []}  # Discord drops them silently
        reference = payload.get("message_reference")
        message_type = 0
        if reference:
            target = self.messages.get(int(reference.get("message_id", 0)))
            if target is None or target.deleted:
                if reference.get("fail_if_not_exists", True):
                    raise form_error(
                        "message_reference", "Unknown message", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
                    )
            else:
                message_type = 19
        return await self._create_message(channel, payload, files, at, type=message_type)

    # -- interactions

    async def _interaction_callback(
        self, interaction_id: int, token: str, payload: dict, files: FileMap, at: float
    ) -> dict:
        inter = self._interactions_by_id.get(interaction_id)
        if inter is None or inter.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        callback_type = payload.get("type")
        data = payload.get("data") or {}
        event = ResponseEvent(
            "callback", at, callback_type=callback_type, payload=payload, files=_file_list(files)
        )
        inter.events.append(event)
        try:
            if inter.acknowledged:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            if inter.dispatched_at is None or at - inter.dispatched_at > self.callback_deadline:
                raise ApiError(404, 10062, "Unknown interaction")
            allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
            if callback_type not in allowed:
                raise form_error(
                    "type", f"callback type {callback_type} is invalid for interaction type {inter.type}"
                )
            channel = self.channels[inter.channel_id]
            message_type = 20 if inter.type == 2 else 0
            if callback_type == 4:
                inter.original = await self._create_message(
                    channel,
                    data,
                    files,
                    at,
                    interaction=inter,
                    type=message_type,
                    flags_mask=INTERACTION_FLAGS,
                )
            elif callback_type == 5:
                loading = {
                    "content": "",
                    "flags": FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL),
                }
                inter.original = await self._create_message(
                    channel,
                    loading,
                    {},
                    at,
                    interaction=inter,
                    type=message_type,
                    flags_mask=~0,
                    validate=False,
                )
            elif callback_type in (6, 7):
                assert inter.source_message is not None
                if callback_type == 7:
                    await self._edit_message(
                        inter.source_message, data, files, at, size_limit=self.attachment_size_limit
                    )
                inter.original = inter.source_message
            elif callback_type == 8:
                choices = data.get("choices") or []
                if len(choices) > 25:
                    raise form_error("data.choices", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
                inter.choices = choices
            elif callback_type == 9:
                if not data.get("custom_id") or not data.get("title"):
                    raise form_error("data", "A modal needs a custom_id and a title", "BASE_TYPE_REQUIRED")
                inter.modal = data
        except ApiError as exc:
            event.status, event.error = exc.status, exc.body()
            raise
        event.status = 200
        event.message = inter.original if callback_type in (4, 5, 7) else None
        self._notify()
        result: dict[str, Any] = {"interaction": {"id": str(inter.id), "type": inter.type}}
        message = event.message
        if message is not None:
            result["interaction"].update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
            result["resource"] = {"type": callback_type, "message": message.to_payload()}
        return result

    async def _webhook_call(
        self,
        app_id: int,
        token: str,
        method: str,
        which: str | None,
        payload: dict,
        files: FileMap,
        at: float,
    ) -> FakeMessage | None:
        """Followups (``which=None``) and ``/messages/{@original|id}`` GET/PATCH/DELETE for a token."""
        inter = self._interactions_by_token.get(token)
        if app_id != self.application_id or inter is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        target = "original" if which == "@original" else "followup"
        kind = {
            "POST": "followup",
            "GET": f"get_{target}",
            "PATCH": f"edit_{target}",
            "DELETE": f"delete_{target}",
        }
        event = ResponseEvent(kind[method], at, payload=payload or None, files=_file_list(files))
        inter.events.append(event)
        try:
            if at > inter.expires_at:
                raise ApiError(401, 50027, "Invalid Webhook Token")
            if which is None:
                message = await self._followup(inter, payload, files, at)
            else:
                message = self._webhook_target(inter, which)
                if method == "PATCH":
                    await self._edit_message(
                        message, payload, files, at, size_limit=self.attachment_size_limit
                    )
                elif method == "DELETE":
                    await self._delete_message(message, at)
        except ApiError as exc:
            event.status, event.error = exc.status, exc.body()
            raise
        event.status = 200 if method != "DELETE" else 204
        event.message = message
        self._notify()
        return None if method == "DELETE" else message

    def _webhook_target(self, inter: FakeInteraction, which: str) -> FakeMessage:
        if which == "@original":
            message = inter.original
        else:
            try:
                wanted = int(which)
            except ValueError:
                wanted = -1
            message = next((m for m in inter.messages if m.id == wanted), None)
        if message is None or message.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    async def _followup(
        self, inter: FakeInteraction, payload: dict, files: FileMap, at: float
    ) -> FakeMessage:
        if not inter.acknowledged or inter.callback_type in (8, 9):
            raise ApiError(404, 10015, "Unknown Webhook")
        original = inter.original
        if inter.callback_type == 5 and original is not None and original.loading and not original.deleted:
            # Discord: the first followup after a "thinking" defer *becomes* the deferred message,
            # keeping the defer's ephemerality whatever the followup's flags say.
            message = await self._edit_message(
                original, payload, files, at, size_limit=self.attachment_size_limit
            )
        else:
            channel = self.channels[inter.channel_id]
            message_type = 20 if inter.type == 2 else 0
            message = await self._create_message(
                channel,
                payload,
                files,
                at,
                interaction=inter,
                type=message_type,
                flags_mask=INTERACTION_FLAGS,
            )
        inter.followups.append(message)
        return message

    # -- application commands

    def _set_commands(self, scope: int | None, commands: list[dict]) -> list[dict]:
        seen: set[tuple[str, int]] = set()
        existing = self.commands.get(scope, {})
        stored: dict[tuple[str, int], dict] = {}
        for index, command in enumerate(commands):
            _validate_command(command, f"{index}")
            key = (command["name"], int(command.get("type", 1)))
            if key in seen:
                error = {
                    "code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "message": f"Duplicate name: {key[0]}",
                }
                raise ApiError(400, 50035, "Invalid Form Body", {"_errors": [error]})
            seen.add(key)
            previous = existing.get(key)
            record = {
                "name_localizations": None,
                "description_localizations": None,
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": key[1],
                "description": command.get("description", ""),
            }
            if scope is not None:
                record["guild_id"] = str(scope)
            stored[key] = record
        self.commands[scope] = stored
        self.command_syncs.append((self.time(), scope, [k[0] for k in stored]))
        return list(stored.values())

    def _delete_command(self, scope: int | None, command: dict) -> None:
        self.commands[scope].pop((command["name"], int(command.get("type", 1))), None)


def _file_list(files: FileMap) -> list[tuple[str, bytes]]:
    return [(name, data) for _, (name, data, _ctype) in sorted(files.items())]


def _validate_command(command: dict, path: str) -> None:
    name = command.get("name")
    kind = int(command.get("type", 1))
    if not isinstance(name, str) or not name:
        raise form_error(f"{path}.name", "This field is required", "BASE_TYPE_REQUIRED")
    if kind == 1:
        if not _NAME_RE.match(name) or name != name.lower():
            raise form_error(f"{path}.name", "Command name is invalid", "APPLICATION_COMMAND_INVALID_NAME")
        description = command.get("description") or ""
        if not 1 <= len(description) <= 100:
            raise form_error(
                f"{path}.description", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH"
            )
        _validate_options(command.get("options") or [], f"{path}.options", depth=0)
    elif not 1 <= len(name) <= 32:
        raise form_error(f"{path}.name", "Must be between 1 and 32 in length.", "BASE_TYPE_BAD_LENGTH")


def _validate_options(options: list, path: str, depth: int) -> None:
    if len(options) > 25:
        raise form_error(path, "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    names: set[str] = set()
    seen_optional = False
    for index, option in enumerate(options):
        where = f"{path}.{index}"
        name, kind = option.get("name", ""), option.get("type")
        if kind not in _OPTION_TYPES:
            raise form_error(f"{where}.type", "Value is not a valid option type", "BASE_TYPE_CHOICES")
        if not _NAME_RE.match(name) or name != name.lower():
            raise form_error(f"{where}.name", "Option name is invalid", "APPLICATION_COMMAND_INVALID_NAME")
        if name in names:
            raise form_error(
                where, "Option names must be unique", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS"
            )
        names.add(name)
        if not 1 <= len(option.get("description") or "") <= 100:
            raise form_error(
                f"{where}.description", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH"
            )
        if kind in (1, 2):
            if (kind == 2 and depth > 0) or (kind == 1 and depth > 1):
                raise form_error(
                    where, "Subcommands nest at most two levels deep", "APPLICATION_COMMAND_TOO_DEEP"
                )
            inner = option.get("options") or []
            if kind == 2 and any(o.get("type") != 1 for o in inner):
                raise form_error(f"{where}.options", "A subcommand group holds subcommands only")
            _validate_options(inner, f"{where}.options", depth + 1)
            continue
        if len(option.get("choices") or []) > 25:
            raise form_error(f"{where}.choices", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        if option.get("required"):
            if seen_optional:
                message = "Required options must be placed before non-required options"
                raise form_error(where, message, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID")
        else:
            seen_optional = True
