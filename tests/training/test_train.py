"""A tiny end-to-end run: a few pieces, one epoch, a few units, exported and loaded as a server would."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bgm.moods import MOODS
from training.train import TrainingError, TrainOptions, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tune_dir):
    root = tmp_path_factory.mktemp("train")
    options = TrainOptions(
        data=(tune_dir,),
        models_dir=root / "models",
        run_dir=root / "run",
        cache_dir=root / "cache",
        units=8,
        embedding=8,
        window=32,
        gate_data=(tune_dir,),  # the quality gate's reference music: not the whole default corpus
        epochs=1,
        samples_per_epoch=256,
        batch_size=64,
        primers_per_mood=2,
        workers=1,
        progress=False,
    )
    return options, train(options)


def test_training_publishes_version_one(tiny):
    options, result = tiny
    assert result.version == 1
    assert result.path == options.models_dir / "bgm" / "1"
    assert (result.path / "saved_model.pb").exists()


def test_serving_default_takes_tokens_and_mood_and_returns_logits(tiny):
    options, result = tiny
    fn = tf.saved_model.load(str(result.path)).signatures["serving_default"]
    assert fn.structured_input_signature[1]["tokens"].dtype == tf.int32
    assert fn.structured_input_signature[1]["tokens"].shape.as_list() == [None, 32]
    assert fn.structured_input_signature[1]["mood"].shape.as_list() == [None]
    assert fn.structured_input_signature[1]["position"].shape.as_list() == [None, 32]
    assert fn.structured_input_signature[1]["lookback"].shape.as_list() == [None, 32, 3]
    out = fn(
        tokens=tf.zeros([3, 32], tf.int32),
        mood=tf.constant([0, 1, 2]),
        position=tf.zeros([3, 32], tf.int32),
        lookback=tf.zeros([3, 32, 3], tf.int32),
    )["logits"]
    vocab = json.loads((options.run_dir / "vocab.json").read_text())["tokens"]
    assert out.dtype == tf.float32 and out.shape == (3, len(vocab))


def test_metadata_describes_the_model(tiny):
    options, result = tiny
    assert result.figures["config"]["meters"] == ("4/4",)  # the tunes are all in 4/4
    meta = tf.saved_model.load(str(result.path)).signatures["metadata"](dummy=tf.constant([0]))
    vocab = json.loads((options.run_dir / "vocab.json").read_text())["tokens"]
    assert [t.decode() for t in meta["vocab"].numpy()[0]] == vocab
    assert [m.decode() for m in meta["moods"].numpy()[0]] == list(MOODS)
    assert int(meta["window"].numpy()[0]) == 32
    assert int(meta["position_period"].numpy()[0]) == 64
    assert meta["lookback_steps"].numpy()[0].tolist() == [0, 16, 32]
    assert int(meta["normalised_key"].numpy()[0]) == 1
    primers = meta["primers"].numpy()[0]
    assert primers.shape == (len(MOODS), 2, 32) and primers.dtype == np.int32
    assert primers.max() < len(vocab)
    info = json.loads(meta["info"].numpy()[0])
    assert info["val_perplexity"] > 1 and info["unigram_perplexity"] > 1


def test_saved_model_cli_lists_both_signatures(tiny):
    _, result = tiny
    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--all", "--dir", result.path], capture_output=True, text=True
    ).stdout
    assert "signature_def['serving_default']" in shown
    assert "signature_def['metadata']" in shown


def test_resume_continues_from_the_last_epoch(tiny):
    options, _ = tiny
    resumed = replace(options, epochs=2, resume=True, models_dir=options.models_dir.parent / "resumed")
    result = train(resumed)
    state = json.loads((options.run_dir / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert result.figures["epochs"] == 2


def test_fine_tuning_extends_the_vocabulary_and_publishes_the_next_version(tiny, tmp_path):
    options, _ = tiny
    models = tmp_path / "models"
    shutil.copytree(options.models_dir, models)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "high.abc").write_text("X:1\nT:high\nM:4/4\nL:1/8\nK:C\n" + "c'd'e'f' g'a'b'c''|" * 12 + "\n")
    run = tmp_path / "run"
    result = train(
        replace(
            options, data=(extra,), models_dir=models, run_dir=run, from_latest=True, epochs=2, lr_decay=0.5
        )
    )
    assert result.version == 2
    state = json.loads((run / "state.json").read_text())
    assert state["draws"] == 1  # windows drawn apart from those version 1 learnt from
    assert [h["learning_rate"] for h in state["history"]] == pytest.approx([1e-3, 5e-4])
    old_vocab = json.loads((options.run_dir / "vocab.json").read_text())["tokens"]
    new_vocab = json.loads((tmp_path / "run" / "vocab.json").read_text())["tokens"]
    assert new_vocab[: len(old_vocab)] == old_vocab and len(new_vocab) > len(old_vocab)


@pytest.mark.parametrize("change", [{"learning_rate": 0.0}, {"lr_decay": 0.0}, {"lr_decay": 1.5}])
def test_a_learning_rate_out_of_range_is_refused_before_anything_is_read(tmp_path, change):
    with pytest.raises(TrainingError, match="learning rate"):
        train(TrainOptions(data=(tmp_path / "missing",), models_dir=tmp_path / "models", **change))
    assert not (tmp_path / "models").exists()


def test_no_usable_music_fails_clearly_and_publishes_nothing(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.mid").write_bytes(b"MThd garbage")
    models = tmp_path / "models"
    with pytest.raises(TrainingError, match="No usable music"):
        train(
            TrainOptions(
                data=(bad,),
                models_dir=models,
                run_dir=tmp_path / "run",
                cache_dir=tmp_path / "c",
                workers=1,
                progress=False,
            )
        )
    assert not models.exists()


def test_the_causal_network_steps_from_its_state_to_where_its_window_pass_ends(tiny, tmp_path):
    options, _ = tiny
    causal = replace(options, arch="lstm", models_dir=tmp_path / "models", run_dir=tmp_path / "run")
    result = train(causal)
    loaded = tf.saved_model.load(str(result.path))
    assert set(loaded.signatures) == {"serving_default", "step", "metadata"}
    state_size = int(loaded.signatures["metadata"](dummy=tf.constant([0]))["state_size"].numpy()[0])
    assert state_size == 4 * options.units
    rng = np.random.default_rng(0)
    tokens = tf.constant(rng.integers(0, 20, (2, 32)), tf.int32)
    position = tf.constant(rng.integers(0, 64, (2, 32)), tf.int32)
    lookback = tf.constant(rng.integers(0, 20, (2, 32, 3)), tf.int32)
    mood = tf.constant([1, 4])
    whole = loaded.signatures["serving_default"](
        tokens=tokens, mood=mood, position=position, lookback=lookback
    )
    state = tf.zeros([2, state_size])
    for t in range(32):
        stepped = loaded.signatures["step"](
            token=tokens[:, t], mood=mood, state=state, position=position[:, t], lookback=lookback[:, t]
        )
        state = stepped["state"]
    np.testing.assert_allclose(stepped["logits"], whole["logits"], atol=1e-4)
    np.testing.assert_allclose(state, whole["state"], atol=1e-4)
    # Fine-tuning keeps the architecture it starts from.
    tuned = train(replace(causal, arch="blstm", run_dir=tmp_path / "run2", from_latest=True))
    assert "step" in tf.saved_model.load(str(tuned.path)).signatures


def test_a_causal_window_predicts_the_next_token_at_its_last_positions():
    from training.dataset import Windows

    ids = np.arange(100, dtype=np.int32)
    position = np.arange(100, dtype=np.int32) % 64
    lookback = np.stack([ids - 16, ids - 32], axis=1)
    w = Windows(ids, position, lookback, np.array([0, 10]), np.array([0, 1], np.int32), window=4, positions=3)
    x, y = w.batch(np.array([0, 1]))
    assert x["tokens"].tolist() == [[0, 1, 2, 3], [10, 11, 12, 13]]
    assert y.tolist() == [[2, 3, 4], [12, 13, 14]]
    # Each step carries the position and lookback of the step it predicts.
    assert x["position"][1].tolist() == [11, 12, 13, 14]
    assert x["lookback"][1, 0].tolist() == [11 - 16, 11 - 32]
    _, last = Windows(ids, position, lookback, np.array([0, 10]), np.array([0, 1], np.int32), window=4).batch(
        np.array([0, 1])
    )
    assert last.tolist() == [4, 14]


def test_pieces_off_every_meters_grid_are_left_out_and_the_rest_normalised_with_their_meter():
    from bgm.meter import FOUR_FOUR, SIX_EIGHT, THREE_FOUR
    from bgm.score import Piece
    from training.dataset import in_meters, label

    g_major = ("67:4", "69:4", "71:4", "72:4", "74:4", "76:4", "78:4", "79:4", "74:4", "71:4", "67:8")
    pieces = [
        Piece(name, meter, g_major)
        for name, meter in [("a", "2/4"), ("b", "3/4"), ("c", "5/4"), ("d", "6/8")]
    ]
    kept = label(pieces)
    assert [(k.piece.source, k.meter) for k in kept] == [
        ("a", FOUR_FOUR),
        ("b", THREE_FOUR),
        ("d", SIX_EIGHT),
    ]
    assert kept[0].piece.tokens[0] == "72:4"  # G major moved to C major
    assert [k.piece.source for k in in_meters(kept, ("4/4",))] == ["a"]


def test_primers_end_where_a_phrase_ends():
    from bgm.score import Piece
    from training.dataset import Labelled, primers
    from training.vocab import Vocabulary

    tokens = tuple(f"{60 + (i % 12)}:1" for i in range(200))
    vocab = Vocabulary(("_",) + tuple(sorted(set(tokens))))
    # Phase 4: step 0 is position 4, so phrases start at steps 60 and 124.
    out = primers([Labelled(Piece("p", "4/4", tokens, phase=4), "calm")], vocab, 32, 1, 0)
    window = [vocab.tokens[i] for i in out[0, 0]]
    assert window in (list(tokens[28:60]), list(tokens[92:124]), list(tokens[156:188]))


def write_waltzes_and_jigs(folder: Path) -> Path:
    folder.mkdir()
    for i, (meter, bar) in enumerate([("3/4", "c2 e2 g2 | f2 d2 B2 |"), ("6/8", "cde gfe | dcB c3 |")] * 2):
        (folder / f"t{i}.abc").write_text(f"X:1\nT:t{i}\nM:{meter}\nL:1/8\nK:C\n" + bar * 12 + "\n")
    return folder


def test_a_new_network_learns_every_meter_its_music_is_in(tiny, tmp_path):
    options, _ = tiny
    triple = write_waltzes_and_jigs(tmp_path / "triple")
    result = train(
        replace(options, data=(options.data[0], triple), models_dir=tmp_path / "m", run_dir=tmp_path / "r")
    )
    assert result.figures["config"]["meters"] == ("4/4", "3/4", "6/8")
    meta = tf.saved_model.load(str(result.path)).signatures["metadata"](dummy=tf.constant([0]))
    primers = meta["meter_primers"].numpy()[0]
    assert primers.shape == (3, len(MOODS), 2, 32) and (primers[1:] > 0).any()  # waltzes and jigs in them


def test_adding_meters_teaches_their_positions_and_leaves_4_4_exactly_as_it_was(tiny, tmp_path):
    options, first = tiny
    models = tmp_path / "models"
    shutil.copytree(options.models_dir, models)
    triple = write_waltzes_and_jigs(tmp_path / "triple")
    result = train(
        replace(options, data=(triple,), models_dir=models, run_dir=tmp_path / "run", from_latest=True,
                add_meters=("3/4", "6/8"))
    )  # fmt: skip
    old, new = (tf.saved_model.load(str(p)) for p in (first.path, result.path))
    meta = {k: v.numpy()[0] for k, v in new.signatures["metadata"](dummy=tf.constant([0])).items()}
    old_meta = {k: v.numpy()[0] for k, v in old.signatures["metadata"](dummy=tf.constant([0])).items()}
    assert [m.decode() for m in meta["meters"]] == ["4/4", "3/4", "6/8"]
    assert meta["meter_primers"].shape == (3, len(MOODS), 2, 32)
    assert np.array_equal(meta["meter_primers"][0], old_meta["primers"])  # 4/4 songs start as before
    assert np.array_equal(meta["vocab"], old_meta["vocab"])

    rng = np.random.default_rng(0)
    inputs = {
        "tokens": tf.constant(old_meta["primers"].reshape(-1, 32)[:4]),
        "mood": tf.constant([0, 1, 2, 3]),
        "lookback": tf.constant(rng.integers(0, len(meta["vocab"]), (4, 32, 3)).astype(np.int32)),
    }
    in_4_4 = tf.constant((np.arange(32)[None].repeat(4, 0) + 7) % 64, tf.int32)
    before = old.signatures["serving_default"](position=in_4_4, **inputs)["logits"].numpy()
    after = new.signatures["serving_default"](position=in_4_4, **inputs)["logits"].numpy()
    assert np.array_equal(before, after)
    in_3_4 = new.signatures["serving_default"](position=in_4_4 % 48 + 64, **inputs)["logits"].numpy()
    assert np.all(np.isfinite(in_3_4)) and not np.allclose(in_3_4, after)


def test_adding_meters_needs_the_live_version_and_new_meters(tiny, tmp_path):
    options, _ = tiny
    with pytest.raises(TrainingError, match="use it with --from latest"):
        train(replace(options, run_dir=tmp_path / "run", add_meters=("3/4",)))
