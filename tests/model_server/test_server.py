"""Starting, stopping and health: in-process, as a context manager, and as a process stopped by SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from lifecycle.config import parse, problems
from model_server import EmbeddedServer, serve
from model_server.servable import Servable
from tests.model_server.helpers import MODEL, Client, publish, wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
REPO = Path(__file__).resolve().parents[2]


def health_of(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status


def test_start_returns_the_bound_port_on_localhost(server):
    assert server.port > 0 and server.address == f"127.0.0.1:{server.port}"


def test_health_is_serving_once_a_model_is_available(server):
    assert health_of(server.port) == SERVING
    assert health_of(server.port, "tensorflow.serving.PredictionService") == SERVING


def test_health_turns_serving_when_the_first_model_arrives(make_server, tmp_path, built):
    root = tmp_path / "models"
    (root / MODEL).mkdir(parents=True)
    server = make_server(root)
    assert health_of(server.port) == NOT_SERVING
    publish(root, built["1"], 1)
    wait_until(lambda: health_of(server.port) == SERVING, what="health SERVING")


def test_the_context_manager_serves_inside_and_stops_after(models_root):
    with EmbeddedServer(models_root) as server:
        client = Client(server.port)
        assert client.predict([[1, 1, 1, 1]], [0]).model_spec.version.value == 2
    with pytest.raises(grpc.RpcError) as caught:
        client.predict([[1, 1, 1, 1]], [0])
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    client.close()


def test_a_taken_port_is_an_error(server, models_root):
    with pytest.raises(OSError):
        EmbeddedServer(models_root, port=server.port).start()


def test_stop_lets_in_flight_calls_finish_and_refuses_new_ones(server, client, monkeypatch):
    entered, gate, run = threading.Event(), threading.Event(), Servable.run

    def gated_run(self, *args, **kwargs):
        if not entered.is_set():  # only the first call waits at the gate
            entered.set()
            gate.wait(60)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Servable, "run", gated_run)
    in_flight: list = []
    caller = threading.Thread(target=lambda: in_flight.append(client.predict([[1, 1, 1, 1]], [0])))
    caller.start()
    wait_until(entered.is_set, what="the first call to reach TF")
    stopper = threading.Thread(target=server.stop, kwargs={"grace": 60})
    stopper.start()

    def refused() -> bool:
        probe = Client(server.port)
        try:
            probe.predictions.Predict(Client.request([[1, 1, 1, 1]], [0]), timeout=5)
            return False
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            probe.close()

    wait_until(refused, what="new calls to be refused")
    gate.set()
    caller.join(60)
    stopper.join(60)
    assert in_flight and in_flight[0].model_spec.version.value == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_stops_cleanly_on_sigterm(models_root):
    port = free_port()
    code = "import sys; from model_server import serve; serve(sys.argv[1], port=int(sys.argv[2]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(models_root), str(port)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def healthy() -> bool:
            assert process.poll() is None, "the server process died"
            return _serving(port)

        wait_until(healthy, timeout=120, what="the server process to serve")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_off_the_main_thread_until_its_stop_event(models_root):
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=serve, args=(models_root,), kwargs={"port": port, "stop_event": stop})
    thread.start()
    try:
        wait_until(lambda: _serving(port), what="serve() to serve")
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def _serving(port: int) -> bool:
    try:
        return health_of(port) == SERVING
    except grpc.RpcError:
        return False


def test_the_shipped_model_config_labels_a_shipped_version_stable():
    """models/models.config is TF Serving's --model_config_file (docker-compose mounts it) and the
    embedded server's: it must parse, serve every version folder and label one that is there."""
    path = REPO / "models" / "models.config"
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("bgm", "/models/bgm", "tensorflow")
    assert model.model_version_policy.WhichOneof("policy_choice") == "all"
    assert (REPO / "models" / "bgm" / str(model.version_labels["stable"]) / "saved_model.pb").is_file()
    assert problems(parse(path.read_text()), REPO / "models") == []
