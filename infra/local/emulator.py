#!/usr/bin/env python3
"""sagewatch local AWS emulator: moto (pinned, see requirements.txt) in-process,
behind a small WSGI middleware that adds what moto 5.2.5 lacks:

- CloudWatch over Smithy RPCv2-CBOR (cbor_bridge.py), the only protocol the
  Rust aws-sdk-cloudwatch speaks;
- AWS-like SageMaker job semantics (sagemaker_ext.py);
- AWS-like alarm state and SetAlarmState actions (cloudwatch_ext.py);
- a control API under /_sagewatch/ to seed state tests cannot create through
  AWS APIs (job statuses, failure reasons, ...);
- a guard in front of all of it: only requests addressed to a loopback name
  (Host and, when a browser sends one, Origin) are served, so a web page cannot
  drive the emulator through DNS rebinding or moto's permissive CORS; and gzip
  request bodies are inflated here, at most MAX_INFLATED_BODY bytes, so a
  compressed bomb cannot exhaust memory (nothing behind the guard sees gzip).

Usage: python infra/local/emulator.py --host 127.0.0.1 --port 0 [--parent-pid P] [--verbose]
Prints `SAGEWATCH_EMULATOR_READY http://<host>:<port>` once listening.
Loopback only: any other bind address is refused.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import logging
import os
import sys
import threading
import time
import zlib
from typing import Any, Iterable
from urllib.parse import urlsplit

sys.dont_write_bytecode = True  # keep infra/local/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

CONTROL_PREFIX = "/_sagewatch/"

# Request bodies: PutMetricData (the only body the SDKs compress) is at most 1 MB, so these
# leave a wide margin for tests and stop a bomb (1 GiB of zeros gzips to about 1 MiB).
MAX_INFLATED_BODY = 16 * 1024 * 1024
MAX_COMPRESSED_BODY = 16 * 1024 * 1024
_CHUNK = 64 * 1024


def loopback_host(host: str) -> str:
    """Return the address to bind, or exit if `host` is not a loopback address."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        sys.exit(f"emulator: refusing non-loopback host {host!r} (use 127.0.0.1, ::1 or localhost)")
    if not addr.is_loopback:
        sys.exit(f"emulator: refusing non-loopback host {host!r} (use 127.0.0.1, ::1 or localhost)")
    return str(addr)


# --- request guard -------------------------------------------------------------------


def is_loopback_name(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (brackets optional), nothing else."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]") if host.startswith("[") else host).is_loopback
    except ValueError:
        return False


def is_loopback_authority(authority: str) -> bool:
    """A Host header value: a loopback name, optionally `:port` (IPv6 in brackets)."""
    if authority.startswith("["):
        host, sep, rest = authority.partition("]")
        host += sep
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return False
    else:
        host, colon, port = authority.partition(":")
        port = port if colon else None
        if ":" in (port or ""):
            return False  # a bare IPv6 address: Host requires brackets
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return False
    return is_loopback_name(host)


def is_loopback_origin(origin: str) -> bool:
    """An Origin header value: http(s) scheme and a loopback host ("null" is not)."""
    try:
        parts = urlsplit(origin)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    del port
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or not parts.hostname:
        return False
    return is_loopback_name(parts.hostname)


def refusal(environ: dict[str, Any]) -> str | None:
    """Why this request must not be served, or None."""
    host = environ.get("HTTP_HOST")
    if not host:
        return "no Host header"
    if not is_loopback_authority(host):
        return f"Host {host!r} is not a loopback address"
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not is_loopback_origin(origin):
        return f"Origin {origin!r} is not a loopback origin"
    return None


class BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def inflate_gzip(stream: Any, length: int | None, limit: int = MAX_INFLATED_BODY) -> bytes:
    """Inflates a gzip body (several members allowed) to at most `limit` bytes."""
    out = bytearray()
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pending, read = b"", 0
    while True:
        if not pending:
            want = _CHUNK if length is None else min(_CHUNK, length - read)
            pending = stream.read(want) if want > 0 else b""
            if not pending:
                break
            read += len(pending)
            if read > MAX_COMPRESSED_BODY:
                raise BodyError(413, f"compressed body over {MAX_COMPRESSED_BODY} bytes")
        try:
            # Never more than one byte past the limit, whatever the compression ratio.
            out += inflater.decompress(pending, limit + 1 - len(out))
        except zlib.error as e:
            raise BodyError(400, f"body is not valid gzip: {e}")
        if len(out) > limit:
            raise BodyError(413, f"inflated body over {limit} bytes")
        if inflater.eof:
            pending = inflater.unused_data
            if pending:
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        else:
            pending = inflater.unconsumed_tail
    if not inflater.eof:
        raise BodyError(400, "truncated gzip body")
    return bytes(out)


def inflate_request(environ: dict[str, Any]) -> None:
    """Replaces a gzip request body by its (bounded) inflated bytes, in place."""
    encodings = [e.strip().lower() for e in environ.get("HTTP_CONTENT_ENCODING", "").split(",")]
    encodings = [e for e in encodings if e and e != "identity"]
    if not encodings:
        return
    if encodings not in (["gzip"], ["x-gzip"]):
        raise BodyError(415, f"unsupported Content-Encoding {environ['HTTP_CONTENT_ENCODING']!r}")
    raw_length = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(raw_length) if raw_length else None
    except ValueError:
        raise BodyError(400, f"bad Content-Length {raw_length!r}")
    if length is not None and (length < 0 or length > MAX_COMPRESSED_BODY):
        raise BodyError(413, f"compressed body over {MAX_COMPRESSED_BODY} bytes")
    body = inflate_gzip(environ["wsgi.input"], length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_CONTENT_ENCODING", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False


# --- control API ---------------------------------------------------------------------


def _json_response(start_response: Any, status: int, doc: Any) -> list[bytes]:
    body = json.dumps(doc).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
        415: "Unsupported Media Type",
    }
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    """A control request's JSON object body (empty: {})."""
    import sagemaker_control

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        patch = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise sagemaker_control.ControlError(400, f"body is not JSON: {e}")
    if not isinstance(patch, dict):
        raise sagemaker_control.ControlError(400, "body must be a JSON object")
    return patch


def control(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    import sagemaker_control as sagemaker_ext  # the control API's SageMaker half

    method = environ.get("REQUEST_METHOD", "GET")
    parts = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):].strip("/").split("/")
    try:
        if parts == ["health"]:
            return _json_response(start_response, 200, {"ok": True})
        # event-augmenter's sweep (issue #18): finished jobs whose event never came.
        if method == "POST" and parts == ["sagemaker", "finished-jobs"]:
            return _json_response(start_response, 200, sagemaker_ext.seed_finished_jobs(_body(environ)))
        # failure-enricher's seeds (issue #14): a failed endpoint, a pipeline execution with
        # its steps, a tuning job with its children.
        if method == "POST" and parts[:1] == ["sagemaker"]:
            if len(parts) == 4 and parts[1] == "endpoints" and parts[3] == "state":
                return _json_response(start_response, 200, sagemaker_ext.seed_endpoint_state(parts[2], _body(environ)))
            if len(parts) == 5 and parts[1] == "pipelines" and parts[3] == "executions":
                doc = sagemaker_ext.seed_pipeline_execution(parts[2], parts[4], _body(environ))
                return _json_response(start_response, 200, doc)
            if len(parts) == 3 and parts[1] == "hyper-parameter-tuning-jobs":
                return _json_response(start_response, 200, sagemaker_ext.seed_tuning_job(parts[2], _body(environ)))
        if len(parts) == 3 and parts[0] == "sagemaker" and parts[1].endswith("-jobs"):
            kind = parts[1][: -len("-jobs")]
            if kind not in sagemaker_ext.KINDS:
                raise sagemaker_ext.ControlError(404, f"unknown job kind {parts[1]!r}")
            if method == "GET":
                query = dict(
                    p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p
                )
                doc = sagemaker_ext.describe(
                    kind,
                    parts[2],
                    query.get("Region", sagemaker_ext.DEFAULT_REGION),
                    query.get("AccountId", sagemaker_ext.DEFAULT_ACCOUNT),
                )
                return _json_response(start_response, 200, doc)
            if method == "POST":
                return _json_response(start_response, 200, sagemaker_ext.seed(kind, parts[2], _body(environ)))
            raise sagemaker_ext.ControlError(405, f"{method} not allowed")
        # An endpoint's times (the idle check ignores endpoints younger than its look-back).
        if len(parts) == 3 and parts[:2] == ["sagemaker", "endpoints"] and method == "POST":
            return _json_response(start_response, 200, sagemaker_ext.patch_endpoint(parts[2], _body(environ)))
        raise sagemaker_ext.ControlError(404, f"no control route {environ.get('PATH_INFO')}")
    except sagemaker_ext.ControlError as e:
        return _json_response(start_response, e.status, {"ok": False, "error": str(e)})
    except (KeyError, TypeError, ValueError) as e:
        return _json_response(start_response, 400, {"ok": False, "error": f"{type(e).__name__}: {e}"})


class SagewatchMiddleware:
    """Guards every request (loopback Host/Origin, bounded gzip), then routes control and
    RPCv2-CBOR requests; everything else goes to moto as is."""

    def __init__(self, moto_app: Any):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        import cbor_bridge

        why = refusal(environ)
        if why is not None:
            return _json_response(start_response, 403, {"ok": False, "error": f"refused: {why}"})
        try:
            inflate_request(environ)
        except BodyError as e:
            return _json_response(start_response, e.status, {"ok": False, "error": str(e)})
        path = environ.get("PATH_INFO", "")
        import runtime_ext  # seeded sagemaker-runtime InvokeEndpoint results and errors

        if runtime_ext.claims(environ):
            return runtime_ext.handle(environ, start_response)
        if path.startswith(CONTROL_PREFIX):
            return control(environ, start_response)
        if cbor_bridge.is_rpcv2_cbor(environ):
            return cbor_bridge.handle(environ, start_response, self.moto_app)
        return self.moto_app(environ, start_response)


def build_app() -> SagewatchMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    import cloudwatch_ext
    import sagemaker_patches as sagemaker_ext  # moto's SageMaker patches

    sagemaker_ext.install()
    cloudwatch_ext.install()
    return SagewatchMiddleware(DomainDispatcherApplication(create_backend_app))


# --- process lifetime ---------------------------------------------------------------


def watch_parent(pid: int) -> None:
    """Exit as soon as the process that started us is gone, so tests never leak emulators."""
    original_ppid = os.getppid()

    def alive() -> bool:
        if pid == original_ppid and os.getppid() != original_ppid:
            return False  # we were re-parented: our parent died
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def loop() -> None:
        while alive():
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    host = loopback_host(args.host)
    if args.parent_pid:
        watch_parent(args.parent_pid)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Werkzeug writes a response's head and body in separate sends: on a kept-alive
            # connection Nagle + delayed ACK would stall each response ~40 ms (make bench).
            import socket

            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_request(self, *a: Any, **k: Any) -> None:
            if args.verbose:
                super().log_request(*a, **k)

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(host, args.port, build_app(), threaded=True, request_handler=Handler)
    port = server.server_port
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"SAGEWATCH_EMULATOR_READY http://{shown}:{port}\n")
    sys.stdout.flush()
    # Nothing else goes to stdout: whoever read the READY line may stop reading.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
