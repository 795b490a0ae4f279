#!/usr/bin/python3
"""End-to-end: subprotocols and permessage-deflate, with the real binary and real clients.

Python's websockets (Debian python3-websockets) offers permessage-deflate by
default and subprotocols on request; a raw socket plays a client that sends
what websockets would not (a decompression bomb). Run with /usr/bin/python3.
SWITCHBOARD_BINARY points at the binary; CTest sets it.
"""

import json
import os
import socket
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets.exceptions  # noqa: E402

from e2e_support import (  # noqa: E402
    IO_DEADLINE, ServerProcess, connections, curl, poll_until, recv, run, session_id_for,
    wait_closed, ws_connect)


def json_message(i):
    """A 4 KiB JSON-like message, like a dashboard update."""
    rows = [{"id": i * 100 + k, "sensor": f"room-{k % 7}", "value": round(20 + k * 0.25, 2),
             "unit": "celsius", "ok": True} for k in range(45)]
    return json.dumps({"type": "update", "seq": i, "rows": rows})


def masked_frame(first, payload, key=b"\x21\x43\x65\x87"):
    size = len(payload)
    if size < 126:
        header = bytes([first, 0x80 | size])
    elif size <= 0xFFFF:
        header = bytes([first, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + size.to_bytes(8, "big")
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def deflate_message(data):
    """RFC 7692 §7.2.1: raw DEFLATE, sync flush, the 00 00 ff ff tail removed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


class RawClient:
    """A WebSocket client on a plain socket: upgrade, then frames as bytes."""

    def __init__(self, port, extra_headers=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_DEADLINE)
        lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13", *extra_headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")

    def _read(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def frame(self):
        """The next (first byte, payload) the server sends."""
        while True:
            if len(self.buffer) >= 2:
                size = self.buffer[1] & 0x7F
                at = 2
                if size == 126:
                    size, at = int.from_bytes(self.buffer[2:4], "big"), 4
                elif size == 127:
                    size, at = int.from_bytes(self.buffer[2:10], "big"), 10
                if len(self.buffer) >= at + size:
                    first, payload = self.buffer[0], self.buffer[at:at + size]
                    self.buffer = self.buffer[at + size:]
                    return first, payload
            self._read()

    def close(self):
        self.sock.close()


class SubprotocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess()
        cls.addClassCleanup(cls.server.kill)

    def test_chosen_none_and_refused(self):
        async def body():
            # Chosen: /ws/chat speaks chat.v1 when offered, wherever it is in the list.
            async with ws_connect(self.server.ws + "/ws/chat",
                                  subprotocols=["x.v0", "chat.v1"]) as ws:
                self.assertEqual(ws.subprotocol, "chat.v1")
                self.assertEqual(await recv(ws), "start")
                listed = {s["id"]: s for s in connections(self.server)}
                self.assertEqual(listed[session_id_for(self.server, ws)]["subprotocol"],
                                 "chat.v1")
            # None: the echo endpoint accepts no subprotocol, so the 101 names none.
            async with ws_connect(self.server.ws + "/ws", subprotocols=["chat.v1"]) as ws:
                self.assertIsNone(ws.subprotocol)
                self.assertEqual(await recv(ws), "start")
                listed = {s["id"]: s for s in connections(self.server)}
                self.assertIsNone(listed[session_id_for(self.server, ws)]["subprotocol"])
        run(body())

        # Refused: a malformed offer is answered with 400 and a JSON error, no 101.
        refused = curl(self.server.http + "/ws/chat", headers=[
            "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol: chat.v1, chat.v1"])
        self.assertEqual(refused.status, 400, refused)
        self.assertIn("Sec-WebSocket-Protocol", refused.json()["error"]["message"])
        poll_until(lambda: connections(self.server) == [], what="sessions to close")


class DeflateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("--deflate")
        cls.addClassCleanup(cls.server.kill)

    def test_compressed_echo_of_100_messages(self):
        # websockets offers permessage-deflate; the server agrees, inflates what the
        # client sends and compresses its echoes (over the 1 KiB threshold).
        async def body():
            async with ws_connect(self.server.ws + "/ws") as ws:
                self.assertEqual(await recv(ws), "start")
                sent = 0
                for i in range(100):
                    message = json_message(i)
                    sent += len(message)
                    await ws.send(message)
                    self.assertEqual(await recv(ws), message)
                session = {s["id"]: s for s in connections(self.server)}[
                    session_id_for(self.server, ws)]
                self.assertTrue(session["deflate"], session)
                self.assertEqual(session["bytes_in"], sent)
                # Both directions crossed the wire compressed.
                self.assertLess(session["wire_bytes_in"], sent / 3, session)
                self.assertLess(session["wire_bytes_out"], (sent + 5) / 3, session)
                self.assertGreater(session["compression_ratio"], 3, session)
        run(body())

    def test_client_without_deflate_is_served_plain(self):
        async def body():
            async with ws_connect(self.server.ws + "/ws", compression=None) as ws:
                self.assertEqual(await recv(ws), "start")
                message = json_message(1)
                await ws.send(message)
                self.assertEqual(await recv(ws), message)
                session = {s["id"]: s for s in connections(self.server)}[
                    session_id_for(self.server, ws)]
                self.assertFalse(session["deflate"])
                self.assertIsNone(session["compression_ratio"])
                self.assertEqual(session["wire_bytes_in"], len(message))
        run(body())

    def test_decompression_bomb_is_closed_with_1009(self):
        # 64 MiB of zeros compress to about 64 KiB. The server must stop inflating once
        # the message passes --max-message-size (16 MiB), close with 1009, keep its
        # memory bounded, and serve everyone else as before.
        bomb = deflate_message(bytes(64 * 1024 * 1024))
        self.assertLess(len(bomb), 100 * 1024)

        async def body():
            async with ws_connect(self.server.ws + "/ws") as bystander:
                self.assertEqual(await recv(bystander), "start")
                before = peak_rss_kib(self.server.pid)
                client = RawClient(self.server.port,
                                   ["Sec-WebSocket-Extensions: permessage-deflate"])
                try:
                    self.assertIn("101", client.head.split("\r\n")[0])
                    self.assertIn("permessage-deflate", client.head)
                    self.assertEqual(client.frame(), (0x81, b"start"))
                    client.sock.sendall(masked_frame(0xC2, bomb))
                    first, payload = client.frame()
                    self.assertEqual(first, 0x88, payload)
                    self.assertEqual(int.from_bytes(payload[:2], "big"), 1009, payload)
                finally:
                    client.close()
                grew_mib = (peak_rss_kib(self.server.pid) - before) / 1024
                self.assertLess(grew_mib, 40, f"peak RSS grew by {grew_mib:.1f} MiB")
                for text in ("still", "here"):
                    await bystander.send(text)
                    self.assertEqual(await recv(bystander), text)
        run(body())
        # Written by the bomb's worker when it next goes idle (log lines are batched),
        # not necessarily before the bystander's worker has answered.
        poll_until(lambda: "message too big" in self.server.stderr_text(),
                   what="the 1009 in the log")

    def test_corrupt_compressed_data_is_closed_with_1007(self):
        client = RawClient(self.server.port, ["Sec-WebSocket-Extensions: permessage-deflate"])
        try:
            self.assertEqual(client.frame(), (0x81, b"start"))
            client.sock.sendall(masked_frame(0xC1, b"\xff\xff\xff\xff"))
            first, payload = client.frame()
            self.assertEqual((first, int.from_bytes(payload[:2], "big")), (0x88, 1007), payload)
        finally:
            client.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
