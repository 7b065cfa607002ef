"""What the bot says, built from plain values."""

from dataclasses import replace

import pytest

from bgm.progress import EpochEnded
from bot import formatting
from bot.retraining.runner import Phase, TrainProgress
from bot.tracks.store import Track
from composer.composer import ComposeRequest
from composer.render import NoAudio
from composer.stages import Stage


def track(**overrides):
    values = dict(
        user_id=1,
        user_name="ann",
        guild_id=1,
        channel_id=2,
        request=ComposeRequest("calm", "short", seed=42),
        id=3,
        model_version=2,
        key="C major",
        tempo=72,
        seconds=65.4,
    )
    return Track(**{**values, **overrides})


def test_song_lengths_and_uptimes_read_naturally():
    assert formatting.clock(65.4) == "1:05"
    assert formatting.uptime(42) == "42 s"
    assert formatting.uptime(3 * 3600 + 120) == "3 h 2 min"
    assert formatting.uptime(2 * 86400 + 5 * 3600 + 7) == "2 d 5 h"


def test_queue_positions_and_stages_are_shown():
    assert formatting.position_text(3) == "⏳ Queued: position 3."
    assert formatting.position_text(0) == "⏳ Starting…"
    assert formatting.stage_text(Stage.VERSE_2) == "🎼 Composing verse 2…"


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_has_its_words(stage):
    assert formatting.stage_text(stage).endswith("…")


@pytest.mark.parametrize("phase", list(Phase))
def test_every_training_phase_has_its_words(phase):
    assert formatting.training_text(TrainProgress("ann", 2, phase=phase))


def test_the_track_embed_names_everything_asked_and_made():
    embed = formatting.track_embed(track(), "<@1>")
    fields = {f.name: f.value for f in embed.fields}
    assert embed.title == "Calm — track #3"
    assert fields == {
        "Mood": "calm",
        "Key": "C major",
        "Tempo": "72 bpm",
        "Length": "1:05 (short)",
        "Seed": "42",
        "Model version": "2",
        "Asked by": "<@1>",
    }


def test_a_variation_links_to_the_track_it_came_from():
    parent = track(jump_url="https://discord.com/channels/1/2/9")
    child = track(id=4, request=ComposeRequest("calm", "short", seed=42, variation=2))
    embed = formatting.track_embed(child, "<@1>", parent)
    assert embed.description == "Variation of [track #3](https://discord.com/channels/1/2/9)."
    assert {f.name: f.value for f in embed.fields}["Seed"] == "42 · variation 2"
    other = track(id=5, request=ComposeRequest("calm", "short", seed=7))
    assert formatting.track_embed(other, "<@1>", parent).description.startswith("New take on")


def test_a_note_is_shown_when_there_is_one():
    embed = formatting.track_embed(track(), "<@1>", note="MIDI only.")
    assert embed.fields[-1].name == "Note" and embed.fields[-1].value == "MIDI only."


def test_a_missing_audio_is_explained_in_discord_terms():
    assert "this channel's upload limit" in formatting.no_audio_note(NoAudio.TOO_LARGE)
    assert "on this host" in formatting.no_audio_note(NoAudio.UNAVAILABLE)
    assert formatting.no_audio_note(None) is None


def test_training_progress_shows_the_epoch_and_last_losses():
    last = EpochEnded(2, 8, 4.4612, 0.3, 4.2, 0.35, 66.7, 1000.0)
    progress = TrainProgress("ann", 8, phase=Phase.TRAINING, epoch=3, windows=300_000, last_epoch=last)
    text = formatting.training_text(progress)
    assert "asked by ann" in text and "training" in text
    assert "Epoch 3/8, 300,000 windows" in text
    assert "loss 4.461, validation loss 4.200, accuracy 35.0%" in text


def test_status_lists_model_server_queue_and_uptime():
    pairs = dict(
        formatting.status_lines(
            version=4,
            moods=("calm", "sad"),
            health="serving",
            waiting=2,
            running=1,
            done=17,
            uptime_s=90,
            training=None,
        )
    )
    assert pairs == {
        "Model version": "4",
        "Moods": "calm, sad",
        "Model server": "serving",
        "Queue": "1 composing, 2 waiting",
        "Tracks made": "17",
        "Uptime": "1 min",
    }


def test_the_gate_verdict_shows_new_against_live():
    from bgm.progress import GateJudged

    gate = GateJudged(
        False,
        False,
        "its songs fall silent (80% of beats empty > 50%)",
        5.0,
        4.0,
        3,
        {"pitch_class_entropy": 2.0, "scale_consistency": 0.9, "empty_beat_rate": 0.8},
        {"pitch_class_entropy": 2.5, "scale_consistency": 0.95, "empty_beat_rate": 0.02},
        "runs/candidate",
    )
    assert formatting.gate_lines(gate) == [
        "Quality gate: refused — its songs fall silent (80% of beats empty > 50%)",
        "New vs live (version 3): perplexity 5.00 vs 4.00; pitch-class entropy 2.00 vs 2.50 bits; "
        "scale 0.90 vs 0.95; empty beats 80% vs 2%",
    ]
    text = formatting.training_text(replace(TrainProgress("ann", 2), gate=gate))
    assert text.splitlines()[-2:] == formatting.gate_lines(gate)
