"""What the bot says: message texts and embeds, built from plain values so they test without Discord."""

from __future__ import annotations

import discord

from bgm import instruments
from bgm.files import shown
from bot.retraining.runner import Phase, TrainProgress
from bot.tracks.store import Track
from composer.render import NoAudio
from composer.stages import Stage

COLOUR = discord.Colour.from_rgb(88, 101, 242)
STAGES = {  # the composer's stages, as the user reads them
    Stage.FIRST_PARTS: "🎼 Composing verse 1, chorus and bridge…",
    Stage.VERSE_2: "🎼 Composing verse 2…",
    Stage.RENDERING: "🎧 Rendering MIDI and audio…",
}
NO_AUDIO = {  # why a track came without audio, said in its embed
    NoAudio.TOO_LARGE: (
        "The audio would be over this channel's upload limit even at its smallest, so here is the MIDI."
    ),
    NoAudio.UNAVAILABLE: "Audio could not be rendered on this host, so here is the MIDI.",
}
PHASES = {
    Phase.PREPARING: "reading the music",
    Phase.TRAINING: "training",
    Phase.EXPORTING: "exporting and checking the new version",
    Phase.PUBLISHED: "published",
    Phase.FAILED: "failed",
    Phase.REFUSED: "not published: the quality gate kept the live model",
    Phase.CANCELLED: "cancelled",
}


def clock(seconds: float) -> str:
    """A song length as m:ss."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def uptime(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts[:2]) or f"{seconds} s"


def position_text(position: int) -> str:
    return "⏳ Starting…" if position <= 0 else f"⏳ Queued: position {position}."


def stage_text(stage: Stage) -> str:
    return STAGES[stage]


def no_audio_note(reason: NoAudio | None) -> str | None:
    return None if reason is None else NO_AUDIO[reason]


def track_title(track: Track) -> str:
    return f"{track.request.mood.capitalize()} — track #{track.id}"


def lineage(track: Track, parent: Track | None) -> str | None:
    """How a track came from an earlier one, linked when the earlier one was posted."""
    if parent is None:
        return None
    what = "Variation of" if track.request.seed == parent.request.seed else "New take on"
    link = f"[track #{parent.id}]({parent.jump_url})" if parent.jump_url else f"track #{parent.id}"
    return f"{what} {link}."


def track_embed(
    track: Track, requester: str, parent: Track | None = None, note: str | None = None
) -> discord.Embed:
    """The result card: what was asked for, what came out, and who asked."""
    request = track.request
    embed = discord.Embed(title=track_title(track), colour=COLOUR, description=lineage(track, parent))
    embed.add_field(name="Mood", value=request.mood)
    embed.add_field(name="Key", value=track.key or "?")
    embed.add_field(name="Tempo", value=f"{track.tempo} bpm" if track.tempo else "?")
    length = f"{clock(track.seconds)} ({request.length})" if track.seconds else request.length
    embed.add_field(name="Length", value=length)
    seed = f"{request.seed}" + (f" · variation {request.variation}" if request.variation else "")
    embed.add_field(name="Seed", value=seed)
    embed.add_field(name="Model version", value=str(track.model_version))
    if request.lead is not None:
        embed.add_field(name="Lead", value=instruments.name(request.lead))
    if request.loop:
        embed.add_field(name="Loop", value="seamless, whole bars")
    if request.primer is not None:
        embed.add_field(name="Primer", value=f"{shown(request.primer.source)} ({request.primer.key})")
    if request.grid.name != "4/4":
        embed.add_field(name="Meter", value=request.signature)
    embed.add_field(name="Asked by", value=requester, inline=False)
    if note:
        embed.add_field(name="Note", value=note, inline=False)
    embed.set_footer(
        text="Regenerate: same options, new seed · Variation: same seed and form, new sampling · "
        "Stems: one audio file per part"
    )
    return embed


def training_text(progress: TrainProgress) -> str:
    """The one training message, edited as epochs go by."""
    lines = [f"🏋️ **Training** (asked by {progress.requested_by}): {PHASES[progress.phase]}"]
    if progress.epoch:
        windows = f", {progress.windows:,} windows" if progress.windows else ""
        lines.append(f"Epoch {progress.epoch}/{progress.epochs}{windows}")
    if last := progress.last_epoch:
        lines.append(
            f"Last epoch: loss {last.loss:.3f}, validation loss {last.val_loss:.3f}, "
            f"accuracy {last.val_accuracy:.1%}"
        )
    if progress.gate is not None:
        lines += gate_lines(progress.gate)
    return "\n".join(lines)


def gate_lines(gate) -> list[str]:
    """The quality gate's verdict and figures (``bgm.progress.GateJudged``), new version against live."""
    verdict = "forced through" if gate.forced else "passed" if gate.accepted else "refused"
    lines = [f"Quality gate: {verdict} — {gate.reason}"]
    if gate.candidate_perplexity is not None and gate.live_perplexity is not None:
        new, live = gate.candidate_songs, gate.live_songs
        lines.append(
            f"New vs live (version {gate.live_version}): perplexity {gate.candidate_perplexity:.2f} vs "
            f"{gate.live_perplexity:.2f}; pitch-class entropy {new['pitch_class_entropy']:.2f} vs "
            f"{live['pitch_class_entropy']:.2f} bits; scale {new['scale_consistency']:.2f} vs "
            f"{live['scale_consistency']:.2f}; empty beats {new['empty_beat_rate']:.0%} vs "
            f"{live['empty_beat_rate']:.0%}"
        )
    return lines


def status_lines(
    *,
    version: int | None,
    moods: tuple[str, ...],
    health: str,
    waiting: int,
    running: int,
    done: int,
    uptime_s: float,
    training: TrainProgress | None,
) -> list[tuple[str, str]]:
    """(name, value) pairs for ``/bgm status``."""
    pairs = [
        ("Model version", str(version) if version is not None else "none"),
        ("Moods", ", ".join(moods) or "—"),
        ("Model server", health),
        ("Queue", f"{running} composing, {waiting} waiting"),
        ("Tracks made", str(done)),
        ("Uptime", uptime(uptime_s)),
    ]
    if training is not None:
        pairs.append(("Training", f"{PHASES[training.phase]}, epoch {training.epoch}"))
    return pairs


def status_embed(pairs: list[tuple[str, str]]) -> discord.Embed:
    embed = discord.Embed(title="bgm status", colour=COLOUR)
    for name, value in pairs:
        embed.add_field(name=name, value=value)
    return embed
