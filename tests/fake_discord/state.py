"""The fake's world: users, guilds, roles, channels, messages, attachments and interactions.

Everything here is plain data plus the code that turns it into the JSON payloads real
Discord sends (``to_payload``), and the rules real Discord enforces on message bodies
(``validate_message``).  No networking lives here.
"""

from __future__ import annotations

import datetime as _dt
import math
import mimetypes
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # 10 MiB: an unboosted guild


class Perm:
    """Permission bits the fake uses (values from Discord's documentation)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38

    #: What ``@everyone`` gets in a fresh guild (close to Discord's default).
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )
    #: What the bot's managed role grants by default (a typical invite link).
    BOT_DEFAULT = EVERYONE_DEFAULT


def all_permissions() -> int:
    import discord

    return discord.Permissions.all().value


class SnowflakeFactory:
    """Real-looking, strictly increasing snowflakes (``discord.utils.snowflake_time`` works on them)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, self._last + 1)
        self._last = value
        return value

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next snowflake that Discord routes to shard ``shard_id``: ``(id >> 22) % shard_count``."""
        stamp = self() >> 22
        while stamp % shard_count != shard_id:
            stamp += 1
        self._last = stamp << 22
        return self._last


def iso_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


_CONTENT_TYPES = {
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/x-wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".xml": "text/xml; charset=utf-8",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".mxl": "application/vnd.recordare.musicxml",
    ".abc": "text/plain; charset=utf-8",
    ".zip": "application/zip",
    ".png": "image/png",
}


def guess_content_type(filename: str) -> str | None:
    """The content type Discord reports for an upload (it sniffs the name, not the multipart header)."""
    suffix = pathlib.PurePath(filename).suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    return mimetypes.guess_type(filename)[0]


class ApiError(Exception):
    """A Discord-shaped error reply: HTTP status + JSON ``{"message", "code", "errors"?}``."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(path: str, message: str, code: str = "BASE_TYPE_INVALID") -> ApiError:
    """Discord's 50035 'Invalid Form Body' with one error at ``path`` (dot separated)."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


# --------------------------------------------------------------------------- people and places


@dataclass(eq=False)
class FakeUser:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    discriminator: str = "0"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> dict:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": self.discriminator,
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }

    def __repr__(self) -> str:
        return f"<FakeUser {self.username} id={self.id}{' bot' if self.bot else ''}>"


@dataclass(eq=False)
class FakeRole:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def to_payload(self) -> dict:
        payload = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload


@dataclass(eq=False)
class FakeChannel:
    id: int
    name: str
    guild_id: int | None
    type: int = 0  # 0 text, 1 DM, 2 voice, 4 category, 5 news, 11 public thread
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    recipient: FakeUser | None = None  # DMs only
    last_message_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def to_payload(self, permissions: int | None = None) -> dict:
        if self.type == 1:
            payload: dict[str, Any] = {
                "id": str(self.id),
                "type": 1,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "recipients": [self.recipient.to_payload()] if self.recipient else [],
                "flags": 0,
            }
        else:
            payload = {
                "id": str(self.id),
                "type": self.type,
                "guild_id": str(self.guild_id),
                "name": self.name,
                "position": self.position,
                "permission_overwrites": [],
                "parent_id": str(self.parent_id) if self.parent_id else None,
                "topic": self.topic,
                "nsfw": False,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "rate_limit_per_user": 0,
                "flags": 0,
            }
            if self.type == 2:  # discord.py reads these unconditionally for voice channels
                payload.update(bitrate=64000, user_limit=0, rtc_region=None)
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def __repr__(self) -> str:
        return f"<FakeChannel #{self.name} id={self.id} type={self.type}>"


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def permissions(self) -> int:
        """Guild-level permissions as Discord computes them (owner and administrators get all)."""
        return self.guild.permissions_for(self)

    def to_payload(self, *, with_user: bool = True, with_permissions: bool = False) -> dict:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids if r != self.guild.id],
            "joined_at": self.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        if with_permissions:
            payload["permissions"] = str(self.permissions)
        return payload

    def __repr__(self) -> str:
        perms = f"{self.permissions:#x}"
        return f"<FakeMember {self.user.username} id={self.id} guild={self.guild.id} perms={perms}>"


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    voice_states: dict[int, dict] = field(default_factory=dict)  # user id -> VOICE_STATE_UPDATE payload
    locale: str = "en-US"
    joined_at: str = field(default_factory=iso_now)

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type == 0]

    def channel(self, name: str) -> FakeChannel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(f"no channel #{name} in guild {self.name}")

    def member(self, name_or_id: str | int) -> FakeMember:
        for member in self.members.values():
            if member.id == name_or_id or member.user.username == name_or_id:
                return member
        raise KeyError(f"no member {name_or_id!r} in guild {self.name}")

    def permissions_for(self, member: FakeMember) -> int:
        if member.id == self.owner_id:
            return all_permissions()
        value = self.everyone.permissions
        for role_id in member.role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                value |= role.permissions
        if value & Perm.ADMINISTRATOR:
            return all_permissions()
        return value

    def to_payload(self) -> dict:
        """A full GUILD_CREATE payload."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_progress_bar_enabled": False,
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": list(self.voice_states.values()),
            "members": [m.to_payload() for m in self.members.values()],
            "channels": [c.to_payload() for c in self.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def __repr__(self) -> str:
        return f"<FakeGuild {self.name} id={self.id}>"


# --------------------------------------------------------------------------- uploads and messages


@dataclass(eq=False)
class Upload:
    """A file a *user* attaches to a slash command (becomes ``data.resolved.attachments``)."""

    filename: str
    data: bytes
    content_type: str | None = None

    @classmethod
    def from_path(cls, path: str | pathlib.Path, filename: str | None = None) -> Upload:
        path = pathlib.Path(path)
        return cls(filename or path.name, path.read_bytes())


@dataclass(eq=False)
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    title: str | None = None
    ephemeral: bool = False
    from_user: bool = False  # uploaded by a user with a slash command, not by the bot

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        if self.description:
            payload["description"] = self.description
        if self.title:
            payload["title"] = self.title
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload

    def __repr__(self) -> str:
        return f"<FakeAttachment {self.filename} {self.size} bytes {self.content_type}>"


@dataclass
class MessageRevision:
    """One state of a message: what it looked like after a create or an edit."""

    at: float
    kind: str  # "create" | "edit" | "delete"
    content: str
    embeds: list
    components: list
    flags: int
    attachments: list[FakeAttachment]


FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15


@dataclass(eq=False)
class FakeMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    created_at: float  # loop time
    content: str = ""
    embeds: list = field(default_factory=list)
    components: list = field(default_factory=list)
    flags: int = 0
    attachments: list[FakeAttachment] = field(default_factory=list)
    type: int = 0
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    deleted: bool = False
    tts: bool = False
    interaction: FakeInteraction | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    message_reference: dict | None = None
    reactions: list[str] = field(default_factory=list)
    history: list[MessageRevision] = field(default_factory=list)

    # ------------------------------------------------------------------ reading it in tests
    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred ("Bot is thinking...") response not yet edited."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def files(self) -> dict[str, bytes]:
        return {a.filename: a.data for a in self.attachments}

    def attachment(self, filename: str) -> FakeAttachment:
        for attachment in self.attachments:
            if attachment.filename == filename:
                return attachment
        raise KeyError(f"{filename!r} not among {[a.filename for a in self.attachments]}")

    def iter_components(self) -> list[dict]:
        """Every component at any depth (action rows, buttons, selects, v2 sections...)."""
        found: list[dict] = []

        def walk(items: list) -> None:
            for item in items or []:
                found.append(item)
                walk(item.get("components") or [])
                accessory = item.get("accessory")
                if accessory:
                    walk([accessory])

        walk(self.components)
        return found

    @property
    def buttons(self) -> list[dict]:
        return [c for c in self.iter_components() if c.get("type") == 2]

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.iter_components() if "custom_id" in c]

    def button(self, custom_id: str | None = None, *, label: str | None = None) -> dict:
        for button in self.buttons:
            if custom_id is not None and button.get("custom_id") == custom_id:
                return button
            if label is not None and button.get("label") == label:
                return button
        raise KeyError(f"no button custom_id={custom_id!r} label={label!r}; buttons: {self.buttons}")

    def snapshot(self, at: float, kind: str) -> None:
        self.history.append(
            MessageRevision(
                at,
                kind,
                self.content,
                list(self.embeds),
                list(self.components),
                self.flags,
                list(self.attachments),
            )
        )

    # ------------------------------------------------------------------ the wire format
    def to_payload(self) -> dict:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "author": self.author.to_payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": list(self.embeds),
            "components": list(self.components),
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            payload["application_id"] = str(self.application_id)
        if self.message_reference is not None:
            payload["message_reference"] = self.message_reference
        if self.reactions:
            counts: dict[str, int] = {}
            for emoji in self.reactions:
                counts[emoji] = counts.get(emoji, 0) + 1
            payload["reactions"] = [
                {
                    "count": n,
                    "count_details": {"burst": 0, "normal": n},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": None, "name": emoji},
                }
                for emoji, n in counts.items()
            ]
        inter = self.interaction
        if inter is not None:
            owners = {"0": str(inter.guild_id)} if inter.guild_id else {"1": str(inter.user.id)}
            payload["interaction_metadata"] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": inter.user.to_payload(),
                "authorizing_integration_owners": owners,
            }
            if inter.type == 2:
                payload["interaction_metadata"]["name"] = inter.command_name
                payload["interaction_metadata"]["command_type"] = 1
                payload["interaction"] = {
                    "id": str(inter.id),
                    "type": inter.type,
                    "name": inter.command_name,
                    "user": inter.user.to_payload(),
                }
            elif inter.source_message is not None:
                payload["interaction_metadata"]["interacted_message_id"] = str(inter.source_message.id)
        return payload

    def __repr__(self) -> str:
        bits = [f"id={self.id}", f"channel={self.channel_id}"]
        if self.content:
            bits.append(f"content={self.content[:40]!r}")
        if self.attachments:
            bits.append(f"files={[a.filename for a in self.attachments]}")
        if self.embeds:
            bits.append(f"embeds={len(self.embeds)}")
        if self.components:
            bits.append(f"custom_ids={self.custom_ids}")
        if self.ephemeral:
            bits.append("ephemeral")
        if self.loading:
            bits.append("loading")
        if self.deleted:
            bits.append("deleted")
        return f"<FakeMessage {' '.join(bits)}>"


# --------------------------------------------------------------------------- interactions

#: Interaction callback (response) types, from Discord's documentation.
CALLBACK_NAMES = {
    1: "PONG",
    4: "CHANNEL_MESSAGE_WITH_SOURCE",
    5: "DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE",
    6: "DEFERRED_UPDATE_MESSAGE",
    7: "UPDATE_MESSAGE",
    8: "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT",
    9: "MODAL",
    12: "LAUNCH_ACTIVITY",
}


@dataclass(eq=False)
class ResponseEvent:
    """One REST call the bot made about an interaction, successful or not."""

    kind: str  # callback | get_original | edit_original | delete_original | followup | get_followup | ...
    at: float  # loop time the request arrived
    status: int = 0  # 0 while being handled
    callback_type: int | None = None
    payload: dict | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    message: FakeMessage | None = None
    error: dict | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        extra = f" type={self.callback_type}" if self.callback_type is not None else ""
        err = f" error={self.error}" if self.error else ""
        return f"<ResponseEvent {self.kind}{extra} status={self.status} at={self.at:.3f}{err}>"


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake sent to the bot, and everything the bot did in reply."""

    id: int
    token: str
    type: int  # 2 application command, 3 component, 4 autocomplete, 5 modal submit
    application_id: int
    user: FakeUser
    member: FakeMember | None
    guild_id: int | None
    channel_id: int
    payload: dict
    created_at: float
    expires_at: float
    command_name: str = ""  # "bgm compose" for commands; custom_id for components
    source_message: FakeMessage | None = None
    dispatched_at: float | None = None
    events: list[ResponseEvent] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    choices: list[dict] | None = None  # autocomplete result
    modal: dict | None = None  # MODAL callback data

    @property
    def callback(self) -> ResponseEvent | None:
        """The accepted initial response, if any."""
        for event in self.events:
            if event.kind == "callback" and event.ok:
                return event
        return None

    @property
    def callback_type(self) -> int | None:
        callback = self.callback
        return callback.callback_type if callback else None

    @property
    def acknowledged(self) -> bool:
        return self.callback is not None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from the INTERACTION_CREATE frame leaving the fake to the callback arriving."""
        callback = self.callback
        if callback is None or self.dispatched_at is None:
            return None
        return callback.at - self.dispatched_at

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and self.original.ephemeral

    @property
    def messages(self) -> list[FakeMessage]:
        """The original response (if a message) and the followups, in order, deleted ones left out."""
        found = [self.original] if self.original is not None else []
        found += [m for m in self.followups if m is not self.original]
        return [m for m in found if not m.deleted]

    @property
    def attachments(self) -> list[FakeAttachment]:
        return [a for m in self.messages for a in m.attachments]

    @property
    def errors(self) -> list[ResponseEvent]:
        return [e for e in self.events if not e.ok]

    def __repr__(self) -> str:
        kind = {2: "command", 3: "component", 4: "autocomplete", 5: "modal"}.get(self.type, self.type)
        return (
            f"<FakeInteraction {kind} {self.command_name!r} id={self.id} "
            f"callback={self.callback_type} events={len(self.events)}>"
        )


# --------------------------------------------------------------------------- validation


def _embed_length(embed: dict) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


def validate_embeds(embeds: list) -> None:
    if len(embeds) > 10:
        raise form_error("embeds", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            raise form_error(f"embeds.{i}", "Must be an object.")
        for key, limit in (("title", 256), ("description", 4096)):
            if len(embed.get(key) or "") > limit:
                raise form_error(
                    f"embeds.{i}.{key}", f"Must be {limit} or fewer in length.", "BASE_TYPE_MAX_LENGTH"
                )
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(f"embeds.{i}.fields", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        for j, fld in enumerate(fields):
            if not fld.get("name") or not fld.get("value"):
                raise form_error(f"embeds.{i}.fields.{j}", "This field is required", "BASE_TYPE_REQUIRED")
            if len(fld["name"]) > 256 or len(fld["value"]) > 1024:
                raise form_error(f"embeds.{i}.fields.{j}", "Field too long.", "BASE_TYPE_MAX_LENGTH")
        total += _embed_length(embed)
    if total > 6000:
        raise form_error("embeds", "Embed size exceeds maximum size of 6000", "MAX_EMBED_SIZE_EXCEEDED")


def validate_components(components: list, flags: int) -> None:
    custom_ids: list[str] = []
    v2 = bool(flags & FLAG_IS_COMPONENTS_V2)
    if not v2 and len(components) > 5:
        raise form_error("components", "Must be 5 or fewer in length.", "BASE_TYPE_MAX_LENGTH")

    def check_leaf(item: dict, path: str) -> None:
        kind = item.get("type")
        if "custom_id" in item:
            cid = item["custom_id"]
            if not isinstance(cid, str) or not 1 <= len(cid) <= 100:
                raise form_error(
                    f"{path}.custom_id", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH"
                )
            custom_ids.append(cid)
        if kind == 2:
            style = item.get("style")
            if style not in (1, 2, 3, 4, 5, 6):
                raise form_error(
                    f"{path}.style", "Value must be one of (1, 2, 3, 4, 5, 6).", "BASE_TYPE_CHOICES"
                )
            if style == 5 and not item.get("url"):
                raise form_error(f"{path}.url", "A link button needs a url", "BASE_TYPE_REQUIRED")
            if style in (1, 2, 3, 4) and not item.get("custom_id"):
                raise form_error(f"{path}.custom_id", "This field is required", "BASE_TYPE_REQUIRED")
            if len(item.get("label") or "") > 80:
                raise form_error(f"{path}.label", "Must be 80 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        elif kind == 3 and len(item.get("options") or []) > 25:
            raise form_error(f"{path}.options", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")

    def walk(items: list, path: str) -> None:
        for i, item in enumerate(items or []):
            check_leaf(item, f"{path}.{i}")
            walk(item.get("components") or [], f"{path}.{i}.components")
            if item.get("accessory"):
                check_leaf(item["accessory"], f"{path}.{i}.accessory")

    if not v2:
        for i, row in enumerate(components):
            if row.get("type") != 1:
                raise form_error(f"components.{i}.type", "Top level components must be action rows (type 1).")
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                raise form_error(
                    f"components.{i}.components", "Must be between 1 and 5 in length.", "BASE_TYPE_BAD_LENGTH"
                )
            if any(c.get("type") in (3, 5, 6, 7, 8) for c in children) and len(children) > 1:
                raise form_error(f"components.{i}.components", "A select menu must be alone in its row.")
    walk(components, "components")
    if len(custom_ids) != len(set(custom_ids)):
        raise form_error(
            "components", "Component custom id cannot be duplicated", "COMPONENT_CUSTOM_ID_DUPLICATED"
        )


def validate_message(
    *,
    content: str,
    embeds: list,
    components: list,
    attachments: list[FakeAttachment],
    flags: int,
    size_limit: int,
) -> None:
    """The checks Discord applies to a message body (create or the result of an edit)."""
    if not isinstance(content, str):
        raise form_error("content", "Must be a string.")
    if len(content) > 2000:
        raise form_error("content", "Must be 2000 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    validate_embeds(embeds)
    validate_components(components, flags)
    if len(attachments) > 10:
        raise form_error("attachments", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    for attachment in attachments:
        if attachment.size > size_limit:
            raise ApiError(413, 40005, "Request entity too large")
    if not content and not embeds and not attachments and not components:
        raise ApiError(400, 50006, "Cannot send an empty message")


NEVER = math.inf
