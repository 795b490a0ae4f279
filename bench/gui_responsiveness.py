#!/usr/bin/python3
"""GUI responsiveness under load: the real `switchboard` with its console, under Xvfb.

Starts Xvfb and the binary with SWITCHBOARD_UI_PROBE=1 (which makes the window
report, once a second, how long a posted event -- what a click is -- and a
repaint request waited), connects N WebSocket clients that each send a message
every N/RATE seconds (1,000 clients x 5 msg/s = 5,000 msg/s in, 5,000 echoes
out), and prints one JSON line: the achieved message rate and the p50/p99/max
event and repaint latencies over the measured seconds.

    /usr/bin/python3 bench/gui_responsiveness.py [--binary build/bin/switchboard]
                     [--clients 1000] [--rate 5000] [--seconds 20]
                     [--server-args="--log-level info"]

Needs Debian's xvfb. Loopback only; all processes are stopped by their PIDs.
"""

import argparse
import asyncio
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import HOST, listening_port, masked_frame, read_frame, upgrade_request  # noqa: E402


async def client(port, interval, stop, counts, start_at):
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(upgrade_request())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)

    async def read_loop():
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(masked_frame(0xA, payload))
            elif opcode == 0x1 and payload.startswith(b"m"):
                counts["echoes"] += 1
            elif opcode == 0x8:
                return

    reading = asyncio.create_task(read_loop())
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        n += 1
        writer.write(masked_frame(0x1, b"m%d" % n))
        counts["sent"] += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    reading.cancel()
    writer.close()


async def drive(port, args, samples_ready):
    stop = asyncio.Event()
    counts = {"sent": 0, "echoes": 0}
    interval = args.clients / args.rate
    start_at = time.monotonic() + 3.0  # all connected before the load starts
    tasks = [asyncio.create_task(client(port, interval, stop, counts, start_at + i * interval / args.clients))
             for i in range(args.clients)]
    await asyncio.sleep(max(0.0, start_at - time.monotonic()) + 2.0)  # ramp-up
    measured_from = time.monotonic()
    before = dict(counts)
    samples_ready.clear()
    await asyncio.sleep(args.seconds)
    duration = time.monotonic() - measured_from
    after = dict(counts)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"sent_per_s": round((after["sent"] - before["sent"]) / duration),
            "echoed_per_s": round((after["echoes"] - before["echoes"]) / duration)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--binary", default=os.path.join(here, "..", "build", "bin", "switchboard"))
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=5000, help="messages per second, all clients")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--server-args", default="",
                        help="more arguments for the server, shell-split, after this script's "
                        "own (write --server-args=\"...\")")
    args = parser.parse_args()
    if not shutil.which("Xvfb"):
        print("Xvfb is missing: apt-get install xvfb", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    config_home = tempfile.mkdtemp(prefix="switchboard-bench-")  # no saved window settings
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    display = ":" + xvfb.stdout.readline().strip()
    env = dict(os.environ, DISPLAY=display, SWITCHBOARD_UI_PROBE="1", XDG_CONFIG_HOME=config_home)
    env.pop("QT_QPA_PLATFORM", None)
    server = subprocess.Popen([args.binary, "--host", HOST, "--port", "0", "--admin-token", "bench",
                               "--idle-timeout", "0", "--log-level", "warning"]
                              + shlex.split(args.server_args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples = []
    samples_ready = threading.Event()
    samples_ready.set()  # while set, samples are warm-up and dropped

    def collect():
        for line in server.stderr:
            if line.startswith('{"ui_probe"'):
                record = json.loads(line)
                if not samples_ready.is_set():
                    samples.append(record)

    try:
        port = listening_port(server)
        if port is None:
            return 2
        threading.Thread(target=collect, daemon=True).start()
        rates = asyncio.run(drive(port, args, samples_ready))
        samples_ready.set()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(config_home, ignore_errors=True)

    def stat(key, fn):
        values = [s[key] for s in samples if s[key] >= 0]
        return round(fn(values), 2) if values else None

    result = {"test": "gui_responsiveness", "clients": args.clients, "target_msg_per_s": args.rate,
              **rates, "seconds": len(samples),
              "event_p50_ms": stat("event_p50_ms", lambda v: sorted(v)[len(v) // 2]),
              "event_p99_ms_worst_second": stat("event_p99_ms", max),
              "event_max_ms": stat("event_max_ms", max),
              "repaint_p50_ms": stat("repaint_p50_ms", lambda v: sorted(v)[len(v) // 2]),
              "repaint_p99_ms_worst_second": stat("repaint_p99_ms", max),
              "repaint_max_ms": stat("repaint_max_ms", max)}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
