"""The fake REST API (``/api/v10/...``) and CDN (``/attachments/...``), as an aiohttp application.

Handlers are thin: they parse the request (JSON or multipart ``payload_json`` + ``files[n]``),
call into :class:`~tests.fake_discord.server.FakeDiscord`, and answer with Discord-shaped JSON.
Every reply that carries JSON has the exact header ``Content-Type: application/json`` (discord.py
compares the header with ``==`` and treats anything else, e.g. ``; charset=utf-8``, as text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .gateway import FAKE_KEY, gateway_handler
from .state import ApiError, form_error

if TYPE_CHECKING:
    from .server import FakeDiscord

API = "/api/v10"


@dataclass
class RequestRecord:
    """One HTTP request the fake received."""

    at: float
    method: str
    path: str
    query: dict
    route: str | None = None  # the route template that served it; None: unknown route
    status: int | None = None
    json: Any = None
    files: list[tuple[str, int]] = field(default_factory=list)  # (filename, size)
    error: dict | None = None

    def __repr__(self) -> str:
        error = f" {self.error}" if self.error else ""
        return f"<Request {self.method} {self.path} -> {self.status}{error}>"


@dataclass
class InjectedFault:
    method: str
    pattern: re.Pattern
    status: int
    code: int
    message: str
    times: int
    retry_after: float


RECORD_KEY: web.RequestKey[RequestRecord] = web.RequestKey("fake_discord_record", RequestRecord)


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    # body=bytes + an explicit header: aiohttp would otherwise append "; charset=utf-8".
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=json.dumps(data).encode(), status=status, headers=hdrs)


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_body(request: web.Request) -> tuple[dict, dict[int, tuple[str, bytes, str | None]]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]`` -> (payload, {n: (filename, data, ctype)})."""
    record: RequestRecord = request[RECORD_KEY]
    files: dict[int, tuple[str, bytes, str | None]] = {}
    payload: dict = {}
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        extra = 100
        while True:
            part = await reader.next()
            if part is None:
                break
            name = getattr(part, "name", None) or ""
            body = await part.read(decode=False)  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(bytes(body).decode())
            elif getattr(part, "filename", None):
                match = re.fullmatch(r"files\[(\d+)\]", name)
                if match:
                    index = int(match.group(1))
                else:  # "file", "file1"... (old style): keep them, after the indexed ones
                    index, extra = extra, extra + 1
                files[index] = (part.filename, bytes(body), part.headers.get("Content-Type"))  # type: ignore[union-attr]
            else:
                payload.setdefault(name, bytes(body).decode(errors="replace"))
        record.files = [(f[0], len(f[1])) for _, f in sorted(files.items())]
    elif request.can_read_body:
        text = await request.text()
        if text:
            try:
                payload = json.loads(text)
            except ValueError as exc:
                raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc
    record.json = payload
    return payload, files


def _int(request: web.Request, key: str) -> int:
    try:
        return int(request.match_info[key])
    except ValueError as exc:
        raise form_error(key, "Value is not snowflake.", "NUMBER_TYPE_COERCE") from exc


def _needs_auth(path: str) -> bool:
    if not path.startswith(API + "/"):
        return False
    rest = path[len(API) :]
    return not (rest.startswith("/webhooks/") or rest.startswith("/interactions/"))


@web.middleware
async def _middleware(request: web.Request, handler):
    fake: FakeDiscord = request.app[FAKE_KEY]
    route = request.match_info.route
    template = getattr(route.resource, "canonical", None) if route.resource is not None else None
    known = template is not None and not template.startswith("/{tail")
    record = RequestRecord(
        fake.time(), request.method, request.path, dict(request.query), template if known else None
    )
    request[RECORD_KEY] = record
    if request.path.startswith(API) or request.path.startswith("/attachments/") or not known:
        fake.requests.append(record)
    try:
        if (
            known
            and _needs_auth(request.path)
            and request.headers.get("Authorization") != f"Bot {fake.token}"
        ):
            raise ApiError(401, 0, "401: Unauthorized")
        fault = fake._take_fault(request.method, request.path) if known else None
        if fault is not None:
            response = _fault_response(fault)
        else:
            response = await handler(request)
    except ApiError as exc:
        record.error = exc.body()
        response = json_response(exc.body(), status=exc.status)
    record.status = response.status
    if record.status >= 400 or not known:
        fake.errors.append(record)
    fake._notify()
    return response


def _fault_response(fault: InjectedFault) -> web.Response:
    if fault.status == 429:
        body = {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": False}
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(fault.retry_after),
            "X-RateLimit-Scope": "user",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(fault.retry_after),
            "X-RateLimit-Bucket": "fake-bucket",
        }
        return json_response(body, status=429, headers=headers)
    return json_response({"message": fault.message, "code": fault.code}, status=fault.status)


# --------------------------------------------------------------------------- handlers


async def unknown_route(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    fake.unknown_requests.append(request[RECORD_KEY])
    raise ApiError(404, 0, "404: Not Found")


async def get_me(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    return json_response(
        {**fake.bot_user.to_payload(), "verified": True, "mfa_enabled": False, "email": None}
    )


async def get_user(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    user = fake.users.get(_int(request, "user_id"))
    if user is None:
        raise ApiError(404, 10013, "Unknown User")
    return json_response(user.to_payload())


async def create_dm(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    payload, _ = await read_body(request)
    user = fake.users.get(int(payload.get("recipient_id", 0)))
    if user is None:
        raise ApiError(404, 10013, "Unknown User")
    return json_response(fake.dm_channel(user).to_payload())


async def get_application(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    return json_response(fake.application_payload())


async def get_gateway(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    return json_response({"url": fake.gateway_url_str})


async def get_gateway_bot(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    return json_response(
        {
            "url": fake.gateway_url_str,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        }
    )


# -- application commands


def _command_scope(request: web.Request) -> int | None:
    fake: FakeDiscord = request.app[FAKE_KEY]
    if _int(request, "app_id") != fake.application_id:
        raise ApiError(403, 50001, "Missing Access")
    if "guild_id" not in request.match_info:
        return None
    guild_id = _int(request, "guild_id")
    if guild_id not in fake.guilds:
        raise ApiError(403, 50001, "Missing Access")
    return guild_id


async def list_commands(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    scope = _command_scope(request)
    return json_response(list(fake.commands.get(scope, {}).values()))


async def put_commands(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    scope = _command_scope(request)
    payload, _ = await read_body(request)
    if not isinstance(payload, list):
        raise form_error("_", "Must be an array.")
    return json_response(fake._set_commands(scope, payload))


async def upsert_command(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    scope = _command_scope(request)
    payload, _ = await read_body(request)
    existing = fake.commands.get(scope, {})
    others = [
        c
        for c in existing.values()
        if (c["name"], c.get("type", 1)) != (payload.get("name"), payload.get("type", 1))
    ]
    result = fake._set_commands(scope, others + [payload])
    created = next(c for c in result if c["name"] == payload.get("name"))
    return json_response(created, status=201)


def _find_command(fake: FakeDiscord, scope: int | None, command_id: int) -> dict:
    for command in fake.commands.get(scope, {}).values():
        if int(command["id"]) == command_id:
            return command
    raise ApiError(404, 10063, "Unknown application command")


async def get_command(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    return json_response(_find_command(fake, _command_scope(request), _int(request, "command_id")))


async def edit_command(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    scope = _command_scope(request)
    command = _find_command(fake, scope, _int(request, "command_id"))
    payload, _ = await read_body(request)
    others = [c for c in fake.commands.get(scope, {}).values() if c is not command]
    result = fake._set_commands(scope, others + [{**command, **payload}])
    return json_response(next(c for c in result if c["id"] == command["id"]))


async def delete_command(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    scope = _command_scope(request)
    command = _find_command(fake, scope, _int(request, "command_id"))
    fake._delete_command(scope, command)
    return no_content()


async def command_permissions(request: web.Request) -> web.Response:
    _command_scope(request)
    return json_response([])


# -- interactions


async def interaction_callback(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    payload, files = await read_body(request)
    result = await fake._interaction_callback(
        _int(request, "interaction_id"), request.match_info["token"], payload, files, request[RECORD_KEY].at
    )
    if request.query.get("with_response") in ("1", "true", "True"):
        return json_response(result)
    return no_content()


async def execute_webhook(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    payload, files = await read_body(request)
    message = await fake._webhook_call(
        _int(request, "app_id"),
        request.match_info["token"],
        "POST",
        None,
        payload,
        files,
        request[RECORD_KEY].at,
    )
    if request.query.get("wait") in ("1", "true", "True") and message is not None:
        return json_response(message.to_payload())
    return no_content()


async def webhook_message(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    payload, files = await read_body(request) if request.method == "PATCH" else ({}, {})
    message = await fake._webhook_call(
        _int(request, "app_id"),
        request.match_info["token"],
        request.method,
        request.match_info["message_id"],
        payload,
        files,
        request[RECORD_KEY].at,
    )
    if message is None:
        return no_content()
    return json_response(message.to_payload())


# -- channels and messages


async def get_channel(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    channel = fake._channel_or_404(_int(request, "channel_id"))
    return json_response(channel.to_payload())


async def create_message(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    channel = fake._channel_or_404(_int(request, "channel_id"))
    payload, files = await read_body(request)
    message = await fake._bot_channel_message(channel, payload, files, request[RECORD_KEY].at)
    return json_response(message.to_payload())


async def list_messages(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    channel = fake._channel_or_404(_int(request, "channel_id"))
    limit = min(int(request.query.get("limit", 50)), 100)
    found = [
        m for m in fake.messages.values() if m.channel_id == channel.id and not m.deleted and not m.ephemeral
    ]
    if "before" in request.query:
        found = [m for m in found if m.id < int(request.query["before"])]
    if "after" in request.query:
        found = [m for m in found if m.id > int(request.query["after"])]
        found = found[:limit]
    found = sorted(found, key=lambda m: m.id, reverse=True)[:limit]
    return json_response([m.to_payload() for m in found])


async def channel_message(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    channel = fake._channel_or_404(_int(request, "channel_id"))
    message = fake.messages.get(_int(request, "message_id"))
    if message is None or message.channel_id != channel.id or message.deleted or message.ephemeral:
        raise ApiError(404, 10008, "Unknown Message")
    at = request[RECORD_KEY].at
    if request.method == "GET":
        return json_response(message.to_payload())
    if request.method == "DELETE":
        if message.author is not fake.bot_user and not fake._bot_can(channel, "MANAGE_MESSAGES"):
            raise ApiError(403, 50013, "Missing Permissions")
        await fake._delete_message(message, at)
        return no_content()
    if message.author is not fake.bot_user:
        raise ApiError(403, 50005, "Cannot edit a message authored by another user")
    payload, files = await read_body(request)
    await fake._edit_message(message, payload, files, at, size_limit=fake.attachment_size_limit)
    return json_response(message.to_payload())


async def typing(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    channel = fake._channel_or_404(_int(request, "channel_id"))
    fake.typing.append((request[RECORD_KEY].at, channel.id))
    return no_content()


async def reaction(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    message = fake.messages.get(_int(request, "message_id"))
    if message is None or message.deleted:
        raise ApiError(404, 10008, "Unknown Message")
    emoji = request.match_info["emoji"]
    if request.method == "PUT":
        if emoji not in message.reactions:
            message.reactions.append(emoji)
    elif emoji in message.reactions:
        message.reactions.remove(emoji)
    return no_content()


# -- guilds


def _guild(request: web.Request):
    fake: FakeDiscord = request.app[FAKE_KEY]
    guild = fake.guilds.get(_int(request, "guild_id"))
    if guild is None:
        raise ApiError(404, 10004, "Unknown Guild")
    return guild


async def get_guild(request: web.Request) -> web.Response:
    payload = _guild(request).to_payload()
    for key in (
        "members",
        "channels",
        "threads",
        "presences",
        "voice_states",
        "joined_at",
        "large",
        "member_count",
    ):
        payload.pop(key, None)
    payload["approximate_member_count"] = len(_guild(request).members)
    return json_response(payload)


async def guild_channels(request: web.Request) -> web.Response:
    return json_response([c.to_payload() for c in _guild(request).channels.values()])


async def guild_roles(request: web.Request) -> web.Response:
    return json_response([r.to_payload() for r in _guild(request).roles.values()])


async def guild_member(request: web.Request) -> web.Response:
    guild = _guild(request)
    member = guild.members.get(_int(request, "user_id"))
    if member is None:
        raise ApiError(404, 10007, "Unknown Member")
    return json_response(member.to_payload())


# -- CDN


async def cdn_attachment(request: web.Request) -> web.Response:
    fake: FakeDiscord = request.app[FAKE_KEY]
    attachment = fake.attachments.get(_int(request, "attachment_id"))
    if attachment is None or attachment.filename != request.match_info["filename"]:
        raise ApiError(404, 0, "404: Not Found")
    return web.Response(
        body=attachment.data, headers={"Content-Type": attachment.content_type or "application/octet-stream"}
    )


def build_app(fake: FakeDiscord) -> web.Application:
    app = web.Application(middlewares=[_middleware], client_max_size=256 * 1024 * 1024)
    app[FAKE_KEY] = fake
    r = app.router
    a = API

    def add(method: str, path: str, handler) -> None:
        r.add_route(method, path, handler)

    add("GET", "/", gateway_handler)
    add("GET", "/resume", gateway_handler)
    add("GET", a + "/users/@me", get_me)
    add("POST", a + "/users/@me/channels", create_dm)
    add("GET", a + "/users/{user_id}", get_user)
    add("GET", a + "/oauth2/applications/@me", get_application)
    add("GET", a + "/applications/@me", get_application)
    add("GET", a + "/gateway", get_gateway)
    add("GET", a + "/gateway/bot", get_gateway_bot)
    for base in (a + "/applications/{app_id}", a + "/applications/{app_id}/guilds/{guild_id}"):
        add("GET", base + "/commands", list_commands)
        add("PUT", base + "/commands", put_commands)
        add("POST", base + "/commands", upsert_command)
        add("GET", base + "/commands/permissions", command_permissions)
        add("GET", base + "/commands/{command_id}", get_command)
        add("PATCH", base + "/commands/{command_id}", edit_command)
        add("DELETE", base + "/commands/{command_id}", delete_command)
    add("POST", a + "/interactions/{interaction_id}/{token}/callback", interaction_callback)
    add("POST", a + "/webhooks/{app_id}/{token}", execute_webhook)
    for method in ("GET", "PATCH", "DELETE"):
        add(method, a + "/webhooks/{app_id}/{token}/messages/{message_id}", webhook_message)
    add("GET", a + "/channels/{channel_id}", get_channel)
    add("GET", a + "/channels/{channel_id}/messages", list_messages)
    add("POST", a + "/channels/{channel_id}/messages", create_message)
    for method in ("GET", "PATCH", "DELETE"):
        add(method, a + "/channels/{channel_id}/messages/{message_id}", channel_message)
    add("POST", a + "/channels/{channel_id}/typing", typing)
    for method in ("PUT", "DELETE"):
        add(method, a + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", reaction)
    add("GET", a + "/guilds/{guild_id}", get_guild)
    add("GET", a + "/guilds/{guild_id}/channels", guild_channels)
    add("GET", a + "/guilds/{guild_id}/roles", guild_roles)
    add("GET", a + "/guilds/{guild_id}/members/{user_id}", guild_member)
    add("GET", "/attachments/{channel_id}/{attachment_id}/{filename}", cdn_attachment)
    add("*", "/{tail:.*}", unknown_route)
    return app
