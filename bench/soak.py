#!/usr/bin/python3
"""Soak test: churn connections against the real `switchboard --no-gui` binary.

Ten rounds (by default); each opens and drops 2,000 connections in a mix of
  - WebSocket clients that close cleanly (close frame, then FIN),
  - WebSocket clients that reset (RST, no close frame),
  - half-open WebSocket peers that go silent and never close: the server must
    find them with its heartbeat and drop them,
  - HTTP requests with every kind of bad framing the front door refuses,
while a bystander WebSocket client keeps echoing and /api/health keeps being
asked. After each round it waits until only the bystander is left and reads the
server's RSS from /proc. Prints one JSON line per round and a summary; exits 1
if the bystander or /api/health ever failed, a refusal had the wrong status, or
RSS after the last round is more than 20% above round 1.

    /usr/bin/python3 bench/soak.py [--binary build/bin/switchboard] [--rounds 10] [--connections 2000]

Loopback only; every loop is bounded; the server is stopped by its PID.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
TOKEN = "soak-token"

# (bytes to send, expected status) — one of each front-door rule.
BAD_REQUESTS = [
    (b"HELLO\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\nHost: x\n\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    (b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"X-F: 1\r\n" * 101 + b"\r\n", 431),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n", 413),
    (b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"100001\r\n" + b"x" * 70000, 413),
    (b"GET /api/health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
]


def upgrade_request(path="/ws"):
    key = base64.b64encode(os.urandom(16))
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n")


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + body


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_until(reader, marker, limit=1 << 20, timeout=10):
    data = b""
    async def loop():
        nonlocal data
        while marker not in data and len(data) < limit:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
        return data
    return await asyncio.wait_for(loop(), timeout)


async def open_ws(port):
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(upgrade_request())
    data = await read_until(reader, b"start")
    if not data.startswith(b"HTTP/1.1 101") or b"start" not in data:
        raise RuntimeError(f"upgrade failed: {data[:80]!r}")
    return reader, writer


async def ws_clean(port, stats):
    reader, writer = await open_ws(port)
    writer.write(masked_frame(0x1, b"hello"))
    await read_until(reader, b"hello")
    writer.write(masked_frame(0x8, struct.pack("!H", 1000)))
    await writer.drain()
    await asyncio.wait_for(reader.read(), 10)  # the server's close frame, then EOF
    writer.close()
    stats["clean"] += 1


async def ws_reset(port, stats):
    reader, writer = await open_ws(port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # RST, no close frame
    stats["reset"] += 1


async def ws_half_open(port, stats, silent):
    reader, writer = await open_ws(port)
    # Stop reading and writing: the server's pings go unanswered until it drops us.
    writer.transport.pause_reading()
    silent.append(writer)
    stats["half_open"] += 1


async def bad_request(port, stats):
    payload, expected = random.choice(BAD_REQUESTS)
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(payload)
    try:
        data = await asyncio.wait_for(reader.read(4096), 10)
    except (ConnectionResetError, asyncio.TimeoutError):
        data = b""
    writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    if status == expected:
        stats["refused_ok"] += 1
    else:
        stats["refused_wrong"].append((payload[:40].decode("latin-1"), expected, status))


async def read_frame(reader):
    """One server frame: (opcode, payload). Server frames are never masked."""
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return b0 & 0x0F, await reader.readexactly(length)


async def echo_answering_pings(reader, writer, text):
    """Waits for the echo of text, answering the server's pings meanwhile (as RFC 6455 asks)."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 0x9:
            writer.write(masked_frame(0xA, payload))
        elif opcode == 0x1 and payload == text:
            return
        elif opcode == 0x8:
            raise RuntimeError(f"closed by the server: {payload!r}")


async def bystander(port, state):
    """Echoes once every 50 ms and asks /api/health once every 200 ms, all the time."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(upgrade_request())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # the 101; frames follow
    n = 0
    while not state["stop"]:
        n += 1
        text = f"bystander {n}".encode()
        writer.write(masked_frame(0x1, text))
        try:
            await asyncio.wait_for(echo_answering_pings(reader, writer, text), 5)
            state["echoes"] += 1
        except Exception as error:  # noqa: BLE001 - any failure counts
            state["failures"].append(f"echo {n}: {error!r}")
            return
        if n % 4 == 0:
            try:
                r, w = await asyncio.open_connection(HOST, port)
                w.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = await asyncio.wait_for(r.read(), 5)
                w.close()
                if not data.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(data[:40])
                state["health"] += 1
            except Exception as error:  # noqa: BLE001
                state["failures"].append(f"health: {error!r}")
        await asyncio.sleep(0.05)


async def health(port):
    r, w = await asyncio.open_connection(HOST, port)
    w.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(r.read(), 5)
    w.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def run(args, port, pid, state):
    rounds = []
    sem = asyncio.Semaphore(args.concurrency)
    for round_no in range(1, args.rounds + 1):
        stats = {"clean": 0, "reset": 0, "half_open": 0, "refused_ok": 0, "refused_wrong": [],
                 "errors": 0}
        silent = []
        kinds = [ws_clean] * 4 + [ws_reset] * 2 + [ws_half_open] * 2 + [bad_request] * 2
        started = time.monotonic()

        async def one(i):
            kind = kinds[i % len(kinds)]
            async with sem:
                try:
                    if kind is ws_half_open:
                        await kind(port, stats, silent)
                    else:
                        await kind(port, stats)
                except Exception:  # noqa: BLE001 - counted, reported
                    stats["errors"] += 1

        await asyncio.gather(*(one(i) for i in range(args.connections)))
        # Wait (bounded) until the heartbeat has dropped the silent peers.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (await health(port))["connections"] <= 1:
                break
            await asyncio.sleep(0.2)
        for writer in silent:
            writer.transport.abort()
        await asyncio.sleep(2.5)  # let the server settle (and trim freed memory) before measuring
        h = await health(port)
        record = {"round": round_no, "seconds": round(time.monotonic() - started, 2),
                  "rss_kib": rss_kib(pid), "sessions_left": h["connections"],
                  **{k: v for k, v in stats.items() if k != "refused_wrong"},
                  "refused_wrong": len(stats["refused_wrong"]),
                  "bystander_echoes": state["echoes"], "health_ok": state["health"],
                  "bystander_failures": len(state["failures"])}
        if stats["refused_wrong"]:
            record["refused_wrong_examples"] = stats["refused_wrong"][:3]
        print(json.dumps(record), flush=True)
        rounds.append(record)
    return rounds



def listening_port(server):
    """The port from the server's start-up line, or None (said on stderr) if it did not start."""
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        print(f"server did not start: {line!r}", file=sys.stderr)
        return None
    return int(match.group(1))

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--binary", default=os.path.join(here, "..", "build", "bin", "switchboard"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=500)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    server = subprocess.Popen(
        [args.binary, "--no-gui", "--host", HOST, "--port", "0", "--admin-token", TOKEN,
         "--ping-interval", "1", "--idle-timeout", "10", "--header-timeout", "3",
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = listening_port(server)
        if port is None:
            return 2
        # The bystander runs on its own thread and event loop, so the churn cannot
        # starve it: a client too busy to answer pings would rightly be dropped.
        state = {"stop": False, "echoes": 0, "health": 0, "failures": []}
        watcher = threading.Thread(target=lambda: asyncio.run(bystander(port, state)))
        watcher.start()
        try:
            rounds = asyncio.run(run(args, port, server.pid, state))
        finally:
            state["stop"] = True
            watcher.join(15)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    first, last = rounds[0]["rss_kib"], rounds[-1]["rss_kib"]
    growth = (last - first) / first * 100
    wrong = sum(r["refused_wrong"] for r in rounds)
    errors = sum(r["errors"] for r in rounds)
    ok = not state["failures"] and wrong == 0 and growth <= 20 and server.returncode == 0
    summary = {"summary": True, "rounds": len(rounds), "connections_per_round": args.connections,
               "rss_round1_kib": first, "rss_last_kib": last, "rss_growth_pct": round(growth, 1),
               "bystander_echoes": state["echoes"], "health_checks": state["health"],
               "bystander_failures": state["failures"][:5], "refused_with_wrong_status": wrong,
               "client_side_errors": errors, "server_exit_code": server.returncode, "ok": ok}
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
