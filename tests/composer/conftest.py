import pytest

from model_server import EmbeddedServer


@pytest.fixture(scope="session")
def server(tiny_models):
    """The embedded server on the tiny model, batching on as in production."""
    from model_server import DEFAULT_BATCHING_CONFIG

    with EmbeddedServer(tiny_models, batching_config=DEFAULT_BATCHING_CONFIG) as running:
        yield running


@pytest.fixture(scope="session")
def lstm_server(tiny_lstm_models):
    """The embedded server on the tiny causal model."""
    from model_server import DEFAULT_BATCHING_CONFIG

    with EmbeddedServer(tiny_lstm_models, batching_config=DEFAULT_BATCHING_CONFIG) as running:
        yield running


@pytest.fixture(scope="session")
def meter_server(tiny_meter_models):
    """The embedded server on the tiny causal model that writes in 3/4 and 6/8 too."""
    with EmbeddedServer(tiny_meter_models) as running:
        yield running


@pytest.fixture(scope="session")
def legacy_server(tiny_legacy_models):
    """The embedded server on a tiny model without melody inputs (versions before them)."""
    with EmbeddedServer(tiny_legacy_models) as running:
        yield running
