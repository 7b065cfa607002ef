"""The client reads a Predict reply whichever way the server writes its tensors: raw bytes in
tensor_content (the embedded server by default) or the typed float_val fields (TF Serving's default)."""

import asyncio

import pytest

from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest
from composer.wire import predict_pb2
from model_server import EmbeddedServer


@pytest.fixture(scope="module")
def typed_server(tiny_models):
    """The embedded server writing outputs as TF Serving does unless told otherwise: in float_val."""
    with EmbeddedServer(tiny_models, tensor_content=False) as running:
        yield running


def _compose_and_replies(server) -> tuple[tuple[str, ...], list[predict_pb2.PredictResponse]]:
    async def run():
        client = ModelClient(server.address)
        replies = []
        original = client._predict.Predict

        async def recording(request, **kwargs):
            replies.append(await original(request, **kwargs))
            return replies[-1]

        client._predict.Predict = recording
        try:
            song = await Composer(client).compose(ComposeRequest("calm", "short", seed=3))
            return song.tokens, [r for r in replies if "logits" in r.outputs]
        finally:
            await client.close()

    return asyncio.run(run())


def test_a_song_is_the_same_whether_logits_come_as_tensor_content_or_float_val(server, typed_server):
    from_bytes, bytes_replies = _compose_and_replies(server)
    from_fields, fields_replies = _compose_and_replies(typed_server)
    assert bytes_replies and all(
        r.outputs["logits"].tensor_content and not r.outputs["logits"].float_val for r in bytes_replies
    )
    assert fields_replies and all(
        r.outputs["logits"].float_val and not r.outputs["logits"].tensor_content for r in fields_replies
    )
    assert from_bytes == from_fields
