"""Training progress events: one JSON line each, read back as typed events; anything else ignored."""

import pytest

from bgm import progress
from bgm.progress import EarlyStopped, EpochEnded, EpochStarted, Exporting, Published, Reporter

EVENTS = [
    EpochStarted(1, 8, 300_000),
    EpochEnded(1, 8, 4.461, 0.289, 4.273, 0.352, 71.76, 108.0),
    EarlyStopped(5, 2),
    Exporting(3),
    Published(7, "models/bgm/7", 1.132, 3.10, 9.34),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_an_event_survives_its_json_line(event):
    line = progress.to_line(event)
    assert "\n" not in line and progress.from_line(line + "\n") == event


@pytest.mark.parametrize(
    "line",
    [
        "epoch 1/8: 300,000 windows",
        "1172/1172 - 30s - 26ms/step - accuracy: 0.6 - loss: 1.3",
        '{"event": "unheard_of", "x": 1}',
        '{"event": "epoch_started", "epoch": 1}',
        "{not json",
        "[1, 2]",
        "",
    ],
)
def test_lines_that_are_not_events_are_none(line):
    assert progress.from_line(line) is None


def test_people_read_sentences_and_programs_json():
    said = []
    Reporter(json_lines=False, write=lambda text, flush: said.append(text))(EVENTS[0])
    Reporter(json_lines=True, write=lambda text, flush: said.append(text))(EVENTS[0])
    assert said[0] == "epoch 1/8: 300,000 windows"
    assert progress.from_line(said[1]) == EVENTS[0]
    assert EVENTS[1].text().startswith("  loss 4.461  acc 0.289  val_loss 4.273")
    assert EVENTS[4].text() == "published models/bgm/7: val_loss 1.132, perplexity 3.10 (unigram 9.34)"
