#!/usr/bin/env python3
"""The emulator's request guard (issue #11 item 17): loopback Host/Origin only, bounded gzip.

Run with the emulator's venv (moto is needed for the over-the-wire part):

    .tools/venv/bin/python infra/local/tests/emulator_guard.py

The table tests call emulator.py's helpers directly; the wire tests start the real emulator
on a free loopback port and send raw HTTP with forged Host/Origin headers and a gzip bomb.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import subprocess
import sys
import time
import unittest
import zlib

sys.dont_write_bytecode = True
LOCAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, LOCAL)

import emulator  # noqa: E402

ACCEPTED_HOSTS = [
    "127.0.0.1:4566",
    "127.0.0.1",
    "127.1.2.3:80",  # all of 127.0.0.0/8
    "localhost",
    "LOCALHOST:4566",
    "[::1]:4566",
    "[::1]",
]
REFUSED_HOSTS = [
    "",
    "evil.example",
    "evil.example:4566",
    "127.0.0.1.nip.io:4566",  # resolves to loopback, but is a rebinding-style name
    "localhost.evil.example",
    "0.0.0.0:4566",
    "10.0.0.1:4566",
    "192.168.1.10",
    "[::2]:4566",
    "::1",  # IPv6 in Host needs brackets
    "[::1]x",
    "127.0.0.1:",
    "127.0.0.1:99999",
    "127.0.0.1:45a",
    "0x7f000001",
]
ACCEPTED_ORIGINS = ["http://127.0.0.1:4566", "http://localhost:3000", "https://[::1]:8443"]
REFUSED_ORIGINS = [
    "null",  # sandboxed iframes, file:// pages
    "https://evil.example",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example:4566",
    "file://",
    "ftp://127.0.0.1",
    "http://localhost:abc",
    "http://127.0.0.1/some/path",
]


class Names(unittest.TestCase):
    def test_hosts(self) -> None:
        for host in ACCEPTED_HOSTS:
            self.assertTrue(emulator.is_loopback_authority(host), host)
        for host in REFUSED_HOSTS:
            self.assertFalse(emulator.is_loopback_authority(host), host)

    def test_origins(self) -> None:
        for origin in ACCEPTED_ORIGINS:
            self.assertTrue(emulator.is_loopback_origin(origin), origin)
        for origin in REFUSED_ORIGINS:
            self.assertFalse(emulator.is_loopback_origin(origin), origin)

    def test_refusal_needs_both(self) -> None:
        self.assertIsNone(emulator.refusal({"HTTP_HOST": "127.0.0.1:1"}))
        self.assertIsNone(emulator.refusal({"HTTP_HOST": "127.0.0.1:1", "HTTP_ORIGIN": "http://localhost"}))
        self.assertIn("Host", emulator.refusal({}) or "")
        self.assertIn("Host", emulator.refusal({"HTTP_HOST": "evil.example"}) or "")
        self.assertIn(
            "Origin",
            emulator.refusal({"HTTP_HOST": "127.0.0.1:1", "HTTP_ORIGIN": "https://evil.example"}) or "",
        )


def bomb(inflated: int) -> bytes:
    """`inflated` zero bytes, gzip-compressed (about 1000:1), built without holding them."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as z:
        block = bytes(1024 * 1024)
        for _ in range(inflated // len(block)):
            z.write(block)
    return out.getvalue()


class Inflate(unittest.TestCase):
    def test_round_trip_and_members(self) -> None:
        body = b'{"MetricData": []}' * 100
        self.assertEqual(emulator.inflate_gzip(io.BytesIO(gzip.compress(body)), None), body)
        two = gzip.compress(b"first,") + gzip.compress(b"second")
        self.assertEqual(emulator.inflate_gzip(io.BytesIO(two), len(two)), b"first,second")

    def test_bomb_stops_at_the_limit(self) -> None:
        data = bomb(64 * 1024 * 1024)
        self.assertLess(len(data), 1024 * 1024, "the bomb is small on the wire")
        with self.assertRaises(emulator.BodyError) as caught:
            emulator.inflate_gzip(io.BytesIO(data), len(data), limit=1024 * 1024)
        self.assertEqual(caught.exception.status, 413)

    def test_limit_is_exact(self) -> None:
        body = bytes(1000)
        data = gzip.compress(body)
        self.assertEqual(emulator.inflate_gzip(io.BytesIO(data), len(data), limit=1000), body)
        with self.assertRaises(emulator.BodyError):
            emulator.inflate_gzip(io.BytesIO(data), len(data), limit=999)

    def test_broken_bodies(self) -> None:
        data = gzip.compress(b"hello world" * 50)
        for broken in (data[: len(data) // 2], b"not gzip at all", data + b"trailing junk"):
            with self.assertRaises(emulator.BodyError) as caught:
                emulator.inflate_gzip(io.BytesIO(broken), len(broken))
            self.assertEqual(caught.exception.status, 400, broken[:20])

    def test_request_rewritten_in_place(self) -> None:
        body = b'{"a": 1}'
        data = gzip.compress(body)
        environ = {
            "HTTP_CONTENT_ENCODING": "gzip",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
        }
        emulator.inflate_request(environ)
        self.assertNotIn("HTTP_CONTENT_ENCODING", environ)
        self.assertEqual(environ["CONTENT_LENGTH"], str(len(body)))
        self.assertEqual(environ["wsgi.input"].read(), body)
        big = {"HTTP_CONTENT_ENCODING": "gzip", "CONTENT_LENGTH": str(emulator.MAX_COMPRESSED_BODY + 1),
               "wsgi.input": io.BytesIO(b"")}
        with self.assertRaises(emulator.BodyError) as caught:
            emulator.inflate_request(big)
        self.assertEqual(caught.exception.status, 413)
        with self.assertRaises(emulator.BodyError) as caught:
            emulator.inflate_request({"HTTP_CONTENT_ENCODING": "br", "wsgi.input": io.BytesIO(b"")})
        self.assertEqual(caught.exception.status, 415)


class OverTheWire(unittest.TestCase):
    """The real emulator process, raw HTTP."""

    proc: subprocess.Popen
    port: int

    @classmethod
    def setUpClass(cls) -> None:
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(LOCAL, "emulator.py"), "--host", "127.0.0.1", "--port", "0",
             "--parent-pid", str(os.getpid())],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert cls.proc.stdout is not None
        line = cls.proc.stdout.readline()
        if not line.startswith("SAGEWATCH_EMULATOR_READY "):
            cls.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        cls.port = int(line.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.terminate()
        cls.proc.wait(timeout=10)

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def test_loopback_host_is_served(self) -> None:
        status, body = self.request("GET", "/_sagewatch/health", {"Host": self.host()})
        self.assertEqual((status, json.loads(body)), (200, {"ok": True}))
        status, _ = self.request("GET", "/_sagewatch/health", {"Host": f"localhost:{self.port}"})
        self.assertEqual(status, 200)

    def test_foreign_host_is_refused(self) -> None:
        # DNS rebinding: the browser connects to 127.0.0.1 but sends the attacker's name.
        for host in (f"evil.example:{self.port}", f"127.0.0.1.nip.io:{self.port}"):
            status, body = self.request("GET", "/_sagewatch/health", {"Host": host})
            self.assertEqual(status, 403, host)
            self.assertIn("refused", json.loads(body)["error"])
        # moto's own routes too (an SQS call a page could forge).
        status, _ = self.request("POST", "/", {"Host": "evil.example",
                                               "Content-Type": "application/x-www-form-urlencoded"},
                                 b"Action=ListQueues")
        self.assertEqual(status, 403)

    def test_foreign_origin_is_refused(self) -> None:
        # A CORS preflight and a simple POST from a web page: both refused before moto answers.
        status, _ = self.request("OPTIONS", "/", {"Host": self.host(), "Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 403)
        status, _ = self.request("POST", "/", {"Host": self.host(), "Origin": "null",
                                               "Content-Type": "application/x-www-form-urlencoded"},
                                 b"Action=ListQueues")
        self.assertEqual(status, 403)
        status, _ = self.request("GET", "/_sagewatch/health",
                                 {"Host": self.host(), "Origin": f"http://localhost:{self.port}"})
        self.assertEqual(status, 200)

    def test_gzip_bomb_is_refused_and_the_emulator_lives_on(self) -> None:
        data = bomb(emulator.MAX_INFLATED_BODY + 16 * 1024 * 1024)
        started = time.monotonic()
        status, body = self.request("POST", "/", {"Host": self.host(), "Content-Encoding": "gzip",
                                                  "Content-Type": "application/x-amz-json-1.0"}, data)
        self.assertEqual(status, 413, body)
        self.assertLess(time.monotonic() - started, 20)
        status, _ = self.request("GET", "/_sagewatch/health", {"Host": self.host()})
        self.assertEqual(status, 200)

    def test_small_gzip_body_reaches_the_handler(self) -> None:
        path = "/_sagewatch/sagemaker/training-jobs/guard-gzip-job"
        patch = gzip.compress(json.dumps({"FailureReason": "inflated by the guard"}).encode())
        status, body = self.request("POST", path, {"Host": self.host(), "Content-Encoding": "gzip",
                                                   "Content-Type": "application/json"}, patch)
        self.assertEqual(status, 200, body)
        status, body = self.request("GET", path, {"Host": self.host()})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body).get("FailureReason"), "inflated by the guard")


if __name__ == "__main__":
    unittest.main(verbosity=2)
