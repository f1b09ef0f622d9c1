"""sagemaker-runtime InvokeEndpoint results seeded per endpoint, with the error modes moto
5.2.5 lacks (its own InvokeEndpoint answers a static or queued body only, never an error).

Seed: POST /_sagewatch/sagemaker-runtime/endpoints/<name> with
  {"results": {"<variant or *>": {...}}}, each result one of
  {"body": "...", "content_type": "...", "variant": "...", "delay_ms": 0}
  {"error": "ModelError", "original_status": 500, "original_message": "...", "log_stream_arn": "..."}
  {"error": "ThrottlingException"} | {"error": "ValidationError", "message": "..."}
  {"error": "NotFound"} (AWS's "Endpoint <name> of account <id> not found.")
A request's TargetVariant picks its result, else "*". Endpoints never seeded go to moto.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterable

CONTROL = "/_sagewatch/sagemaker-runtime/endpoints/"
LOCK = threading.Lock()
SEEDED: dict[str, dict[str, dict[str, Any]]] = {}


def _respond(start_response: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 424: "Failed Dependency"}
    start_response(f"{status} {reasons.get(status, 'Error')}", headers + [("Content-Length", str(len(body)))])
    return [body]


def _error(start_response: Any, status: int, code: str, doc: dict[str, Any]) -> list[bytes]:
    return _respond(
        start_response, status,
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
        json.dumps(doc).encode(),
    )


def _invocation_endpoint(environ: dict[str, Any]) -> str | None:
    path = environ.get("PATH_INFO", "")
    parts = path.strip("/").split("/")
    if environ.get("REQUEST_METHOD") == "POST" and len(parts) == 3 and parts[0] == "endpoints" and parts[2] == "invocations":
        return parts[1]
    return None


def claims(environ: dict[str, Any]) -> bool:
    """This module answers the request: its control route, or an invocation of a seeded endpoint."""
    if environ.get("PATH_INFO", "").startswith(CONTROL):
        return True
    name = _invocation_endpoint(environ)
    with LOCK:
        return name is not None and name in SEEDED


def handle(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path.startswith(CONTROL):
        name = path[len(CONTROL):].strip("/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            doc = json.loads(environ["wsgi.input"].read(length) or b"{}")
            results = doc["results"]
            if not name or not isinstance(results, dict):
                raise ValueError("need an endpoint name and a results object")
        except (ValueError, KeyError, TypeError) as e:
            return _respond(start_response, 400, [("Content-Type", "application/json")],
                            json.dumps({"ok": False, "error": str(e)}).encode())
        with LOCK:
            SEEDED[name] = results
        return _respond(start_response, 200, [("Content-Type", "application/json")], b'{"ok": true}')
    name = _invocation_endpoint(environ) or ""
    variant = environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT")
    with LOCK:
        table = SEEDED.get(name, {})
        result = table.get(variant or "*") or table.get("*") or {"error": "NotFound"}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    if result.get("delay_ms"):
        time.sleep(float(result["delay_ms"]) / 1000.0)
    error = result.get("error")
    if error == "ModelError":
        status = int(result.get("original_status", 500))
        message = str(result.get("original_message", ""))
        return _error(start_response, 424, "ModelError", {
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else "SERVER_ERROR_FROM_MODEL",
            "LogStreamArn": result.get("log_stream_arn", f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/{name}"),
            "Message": f"Received {'client' if status < 500 else 'server'} error ({status}) from primary with message \"{message}\".",
            "OriginalMessage": message,
            "OriginalStatusCode": status,
        })
    if error == "ThrottlingException":
        return _error(start_response, 400, "ThrottlingException", {"message": "Rate exceeded"})
    if error == "ValidationError":
        return _error(start_response, 400, "ValidationError", {"message": result.get("message", "invalid request")})
    if error == "NotFound":
        return _error(start_response, 400, "ValidationError",
                      {"message": f"Endpoint {name} of account 123456789012 not found."})
    headers = [("Content-Type", str(result.get("content_type", "application/json")))]
    served = result.get("variant") or variant or "AllTraffic"
    headers.append(("x-Amzn-Invoked-Production-Variant", served))
    return _respond(start_response, 200, headers, str(result.get("body", "")).encode())
