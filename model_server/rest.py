"""TF Serving's REST API (``--rest_api_port``) over the same servicers as the gRPC API.

Routes and messages follow tensorflow_serving/model_servers/http_rest_api_handler.cc and
http_rest_api_util.cc:

- ``GET /v1/models/NAME[/versions/N|/labels/L]``: GetModelStatus as JSON (a label does not narrow it,
  as in TF Serving);
- ``GET .../metadata``: GetModelMetadata's signature_def map as JSON;
- ``POST .../:predict``: Predict, the body in the row or columnar format (``model_server.json_tensor``);
- ``GET /monitoring/prometheus/metrics``: TF Serving's Prometheus metrics, when monitoring is on
  (``model_server.monitoring``).

Every answer is JSON; a failure is ``{"error": "<message>"}`` with the HTTP status TF Serving maps its
status code to (http_server.cc, ``ToHTTPStatusCode``), so ``curl`` and TF Serving tooling work. The
requests go through the gRPC servicers' own methods, so both APIs answer the same, batching included.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2, predict_pb2

from model_server import json_tensor, monitoring
from model_server.errors import ServingError, from_exception
from model_server.repository import Repository
from model_server.servable import DEFAULT_SIGNATURE
from model_server.service import SIGNATURE_DEF_FIELD, ModelServicer, PredictionServicer

log = logging.getLogger(__name__)
PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I
)
STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)
MAX_BODY = 64 * 1024 * 1024
_C = grpc.StatusCode
HTTP_STATUS = {
    _C.OK: 200,
    _C.CANCELLED: 499,
    _C.UNKNOWN: 500,
    _C.INVALID_ARGUMENT: 400,
    _C.DEADLINE_EXCEEDED: 504,
    _C.NOT_FOUND: 404,
    _C.ALREADY_EXISTS: 409,
    _C.PERMISSION_DENIED: 403,
    _C.RESOURCE_EXHAUSTED: 429,
    _C.FAILED_PRECONDITION: 400,
    _C.ABORTED: 409,
    _C.OUT_OF_RANGE: 400,
    _C.UNIMPLEMENTED: 501,
    _C.INTERNAL: 500,
    _C.UNAVAILABLE: 503,
    _C.DATA_LOSS: 500,
    _C.UNAUTHENTICATED: 401,
}


def _invalid(message: str) -> ServingError:
    return ServingError(_C.INVALID_ARGUMENT, message)


def _spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=unquote(name))
    if version:
        try:
            spec.version.value = int(version)
        except ValueError:
            raise _invalid(f"Failed to convert version: {version} to numeric.") from None
    if label:
        spec.version_label = unquote(label)
    return spec


class RestApi:
    """Turns one HTTP request into a servicer call and its JSON answer: (HTTP status, body)."""

    def __init__(self, repository: Repository, prediction: PredictionServicer, models: ModelServicer) -> None:
        self.repository, self.prediction, self.models = repository, prediction, models

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        try:
            return 200, self._route(method, path, body)
        except Exception as error:
            failure = from_exception(error)
            if failure.code == _C.UNKNOWN:
                log.error("REST request %s %s failed unexpectedly", method, path, exc_info=error)
            return HTTP_STATUS.get(failure.code, 500), {"error": failure.message}

    def _route(self, method: str, path: str, body: bytes) -> dict:
        malformed = _invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            match = PREDICT.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, verb = match.groups()
            if verb.lower() != "predict":
                raise ServingError(_C.UNIMPLEMENTED, f"The embedded server does not implement {verb}.")
            return self._predict(_spec(name, version, label), body)
        if method == "GET":
            match = STATUS.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, metadata = match.groups()
            if not name:
                raise _invalid("Missing model name in request.")
            spec = _spec(name, version, label)
            return self._metadata(spec) if metadata else self._status(spec)
        raise malformed

    def _status(self, spec: model_pb2.ModelSpec) -> dict:
        response = self.models.status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
        return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)

    def _metadata(self, spec: model_pb2.ModelSpec) -> dict:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD]
        )
        response = self.prediction.metadata(request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signatures)
        options = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
        return {
            "model_spec": json_format.MessageToDict(response.model_spec, **options),
            "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(signatures, **options)},
        }

    def _input_types(self, spec: model_pb2.ModelSpec):
        def types(signature_name: str) -> dict[str, int]:
            servable = self.repository.acquire(spec)
            try:
                name = signature_name or DEFAULT_SIGNATURE
                signature = servable.signature_defs.signature_def.get(name)
                if signature is None:
                    raise _invalid(f'Serving signature name: "{name}" not found in signature def')
                return {alias: info.dtype for alias, info in signature.inputs.items()}
            finally:
                servable.release()

        return types

    def _predict(self, spec: model_pb2.ModelSpec, body: bytes) -> dict:
        request, format_ = json_tensor.predict_request(
            body, predict_pb2.PredictRequest(model_spec=spec), self._input_types(spec)
        )
        return json_tensor.response_json(self.prediction.predict(request, entrypoint="REST"), format_)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's calls reuse one connection
    api: RestApi  # set on the subclass RestServer makes

    def do_GET(self) -> None:  # noqa: N802
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        path = urlsplit(self.path).path
        metrics = self.api.prediction.metrics
        if method == "GET" and path == monitoring.PATH and metrics is not None:
            self._send(200, metrics.exposition(), monitoring.CONTENT_TYPE)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the body is not read, so the connection cannot be reused
            status, answer = 400, {"error": f"Request body must be 0 to {MAX_BODY} bytes (Content-Length)"}
        else:
            body = self.rfile.read(length) if length else b""
            status, answer = self.api.handle(method, path, body)
        self._send(status, (json.dumps(answer, indent=1) + "\n").encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("REST %s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a second server on a taken port must fail, as the gRPC one does


class RestServer:
    """The REST API on ``host:port`` (0: any free port), served by threads until ``stop()``."""

    def __init__(self, api: RestApi, host: str = "127.0.0.1", port: int = 8501) -> None:
        self.api, self.host, self.port = api, host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        handler = type("Handler", (_Handler,), {"api": self.api})
        server_class = type(
            "Server", (_Server,), {"address_family": socket.AF_INET6 if ":" in self.host else socket.AF_INET}
        )
        try:
            self._server = server_class((self.host, self.port), handler)
        except OSError as error:
            raise OSError(f"cannot listen on {self.host}:{self.port} (REST): {error}") from error
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
