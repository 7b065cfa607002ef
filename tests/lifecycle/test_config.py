"""models.config: TF Serving's text format read and written, checked against the folder, atomically."""

from __future__ import annotations

import threading

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from lifecycle.config import (
    CONFIG_NAME,
    ConfigError,
    ModelEntry,
    Policy,
    parse,
    problems,
    read,
    render,
    write,
)

ENTRY = ModelEntry("bgm", "/models/bgm", Policy("all"), {"stable": 2, "previous": 1})


def test_a_written_config_is_tf_servings_text_format_and_reads_back(folder):
    write(folder / CONFIG_NAME, {"bgm": ENTRY})
    text = (folder / CONFIG_NAME).read_text()
    message = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = message.model_config_list.config
    assert dict(model.version_labels) == {"stable": 2, "previous": 1}
    assert model.model_version_policy.WhichOneof("policy_choice") == "all"
    assert read(folder / CONFIG_NAME) == {"bgm": ENTRY}


def test_no_config_file_reads_as_none(folder):
    assert read(folder / CONFIG_NAME) is None


def test_the_default_policy_is_tf_servings_latest_one():
    (model,) = parse('model_config_list { config { name: "bgm" base_path: "/m" } }').values()
    assert model.policy == Policy("latest", num_versions=1) and model.labels == {}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("model_config_list { config { name: ", "does not parse"),
        (
            'model_config_list { config { name: "a" } config { name: "a" } }',
            "Illegal to list model a multiple",
        ),
        ('model_config_list { config { base_path: "/m" } }', "a model without a name"),
        ('model_config_list { config { name: "a" version_labels { key: "x" value: 0 } } }', "not a version"),
        ('custom_model_config { type_url: "x" }', "must hold a model_config_list"),
    ],
)
def test_a_bad_config_is_a_config_error_that_says_why(text, error):
    with pytest.raises(ConfigError, match=error):
        parse(text)


def test_a_label_of_a_version_not_in_the_folder_is_a_problem_and_never_written(folder):
    entry = ModelEntry("bgm", "/models/bgm", Policy("all"), {"stable": 9})
    assert problems({"bgm": entry}, folder) == [
        f"label stable of model bgm points at version 9, which is not in {folder / 'bgm'}"
    ]
    with pytest.raises(ConfigError, match="Refusing to write"):
        write(folder / CONFIG_NAME, {"bgm": entry})
    assert not (folder / CONFIG_NAME).exists()


def test_a_reader_sees_the_old_config_or_the_new_never_a_mix(folder):
    """Written by rename: a server polling the file mid-write reads a whole config every time."""
    path = folder / CONFIG_NAME
    write(path, {"bgm": ENTRY})
    seen, stop = set(), threading.Event()

    def poll():
        while not stop.is_set():
            seen.add(read(path)["bgm"].labels["stable"])

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(200):
            write(path, {"bgm": ModelEntry("bgm", "/models/bgm", Policy("all"), {"stable": 1 + i % 3})})
    finally:
        stop.set()
        reader.join()
    assert seen <= {1, 2, 3}
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_render_writes_a_header_saying_who_writes_it():
    assert render({"bgm": ENTRY}).startswith("# TF Serving's --model_config_file")
