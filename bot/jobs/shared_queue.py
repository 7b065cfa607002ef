"""The composing queue shared through Redis by every bot and ``bgm worker`` process.

The same limits and the same order as the in-process ``bot.tracks.queue.JobQueue`` (and its errors,
word for word), kept in Redis and changed only by Lua scripts, which Redis runs one at a time: a
check and the place it grants are one step however many bots ask at once.

A bot ``reserve``s a place (cooldown, per-user cap, queue limit), then ``submit``s the ticket, which
also enqueues an arq job. arq's jobs are slots, not tickets: a worker running one ``take``s the next
ticket in fair order (the user with the fewest songs under way, then the one served longest ago,
then the oldest request) and records which ticket the slot holds, so a slot retried after its worker
died (arq runs it again once its lease lapses) resumes the same ticket. ``finish`` frees the place.
Redis with ``appendfsync always`` keeps every acknowledged ticket across a restart.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from arq.connections import ArqRedis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bgm.errors import BgmError
from bot.tracks.queue import DEFAULT_JOB_S, Cooldown, QueueFull, TooManyForUser

PREFIX = "bgm:q:"
JOB_FUNCTION = "make_track"  # the arq function a slot runs (bot.jobs.worker)
RESERVATION_S = 60.0  # a bot that died holding a reservation frees it after this long
NO_REDIS = "The song queue (Redis) is not answering; try again in a minute."


class QueueUnavailable(BgmError):
    def __init__(self) -> None:
        super().__init__(NO_REDIS)


# Shared by the scripts: JobQueue._order in Lua. Each user's state is read with a few calls (HMGET
# over all users), and the rest is plain Lua, so a script costs O(users) Redis commands, not O(n²).
ORDER = """
local P = KEYS[1]
local function users_state()
  local users = redis.call('SMEMBERS', P .. 'users')
  if #users == 0 then return users, {}, {} end
  local under = redis.call('HMGET', P .. 'under_way', unpack(users))
  local served = redis.call('HMGET', P .. 'served', unpack(users))
  return users, under, served
end
local function before(a, b)
  return a[1] < b[1] or (a[1] == b[1] and (a[2] < b[2] or (a[2] == b[2] and a[3] < b[3])))
end
-- The next ticket to start: {user, ticket}, or nil.
local function first()
  local users, under, served = users_state()
  local best, bkey
  for i, u in ipairs(users) do
    local ticket = redis.call('LINDEX', P .. 'waiting:' .. u, 0)
    if ticket then
      local key = {tonumber(under[i] or '0'), tonumber(served[i] or '-1'),
                   tonumber(redis.call('HGET', P .. 'seqs', ticket))}
      if best == nil or before(key, bkey) then best, bkey = {u, ticket}, key end
    end
  end
  return best
end
-- Every waiting ticket in the order it would start, if nothing under way finished meanwhile.
local function order()
  local users, under, served = users_state()
  local queues, seqs, unders, serveds = {}, {}, {}, {}
  for i, u in ipairs(users) do
    queues[u] = redis.call('LRANGE', P .. 'waiting:' .. u, 0, -1)
    seqs[u] = #queues[u] > 0 and redis.call('HMGET', P .. 'seqs', unpack(queues[u])) or {}
    unders[u], serveds[u] = tonumber(under[i] or '0'), tonumber(served[i] or '-1')
  end
  local serial = tonumber(redis.call('GET', P .. 'serial') or '0')
  local heads, out = {}, {}
  for _, u in ipairs(users) do heads[u] = 1 end
  while true do
    local best, bkey
    for _, u in ipairs(users) do
      local h = heads[u]
      if h <= #queues[u] then
        local key = {unders[u], serveds[u], tonumber(seqs[u][h])}
        if best == nil or before(key, bkey) then best, bkey = u, key end
      end
    end
    if best == nil then return out end
    table.insert(out, {best, queues[best][heads[best]]})
    heads[best] = heads[best] + 1
    unders[best] = unders[best] + 1
    serial = serial + 1
    serveds[best] = serial
  end
end
local function waiting_count()
  local n = 0
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'users')) do
    n = n + redis.call('LLEN', P .. 'waiting:' .. u)
  end
  return n
end
"""

# ARGV: user, now, cooldown_s, per_user, max_waiting, reservation id, reservation_s
RESERVE = (
    ORDER
    + """
local user, now = ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', P .. 'reserved', '-inf', now)
-- Two requests of one user can reach Redis in the other order than their clocks were read: a later
-- ``last`` than ``now`` is no reason to refuse when there is no cooldown, and never moves back.
local cooldown, last = tonumber(ARGV[3]), tonumber(redis.call('HGET', P .. 'last', user) or '-1e18')
if cooldown > 0 and now - last < cooldown then
  return {'cooldown', tostring(math.min(cooldown, cooldown - (now - last)))}
end
local held = 0
for _, m in ipairs(redis.call('ZRANGE', P .. 'reserved', 0, -1)) do
  if string.sub(m, 1, #user + 1) == user .. '|' then held = held + 1 end
end
local mine = redis.call('LLEN', P .. 'waiting:' .. user)
  + tonumber(redis.call('HGET', P .. 'under_way', user) or '0')
if mine + held >= tonumber(ARGV[4]) then return {'too_many'} end
local ahead = waiting_count() + redis.call('ZCARD', P .. 'reserved')
if ahead >= tonumber(ARGV[5]) then
  local oldest = now
  for _, started in ipairs(redis.call('HVALS', P .. 'running')) do
    oldest = math.min(oldest, tonumber(started))
  end
  local mean = tonumber(redis.call('GET', P .. 'mean') or ARGV[8])
  return {'full', tostring(ahead), tostring(math.max(5, mean - (now - oldest)))}
end
redis.call('HSET', P .. 'last', user, tostring(math.max(now, last)))
redis.call('ZADD', P .. 'reserved', now + tonumber(ARGV[7]), user .. '|' .. ARGV[6])
return {'ok', tostring(waiting_count())}
"""
)

# ARGV: user, reservation id, ticket, payload. Returns the ticket's 1-based place in the order.
SUBMIT = (
    ORDER
    + """
local user, ticket = ARGV[1], ARGV[3]
redis.call('ZREM', P .. 'reserved', user .. '|' .. ARGV[2])
if redis.call('HEXISTS', P .. 'tickets', ticket) == 0 then
  redis.call('HSET', P .. 'tickets', ticket, ARGV[4])
  redis.call('HSET', P .. 'seqs', ticket, redis.call('INCR', P .. 'seq'))
  redis.call('RPUSH', P .. 'waiting:' .. user, ticket)
  redis.call('SADD', P .. 'users', user)
end
for place, entry in ipairs(order()) do
  if entry[2] == ticket then return place end
end
return 0
"""
)

# ARGV: slot (arq job id), now. Returns {ticket, payload} or nil when nothing waits.
TAKE = (
    ORDER
    + """
local slot = ARGV[1]
local held = redis.call('HGET', P .. 'slots', slot)
if held then return {held, redis.call('HGET', P .. 'tickets', held)} end
local next_up = first()
if next_up == nil then return nil end
local user, ticket = next_up[1], next_up[2]
redis.call('LPOP', P .. 'waiting:' .. user)
if redis.call('LLEN', P .. 'waiting:' .. user) == 0 then redis.call('SREM', P .. 'users', user) end
redis.call('HSET', P .. 'served', user, redis.call('INCR', P .. 'serial'))
redis.call('HINCRBY', P .. 'under_way', user, 1)
redis.call('HSET', P .. 'running', ticket, ARGV[2])
redis.call('HSET', P .. 'slots', slot, ticket)
return {ticket, redis.call('HGET', P .. 'tickets', ticket)}
"""
)

# ARGV: slot, user, seconds the song took (negative: failed, not counted in the mean). 1 if it held one.
FINISH = """
local P = KEYS[1]
local ticket = redis.call('HGET', P .. 'slots', ARGV[1])
if not ticket then return 0 end
redis.call('HDEL', P .. 'slots', ARGV[1])
redis.call('HDEL', P .. 'running', ticket)
redis.call('HDEL', P .. 'tickets', ticket)
redis.call('HDEL', P .. 'seqs', ticket)
if redis.call('HINCRBY', P .. 'under_way', ARGV[2], -1) <= 0 then
  redis.call('HDEL', P .. 'under_way', ARGV[2])
end
local took = tonumber(ARGV[3])
if took >= 0 then
  local mean = tonumber(redis.call('GET', P .. 'mean') or ARGV[4])
  redis.call('SET', P .. 'mean', tostring(0.8 * mean + 0.2 * took))
end
return 1
"""

COUNTS = ORDER + "return {waiting_count(), redis.call('HLEN', P .. 'running')}"


@dataclass
class SharedReservation:
    """A place held in Redis for one user until ``submit`` uses it or ``release`` frees it."""

    queue: SharedQueue
    user: int
    id: str
    ahead: int = 0  # songs waiting when it was granted: its place in line is at most ahead + 1
    held: bool = True

    async def release(self) -> None:
        if self.held:
            self.held = False
            try:
                await self.queue.redis.zrem(PREFIX + "reserved", f"{self.user}|{self.id}")
            except RedisError:  # it lapses by itself after RESERVATION_S
                pass


@dataclass(frozen=True)
class Taken:
    """The ticket a slot holds: its id and what the bot stored with it."""

    ticket: str
    payload: dict

    @property
    def user(self) -> int:
        return int(self.payload["user"])


def connect(url: str) -> ArqRedis:
    """A client that fails fast (the bot has 3 s to answer) and retries a dropped connection briefly."""
    return ArqRedis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
    )


class SharedQueue:
    """The queue's state in Redis; ``reserve``/``submit`` for bots, ``take``/``finish`` for workers."""

    def __init__(
        self,
        redis: ArqRedis,
        max_waiting: int = 20,
        per_user: int = 3,
        cooldown_s: float = 0.0,
        clock: Callable[[], float] = time.time,  # wall time: the processes share it, not a monotonic one
    ) -> None:
        self.redis, self.max_waiting, self.per_user = redis, max_waiting, per_user
        self.cooldown_s, self.clock = cooldown_s, clock
        self._reserve = redis.register_script(RESERVE)
        self._submit = redis.register_script(SUBMIT)
        self._take = redis.register_script(TAKE)
        self._finish = redis.register_script(FINISH)
        self._counts = redis.register_script(COUNTS)

    async def reserve(self, user: int) -> SharedReservation:
        """Hold a place for ``user``, or raise ``Cooldown``, ``TooManyForUser``, ``QueueFull`` or
        ``QueueUnavailable``, as ``JobQueue.reserve`` would."""
        rid = secrets.token_hex(6)
        args = [user, self.clock(), self.cooldown_s, self.per_user, self.max_waiting, rid, RESERVATION_S]
        answer = await self._call(self._reserve, [*args, DEFAULT_JOB_S])
        kind = answer[0].decode()
        if kind == "cooldown":
            raise Cooldown(float(answer[1]))
        if kind == "too_many":
            raise TooManyForUser(self.per_user)
        if kind == "full":
            raise QueueFull(int(answer[1]), float(answer[2]))
        return SharedReservation(self, user, rid, int(answer[1]))

    async def submit(self, reservation: SharedReservation, ticket: str, payload: dict) -> int:
        """Queue ``ticket`` (the place ``reservation`` held) and enqueue a slot for it; its place in line.

        Submitting a ticket again (a bot retrying after a dropped connection) changes nothing.
        """
        body = json.dumps({**payload, "user": reservation.user})
        place = await self._call(self._submit, [reservation.user, reservation.id, ticket, body])
        reservation.held = False
        try:
            await self.redis.enqueue_job(JOB_FUNCTION, _job_id=f"bgm-slot-{ticket}")
        except RedisError as error:
            raise QueueUnavailable() from error
        return int(place)

    async def take(self, slot: str) -> Taken | None:
        """The ticket ``slot`` holds: the one it took before (a retried slot), else the next in line."""
        answer = await self._call(self._take, [slot, self.clock()])
        if answer is None:
            return None
        return Taken(answer[0].decode(), json.loads(answer[1]))

    async def finish(self, slot: str, user: int, seconds: float | None) -> bool:
        """Free the place ``slot`` held; ``seconds`` the song took (None: failed). False if it held none."""
        took = -1.0 if seconds is None else seconds
        return bool(await self._call(self._finish, [slot, user, took, DEFAULT_JOB_S]))

    async def counts(self) -> tuple[int, int]:
        """(waiting, running) across every process."""
        waiting, running = await self._call(self._counts, [])
        return int(waiting), int(running)

    async def _call(self, script, args: list):
        try:
            return await script(keys=[PREFIX], args=args)
        except RedisError as error:
            raise QueueUnavailable() from error
