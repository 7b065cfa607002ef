"""The model contract: metadata read into a typed ModelInfo, and a version's signatures checked."""

import json

import numpy as np
import pytest

from bgm import contract
from bgm.contract import ModelInfo


def metadata(**overrides) -> dict[str, np.ndarray]:
    """Metadata outputs as a reply carries them: each tiled along a batch of one row."""
    values = contract.metadata_values(
        vocab=["_", "60:4"],
        moods=["calm", "sad"],
        window=4,
        primers=np.zeros((2, 3, 4), np.int32),
        tokenizer_version=3,
        state_size=16,
        info={"val_loss": 1.2},
    )
    rows = {
        k: np.asarray([v if not isinstance(v, list) else [s.encode() for s in v]]) for k, v in values.items()
    }
    rows[contract.INFO] = np.asarray([json.dumps({"val_loss": 1.2}).encode()], dtype=object)
    return {**rows, **overrides}


def test_metadata_values_are_keyed_by_the_contract_names():
    values = metadata()
    assert set(values) == set(contract.METADATA_FIELDS)


def test_model_info_reads_row_zero_of_each_field():
    info = ModelInfo.from_metadata(7, metadata())
    assert (info.version, info.vocab, info.moods, info.window) == (7, ("_", "60:4"), ("calm", "sad"), 4)
    assert info.primers.shape == (2, 3, 4) and info.primers.dtype == np.int32
    assert (info.state_size, info.tokenizer_version, info.info) == (16, 3, {"val_loss": 1.2})


def test_older_versions_without_the_later_fields_still_read():
    old = {k: v for k, v in metadata().items() if k not in (contract.STATE_SIZE, contract.TOKENIZER_VERSION)}
    info = ModelInfo.from_metadata(1, old)
    assert info.state_size == 0 and info.tokenizer_version is None


@pytest.mark.parametrize("broken", [{"drop": contract.MOODS}, {contract.INFO: np.asarray([b"{not json"])}])
def test_unusable_metadata_is_a_value_error(broken):
    outputs = metadata(**{k: v for k, v in broken.items() if k != "drop"})
    outputs.pop(broken.get("drop", ""), None)
    with pytest.raises(ValueError):
        ModelInfo.from_metadata(1, outputs)


def test_signatures_that_follow_the_contract_have_no_problems():
    signatures = {
        contract.WINDOW_SIGNATURE: ({"tokens", "mood"}, {"logits", "state"}),
        contract.STEP_SIGNATURE: ({"token", "mood", "state"}, {"logits", "state"}),
        contract.METADATA_SIGNATURE: ({"dummy"}, set(contract.METADATA_FIELDS)),
    }
    assert contract.problems(signatures) == []


def test_each_break_of_the_contract_is_named():
    signatures = {
        contract.WINDOW_SIGNATURE: ({"tokens"}, {"logits"}),
        contract.STEP_SIGNATURE: ({"token", "mood", "state"}, {"logits"}),
    }
    found = contract.problems(signatures)
    assert "no 'metadata' signature" in found
    assert any("'serving_default' takes ['tokens']" in p for p in found)
    assert any("'step' lacks the outputs ['state']" in p for p in found)
