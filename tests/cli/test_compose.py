"""``bgm compose`` end to end: embedded server, tiny model, MIDI and audio on disk."""

import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest
import soundfile as sf

from bgm.midi import midi_seconds
from bgm.styles import STYLES
from cli.main import main

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def composed(tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    code = main(
        [
            "compose",
            "--mood",
            "tense",
            "--length",
            "short",
            "--seed",
            "7",
            "--models",
            str(tiny_models),
            "--out",
            str(out),
        ]
    )
    return code, out


def test_compose_writes_a_midi_and_an_ogg(composed):
    code, out = composed
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["bgm-tense-7.mid", "bgm-tense-7.ogg"]


def test_every_part_is_its_own_track_with_the_mood_program(composed):
    _, out = composed
    midi = mido.MidiFile(out / "bgm-tense-7.mid")
    programs = {}
    for track in midi.tracks:
        for message in track:
            if message.type == "program_change":
                programs.setdefault(message.channel, message.program)
    style = STYLES["tense"]
    assert {style.melody_program, style.harmony_program, style.bass_program} <= set(programs.values())
    assert 9 in programs  # tense has drums, on channel 10


def test_the_audio_lasts_as_long_as_the_midi_and_fits_discord(composed):
    _, out = composed
    audio = out / "bgm-tense-7.ogg"
    info = sf.info(audio)
    assert info.duration == pytest.approx(midi_seconds(out / "bgm-tense-7.mid"), rel=0.02)
    assert audio.stat().st_size < 10 * 1024 * 1024


def test_compose_reports_seed_version_key_and_tempo(tiny_models, tmp_path, capsys):
    assert (
        main(
            [
                "compose",
                "--mood",
                "calm",
                "--length",
                "short",
                "--seed",
                "3",
                "--models",
                str(tiny_models),
                "--out",
                str(tmp_path),
                "--format",
                "wav",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "seed 3, model version 1" in printed and " bpm" in printed and "key " in printed


def test_an_unknown_mood_exits_non_zero_listing_the_valid_ones(tiny_models, tmp_path, capsys):
    code = main(["compose", "--mood", "grumpy", "--models", str(tiny_models), "--out", str(tmp_path)])
    assert code != 0
    assert "calm, happy, sad, epic, tense, playful" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_reachable_server_exits_non_zero_with_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BGM_RETRY_S", "0.5")
    monkeypatch.setenv("BGM_DEADLINE_S", "0.5")
    code = main(["compose", "--mood", "calm", "--server", "127.0.0.1:9", "--out", str(tmp_path)])
    assert code != 0
    assert "127.0.0.1:9 is not answering" in capsys.readouterr().err


def test_a_fresh_compose_prints_only_its_own_lines(tiny_models, tmp_path):
    """No TensorFlow, absl or gRPC lines (oneDNN, cudart_stub, cpu_feature_guard, cuInit...), no warnings."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")}
    command = [sys.executable, "-m", "cli.main", "compose", "--mood", "calm", "--length", "short"]
    command += ["--seed", "5", "--models", str(tiny_models), "--out", str(tmp_path), "--format", "wav"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    ours = (
        "starting the embedded model server",
        "  composing ",
        "  rendering ",
        "midi:",
        "audio:",
        "mood calm",
    )
    assert [line for line in result.stdout.splitlines() if not line.startswith(ours)] == []
    assert result.stdout.startswith("starting the embedded model server")


def test_no_model_says_where_it_looked_and_how_to_point_elsewhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default models folder is relative: nothing here
    monkeypatch.delenv("BGM_MODELS_DIR", raising=False)
    monkeypatch.delenv("BGM_SERVER", raising=False)
    assert main(["compose", "--mood", "calm", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"bgm compose: no model in {tmp_path / 'models' / 'bgm'}:")
    assert "--models" in err and "BGM_MODELS_DIR" in err and "\n" not in err
    assert not (tmp_path / "out").exists()
