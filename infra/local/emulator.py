#!/usr/bin/env python3
"""sagewatch local AWS emulator: moto (pinned, see requirements.txt) in-process,
behind a small WSGI middleware that adds what moto 5.2.5 lacks:

- CloudWatch over Smithy RPCv2-CBOR (cbor_bridge.py), the only protocol the
  Rust aws-sdk-cloudwatch speaks;
- AWS-like SageMaker job semantics (sagemaker_ext.py);
- AWS-like alarm state and SetAlarmState actions (cloudwatch_ext.py);
- a control API under /_sagewatch/ to seed state tests cannot create through
  AWS APIs (job statuses, failure reasons, ...).

Usage: python infra/local/emulator.py --host 127.0.0.1 --port 0 [--parent-pid P] [--verbose]
Prints `SAGEWATCH_EMULATOR_READY http://<host>:<port>` once listening.
Loopback only: any other bind address is refused.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Iterable

sys.dont_write_bytecode = True  # keep infra/local/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

CONTROL_PREFIX = "/_sagewatch/"


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


# --- control API ---------------------------------------------------------------------


def _json_response(start_response: Any, status: int, doc: Any) -> list[bytes]:
    body = json.dumps(doc).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def control(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    import sagemaker_ext

    method = environ.get("REQUEST_METHOD", "GET")
    parts = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):].strip("/").split("/")
    try:
        if parts == ["health"]:
            return _json_response(start_response, 200, {"ok": True})
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
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b""
                try:
                    patch = json.loads(raw) if raw.strip() else {}
                except ValueError as e:
                    raise sagemaker_ext.ControlError(400, f"body is not JSON: {e}")
                if not isinstance(patch, dict):
                    raise sagemaker_ext.ControlError(400, "body must be a JSON object")
                return _json_response(start_response, 200, sagemaker_ext.seed(kind, parts[2], patch))
            raise sagemaker_ext.ControlError(405, f"{method} not allowed")
        raise sagemaker_ext.ControlError(404, f"no control route {environ.get('PATH_INFO')}")
    except sagemaker_ext.ControlError as e:
        return _json_response(start_response, e.status, {"ok": False, "error": str(e)})
    except (KeyError, TypeError, ValueError) as e:
        return _json_response(start_response, 400, {"ok": False, "error": f"{type(e).__name__}: {e}"})


class SagewatchMiddleware:
    """Routes control and RPCv2-CBOR requests; everything else goes to moto as is."""

    def __init__(self, moto_app: Any):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        import cbor_bridge

        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return control(environ, start_response)
        if cbor_bridge.is_rpcv2_cbor(environ):
            return cbor_bridge.handle(environ, start_response, self.moto_app)
        return self.moto_app(environ, start_response)


def build_app() -> SagewatchMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    import cloudwatch_ext
    import sagemaker_ext

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
