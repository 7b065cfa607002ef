"""What a bot hands a worker with a ticket: the track, and how to answer the interaction that asked."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SongJob:
    """The track is read from the shared store; the interaction's token (valid 15 minutes) lets the
    worker edit the deferred reply, so the song lands where the request was answered."""

    track_id: int
    application_id: int
    token: str
    asked_at: float  # wall time of the request: how old the token is, in any process
    upload_limit: int  # bytes per file in that channel (interaction.filesize_limit)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SongJob:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})
