"""TF Serving's REST API on the embedded server, through a real HTTP client on loopback, each answer
compared field by field with what the gRPC API says for the same request."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from lifecycle.config import ModelEntry, Policy, write
from tests.model_server.helpers import MODEL, VOCAB, expected_logits, logits

TOKENS = [[1, 2, 3, 4], [0, 0, 1, 0]]
MOOD = [1, 2]


@pytest.fixture
def rest(make_server, models_root):
    return make_server(models_root, rest_port=0)


def call(server, path: str, body=None, method: str | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of one request, as curl would make it."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read())


def test_rest_listens_on_loopback_only(rest):
    with socket.create_connection(("127.0.0.1", rest.rest_port), timeout=5) as sock:
        assert sock.getpeername()[0] == "127.0.0.1"
    assert rest._rest._server.server_address[0] == "127.0.0.1"


def test_model_status_is_tf_servings_json_of_the_grpc_answer(rest, connect):
    status, answer = call(rest, "/v1/models/toy")
    assert status == 200
    assert answer == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    grpc_answer = connect(rest).status()
    assert answer == json_format.MessageToDict(grpc_answer, always_print_fields_with_no_presence=True)


def test_status_of_a_version_and_of_a_missing_one(rest):
    assert call(rest, "/v1/models/toy/versions/2")[1]["model_version_status"][0]["version"] == "2"
    status, answer = call(rest, "/v1/models/toy/versions/7")
    assert (status, answer) == (404, {"error": "Could not find version 7 of model toy"})


def test_metadata_matches_grpc_field_by_field(rest, connect):
    status, answer = call(rest, "/v1/models/toy/metadata")
    assert status == 200
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL
    grpc_answer = connect(rest).predictions.GetModelMetadata(request, timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    grpc_answer.metadata["signature_def"].Unpack(signatures)
    assert answer["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    assert answer["metadata"]["signature_def"] == json_format.MessageToDict(
        signatures, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    inputs = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["tokens"]["dtype"] == "DT_INT32"


def test_predict_in_the_row_format_answers_what_grpc_answers(rest, connect):
    instances = [{"tokens": t, "mood": m} for t, m in zip(TOKENS, MOOD, strict=True)]
    status, answer = call(rest, "/v1/models/toy:predict", {"instances": instances})
    assert status == 200
    grpc_logits = logits(connect(rest).predict(TOKENS, MOOD))
    # One output: each prediction is the row itself, as in TF Serving.
    assert np.array_equal(np.asarray(answer["predictions"], np.float32), grpc_logits)
    assert np.array_equal(grpc_logits, expected_logits(TOKENS, MOOD, 2))


def test_predict_in_the_columnar_format_answers_what_grpc_answers(rest, connect):
    status, answer = call(
        rest, "/v1/models/toy/versions/2:predict", {"inputs": {"tokens": TOKENS, "mood": MOOD}}
    )
    assert status == 200
    assert np.array_equal(
        np.asarray(answer["outputs"], np.float32), logits(connect(rest).predict(TOKENS, MOOD))
    )


def test_predict_of_a_named_signature_with_strings_and_scalars(rest, connect):
    body = {"signature_name": "metadata", "inputs": [0]}
    status, answer = call(rest, "/v1/models/toy:predict", body)
    assert status == 200
    assert answer["outputs"] == {
        "vocab": [v.decode() for v in VOCAB],
        "window": 4,
        "version_tag": 2,
    }
    # Its outputs are not batched, so the row format cannot split them: TF Serving's error.
    status, answer = call(rest, "/v1/models/toy:predict", {"signature_name": "metadata", "instances": [0]})
    assert status == 400 and "has no shape information" in answer["error"]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/v1/models/nope:predict",
            {"instances": [[1]]},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        ("/v1/models/toy/versions/9:predict", {"instances": [[1]]}, 404, "Specific(toy, 9)"),
        (
            "/v1/models/toy/labels/stable:predict",
            {"instances": [[1]]},
            400,
            "Unrecognized servable version label",
        ),
        ("/v1/models/toy:predict", b"{not json", 400, "JSON Parse error"),
        ("/v1/models/toy:predict", b"", 400, "The document is empty"),
        ("/v1/models/toy:predict", {"signature_name": "nope", "inputs": []}, 400, 'name: "nope" not found'),
        ("/v1/models/toy:predict", {"rows": []}, 400, "Missing 'inputs' or 'instances' key"),
        ("/v1/models/toy:predict", {"instances": []}, 400, "No values in 'instances' array"),
        ("/v1/models/toy:predict", {"instances": [[1, 2, 3, 4]]}, 400, "instances is a plain list"),
        ("/v1/models/toy:predict", {"inputs": {"tokens": [[1.5, 2, 3, 4]], "mood": [1]}}, 400, "an integer"),
        ("/v1/models/toy:predict", {"inputs": {"tokens": [[1, 2, 3, 4]]}}, 400, "Missing named input: mood"),
        ("/v1/models/toy:predict", {"inputs": {"tokens": [[1, 2]], "mood": [1]}}, 400, "has shape [1,2]"),
        ("/v1/models/toy:classify", {"examples": []}, 501, "does not implement classify"),
    ],
)
def test_predict_errors_carry_tf_servings_status_and_message(rest, path, body, status, error):
    got_status, answer = call(rest, path, body, method="POST")
    assert got_status == status and set(answer) == {"error"} and error in answer["error"], answer


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/v1/models", 400, "Missing model name in request."),
        ("GET", "/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("GET", "/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
        ("GET", "/v1/other", 400, "Malformed request: GET /v1/other"),
        ("DELETE", "/v1/models/toy", 400, "Malformed request: DELETE /v1/models/toy"),
        ("POST", "/v1/models/toy", 400, "Malformed request: POST /v1/models/toy"),
    ],
)
def test_other_errors_are_json_too(rest, method, path, status, error):
    assert call(rest, path, b"{}" if method == "POST" else None, method=method) == (status, {"error": error})


def test_a_label_from_the_model_config_routes_rest_calls(make_server, models_root):
    write(
        models_root / "models.config", {MODEL: ModelEntry(MODEL, "/models/toy", Policy("all"), {"stable": 1})}
    )
    server = make_server(models_root, rest_port=0, model_config_file=models_root / "models.config")
    status, answer = call(
        server, "/v1/models/toy/labels/stable:predict", {"inputs": {"tokens": TOKENS, "mood": MOOD}}
    )
    assert status == 200
    assert np.array_equal(np.asarray(answer["outputs"], np.float32), expected_logits(TOKENS, MOOD, 1))
    assert call(server, "/v1/models/toy/labels/stable/metadata")[1]["model_spec"]["version"] == "1"
    # A label does not narrow a status request, in TF Serving either: both loaded versions are listed.
    versions = [s["version"] for s in call(server, "/v1/models/toy/labels/stable")[1]["model_version_status"]]
    assert versions == ["2", "1"]
    status, answer = call(server, "/v1/models/toy/versions/1/labels/stable:predict", {"instances": [[1]]})
    assert status == 400 and "Malformed request" in answer["error"]


def test_strings_go_in_as_text_or_base64(make_server, tmp_path):
    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"length": tf.strings.length(text), "text_bytes": text}

    echo = Echo()
    tf.saved_model.save(echo, str(tmp_path / "echo" / "1"), signatures={"serving_default": echo.serve})
    server = make_server(tmp_path, rest_port=0)
    status, answer = call(server, "/v1/models/echo:predict", {"instances": ["héllo", {"b64": "AAE="}]})
    assert status == 200
    assert answer["predictions"] == [
        {"length": 6, "text_bytes": {"b64": "aMOpbGxv"}},
        {"length": 2, "text_bytes": {"b64": "AAE="}},
    ]


def test_a_taken_rest_port_is_an_error(rest, make_server, built, tmp_path):
    root = tmp_path / "other"
    shutil.copytree(built["1"], root / MODEL / "1")
    with pytest.raises(OSError, match="REST"):
        make_server(root, rest_port=rest.rest_port)


def test_serve_answers_rest_beside_grpc(models_root):
    """``bgm serve --rest-port``: the REST port comes up with the gRPC one and goes down with it."""
    import threading
    import time

    from model_server import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, kwargs={"models_root": models_root, "port": 0, "rest_port": port, "stop_event": stop}
    )
    thread.start()
    try:

        class Server:
            rest_port = port

        deadline = time.monotonic() + 60
        while True:
            try:
                status, answer = call(Server, "/v1/models/toy")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "REST did not come up"
                time.sleep(0.2)
        assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        stop.set()
        thread.join(60)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
