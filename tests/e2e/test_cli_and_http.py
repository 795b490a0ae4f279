#!/usr/bin/python3
"""End-to-end: the real switchboard binary, driven by curl and a real WebSocket client.

Run with /usr/bin/python3 (needs Debian's python3-websockets and curl).
SWITCHBOARD_BINARY points at the binary; CTest sets it.
"""

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402
import websockets.exceptions  # noqa: E402

from e2e_support import (  # noqa: E402
    IO_DEADLINE, ServerProcess, binary_path, connections, curl, invalid_status,
    poll_until, recv, run, session_id_for, wait_closed, ws_connect)


def raw_exchange(port, request):
    """Sends raw bytes, reads until the server closes; returns everything received."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_DEADLINE) as sock:
        sock.sendall(request)
        received = b""
        deadline = time.monotonic() + IO_DEADLINE
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return received
            received += chunk
        raise AssertionError(f"server did not close the connection; got {received!r}")


def upgrade_request(port, path="/ws", origin=None):
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    if origin:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_lines(raw):
    return re.findall(rb"HTTP/1\.1 (\d{3})", raw)


class ServerTestCase(unittest.TestCase):
    """Starts one server per class on port 0; stops it by PID afterwards."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(*cls.server_args)
        cls.addClassCleanup(cls.server.kill)

    def wait_until_no_sessions(self):
        poll_until(lambda: connections(self.server) == [], what="all sessions to be gone")

    def admin(self, path, **kwargs):
        return curl(self.server.http + path, token=self.server.token, **kwargs)


class CommandLineTest(unittest.TestCase):
    def run_binary(self, *args):
        return subprocess.run([binary_path(), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=IO_DEADLINE)

    def test_help_lists_options(self):
        result = self.run_binary("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in ("--host", "--port", "--no-gui", "--ping-interval", "--idle-timeout",
                       "--max-message-size", "--admin-token", "--allowed-origin",
                       "--log-level"):
            self.assertIn(option, result.stdout)

    def test_version(self):
        result = self.run_binary("--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout.strip(), r"^switchboard \d+\.\d+\.\d+")

    def test_invalid_value_exits_2_with_message(self):
        result = self.run_binary("--no-gui", "--port", "not-a-port")
        self.assertEqual(result.returncode, 2)
        self.assertIn("not-a-port", result.stderr)

    def test_port_in_use_exits_1(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = self.run_binary("--no-gui", "--port", str(port), "--admin-token", "T")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("already in use", result.stderr)
        self.assertNotIn("Switchboard listening", result.stdout)


class HttpTest(ServerTestCase):
    def test_health_json(self):
        response = curl(self.server.http + "/api/health")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("content-type").startswith("application/json"))
        body = response.json()
        self.assertEqual(body["status"], "ok")
        self.assertIsInstance(body["version"], str)
        self.assertIsInstance(body["uptime_s"], int)
        self.assertEqual(body["connections"], 0)
        self.assertNotIn(b"\n", response.body.strip(), "JSON should be compact")

    def test_head_works_where_get_does(self):
        get = curl(self.server.http + "/api/health")
        head = curl(self.server.http + "/api/health", head=True)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("content-type"), get.header("content-type"))
        self.assertEqual(head.header("content-length"), get.header("content-length"))
        # No body: on one connection, the next response starts right after HEAD's headers.
        host = f"Host: 127.0.0.1:{self.server.port}\r\n"
        raw = raw_exchange(self.server.port,
                           f"HEAD /api/health HTTP/1.1\r\n{host}\r\n"
                           f"GET /nope HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode())
        first, _, rest = raw.partition(b"\r\n\r\n")
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), raw)
        self.assertTrue(rest.startswith(b"HTTP/1.1 404"), raw)

    def test_unknown_path_is_404_json(self):
        response = curl(self.server.http + "/no/such/thing")
        self.assertEqual(response.status, 404)
        self.assertEqual(response.json()["error"]["status"], 404)

    def test_wrong_method_is_405_with_allow(self):
        response = curl(self.server.http + "/api/health", method="POST", data="x")
        self.assertEqual(response.status, 405)
        allowed = {m.strip() for m in response.header("allow").split(",")}
        self.assertEqual(allowed, {"GET", "HEAD"})
        self.assertEqual(response.json()["error"]["status"], 405)

    def test_admin_routes_need_the_token(self):
        routes = [("GET", "/api/connections", None), ("POST", "/api/broadcast", "hi"),
                  ("POST", "/api/connections/1/send", "hi"), ("DELETE", "/api/connections/1", None)]
        for method, path, data in routes:
            for token in (None, "wrong-token"):
                with self.subTest(method=method, path=path, token=token):
                    response = curl(self.server.http + path, method=method, data=data,
                                    token=token)
                    self.assertEqual(response.status, 401)
                    self.assertTrue(response.header("www-authenticate").startswith("Bearer"))
                    self.assertEqual(response.json()["error"]["status"], 401)
        self.assertEqual(self.admin("/api/connections").status, 200)

    def test_request_id_echoed_when_valid(self):
        response = curl(self.server.http + "/api/health", headers=["X-Request-Id: e2e-abc_123.4"])
        self.assertEqual(response.header("x-request-id"), "e2e-abc_123.4")
        generated = curl(self.server.http + "/api/health", headers=["X-Request-Id: bad id!"])
        self.assertNotEqual(generated.header("x-request-id"), "bad id!")
        self.assertRegex(generated.header("x-request-id"), r"^[A-Za-z0-9_.:-]+$")
        # Every response carries one, even without asking.
        self.assertTrue(curl(self.server.http + "/nope").header("x-request-id"))

    def test_access_log_line_is_written_while_the_server_runs(self):
        # Log lines are batched; an idle server must still write them out promptly.
        curl(self.server.http + "/api/health", headers=["X-Request-Id: e2e-log-line"])
        pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                             r"info switchboard\.http: "
                             r"GET /api/health -> 200 in [0-9.]+ ms \(request id e2e-log-line\)$",
                             re.M)
        poll_until(lambda: pattern.search(self.server.stderr_text()), what="the access log line")

    def test_malformed_json_is_400_json(self):
        response = self.admin("/api/broadcast", method="POST", data='{"text": ',
                              headers=["Content-Type: application/json"])
        self.assertEqual(response.status, 400)
        self.assertTrue(response.header("content-type").startswith("application/json"))
        error = response.json()["error"]
        self.assertEqual(error["status"], 400)
        self.assertIn("JSON", error["message"])

    def test_wrong_json_shape_is_400(self):
        response = self.admin("/api/broadcast", method="POST", data='{"txt": "x"}',
                              headers=["Content-Type: application/json"])
        self.assertEqual(response.status, 400)

    def test_plain_get_on_ws_is_426(self):
        response = curl(self.server.http + "/ws")
        self.assertEqual(response.status, 426)
        self.assertEqual(response.header("upgrade").lower(), "websocket")

    def test_index_page_is_served(self):
        response = curl(self.server.http + "/")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("content-type").startswith("text/html"))
        for element_id in ("url", "connect", "disconnect", "status", "log", "text", "send"):
            self.assertIn(f'id="{element_id}"'.encode(), response.body)

    def test_send_to_missing_session_is_404(self):
        self.assertEqual(self.admin("/api/connections/999999/send", method="POST",
                                    data="x").status, 404)
        self.assertEqual(self.admin("/api/connections/999999", method="DELETE").status, 404)


class WebSocketTest(ServerTestCase):
    def setUp(self):
        self.wait_until_no_sessions()

    def test_greeting_and_text_echo(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws") as ws:
                self.assertEqual(await recv(ws), "start")
                for text in ("hello", "", "grüße ✓ 🚀", "x" * 70000):
                    await ws.send(text)
                    self.assertEqual(await recv(ws), text)
        run(body())

    def test_binary_echo(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws", max_size=None) as ws:
                self.assertEqual(await recv(ws), "start")
                for payload in (b"", b"\x00\x01\xfe\xff", os.urandom(1024 * 1024)):
                    await ws.send(payload)
                    echoed = await recv(ws)
                    self.assertIsInstance(echoed, bytes)
                    self.assertEqual(echoed, payload)
        run(body())

    def test_health_counts_sessions(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws") as a, \
                    ws_connect(self.server.ws + "/ws/chat") as b:
                await recv(a)
                await recv(b)
                health = await asyncio.to_thread(curl, self.server.http + "/api/health")
                self.assertEqual(health.json()["connections"], 2)
                listed = await asyncio.to_thread(connections, self.server)
                self.assertEqual(sorted(s["path"] for s in listed), ["/ws", "/ws/chat"])
                for info in listed:
                    self.assertEqual(info["state"], "open")
                    self.assertTrue(info["peer"].startswith("127.0.0.1:"))
        run(body())

    def test_broadcast_reaches_each_of_20_clients_exactly_once(self):
        count = 20

        async def body():
            clients = [await ws_connect(self.server.ws + "/ws") for _ in range(count)]
            try:
                greetings = await asyncio.gather(*(recv(ws) for ws in clients))
                self.assertEqual(greetings, ["start"] * count)

                plain = await asyncio.to_thread(
                    self.admin, "/api/broadcast", method="POST", data="hello everyone",
                    headers=["Content-Type: text/plain"])
                self.assertEqual((plain.status, plain.json()), (200, {"delivered": count}))
                as_json = await asyncio.to_thread(
                    self.admin, "/api/broadcast", method="POST",
                    data=json.dumps({"text": "json text"}),
                    headers=["Content-Type: application/json"])
                self.assertEqual(as_json.json(), {"delivered": count})
                as_binary = await asyncio.to_thread(
                    self.admin, "/api/broadcast", method="POST",
                    data=json.dumps({"binary_base64": base64.b64encode(b"\x00bin\xff").decode()}),
                    headers=["Content-Type: application/json"])
                self.assertEqual(as_binary.json(), {"delivered": count})

                # Each client's own echo is the marker after the broadcasts: anything
                # delivered twice would show up before it.
                for i, ws in enumerate(clients):
                    await ws.send(f"marker {i}")
                for i, ws in enumerate(clients):
                    got = [await recv(ws) for _ in range(4)]
                    self.assertEqual(got, ["hello everyone", "json text", b"\x00bin\xff",
                                           f"marker {i}"], f"client {i}")
            finally:
                await asyncio.gather(*(ws.close() for ws in clients))
        run(body())

    def test_send_to_one_reaches_only_that_client(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws") as a, \
                    ws_connect(self.server.ws + "/ws") as b, \
                    ws_connect(self.server.ws + "/ws") as c:
                for ws in (a, b, c):
                    self.assertEqual(await recv(ws), "start")
                target = await asyncio.to_thread(session_id_for, self.server, b)
                response = await asyncio.to_thread(
                    self.admin, f"/api/connections/{target}/send", method="POST",
                    data="only for b")
                self.assertEqual((response.status, response.json()), (200, {"delivered": 1}))
                self.assertEqual(await recv(b), "only for b")
                after = await asyncio.to_thread(self.admin, "/api/broadcast", method="POST",
                                                data="after")
                self.assertEqual(after.json(), {"delivered": 3})
                self.assertEqual(await recv(a), "after")
                self.assertEqual(await recv(b), "after")
                self.assertEqual(await recv(c), "after")
        run(body())

    def test_delete_closes_with_4000(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws") as victim, \
                    ws_connect(self.server.ws + "/ws") as bystander:
                await recv(victim)
                await recv(bystander)
                target = await asyncio.to_thread(session_id_for, self.server, victim)
                response = await asyncio.to_thread(self.admin, f"/api/connections/{target}",
                                                   method="DELETE")
                self.assertEqual(response.status, 200)
                code, reason = await wait_closed(victim)
                self.assertEqual(code, 4000)
                self.assertEqual(reason, "closed by operator")
                await bystander.send("still here")
                self.assertEqual(await recv(bystander), "still here")
                await asyncio.to_thread(
                    poll_until, lambda: target not in [s["id"] for s in connections(self.server)],
                    what="the deleted session to leave /api/connections")
        run(body())

    def test_chat_relays_to_the_others_only(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws/chat") as a, \
                    ws_connect(self.server.ws + "/ws/chat") as b, \
                    ws_connect(self.server.ws + "/ws/chat") as c, \
                    ws_connect(self.server.ws + "/ws") as echo:
                for ws in (a, b, c, echo):
                    self.assertEqual(await recv(ws), "start")
                await a.send("hi from a")
                self.assertEqual(await recv(b), "hi from a")
                self.assertEqual(await recv(c), "hi from a")
                await b.send(b"\x01binary from b")
                # a's next message is b's: a did not get its own message back.
                self.assertEqual(await recv(a), b"\x01binary from b")
                self.assertEqual(await recv(c), b"\x01binary from b")
                # The /ws client got none of the chat traffic.
                await echo.send("echo marker")
                self.assertEqual(await recv(echo), "echo marker")
        run(body())

    def test_upgrade_on_unknown_path_is_404_without_101(self):
        raw = raw_exchange(self.server.port, upgrade_request(self.server.port, "/nope"))
        self.assertEqual(status_lines(raw), [b"404"], raw)

        async def body():
            with self.assertRaises(websockets.exceptions.InvalidHandshake) as caught:
                await ws_connect(self.server.ws + "/nope")
            self.assertEqual(invalid_status(caught.exception), 404)
        run(body())

    def test_foreign_origin_is_refused_with_403(self):
        raw = raw_exchange(self.server.port,
                           upgrade_request(self.server.port, origin="http://evil.example"))
        self.assertEqual(status_lines(raw), [b"403"], raw)

        async def body():
            for origin in ("http://evil.example", f"http://localhost:{self.server.port}",
                           "http://127.0.0.1:1", "null"):
                with self.subTest(origin=origin):
                    with self.assertRaises(websockets.exceptions.InvalidHandshake) as caught:
                        await ws_connect(self.server.ws + "/ws", origin=origin)
                    self.assertEqual(invalid_status(caught.exception), 403)
            # Same origin (what the bundled page sends) is fine.
            async with ws_connect(self.server.ws + "/ws",
                                  origin=f"http://127.0.0.1:{self.server.port}") as ws:
                self.assertEqual(await recv(ws), "start")
        run(body())
        self.wait_until_no_sessions()


class AllowedOriginTest(ServerTestCase):
    server_args = ("--allowed-origin", "http://localhost:3000")

    def test_listed_origin_allowed_others_refused(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws", origin="http://localhost:3000") as ws:
                self.assertEqual(await recv(ws), "start")
            with self.assertRaises(websockets.exceptions.InvalidHandshake) as caught:
                await ws_connect(self.server.ws + "/ws", origin="http://localhost:3001")
            self.assertEqual(invalid_status(caught.exception), 403)
        run(body())


class TokenThrottleTest(ServerTestCase):
    """Ten wrong tokens from one address, then 429 without looking at the token."""

    server_args = ("--client-token", "e2e-client-token")

    def assert_throttled(self, response, what):
        self.assertEqual(response.status, 429)
        self.assertEqual(response.header("retry-after"), "6")
        self.assertEqual(response.json()["error"]["status"], 429)
        self.assertIn(f"too many wrong {what}s", response.json()["error"]["message"])

    def test_admin_token(self):
        for _ in range(10):
            self.assertEqual(curl(self.server.http + "/api/connections",
                                  token="guess").status, 401)
        self.assert_throttled(curl(self.server.http + "/api/connections", token="guess"),
                              "admin token")
        self.assert_throttled(self.admin("/api/connections"), "admin token")  # right one too
        self.assertEqual(curl(self.server.http + "/api/health").status, 200)
        self.assert_no_token_logged()

    def test_client_token(self):
        upgrade = ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
        for _ in range(10):
            self.assertEqual(curl(self.server.http + "/ws?token=guess",
                                  headers=upgrade).status, 401)
        self.assert_throttled(curl(self.server.http + "/ws?token=guess", headers=upgrade),
                              "client token")
        self.assert_throttled(curl(self.server.http + "/ws?token=e2e-client-token",
                                   headers=upgrade), "client token")
        self.assert_no_token_logged()

    def assert_no_token_logged(self):
        log = poll_until(lambda: "answering it 429" in self.server.stderr_text()
                         and self.server.stderr_text(), what="the 429 log line")
        for token in ("guess", "e2e-client-token", self.server.token):
            self.assertNotIn(token, log)


class MaxMessageSizeTest(ServerTestCase):
    server_args = ("--max-message-size", "1k")

    def test_oversized_message_closes_1009_others_keep_working(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws") as big, \
                    ws_connect(self.server.ws + "/ws") as other:
                await recv(big)
                await recv(other)
                at_limit = "y" * 1024
                await big.send(at_limit)
                self.assertEqual(await recv(big), at_limit)
                await big.send("x" * 2000)
                code, _ = await wait_closed(big)
                self.assertEqual(code, 1009)
                for text in ("still", "working"):
                    await other.send(text)
                    self.assertEqual(await recv(other), text)
        run(body())
        poll_until(lambda: len(connections(self.server)) == 0, what="sessions to close")


class SigtermTest(unittest.TestCase):
    def test_sigterm_closes_sessions_with_1001_and_exits_0(self):
        server = ServerProcess()
        self.addCleanup(server.kill)

        async def body():
            clients = [await ws_connect(server.ws + path) for path in ("/ws", "/ws", "/ws/chat")]
            for ws in clients:
                self.assertEqual(await recv(ws), "start")
            os.kill(server.pid, signal.SIGTERM)
            for ws in clients:
                code, _ = await wait_closed(ws)
                self.assertEqual(code, 1001)
        run(body())
        self.assertEqual(server.proc.wait(timeout=IO_DEADLINE), 0, server.stderr_text())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=IO_DEADLINE).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
