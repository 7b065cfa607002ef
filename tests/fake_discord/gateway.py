"""The fake gateway: one websocket endpoint speaking Discord's gateway protocol (v10, JSON).

Supported: HELLO, HEARTBEAT/ACK, IDENTIFY -> READY + GUILD_CREATE per guild, RESUME -> replay of
missed dispatches + RESUMED, REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, PRESENCE_UPDATE (recorded),
RECONNECT and INVALID_SESSION on demand, and transport compression as the client asks for it
(``compress=zlib-stream``: one zlib stream per connection, each frame ending in Z_SYNC_FLUSH;
``compress=zstd-stream``: zstd frames when the ``zstandard`` package is importable, else plain text,
which discord.py also accepts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger("fake_discord.gateway")

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12

BUFFER_LIMIT = 2000  # dispatches kept per session for RESUME replay
FAKE_KEY: web.AppKey[Any] = web.AppKey("fake_discord", object)


@dataclass
class GatewayEvent:
    """Something that happened on the gateway, for tests to inspect (``fake.gateway_log``)."""

    at: float
    kind: str  # connect | identify | resume | heartbeat | presence | request_members | close | ...
    detail: dict = field(default_factory=dict)


class GatewayConnection:
    """One websocket connection from the bot."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.fake = fake
        self.ws = ws
        self.request = request
        self.path = request.path
        self.query = dict(request.query)
        self.compress = request.query.get("compress")
        self.session: GatewaySession | None = None
        self.opened_at = fake.time()
        self.frames_sent = 0
        self._lock = asyncio.Lock()
        self._zlib = zlib.compressobj() if self.compress == "zlib-stream" else None
        self._zstd = None
        if self.compress == "zstd-stream":
            try:
                import zstandard  # type: ignore[import-not-found]

                self._zstd = (zstandard.ZstdCompressor().compressobj(), zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            except ImportError:  # discord.py accepts text frames whatever it asked for
                self._zstd = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, frame: dict) -> None:
        data = json.dumps(frame, separators=(",", ":"))
        async with self._lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway connection is closed")
            if self._zlib is not None:
                raw = data.encode()
                await self.ws.send_bytes(self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
            elif self._zstd is not None:
                compressor, flush_mode = self._zstd
                await self.ws.send_bytes(compressor.compress(data.encode()) + compressor.flush(flush_mode))
            else:
                await self.ws.send_str(data)
            self.frames_sent += 1

    async def close(self, code: int | None) -> None:
        """Close with a close frame, or (``code=None``) drop the TCP connection like a network failure."""
        if code is None:
            transport = self.request.transport
            if transport is not None:
                transport.abort()
            return
        await self.ws.close(code=code, message=b"closed by the fake")


class GatewaySession:
    """A gateway session (what IDENTIFY creates and RESUME reattaches to)."""

    def __init__(self, fake: FakeDiscord, identify: dict) -> None:
        self.fake = fake
        self.id = secrets.token_hex(16)
        self.identify = identify
        self.intents = int(identify.get("intents") or 0)
        self.shard = identify.get("shard") or [0, 1]
        self.seq = 0
        self.buffer: list[tuple[int, dict, Callable[[float], None] | None]] = []
        self.connection: GatewayConnection | None = None
        self.invalidated = False
        self.presence: dict | None = identify.get("presence")

    def receives(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the events of ``guild_id`` (``None``: DMs, shard 0)."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % shard_count == shard_id

    def wants(self, intent: int) -> bool:
        return bool(self.intents & intent)

    async def dispatch(self, event: str, data: Any, on_sent: Callable[[float], None] | None = None) -> bool:
        """Sequence a dispatch and send it now if connected, else keep it for a RESUME. True if sent."""
        self.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append((self.seq, frame, on_sent))
        del self.buffer[:-BUFFER_LIMIT]
        conn = self.connection
        if conn is None or conn.closed:
            return False
        try:
            await conn.send(frame)
        except (ConnectionResetError, RuntimeError):
            return False
        if on_sent is not None:
            on_sent(self.fake.time())
        return True

    async def replay(self, after: int | None) -> int:
        conn = self.connection
        assert conn is not None
        count = 0
        for seq, frame, on_sent in list(self.buffer):
            if after is None or seq > after:
                await conn.send(frame)
                if on_sent is not None:
                    on_sent(self.fake.time())
                count += 1
        return count


async def gateway_handler(request: web.Request) -> web.StreamResponse:
    fake: FakeDiscord = request.app[FAKE_KEY]
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(status=400, text="websocket expected")
    ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=2.0, compress=True)
    await ws.prepare(request)
    conn = GatewayConnection(fake, ws, request)
    fake._gateway_connections.append(conn)
    fake._gateway_record("connect", path=request.path, query=dict(request.query))
    try:
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"only encoding=json is faked")
            return ws
        await conn.send(
            {"op": OP_HELLO, "d": {"heartbeat_interval": fake.heartbeat_interval_ms}, "s": None, "t": None}
        )
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                raw = msg.data
            elif msg.type is WSMsgType.BINARY:
                raw = msg.data.decode()
            else:
                break
            try:
                frame = json.loads(raw)
                op = frame["op"]
            except (ValueError, KeyError, TypeError):
                await ws.close(code=4002, message=b"Error while decoding payload.")
                break
            await _handle_frame(fake, conn, op, frame.get("d"))
    finally:
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
        fake._gateway_record("close", path=conn.path, code=ws.close_code)
        fake._notify()
    return ws


async def _handle_frame(fake: FakeDiscord, conn: GatewayConnection, op: int, data: Any) -> None:
    if op == OP_HEARTBEAT:
        fake._gateway_record("heartbeat", seq=data)
        await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        return
    if op == OP_IDENTIFY:
        await _identify(fake, conn, data or {})
        return
    if op == OP_RESUME:
        await _resume(fake, conn, data or {})
        return
    if conn.session is None:
        await conn.ws.close(code=4003, message=b"Not authenticated.")
        return
    if op == OP_PRESENCE_UPDATE:
        conn.session.presence = data
        fake._gateway_record("presence", **(data or {}))
        return
    if op == OP_REQUEST_GUILD_MEMBERS:
        await _request_members(fake, conn.session, data or {})
        return
    if op == OP_VOICE_STATE_UPDATE:
        fake._gateway_record("voice_state", **(data or {}))
        if fake.voice is not None:
            await fake.voice.on_bot_voice_state(conn.session.id, data or {})
        return
    fake._gateway_record("unknown_op", op=op)
    await conn.ws.close(code=4001, message=b"Unknown opcode.")


async def _identify(fake: FakeDiscord, conn: GatewayConnection, data: dict) -> None:
    if conn.session is not None:
        await conn.ws.close(code=4005, message=b"Already authenticated.")
        return
    if data.get("token") != fake.token:
        fake._gateway_record("identify_rejected", token=data.get("token"))
        await conn.ws.close(code=4004, message=b"Authentication failed.")
        return
    session = GatewaySession(fake, data)
    for old in fake._gateway_sessions:  # a new IDENTIFY replaces the session of the same shard
        if old.shard == session.shard:
            old.invalidated = True
    fake._gateway_sessions.append(session)
    session.connection = conn
    conn.session = session
    fake._gateway_record("identify", session_id=session.id, intents=session.intents, shard=session.shard)
    ready = {
        "v": 10,
        "user": {**fake.bot_user.to_payload(), "verified": True, "mfa_enabled": False, "email": None},
        "guilds": [
            {"id": str(g.id), "unavailable": True} for g in fake.guilds.values() if session.receives(g.id)
        ],
        "session_id": session.id,
        "session_type": "normal",
        "resume_gateway_url": fake.resume_gateway_url,
        "shard": session.shard,
        "application": {"id": str(fake.application_id), "flags": fake.application_flags},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["fake"],
        "_trace": ["fake-discord"],
    }
    await session.dispatch("READY", ready)
    for guild in list(fake.guilds.values()):
        if session.receives(guild.id):
            await session.dispatch("GUILD_CREATE", guild.to_payload())
    fake._notify()


async def _resume(fake: FakeDiscord, conn: GatewayConnection, data: dict) -> None:
    session = next((s for s in fake._gateway_sessions if s.id == data.get("session_id")), None)
    if data.get("token") != fake.token:
        await conn.ws.close(code=4004, message=b"Authentication failed.")
        return
    if session is None or session.invalidated:
        fake._gateway_record("resume_rejected", session_id=data.get("session_id"))
        await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
        return
    old = session.connection
    if old is not None and old is not conn and not old.closed:
        await old.close(4000)
    session.connection = conn
    conn.session = session
    replayed = await session.replay(data.get("seq"))
    fake._gateway_record(
        "resume", session_id=session.id, seq=data.get("seq"), replayed=replayed, path=conn.path
    )
    await session.dispatch("RESUMED", {"_trace": ["fake-discord"]})
    fake._notify()


async def _request_members(fake: FakeDiscord, session: GatewaySession, data: dict) -> None:
    fake._gateway_record("request_members", **data)
    guild = fake.guilds.get(int(data.get("guild_id", 0)))
    if guild is None:
        return
    members = list(guild.members.values())
    user_ids = data.get("user_ids")
    if user_ids:
        wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
        members = [m for m in members if m.id in wanted]
        not_found = [str(u) for u in wanted - {m.id for m in members}]
    else:
        query = (data.get("query") or "").lower()
        members = [m for m in members if m.user.username.lower().startswith(query)]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        not_found = []
    chunk: dict[str, Any] = {
        "guild_id": str(guild.id),
        "members": [m.to_payload() for m in members],
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": not_found,
    }
    if data.get("nonce") is not None:
        chunk["nonce"] = data["nonce"]
    if data.get("presences"):
        chunk["presences"] = []
    await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
