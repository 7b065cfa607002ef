"""The quality gate: a fine-tune on one note repeated is refused and kept aside, a sensible one goes
live, ``--force`` publishes anyway; and the rules themselves, on figures made up for the purpose."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from music21 import meter, note, stream

from lifecycle.actions import Lifecycle
from lifecycle.config import CONFIG_NAME, read
from tests.conftest import make_tune
from training.gate import (
    FINETUNE_TOLERANCE,
    MIN_ENTROPY,
    PERPLEXITY_TOLERANCE,
    Figures,
    GateRefused,
    decide,
)
from training.train import TrainOptions, train

CORPUS = {
    "pitch_class_entropy": {"mean": 2.4, "std": 0.3},
    "scale_consistency": {"mean": 0.97, "std": 0.05},
    "empty_beat_rate": {"mean": 0.03, "std": 0.05},
}
GOOD_SONGS = {"pitch_class_entropy": 2.5, "scale_consistency": 0.95, "empty_beat_rate": 0.04}
LIVE = Figures(perplexity=3.0, songs=GOOD_SONGS, own_perplexity=9.0, version=2)


def test_a_candidate_as_good_as_the_live_version_passes():
    accepted, reason = decide(replace(LIVE, version=None, perplexity=3.2), LIVE, CORPUS, finetune=False)
    assert (
        accepted
        and reason
        == f"perplexity on the live model's validation set +7% (tolerance +{PERPLEXITY_TOLERANCE:.0%})"
    )


def test_a_worse_perplexity_beyond_the_tolerance_is_refused():
    accepted, reason = decide(replace(LIVE, perplexity=3.6), LIVE, CORPUS, finetune=False)
    assert not accepted and "+20%" in reason


def test_a_fine_tune_that_fits_its_own_music_better_may_lose_a_little_on_the_default_set():
    candidate = replace(LIVE, perplexity=3.6, own_perplexity=4.0)
    accepted, reason = decide(candidate, LIVE, CORPUS, finetune=True)
    assert accepted and reason.startswith(
        "a fine-tune that fits its own music better (perplexity 4.00 vs 9.00)"
    )
    too_far = replace(candidate, perplexity=3.0 * (1 + FINETUNE_TOLERANCE) + 0.1)
    assert not decide(too_far, LIVE, CORPUS, finetune=True)[0]


def test_one_note_repeated_is_refused_however_low_its_perplexity():
    songs = {"pitch_class_entropy": 0.0, "scale_consistency": 1.0, "empty_beat_rate": 0.0}
    accepted, reason = decide(replace(LIVE, perplexity=1.01, songs=songs), LIVE, CORPUS, finetune=True)
    assert (
        not accepted
        and reason == f"its songs collapse to few pitches (pitch-class entropy 0.00 bits < {MIN_ENTROPY})"
    )


def test_silence_is_refused():
    songs = {**GOOD_SONGS, "empty_beat_rate": 0.8}
    assert decide(replace(LIVE, songs=songs), LIVE, CORPUS, finetune=False) == (
        False,
        "its songs fall silent (80% of beats empty > 50%)",
    )


def test_songs_further_from_the_corpus_are_refused():
    songs = {"pitch_class_entropy": 3.4, "scale_consistency": 0.7, "empty_beat_rate": 0.2}
    accepted, reason = decide(replace(LIVE, songs=songs), LIVE, CORPUS, finetune=False)
    assert not accepted and reason.startswith("its songs are further from the corpus than version 2's")


def test_songs_without_any_note_are_refused():
    songs = dict.fromkeys(GOOD_SONGS, math.nan)
    assert not decide(replace(LIVE, songs=songs), LIVE, CORPUS, finetune=False)[0]


# ---- real training runs (a small network, small data)

# As in the issue: eight files of one note repeated, fine-tuned until the network has learnt them.
DEGENERATE = {"from_latest": True, "epochs": 8, "samples_per_epoch": 4096, "learning_rate": 5e-3}


def one_note_files(folder, count=8):
    folder.mkdir(parents=True)
    for k in range(count):
        part = stream.Part()
        part.append(meter.TimeSignature("4/4"))
        for _ in range(96):
            part.append(note.Note(60, quarterLength=0.5))
        score = stream.Score()
        score.insert(0, part)
        score.write("midi", fp=str(folder / f"same{k}.mid"))
    return folder


def tunes(folder, first_seed, count):
    folder.mkdir(parents=True)
    for k in range(count):
        make_tune(first_seed + k, minor=k % 2 == 1).write("midi", fp=str(folder / f"t{k}.mid"))
    return folder


@pytest.fixture(scope="module")
def live(tmp_path_factory, tune_dir):
    """A small network trained on the tune fixtures, published as version 1 and labelled stable."""
    root = tmp_path_factory.mktemp("gate")
    base = TrainOptions(
        data=(tune_dir,),
        models_dir=root / "models",
        run_dir=root / "run",
        cache_dir=root / "cache",
        units=16,
        embedding=8,
        window=32,
        epochs=3,
        samples_per_epoch=2048,
        batch_size=64,
        primers_per_mood=2,
        workers=1,
        progress=False,
        gate_data=(tunes(root / "reference", 300, 30),),
    )
    first = train(base)
    Lifecycle(base.models_dir).promote(first.version)
    return base


def test_a_fine_tune_on_one_note_repeated_is_refused_and_kept_aside(live, tmp_path):
    before = sorted(p.name for p in (live.models_dir / "bgm").iterdir())
    config_before = (live.models_dir / CONFIG_NAME).read_text()
    options = replace(live, data=(one_note_files(tmp_path / "same"),), **DEGENERATE, run_dir=tmp_path / "run")
    with pytest.raises(GateRefused) as refused:
        train(options)
    verdict = refused.value.verdict
    assert not verdict.accepted and verdict.live.version == 1
    assert verdict.candidate.songs["pitch_class_entropy"] < verdict.live.songs["pitch_class_entropy"]
    print(verdict.summary())  # the closing note's figures: pytest -s shows them
    assert str(refused.value).startswith("quality gate: refused: ")
    assert len(str(refused.value).splitlines()) == 2
    # models/ untouched, the candidate kept with its verdict
    assert sorted(p.name for p in (live.models_dir / "bgm").iterdir()) == before
    assert (live.models_dir / CONFIG_NAME).read_text() == config_before
    candidate = tmp_path / "run" / "candidate"
    assert (candidate / "saved_model.pb").is_file()
    assert json.loads((candidate / "assets.extra" / "bgm" / "gate.json").read_text())["accepted"] is False


def test_force_publishes_a_refused_candidate_and_says_so(live, tmp_path):
    options = replace(
        live,
        data=(one_note_files(tmp_path / "same"),),
        **DEGENERATE,
        run_dir=tmp_path / "run",
        models_dir=tmp_path / "models",
        force=True,
    )
    import shutil

    shutil.copytree(live.models_dir, options.models_dir)
    result = train(options)
    gate = json.loads((result.path / "assets.extra" / "bgm" / "gate.json").read_text())
    assert gate["forced"] and not gate["accepted"]
    assert read(options.models_dir / CONFIG_NAME)["bgm"].labels == {"stable": result.version, "previous": 1}


def test_a_sensible_fine_tune_goes_live_as_stable(live, tmp_path):
    options = replace(
        live,
        data=(tunes(tmp_path / "more", 100, 6),),
        from_latest=True,
        epochs=1,
        samples_per_epoch=1024,
        run_dir=tmp_path / "run",
        models_dir=tmp_path / "models",
    )
    import shutil

    shutil.copytree(live.models_dir, options.models_dir)
    result = train(options)
    gate = json.loads((result.path / "assets.extra" / "bgm" / "gate.json").read_text())
    print(gate["reason"], gate["candidate"]["perplexity"], gate["live"]["perplexity"])
    assert gate["accepted"] and not gate["forced"]
    assert read(options.models_dir / CONFIG_NAME)["bgm"].labels == {"stable": result.version, "previous": 1}
    listed = Lifecycle(options.models_dir).versions()
    assert listed[0].gate["accepted"] and listed[0].labels == ("stable",)
