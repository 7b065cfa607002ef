"""The fake Discord's voice: voice states on the gateway, a voice websocket server (v8, TLS) and an
RTP receiver on UDP, all on loopback, for discord.py's real ``VoiceClient``.

What the bot sees, in Discord's order (discord.py's ``voice_state.py`` docstring lists it too):

1. Gateway op 4 (voice state update) -> ``VOICE_STATE_UPDATE`` (the bot's ``session_id``) and
   ``VOICE_SERVER_UPDATE`` (``token``, ``endpoint`` = this server's ``127.0.0.1:PORT``).
2. ``wss://{endpoint}/?v=8``: HELLO (op 8) -> the bot's IDENTIFY (op 0, token and session checked)
   -> READY (op 2: ``ssrc``, the UDP ``ip``/``port``, ``modes``).
3. UDP IP discovery: a 74-byte request (type 1) answered with type 2, the bot's address as seen here,
   ``DISCOVERY_REPLY_S`` later, as from a server across a network (see there).
4. SELECT_PROTOCOL (op 1, mode ``aead_xchacha20_poly1305_rtpsize`` required) -> SESSION_DESCRIPTION
   (op 4: a fresh 32-byte key, ``dave_protocol_version`` 0: no end-to-end layer, so RTP payloads
   are Opus under the transport encryption alone).
5. SPEAKING (op 5) recorded; HEARTBEAT (op 3) -> HEARTBEAT_ACK (op 6); RESUME (op 7) -> RESUMED (op 9).
6. RTP packets: 12-byte header (the AEAD's additional data), ciphertext, then the 4-byte nonce
   counter; decrypted with PyNaCl's XChaCha20-Poly1305 and decoded with libopus (``decoded()``).

Arrival times are taken in a thread of their own (``time.perf_counter`` at ``recv``), not on the
event loop the bot shares with the test: a busy loop must not show up as gaps in the stream.

The certificate is made by the test (``make_certificate``) and trusted the way a deployment trusts
one, through ``SSL_CERT_FILE``; see ``trusting_context``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.exceptions
import nacl.secret
import numpy as np
from aiohttp import WSMsgType, web
from discord.opus import Decoder

if TYPE_CHECKING:
    from .server import FakeDiscord
    from .state import FakeChannel, FakeMember

MODE = "aead_xchacha20_poly1305_rtpsize"
OP_IDENTIFY, OP_SELECT_PROTOCOL, OP_READY, OP_HEARTBEAT = 0, 1, 2, 3
OP_SESSION_DESCRIPTION, OP_SPEAKING, OP_HEARTBEAT_ACK, OP_RESUME = 4, 5, 6, 7
OP_HELLO, OP_RESUMED = 8, 9
INTENT_GUILD_VOICE_STATES = 1 << 7
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
VOICE_HEARTBEAT_MS = 5000
# discord.py sends its IP discovery request before it listens for the answer, and its socket reader
# may still be reading from the connection before: an answer back within microseconds, as on
# loopback, could be read and dropped, and the reconnect then hung (2 runs in 4 here). A
# real voice server is tens of milliseconds away.
DISCOVERY_REPLY_S = 0.02


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (and its key), made with the openssl program."""
    cert, key = folder / "voice-cert.pem", folder / "voice-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=fake-discord-voice",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def trusting_context() -> ssl.SSLContext:
    """A client context made now, from the default verify paths (``SSL_CERT_FILE`` included).

    aiohttp builds its default verified context once, when it is imported, before a test can point
    ``SSL_CERT_FILE`` at its certificate; a connector given this context (made after) trusts it.
    """
    return ssl.create_default_context()


@dataclass
class Packet:
    at: float  # perf_counter when it arrived
    sequence: int
    timestamp: int
    ssrc: int
    opus: bytes


@dataclass
class VoiceSession:
    """What one IDENTIFY set up: the bot's ssrc and key, and what it sent."""

    user_id: int
    guild_id: int
    session_id: str
    token: str
    ssrc: int
    key: bytes | None = None
    mode: str | None = None
    speaking: list[tuple[float, int]] = field(default_factory=list)
    client_address: tuple[str, int] | None = None


class FakeVoice:
    """Voice for a :class:`FakeDiscord`: ``await FakeVoice(fake, tmp_path).start()`` before the bot
    connects; ``fake.voice`` is then set and the gateway hands it the bot's voice state updates."""

    def __init__(self, fake: FakeDiscord, cert: Path, key: Path) -> None:
        self.fake = fake
        self.cert, self.key = cert, key
        self.log: list[tuple[float, str, dict]] = []
        self.sessions: dict[int, VoiceSession] = {}  # by ssrc
        self.packets: list[Packet] = []
        self.undecryptable = 0
        self.bot_channel: dict[int, int | None] = {}  # guild id -> the voice channel the bot is in
        self._tokens: dict[str, tuple[int, str]] = {}  # token -> (guild id, gateway session id)
        self._guild_tokens: dict[int, str] = {}  # guild id -> the token of the bot's voice session there
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self._udp: socket.socket | None = None
        self._udp_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.ws_port = 0
        self.udp_port = 0
        self.refuse_identify = False  # True: IDENTIFY is answered by closing with 4006 (session invalid)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeVoice:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        app = web.Application()
        app.router.add_get("/", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.ws_port = self._runner.addresses[0][1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", 0))
        self._udp.settimeout(0.2)
        self.udp_port = self._udp.getsockname()[1]
        self._udp_thread = threading.Thread(target=self._receive, name="fake-voice-udp", daemon=True)
        self._udp_thread.start()
        self.fake.voice = self
        return self

    async def stop(self) -> None:
        self.fake.voice = None
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001), 1.0)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._udp is not None:
            udp, self._udp = self._udp, None
            if self._udp_thread is not None:
                self._udp_thread.join(2)
            udp.close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ws_port}"

    def _record(self, kind: str, **detail: Any) -> None:
        self.log.append((time.perf_counter(), kind, detail))
        self.fake._notify()

    def events(self, kind: str) -> list[dict]:
        return [detail for _, k, detail in self.log if k == kind]

    # ------------------------------------------------------------------ voice states (the gateway's side)

    @staticmethod
    def _state_payload(member: FakeMember, channel_id: int | None, session_id: str) -> dict:
        return {
            "guild_id": str(member.guild.id),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(member.id),
            "member": member.to_payload(),
            "session_id": session_id,
            "deaf": False, "mute": False, "self_deaf": False, "self_mute": False,
            "self_stream": False, "self_video": False, "suppress": False,
            "request_to_speak_timestamp": None,
        }  # fmt: skip

    async def _dispatch_state(self, member: FakeMember, channel_id: int | None, session_id: str) -> None:
        payload = self._state_payload(member, channel_id, session_id)
        states = member.guild.voice_states
        if channel_id is None:
            states.pop(member.id, None)
        else:
            states[member.id] = payload
        session = self.fake.session
        if session is not None and (
            session.wants(INTENT_GUILD_VOICE_STATES) or member.id == self.fake.bot_user.id
        ):
            await session.dispatch("VOICE_STATE_UPDATE", payload)

    async def join(self, member: FakeMember, channel: FakeChannel) -> None:
        """``member`` joins (or moves to) voice ``channel``, as a person does in the client."""
        await self._dispatch_state(member, channel.id, secrets.token_hex(16))

    async def leave(self, member: FakeMember) -> None:
        await self._dispatch_state(member, None, secrets.token_hex(16))

    async def on_bot_voice_state(self, gateway_session_id: str, data: dict) -> None:
        """The bot's gateway op 4: its new voice state, then (when it joins) where its voice server is."""
        guild = self.fake.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        channel_id = int(data["channel_id"]) if data.get("channel_id") else None
        self._record("bot_voice_state", guild_id=guild.id, channel_id=channel_id)
        self.bot_channel[guild.id] = channel_id
        await self._dispatch_state(self.fake.bot_member(guild), channel_id, gateway_session_id)
        if channel_id is None:
            self._guild_tokens.pop(guild.id, None)
        else:
            # One voice session per guild until the bot leaves: the same token again for a repeated op 4
            # (discord.py treats an unchanged server update as nothing new, a changed one as a reconnect).
            token = self._guild_tokens.setdefault(guild.id, secrets.token_hex(8))
            self._tokens[token] = (guild.id, gateway_session_id)
            await self.fake.dispatch(
                "VOICE_SERVER_UPDATE", {"token": token, "guild_id": str(guild.id), "endpoint": self.endpoint}
            )

    async def move_bot(self, channel: FakeChannel) -> None:
        """Someone with Move Members drags the bot to ``channel`` (Discord then sends a new server)."""
        guild = self.fake.guilds[channel.guild_id]
        session = self.fake.session
        self.bot_channel[guild.id] = channel.id
        await self.on_bot_voice_state(
            session.id if session else "", {"guild_id": guild.id, "channel_id": channel.id}
        )

    async def disconnect_bot(self, guild_id: int) -> None:
        """A moderator disconnects the bot: its voice state goes to no channel and the socket closes 4014."""
        session = self.fake.session
        self.bot_channel[guild_id] = None
        await self._dispatch_state(
            self.fake.bot_member(self.fake.guilds[guild_id]), None, session.id if session else ""
        )
        await self.drop(4014)

    async def fail_over(self, guild_id: int) -> None:
        """The bot's voice server goes away and Discord moves the call to another one: a new
        VOICE_SERVER_UPDATE (a new token; this fake is also the other server), after which the bot
        must IDENTIFY again and gets a new ssrc."""
        session = self.fake.session
        self._record("fail_over", guild_id=guild_id)
        token = self._guild_tokens[guild_id] = secrets.token_hex(8)
        self._tokens[token] = (guild_id, session.id if session else "")
        await self.fake.dispatch(
            "VOICE_SERVER_UPDATE", {"token": token, "guild_id": str(guild_id), "endpoint": self.endpoint}
        )

    async def drop(self, code: int | None = 4015) -> None:
        """Close every voice websocket with ``code`` (4015: the voice server crashed, resume), or cut
        the TCP connections (``None``)."""
        self._record("drop", code=code)
        for ws in list(self._sockets):
            if code is None:
                transport = ws._req.transport if ws._req is not None else None  # type: ignore[attr-defined]
                if transport is not None:
                    transport.abort()
            else:
                with contextlib.suppress(Exception):
                    await ws.close(code=code, message=b"closed by the fake")

    # ------------------------------------------------------------------ the voice websocket

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._record("connect", query=dict(request.query))
        session: VoiceSession | None = None
        try:
            if request.query.get("v") != "8":
                await ws.close(code=4012, message=b"Unknown protocol version.")
                return ws
            await self._send(ws, OP_HELLO, {"heartbeat_interval": VOICE_HEARTBEAT_MS, "v": 8})
            async for message in ws:
                if message.type is WSMsgType.BINARY:
                    self._record("binary", op=message.data[0] if message.data else None)
                    continue
                if message.type is not WSMsgType.TEXT:
                    break
                frame = json.loads(message.data)
                session = await self._handle(ws, session, frame["op"], frame.get("d") or {})
        finally:
            self._sockets.remove(ws)
            self._record("close", code=ws.close_code)
        return ws

    @staticmethod
    async def _send(ws: web.WebSocketResponse, op: int, data: Any) -> None:
        if not ws.closed:
            await ws.send_str(json.dumps({"op": op, "d": data}))

    async def _handle(
        self, ws: web.WebSocketResponse, session: VoiceSession | None, op: int, data: dict
    ) -> VoiceSession | None:
        if op == OP_HEARTBEAT:
            self._record("heartbeat", **data)
            await self._send(ws, OP_HEARTBEAT_ACK, {"t": data.get("t")})
            return session
        if op == OP_IDENTIFY:
            return await self._identify(ws, data)
        if op == OP_RESUME:
            known = next((s for s in self.sessions.values() if s.token == data.get("token")), None)
            if known is None or known.session_id != data.get("session_id"):
                await ws.close(code=4006, message=b"Session no longer valid.")
                return None
            self._record("resume", ssrc=known.ssrc, seq_ack=data.get("seq_ack"))
            await self._send(ws, OP_RESUMED, None)
            return known
        if session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
            return None
        if op == OP_SELECT_PROTOCOL:
            inner = data.get("data") or {}
            self._record("select_protocol", mode=inner.get("mode"), address=inner.get("address"),
                         port=inner.get("port"))  # fmt: skip
            if data.get("protocol") != "udp" or inner.get("mode") != MODE:
                await ws.close(code=4016, message=b"Unknown encryption mode.")
                return session
            session.key, session.mode = secrets.token_bytes(32), MODE
            await self._send(ws, OP_SESSION_DESCRIPTION, {
                "mode": MODE, "secret_key": list(session.key), "dave_protocol_version": 0,
                "audio_codec": "opus", "video_codec": None, "media_session_id": secrets.token_hex(8),
            })  # fmt: skip
        elif op == OP_SPEAKING:
            session.speaking.append((time.perf_counter(), int(data.get("speaking", 0))))
            self._record("speaking", speaking=data.get("speaking"), ssrc=data.get("ssrc"))
        else:
            self._record("other_op", op=op)
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict) -> VoiceSession | None:
        issued = self._tokens.get(data.get("token", ""))
        self._record("identify", **{k: v for k, v in data.items() if k != "token"})
        if (
            self.refuse_identify
            or issued is None
            or issued != (int(data.get("server_id", 0)), data.get("session_id"))
        ):
            await ws.close(code=4006, message=b"Session no longer valid.")
            return None
        ssrc = secrets.randbelow(2**31) + 1
        session = VoiceSession(int(data["user_id"]), issued[0], issued[1], data["token"], ssrc)
        self.sessions[ssrc] = session
        await self._send(ws, OP_READY, {
            "ssrc": ssrc, "ip": "127.0.0.1", "port": self.udp_port,
            "modes": [MODE, "aead_aes256_gcm_rtpsize"], "heartbeat_interval": 1,
        })  # fmt: skip
        return session

    # ------------------------------------------------------------------ UDP: discovery and RTP

    def _receive(self) -> None:
        while self._udp is not None:
            try:
                data, address = self._udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            at = time.perf_counter()
            if len(data) == 74 and data[:2] == b"\x00\x01":
                self._discover(data, address)
                continue
            if len(data) < 12 + 16 + 4 or data[0] & 0xC0 != 0x80:
                continue
            sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
            session = self.sessions.get(ssrc)
            if session is None or session.key is None:
                self.undecryptable += 1
                continue
            opus = self._decrypt(session.key, data)
            with self._lock:
                if opus is None:
                    self.undecryptable += 1
                else:
                    self.packets.append(Packet(at, sequence, timestamp, ssrc, opus))

    def _discover(self, data: bytes, address: tuple[str, int]) -> None:
        (ssrc,) = struct.unpack_from(">I", data, 4)
        if ssrc in self.sessions:
            self.sessions[ssrc].client_address = address
        reply = bytearray(74)
        struct.pack_into(">HHI", reply, 0, 2, 70, ssrc)
        reply[8 : 8 + len(address[0])] = address[0].encode()
        struct.pack_into(">H", reply, 72, address[1])
        udp = self._udp
        assert udp is not None

        def answer() -> None:
            with contextlib.suppress(OSError):  # the fake closed meanwhile
                udp.sendto(bytes(reply), address)

        timer = threading.Timer(DISCOVERY_REPLY_S, answer)
        timer.daemon = True
        timer.start()

    @staticmethod
    def _decrypt(key: bytes, data: bytes) -> bytes | None:
        header, ciphertext, counter = data[:12], data[12:-4], data[-4:]
        try:
            return nacl.secret.Aead(key).decrypt(ciphertext, header, counter + bytes(20))
        except nacl.exceptions.CryptoError:
            return None

    # ------------------------------------------------------------------ what the tests read

    def received(self, ssrc: int | None = None) -> list[Packet]:
        with self._lock:
            return [p for p in self.packets if ssrc is None or p.ssrc == ssrc]

    def decoded(self, packets: list[Packet]) -> np.ndarray:
        """``packets`` (in sequence order) decoded by libopus: int16 stereo frames at 48 kHz."""
        decoder = Decoder()
        pcm = b"".join(decoder.decode(p.opus, fec=False) for p in packets)
        return np.frombuffer(pcm, dtype=np.int16).reshape(-1, 2)
