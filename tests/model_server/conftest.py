"""Fixtures: tiny SavedModels built once per session, a models folder per test, servers and clients."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from model_server import EmbeddedServer
from tests.model_server.helpers import MODEL, Client, save_toy


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    """SavedModels saved once: versions 1-3 and one (version 4) whose warm-up fails."""
    base = tmp_path_factory.mktemp("built")
    models = {str(v): save_toy(base / str(v), v) for v in (1, 2, 3)}
    models["fails_warmup"] = save_toy(base / "fails_warmup", 4, fail_warmup=True)
    return models


@pytest.fixture
def models_root(tmp_path, built) -> Path:
    """A models folder holding ``toy`` versions 1 and 2."""
    root = tmp_path / "models"
    for version in ("1", "2"):
        shutil.copytree(built[version], root / MODEL / version)
    return root


@pytest.fixture
def make_server() -> Iterator[Callable[..., EmbeddedServer]]:
    """Start EmbeddedServers (stopped at teardown), polling every 0.2 s unless told otherwise."""
    servers: list[EmbeddedServer] = []

    def make(root: Path, **kwargs) -> EmbeddedServer:
        kwargs.setdefault("poll_seconds", 0.2)
        server = EmbeddedServer(root, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop(grace=1.0)


@pytest.fixture
def connect() -> Iterator[Callable[[EmbeddedServer], Client]]:
    """TF Serving clients of a server, closed at teardown."""
    clients: list[Client] = []

    def make(server: EmbeddedServer) -> Client:
        clients.append(Client(server.port))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def server(make_server, models_root) -> EmbeddedServer:
    """A server over versions 1 and 2 of ``toy``, batching off."""
    return make_server(models_root)


@pytest.fixture
def client(connect, server) -> Client:
    return connect(server)
