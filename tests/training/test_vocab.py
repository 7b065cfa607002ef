import json

from bgm.tokens import HOLD
from training.vocab import Vocabulary, build


def test_hold_is_id_zero_even_when_the_corpus_has_no_rests():
    vocab = build([["60:1", "62:1", "64:1"] * 3], min_count=1)
    assert vocab.tokens[0] == HOLD
    assert vocab.ids(["60:1", "62:1", "64:1"]) == [vocab.index[t] for t in ["60:1", "62:1", "64:1"]]
    assert sorted(vocab.ids(["60:1", "62:1", "64:1", HOLD])) == [0, 1, 2, 3]


def test_rare_chords_fold_into_their_top_note():
    vocab = build([["60:4"] * 5 + ["48.55.60:4"]], min_count=3)
    assert "48.55.60:4" not in vocab.tokens
    assert vocab.ids(["48.55.60:4"]) == [vocab.index["60:4"]]


def test_unknown_tokens_fold_to_hold():
    vocab = build([["60:4"] * 5], min_count=1)
    assert vocab.ids(["99:16"]) == [0]


def test_the_vocabulary_is_stored_as_json(tmp_path):
    vocab = build([["60:4", "64:2"] * 3], min_count=1)
    vocab.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text())["tokens"][0] == HOLD
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab


def test_extending_keeps_every_old_id():
    vocab = build([["60:4", "64:2"] * 3], min_count=1)
    bigger = vocab.extended(["67:1", "60:4"])
    assert bigger.tokens[: len(vocab)] == vocab.tokens
    assert bigger.tokens[len(vocab) :] == ("67:1",)
