"""Songs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...): bot processes and workers on
several machines then find every song, whichever machine rendered it.

discord.py uploads files from disk, so a song is still rendered into a local scratch folder; once it
is posted, ``keep`` uploads its files to ``<prefix><track id>/<name>`` and removes them from the
scratch. ``read`` downloads one object (``song.json``, for Stems). Retention lists the objects: a
song's date is its record's LastModified, its size the sum of its objects' sizes.

boto3 blocks, so every call runs in a worker thread. Its errors become ``SongsUnavailable`` in one
sentence (the store down, no such bucket, credentials refused), never with the credentials in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from bot.settings import BotSettings
from bot.tracks.songs import RECORD, LocalSongs, Songs, SongsUnavailable, Stored

T = TypeVar("T")
# HEAD requests have no body: their status is the code.
REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
NO_BUCKET = {"NoSuchBucket", "404"}  # a missing key is read as None before this is asked
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys


def s3_client(url: str | None, region: str | None, key_id: str | None, secret: str | None) -> Any:
    """A client for ``url`` (None: AWS S3); credentials left None come from boto3's usual chain
    (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role)."""
    config = Config(
        connect_timeout=3,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 2},  # a store that is down is said soon
        # Path-style keys for a custom endpoint: MinIO and friends rarely have wildcard DNS for buckets.
        s3={"addressing_style": "path"} if url else None,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=url or None,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def unavailable(error: Exception, bucket: str, where: str) -> SongsUnavailable:
    """boto3's error as one sentence (its own text may carry a request's details: not repeated)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in NO_BUCKET:
            text = f"The song store at {where} has no bucket named {bucket}."
        elif code in REFUSED:
            text = f"The song store at {where} refused the bot's credentials ({code})."
        else:
            text = f"The song store at {where} failed ({code or 'no error code'})."
    elif isinstance(error, NoCredentialsError | PartialCredentialsError):
        text = (
            "The song store has no credentials: set BGM_S3_ACCESS_KEY_ID and BGM_S3_SECRET_ACCESS_KEY "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."
        )
    else:
        text = f"The song store at {where} cannot be reached."
    return SongsUnavailable(text)


class S3Songs:
    """Songs under ``prefix`` in ``bucket``, rendered in ``scratch/<track id>/`` first."""

    def __init__(self, client: Any, bucket: str, scratch: Path, prefix: str = "songs/", where: str = "S3"):
        self.client, self.bucket, self.scratch, self.prefix = client, bucket, scratch, prefix
        self.where = where  # the endpoint, for messages

    def folder(self, track_id: int) -> Path:
        """Where a track's song is rendered; its stems are kept here too, for this machine's clicks."""
        return self.scratch / str(track_id)

    def _key(self, track_id: int, name: str) -> str:
        return f"{self.prefix}{track_id}/{name}"

    async def _call(self, job: Callable[..., T], *args) -> T:
        try:
            return await asyncio.to_thread(job, *args)
        except (BotoCoreError, ClientError) as error:
            raise unavailable(error, self.bucket, self.where) from None

    async def check(self) -> None:
        """Raise ``SongsUnavailable`` unless the bucket answers (said once when the bot starts)."""
        await self._call(lambda: self.client.head_bucket(Bucket=self.bucket))

    async def keep(self, track_id: int) -> None:
        """Upload the song rendered in ``folder(track_id)``; its files leave the scratch even when the
        upload fails, so a store that is down cannot fill the disk."""
        await self._call(self._upload, track_id)

    def _upload(self, track_id: int) -> None:
        folder = self.folder(track_id)
        if not folder.is_dir():
            return
        # The record last: a song listed with its record is whole.
        files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: (p.name == RECORD, p.name))
        try:
            for path in files:
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                with path.open("rb") as body:
                    self.client.put_object(
                        Bucket=self.bucket, Key=self._key(track_id, path.name), Body=body, ContentType=kind
                    )
        finally:
            for path in files:
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # left when Stems was clicked meanwhile: not empty
                folder.rmdir()

    async def read(self, track_id: int, name: str) -> bytes | None:
        """A kept file of the song, or None when the song (or that file) is not kept."""
        return await self._call(self._download, self._key(track_id, name))

    def _download(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchKey":
                return None
            raise
        with answer["Body"] as body:
            return body.read()

    def _objects(self, prefix: str) -> list[dict]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item for page in pages for item in page.get("Contents", [])]

    async def stored(self) -> list[Stored]:
        return await self._call(self._stored)

    def _stored(self) -> list[Stored]:
        sizes: dict[int, int] = {}
        latest: dict[int, float] = {}
        recorded: dict[int, float] = {}
        for item in self._objects(self.prefix):
            track, _, name = item["Key"][len(self.prefix) :].partition("/")
            if not (track.isdigit() and name):
                continue
            track_id, when = int(track), item["LastModified"].timestamp()
            sizes[track_id] = sizes.get(track_id, 0) + item["Size"]
            latest[track_id] = max(latest.get(track_id, 0.0), when)
            if name == RECORD:
                recorded[track_id] = when
        return [Stored(t, recorded.get(t, latest[t]), sizes[t]) for t in sorted(sizes)]

    async def remove(self, track_id: int) -> None:
        """The song's objects, and whatever of it this machine still has (its stems)."""
        await self._call(self._remove, track_id)
        await asyncio.to_thread(shutil.rmtree, self.folder(track_id), ignore_errors=True)

    def _remove(self, track_id: int) -> None:
        keys = [item["Key"] for item in self._objects(self._key(track_id, ""))]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):  # per key, in a successful response
                code = answer["Errors"][0].get("Code", "no error code")
                raise SongsUnavailable(f"The song store at {self.where} kept song {track_id} ({code}).")


def song_store(settings: BotSettings) -> Songs:
    """The data folder's ``songs/``, or the S3-compatible bucket ``BGM_S3_BUCKET`` when it is set."""
    if not settings.s3_bucket:
        return LocalSongs(settings.data_dir / "songs")
    secret = settings.s3_secret_access_key
    client = s3_client(
        settings.s3_url,
        settings.s3_region,
        settings.s3_access_key_id,
        secret.get_secret_value() if secret else None,
    )
    where = settings.s3_url or "S3"
    scratch = settings.data_dir / "song-scratch"  # rendered here, for discord.py to upload, then moved
    return S3Songs(client, settings.s3_bucket, scratch, settings.s3_prefix, where=where)
