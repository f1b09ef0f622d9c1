"""Smithy RPCv2-CBOR front end for moto.

Why: aws-sdk-cloudwatch for Rust speaks only smithy.protocols#rpcv2Cbor
(`POST /service/GraniteServiceVersion20100801/operation/<Op>`), which moto 5.2.5
answers with 404 (moto issue 9195). moto's CloudWatch backend does understand
the awsJson1_0 protocol, so each CBOR request is transcoded to JSON, handed to
moto unchanged otherwise, and the JSON answer is transcoded back to CBOR.

The transcoding is driven by botocore's service model (shipped with moto), so
timestamps become CBOR tag 1 (epoch seconds), doubles are always CBOR floats,
blobs are byte strings, and errors carry `__type` and `message`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import uuid
from typing import Any, Callable, Iterable

import botocore.session
import cbor2

RPC_PREFIX = "/service/"
CBOR_TYPE = "application/cbor"

# Smithy service name on the wire -> (botocore service name, awsJson target prefix).
SERVICES = {
    "GraniteServiceVersion20100801": ("cloudwatch", "GraniteServiceVersion20100801"),
}

_models: dict[str, Any] = {}


def _model(service: str) -> Any:
    if service not in _models:
        _models[service] = botocore.session.get_session().get_service_model(service)
    return _models[service]


def is_rpcv2_cbor(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "")
    return path.startswith(RPC_PREFIX) and "/operation/" in path


# --- shape-driven value conversion -------------------------------------------------


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    return float(value)


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    # Millisecond precision, as the Smithy timestamp rules ask.
    return dt.datetime.fromtimestamp(round(float(value), 3), tz=dt.timezone.utc)


def _walk(value: Any, shape: Any, leaf: Callable[[Any, str], Any]) -> Any:
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {
            k: _walk(v, members.get(k), leaf) for k, v in value.items() if v is not None
        }
    if kind == "list" and isinstance(value, list):
        return [_walk(v, shape.member, leaf) for v in value if v is not None]
    if kind == "map" and isinstance(value, dict):
        return {k: _walk(v, shape.value, leaf) for k, v in value.items() if v is not None}
    return leaf(value, kind)


def _cbor_leaf_to_json(value: Any, kind: str) -> Any:
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return _epoch(value)
    return value


def _json_leaf_to_cbor(value: Any, kind: str) -> Any:
    if kind == "timestamp":
        return _to_datetime(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


# --- GetMetricData pagination ------------------------------------------------------
# moto ignores MaxDatapoints/NextToken and returns everything at once. The bridge
# pages the complete answer itself so that callers' NextToken loops are exercised:
# the token is the number of datapoints already returned.


def _page_metric_data(result: dict[str, Any], start: int, limit: int | None) -> None:
    remaining = limit if limit and limit > 0 else None
    skip = start
    total = 0
    for item in result.get("MetricDataResults", []):
        ts, vals = item.get("Timestamps", []), item.get("Values", [])
        total += len(ts)
        lo = min(skip, len(ts))
        skip -= lo
        hi = len(ts) if remaining is None else min(len(ts), lo + remaining)
        item["Timestamps"], item["Values"] = ts[lo:hi], vals[lo:hi]
        if remaining is not None:
            remaining -= hi - lo
    served = start + sum(len(i.get("Timestamps", [])) for i in result.get("MetricDataResults", []))
    if served < total:
        result["NextToken"] = base64.b64encode(json.dumps({"offset": served}).encode()).decode()
    else:
        result.pop("NextToken", None)


def _token_offset(token: Any) -> int:
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except Exception:  # noqa: BLE001 - any malformed token is the caller's error
        raise _BridgeError(400, "InvalidNextToken", "The NextToken is invalid.")


# --- the WSGI handler --------------------------------------------------------------


class _BridgeError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _respond(
    start_response: Any, status: int, body: Any, extra: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    data = cbor2.dumps(body, datetime_as_timestamp=True, timezone=dt.timezone.utc)
    headers = [
        ("Content-Type", CBOR_TYPE),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(data))),
    ]
    headers.extend(extra)
    start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
    return [data]


def _error(start_response: Any, status: int, code: str, message: str, extra=()) -> list[bytes]:
    return _respond(start_response, status, {"__type": code, "message": message}, extra)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    body = stream.read(length) if length else stream.read()
    if "gzip" in environ.get("HTTP_CONTENT_ENCODING", ""):
        # PutMetricData carries @requestCompression: the SDK gzips large bodies.
        body = gzip.decompress(body)
    return body


def handle(environ: dict[str, Any], start_response: Any, moto_app: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    parts = path[len(RPC_PREFIX):].split("/")
    if len(parts) != 3 or parts[1] != "operation" or parts[0] not in SERVICES:
        return _error(start_response, 404, "UnknownOperationException", f"No route for {path}")
    if environ.get("REQUEST_METHOD") != "POST":
        return _error(start_response, 405, "UnknownOperationException", "RPCv2 requires POST")
    service_name, op_name = parts[0], parts[2]
    service, target_prefix = SERVICES[service_name]
    model = _model(service)
    if op_name not in model.operation_names:
        return _error(start_response, 404, "UnknownOperationException", f"Unknown operation {op_name}")
    op = model.operation_model(op_name)

    try:
        raw = _read_body(environ)
        request = cbor2.loads(raw) if raw else {}
        if not isinstance(request, dict):
            raise _BridgeError(400, "SerializationException", "Body is not a CBOR map")
        request = _walk(request, op.input_shape, _cbor_leaf_to_json) or {}
        page_start, page_limit = 0, None
        if op_name == "GetMetricData":
            if request.get("NextToken"):
                page_start = _token_offset(request.pop("NextToken"))
            page_limit = request.pop("MaxDatapoints", None)
    except _BridgeError as e:
        return _error(start_response, e.status, e.code, e.message)
    except (ValueError, EOFError, OSError, cbor2.CBORDecodeError) as e:
        return _error(start_response, 400, "SerializationException", f"Bad CBOR body: {e}")

    body = json.dumps(request).encode()
    inner = dict(environ)
    for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_ACCEPT", "HTTP_TRANSFER_ENCODING"):
        inner.pop(key, None)
    inner.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"{target_prefix}.{op_name}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    captured: dict[str, Any] = {}

    def inner_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = int(status.split()[0]), headers
        return lambda _data: None

    try:
        chunks = moto_app(inner, inner_start)
        try:
            out = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    except Exception as e:  # noqa: BLE001 - moto bug: answer like AWS would, in CBOR
        return _error(start_response, 500, "InternalFailure", f"{type(e).__name__}: {e}")
    status = captured.get("status", 500)
    moto_headers = {k.lower(): v for k, v in captured.get("headers", [])}
    request_id = moto_headers.get("x-amzn-requestid") or str(uuid.uuid4())
    extra = [("x-amzn-RequestId", request_id)]
    try:
        answer = json.loads(out) if out.strip() else {}
    except ValueError:
        answer = {"__type": "InternalFailure", "message": out.decode("utf-8", "replace")[:500]}
        status = max(status, 500)

    if status >= 400:
        code = str(answer.get("__type") or answer.get("code") or "InternalFailure")
        # moto says "GraniteServiceVersion20100801#X"; AWS uses the Smithy shape id.
        code = f"com.amazonaws.{service}#{code.rsplit('#', 1)[-1]}"
        message = str(answer.get("message") or answer.get("Message") or "")
        if "x-amzn-query-error" in moto_headers:
            extra.append(("x-amzn-query-error", moto_headers["x-amzn-query-error"]))
        return _error(start_response, status, code, message, extra)

    result = _walk(answer, op.output_shape, _json_leaf_to_cbor) if op.output_shape else {}
    if op_name == "GetMetricData":
        _page_metric_data(result, page_start, page_limit)
    return _respond(start_response, 200, result or {}, extra)
