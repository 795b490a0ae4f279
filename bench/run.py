#!/usr/bin/python3
"""Switchboard benchmark: the whole suite against `switchboard --no-gui` and Node's `ws`.

    bench/run.sh             full run (2 interleaved repeats, about 10 minutes on 2 cores)
    bench/run.sh --quick     one repeat, shorter tests (about 5 minutes)
    bench/run.sh --baseline OLD/build/bin/switchboard
                             the same, with an older build as a third server
                             (switchboard-before), to compare before and after a change
    bench/run.sh --variant w1="--workers 1"
                             the same, with this build started with extra arguments as
                             another server (switchboard-w1); repeatable

Most of the time is opening and closing the 19,900 and 10,000 connections of the big
tests, and the GUI test (20 s under Xvfb).

It builds switchboard (with its console) and switchboard-loadgen (CMake + Ninja,
build-bench/), installs the ws peer from bench/peers/package-lock.json if it is missing,
then runs every test against a fresh server process, Switchboard and ws interleaved (their
order is reversed every other repeat). Each result is printed as one JSON line as it
arrives; at the end come one JSON line per test with the medians, the Switchboard / ws
ratio (and after / before with --baseline), and a markdown table with the machine it ran
on. Raw lines, the summary and the tail of each
server's log go to bench/results/<timestamp>/ (git-ignored).

Switchboard runs full-featured and with its defaults (stats, heartbeat every 10 s, hub,
admin routes, info-level access log on stderr, which goes to a file), plus --idle-timeout 0
for the idle tests and --deflate for the permessage-deflate tests (skipped for a binary
whose --help has no --deflate). Four tests are Switchboard's own: the topic publish
(/ws/channels; ws has no topics), the cluster broadcast and the cluster topic publish (a
redis-server and two instances) and the console's responsiveness; they run against every
Switchboard server (a --variant's arguments go to every instance a test starts). Extra
server flags for all of them: --switchboard-args "...".
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SOURCE_DIR = BENCH_DIR.parent
TOKEN = "bench-token"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")

# ---------------------------------------------------------------------------------------
# The suite. Each test: loadgen arguments, extra server arguments, and the figure that the
# table compares (with which direction is better and the target ratio from issue 6).
# "switchboard_only" tests (and those with a "hook") are not run against ws.


def suite(args, max_idle):
    quick = args.quick
    echo_time = ["--duration", "2" if quick else "4", "--warmup", "0.5" if quick else "1"]
    n20k = min(20000, max_idle)
    # The permessage-deflate workload: dashboard updates of 4 KiB JSON (256 different ones
    # from a fixed seed), 20 connections x 4 in flight, so that the server is never idle.
    json_echo = ["echo", "--connections", "20", "--inflight", "4", "--size", "4096",
                 "--json", "--seed", "1"] + echo_time
    json_extra = ["wire_out_per_msg", "wire_in_per_msg", "server_cpu_pct",
                  "server_cpu_us_per_msg", "loadgen_cpu_pct", "p50_us"]
    tests = [
        {
            "name": "idle_5k",
            "title": "5,000 idle connections: server RSS per connection",
            "loadgen": ["idle", "--connections", "5000", "--settle", "1",
                        # a full ping round (10 s) before the second RSS sample
                        "--hold", "2" if quick else "11"],
            "server": ["--idle-timeout", "0"],
            "metric": "rss_per_conn_kib", "unit": "KiB", "better": "lower",
            "target": ("<=", 1.0), "extra": ["connect_per_s"],
        },
        {
            "name": "idle_2k_deflate",
            "title": "2,000 idle connections with permessage-deflate, one 4 KiB JSON echo "
                     "each: server RSS per connection",
            "loadgen": ["idle", "--connections", "2000", "--settle", "1",
                        "--hold", "2" if quick else "11", "--echo-once", "--json",
                        "--size", "4096", "--seed", "1", "--deflate"],
            "server": ["--idle-timeout", "0", "--deflate"],
            "requires": "--deflate",
            "metric": "rss_per_conn_kib", "unit": "KiB", "better": "lower",
        },
        {
            "name": "idle_20k",
            "title": f"{n20k:,} idle connections held, pings running",
            "loadgen": ["idle", "--connections", str(n20k), "--settle", "1",
                        # a full ping round after the last connection opened (and more for
                        # the first ones, while the rest were connecting)
                        "--hold", "12",
                        # then SIGTERM with every session open: how long until it exited
                        "--stop-server"],
            "server": ["--idle-timeout", "0"],
            "metric": "held", "unit": "conns", "better": "higher", "needs": n20k,
            "absolute": n20k,
            "extra": ["rss_per_conn_kib", "connect_per_s", "server_cpu_pct_hold",
                      "shutdown_s", "stop_closed_1001"],
        },
        {
            "name": "echo_1x1",
            "title": "echo, 1 connection x 1 in flight, 32 B text",
            "loadgen": ["echo", "--connections", "1", "--inflight", "1", "--size", "32"]
            + echo_time,
            "metric": "msg_per_s", "unit": "msg/s", "better": "higher",
            "target": (">=", 1.5), "extra": ["p50_us", "p99_us"],
        },
        {
            "name": "echo_100x4",
            "title": "echo, 100 connections x 4 in flight, 32 B text",
            "loadgen": ["echo", "--connections", "100", "--inflight", "4", "--size", "32"]
            + echo_time,
            "metric": "msg_per_s", "unit": "msg/s", "better": "higher",
            "target": (">=", 4.5), "extra": ["p50_us", "p99_us"],
        },
        {
            "name": "echo_10x64k",
            "title": "echo, 10 connections x 1 in flight, 64 KiB binary",
            "loadgen": ["echo", "--connections", "10", "--inflight", "1", "--size", "65536",
                        "--binary"] + echo_time,
            "metric": "mib_per_s", "unit": "MiB/s", "better": "higher",
            "target": (">=", 4.0), "extra": ["p50_us", "p99_us"],
        },
        {
            "name": "echo_4k_json",
            "title": "echo, 20 connections x 4 in flight, 4 KiB JSON text",
            "loadgen": json_echo,
            "metric": "msg_per_s", "unit": "msg/s", "better": "higher",
            "extra": json_extra,
        },
        {
            "name": "echo_4k_json_deflate",
            "title": "echo, 20 x 4, 4 KiB JSON text, permessage-deflate",
            "loadgen": json_echo + ["--deflate"],
            "server": ["--deflate"],
            "requires": "--deflate",
            "metric": "msg_per_s", "unit": "msg/s", "better": "higher",
            "extra": json_extra + ["wire_ratio_out", "wire_ratio_in"],
        },
        {
            "name": "broadcast_1k",
            "title": "broadcast 64 B to 1,000 clients: until the last has it",
            "loadgen": ["broadcast", "--connections", "1000", "--token", TOKEN,
                        "--count", "20" if quick else "50"],
            "metric": "p50_ms", "unit": "ms", "better": "lower",
            "target": ("<=", 0.5), "extra": ["p99_ms", "first_p50_ms"],
        },
        {
            "name": "topic_publish_1k_of_10k",
            "title": "publish 64 B to a topic with 1,000 subscribers among 10,000 clients: "
                     "until the last has it",
            # 10,000 on /ws/channels, every tenth joins "bench"; server RSS before and after
            # the joins gives the memory per subscription
            "loadgen": ["publish", "--connections", "10000", "--subscribers", "1000",
                        "--topic", "bench", "--token", TOKEN, "--settle", "2",
                        "--count", "20" if quick else "50"],
            "switchboard_only": True,
            "requires": "--channel-max-topics",  # a --baseline from before channels has none
            "metric": "p50_ms", "unit": "ms", "better": "lower", "needs": 10001,
            "extra": ["p99_ms", "first_p50_ms", "rss_per_sub_bytes", "join_s"],
        },
        {
            "name": "broadcast_10k",
            "title": "broadcast 64 B to 10,000 clients: until the last has it",
            "loadgen": ["broadcast", "--connections", "10000", "--token", TOKEN,
                        "--count", "5" if quick else "20", "--warmup-count", "1",
                        "--time-limit", "10" if quick else "30"],
            "metric": "p50_ms", "unit": "ms", "better": "lower", "needs": 10001,
            "extra": ["p99_ms", "first_p50_ms"],
        },
        {
            "name": "cluster_broadcast_10k",
            "title": "broadcast 64 B to 2 x 5,000 clients on two instances (Redis)",
            "hook": cluster_of_two,
            "loadgen": ["broadcast", "--connections", "10000", "--token", TOKEN,
                        "--count", "5" if quick else "20", "--warmup-count", "1",
                        "--time-limit", "10" if quick else "30"],
            "server": ["--idle-timeout", "0"],
            "metric": "p50_ms", "unit": "ms", "better": "lower",
            "extra": ["p99_ms", "primary_last_p50_ms", "second_last_p50_ms",
                      "second_last_p99_ms"],
        },
        {
            "name": "cluster_topic_publish_1k_of_10k",
            "title": "publish 64 B to a topic with 1,000 subscribers among 10,000 clients on "
                     "two instances (Redis)",
            # topic_publish_1k_of_10k across the cluster: 5,000 clients and 500 subscribers
            # on each instance; the POST is answered 202 (Redis assigns the offset later)
            "hook": cluster_of_two,
            "loadgen": ["publish", "--connections", "10000", "--subscribers", "1000",
                        "--topic", "bench", "--token", TOKEN, "--settle", "2",
                        "--count", "20" if quick else "50"],
            "server": ["--idle-timeout", "0"],
            "switchboard_only": True,
            "requires": "--channel-max-topics",
            "metric": "p50_ms", "unit": "ms", "better": "lower",
            "extra": ["p99_ms", "first_p50_ms", "rss_per_sub_bytes", "join_s",
                      "primary_last_p50_ms", "second_last_p50_ms", "second_last_p99_ms"],
        },
        {
            "name": "http_health",
            "title": "HTTP keep-alive GET /api/health, 50 connections",
            "loadgen": ["http", "--connections", "50"] + echo_time,
            "metric": "req_per_s", "unit": "req/s", "better": "higher",
            "target": (">=", 1.0), "extra": ["p50_us", "p99_us"],
        },
        {
            "name": "gui_responsiveness",
            "title": "GUI: repaint / click latency with 1,000 clients at 5,000 msg/s",
            "hook": gui_responsiveness,
            "metric": "click_p99_ms", "unit": "ms", "better": "lower",
            "extra": ["click_p50_ms", "repaint_p50_ms", "repaint_p99_ms_worst_second",
                      "echoed_per_s"],
        },
    ]
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {t["name"] for t in tests}
        if unknown:
            sys.exit(f"run.py: unknown test(s) {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(t['name'] for t in tests)}")
        tests = [t for t in tests if t["name"] in wanted]
    return tests


def gui_responsiveness(name, args, paths, test, log_path):
    """bench/gui_responsiveness.py against the benchmarked binary (built with its console):
    1,000 clients at 5,000 msg/s under Xvfb, the window's own probe timing posted events
    (what a click is) and repaints. Only Switchboard has a console."""
    del test
    seconds = "8" if args.quick else "20"
    try:
        done = subprocess.run(["/usr/bin/python3", str(BENCH_DIR / "gui_responsiveness.py"),
                               "--binary", str(paths[name]), "--seconds", seconds,
                               "--server-args=" + shlex.join(args.switchboards[name])],
                              capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return {"ok": False, "first_error": "gui_responsiveness.py timed out"}
    log_path.write_text(done.stderr)
    try:
        measured = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "first_error": (done.stderr.strip() or "no output")[-500:]}
    measured.pop("test", None)
    measured["click_p50_ms"] = measured.get("event_p50_ms")
    measured["click_p99_ms"] = measured.get("event_p99_ms_worst_second")
    measured["ok"] = done.returncode == 0 and measured["click_p99_ms"] is not None
    return measured


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_cluster_ok(port, seconds=10.0):
    """True once the instance on port reports "cluster":"ok" in /api/health."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if json.load(r).get("cluster") == "ok":
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def cluster_of_two(name, args, paths, test, log_path):
    """The cluster tests: two Switchboard instances joined through a redis-server started
    here, the test's loadgen mode with --port2 (every second client on the second
    instance; a topic's subscribers too); the POST goes to the first. Reports when the
    last client of each instance had the message, so the Redis hop shows against the
    single-instance test (and publish's RSS per subscription is both instances')."""
    redis_binary = shutil.which("redis-server")
    if not redis_binary:
        return {"ok": None, "status": "skipped", "note": "redis-server is missing"}
    redis_port = free_port()
    redis = subprocess.Popen([redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = []
    try:
        for node in ("a", "b"):
            command = server_command(name, paths, test, args) + [
                "--cluster", f"redis://127.0.0.1:{redis_port}", "--node-name", node]
            # The secret through the environment, which a Switchboard from before
            # authenticated envelopes ignores, so --baseline runs keep working.
            servers.append(Server(f"{name}-{node}", command,
                                  log_path.with_name(f"{log_path.stem}-{node}.log"),
                                  env={"SWITCHBOARD_CLUSTER_SECRET": "bench-cluster-secret-0123456789"}))
        for server in servers:
            if not wait_cluster_ok(server.port):
                raise RuntimeError(f"{server.name} did not join the cluster within 10 s")
        argv = [str(paths["loadgen"])] + test["loadgen"] + [
            "--port", str(servers[0].port), "--pid", str(servers[0].pid),
            "--port2", str(servers[1].port), "--pid2", str(servers[1].pid),
            "--connect-timeout", str(connect_timeout(test)), "--label", f"{name}-cluster"]
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=loadgen_timeout(argv))
        try:
            measured = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            measured = {"ok": False, "first_error": (done.stderr.strip() or "no output")[-500:]}
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        measured = {"ok": False, "first_error": str(error)}
    finally:
        stops = [server.stop() for server in servers]
        redis.terminate()
        redis.wait(10)
    measured.pop("label", None)
    measured["mode"] = measured.pop("test", None)
    measured["server_stop_s"] = max((s[1] for s in stops), default=None)
    measured["server_warnings"] = sum(len(s[2]) for s in stops)
    return measured


# ---------------------------------------------------------------------------------------
# Build, peer install, processes


def log(message):
    print(f"# {message}", file=sys.stderr, flush=True)


def build(args):
    build_dir = Path(args.build_dir)
    # The binary users run (console built in, here started with --no-gui); the GUI test
    # starts the same binary with its window.
    log(f"configuring {build_dir}")
    subprocess.run(["cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DSWITCHBOARD_BUILD_GUI=ON",
                    "-DSWITCHBOARD_BUILD_TESTS=OFF", "-DSWITCHBOARD_BUILD_BENCH=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    log(f"building switchboard and switchboard-loadgen in {build_dir}")
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "switchboard",
                    "switchboard-loadgen"], check=True, stdout=subprocess.DEVNULL)


def install_peer():
    if (BENCH_DIR / "peers" / "node_modules" / "ws" / "package.json").exists():
        return
    log("installing the ws peer (npm ci in bench/peers)")
    subprocess.run(["npm", "ci", "--prefix", str(BENCH_DIR / "peers"), "--no-audit",
                    "--no-fund"], check=True, stdout=subprocess.DEVNULL)


def raise_fd_limit():
    """Children inherit this. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    """One server process, started fresh for each test and stopped by its own PID."""

    def __init__(self, name, command, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.out_path = log_path.with_suffix(".out")
        self.out = open(self.out_path, "w+")
        self.err = open(log_path, "w+")
        self.process = subprocess.Popen(command, stdout=self.out, stderr=self.err,
                                        stdin=subprocess.DEVNULL, cwd=str(SOURCE_DIR),
                                        env=None if env is None else {**os.environ, **env})
        self.pid = self.process.pid
        self.port = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.process.poll() is None:
            self.out.seek(0)
            match = LISTENING.search(self.out.read())
            if match:
                self.port = int(match.group(1))
                break
            time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"{name} did not print its listening line; see {log_path}")

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s.
        Returns (exit code, seconds until it exited, warning lines, log lines)."""
        stop_started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) did not exit 30 s after SIGTERM; killing it")
                self.process.kill()
                self.process.wait(timeout=10)
        stop_seconds = time.monotonic() - stop_started
        self.out.close()
        self.err.close()
        # Keep the head and the tail and every warning; a busy access log is large.
        lines = self.log_path.read_text(errors="replace").splitlines()
        warnings = [line for line in lines
                    if re.search(r"\b(warning|error|fatal|critical)\b", line, re.I)]
        keep = lines[:20] + ["..."] + warnings[:200] + ["..."] + lines[-100:]
        self.log_path.write_text("\n".join(keep) + "\n")
        self.out_path.unlink(missing_ok=True)
        return self.process.returncode, stop_seconds, warnings, len(lines)


def switchboard_options(binary):
    try:
        return subprocess.run([str(binary), "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def switchboard_servers(args):
    """The Switchboard servers a run can hold, in the table's order, each with the extra
    arguments it is started with (after the script's own, before the test's): the one place
    that decides which servers are Switchboards (every other one is the ws peer) and what
    they get. "switchboard" is the build here (or --switchboard), "switchboard-before" the
    --baseline binary, "switchboard-NAME" (--variant NAME=ARGS) the same binary as
    "switchboard" with ARGS after --switchboard-args. Returns ({name: arguments},
    {variant name: its own ARGS})."""
    common = shlex.split(args.switchboard_args)
    servers = {"switchboard-before": common} if args.baseline else {}
    servers["switchboard"] = common
    variants = {}
    for spec in args.variant:
        label, equals, extra = spec.partition("=")
        name = f"switchboard-{label}"
        if not equals or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", label):
            sys.exit(f"run.py: --variant takes NAME=ARGS (NAME of letters, digits, _ . -), "
                     f"not {spec!r}")
        if label in ("before", "after", "ws") or name in variants:  # the table's columns
            sys.exit(f"run.py: --variant {label} is taken")
        try:
            variants[name] = shlex.split(extra)
        except ValueError as error:
            sys.exit(f"run.py: --variant {spec!r}: {error}")
        servers[name] = common + variants[name]
    return servers, variants


def server_command(name, paths, test, args):
    if name in args.switchboards:
        extra = []
        # A connection cap (--max-connections, default 10,000) would refuse the big tests;
        # they measure holding connections, not the cap.
        if test.get("needs", 0) > 9000 and "--max-connections" in paths["help"][name]:
            extra = ["--max-connections", str(test["needs"] + 1000)]
        return ([str(paths[name]), "--no-gui", "--port", "0", "--admin-token", TOKEN]
                + extra + args.switchboards[name] + test.get("server", []))
    return (["node", str(BENCH_DIR / "peers" / "ws-peer.js"), "--port", "0",
             "--admin-token", TOKEN] + test.get("server", []))


def option_values(argv):
    """{"--option": "value"} from a loadgen command line (flags without a value are skipped)."""
    values = {}
    for i, token in enumerate(argv):
        if token.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            values[token] = argv[i + 1]
    return values


def connect_timeout(test):
    """Generous: a server whose accept rate falls as connections pile up still finishes."""
    return 30 + int(option_values(test["loadgen"]).get("--connections", "1")) // 150


def loadgen_timeout(argv):
    values = option_values(argv)
    seconds = 30.0 + float(values.get("--connect-timeout", 0))  # + draining
    for key in ("--duration", "--warmup", "--hold", "--settle"):
        seconds += float(values.get(key, 0))
    if "--echo-once" in argv:  # the load generator waits up to 30 s for those echoes
        seconds += 30.0
    if "--stop-server" in argv:  # and up to 30 s for the server to exit
        seconds += 30.0
    if "--count" in values:  # broadcasts: one may take up to 30 s before the loadgen gives up
        seconds += float(values["--count"]) * 2.0 + 30.0
    if argv[1:2] == ["publish"]:  # the joins may take up to --connect-timeout, then settle
        seconds += float(values.get("--connect-timeout", 0)) + float(values.get("--settle", 0))
    return seconds


def cpu_busy_fraction(seconds=0.5):
    """Share of all cores busy over a short window, from /proc/stat."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return idle, sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


QUIET_BUDGET = {"left": 0.0}


def wait_quiet(args):
    """The machine is shared: wait (bounded) until other work leaves the cores idle, so a
    compile elsewhere does not land in one server's run only. Returns the busy share seen."""
    deadline = time.monotonic() + min(args.quiet_wait, QUIET_BUDGET["left"])
    started = time.monotonic()
    busy = cpu_busy_fraction()
    while busy > 0.15 and time.monotonic() < deadline:
        busy = cpu_busy_fraction()
    QUIET_BUDGET["left"] = max(0.0, QUIET_BUDGET["left"] - (time.monotonic() - started))
    return busy


def run_one(name, test, repeat, paths, args, out_dir):
    log_path = out_dir / "logs" / f"{test['name']}-{name}-{repeat}.log"
    result = {"test": test["name"], "server": name, "repeat": repeat}
    if name in args.variants:
        result["variant_args"] = args.variants[name]
    if (test.get("switchboard_only") or "hook" in test) and name not in args.switchboards:
        return None
    if (name in args.switchboards and test.get("requires")
            and test["requires"] not in paths["help"][name]):
        return {**result, "ok": None, "status": "skipped",
                "note": f"{paths[name]} has no {test['requires']} option"}
    if "hook" not in test:
        result["busy_before_pct"] = round(100 * wait_quiet(args), 1)
    started = time.monotonic()
    if "hook" in test:
        hooked = test["hook"](name, args, paths, test, log_path)
        return {**result, **hooked, "wall_s": round(time.monotonic() - started, 1)}
    try:
        server = Server(name, server_command(name, paths, test, args), log_path)
    except RuntimeError as error:
        return {**result, "ok": False, "first_error": str(error)}
    argv = [str(paths["loadgen"])] + test["loadgen"] + [
        "--port", str(server.port), "--pid", str(server.pid),
        "--connect-timeout", str(connect_timeout(test)),
        "--label", f"{name}#{repeat}"]
    loadgen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = loadgen.communicate(timeout=loadgen_timeout(argv))
    except subprocess.TimeoutExpired:
        loadgen.kill()
        stdout, stderr = loadgen.communicate()
        stderr += "\nloadgen timed out"
    code, stop_seconds, warnings, log_lines = server.stop()
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    try:
        measured = json.loads(line)
    except json.JSONDecodeError:
        measured = {"ok": False, "first_error": (stderr.strip() or "no output")[-500:]}
    measured.pop("label", None)
    measured["mode"] = measured.pop("test", None)
    result.update(measured)
    result["server_exit"] = code
    result["server_stop_s"] = round(stop_seconds, 2)
    result["server_log_lines"] = log_lines
    result["server_warnings"] = len(warnings)
    if warnings:
        result["server_first_warning"] = warnings[0][-300:]
    if loadgen.returncode not in (0, 1):
        result["ok"] = False
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


# ---------------------------------------------------------------------------------------
# Summary


def median_of(results, key):
    values = [r[key] for r in results if isinstance(r.get(key), (int, float))
              and not isinstance(r.get(key), bool)]
    return statistics.median(values) if values else None


def fmt(value, unit=""):
    if value is None:
        return "–"
    if unit in ("msg/s", "req/s", "conns") or abs(value) >= 1000:
        text = f"{value:,.0f}"
        if abs(value) >= 10000 and unit in ("msg/s", "req/s"):
            text = f"{value / 1000:.1f}k"
        return text
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


LABELS = {
    "p50_us": "latency p50 (µs)", "p99_us": "latency p99 (µs)",
    "p99_ms": "p99 (ms)", "first_p50_ms": "first client has it, p50 (ms)",
    "rss_per_conn_kib": "RSS per connection (KiB)",
    "connect_per_s": "connections opened per s (connect phase)",
    "server_cpu_pct_hold": "server CPU while holding (% of a core)",
    "shutdown_s": "SIGTERM to exit, every session open (s)",
    "stop_closed_1001": "sessions closed with 1001 before the exit",
    "wire_out_per_msg": "bytes on the wire per message, client → server",
    "wire_in_per_msg": "bytes on the wire per message, server → client",
    "wire_ratio_out": "on the wire / uncompressed, client → server",
    "wire_ratio_in": "on the wire / uncompressed, server → client",
    "server_cpu_pct": "server CPU (% of a core)",
    "server_cpu_us_per_msg": "server CPU per message (µs)",
    "loadgen_cpu_pct": "load generator CPU (% of a core)",
    "rss_per_sub_bytes": "server RSS per subscription (bytes; cluster: both instances)",
    "join_s": "joining the topic, 16 joins in flight (s)",
    "primary_last_p50_ms": "last client on the POSTed instance, p50 (ms)",
    "second_last_p50_ms": "last client on the other instance, p50 (ms)",
    "second_last_p99_ms": "last client on the other instance, p99 (ms)",
    "click_p50_ms": "click p50 (ms)",
    "repaint_p50_ms": "repaint p50 (ms)",
    "repaint_p99_ms_worst_second": "repaint p99, worst second (ms)",
    "echoed_per_s": "echoes out per s",
}


def spread_of(results, key):
    values = [r[key] for r in results if isinstance(r.get(key), (int, float))
              and not isinstance(r.get(key), bool)]
    return [min(values), max(values)] if values else None


def summarize(tests, results, machine, args):
    names = [n for n in [*args.switchboards, "ws"] if any(r["server"] == n for r in results)]
    variants = [n for n in names if n in args.variants]
    summary = []
    for test in tests:
        row = {"test": test["name"], "metric": test["metric"]}
        per_server = {}
        for name in names:
            mine = [r for r in results if r["test"] == test["name"] and r["server"] == name]
            if not mine:
                continue
            entry = {"runs": len(mine),
                     "ok": all(r.get("ok") is True for r in mine) if mine else None,
                     test["metric"]: median_of(mine, test["metric"]),
                     # the lowest and highest run: the noise to judge a difference by
                     "spread": spread_of(mine, test["metric"])}
            if all(r.get("status") == "skipped" for r in mine):
                entry["status"] = "skipped"
                entry["ok"] = None
            for key in test.get("extra", []):
                entry[key] = median_of(mine, key)
            for key in ("server_cpu_pct", "loadgen_cpu_pct", "dropped", "errors",
                        "server_warnings", "server_stop_s", "busy_before_pct"):
                value = median_of(mine, key)
                if value is not None:
                    entry[key] = value
            per_server[name] = entry
        row.update(per_server)
        sb = per_server.get("switchboard", {}).get(test["metric"])
        ws = per_server.get("ws", {}).get(test["metric"])
        before = per_server.get("switchboard-before", {}).get(test["metric"])
        row["ratio"] = round(sb / ws, 3) if sb is not None and ws else None
        if "switchboard-before" in names:
            row["after_before"] = round(sb / before, 3) if sb is not None and before else None
        if variants:  # each variant / switchboard
            row["variant_ratio"] = {}
            for name in variants:
                value = per_server.get(name, {}).get(test["metric"])
                row["variant_ratio"][name] = (round(value / sb, 3)
                                              if value is not None and sb else None)
        if "target" in test and row["ratio"] is not None:
            op, bound = test["target"]
            row["target"] = f"{op} {bound}x ws"
            row["met"] = row["ratio"] <= bound if op == "<=" else row["ratio"] >= bound
        elif "absolute" in test and sb is not None:
            row["target"] = f"{test['absolute']:,} held, none dropped"
            row["met"] = (sb >= test["absolute"]
                          and not per_server["switchboard"].get("dropped")
                          and per_server["switchboard"].get("ok") is True)
        summary.append(row)
        print(json.dumps({"summary": True, **row}), flush=True)

    has_before = "switchboard-before" in names
    has_ws = "ws" in names
    heads = {"switchboard-before": "before", "switchboard": "after" if has_before else
             "Switchboard", "ws": "ws"}
    heads.update({n: n.removeprefix("switchboard-") for n in variants})
    columns = [heads[n] for n in names]
    if has_before:
        columns.append("after / before")
    columns += [f"{heads[n]} / {'after' if has_before else 'SB'}" for n in variants]
    if has_ws:
        columns.append("ratio SB/ws")
    columns += ["target", "met"]
    baseline = (f"; before: {machine['baseline']}" if has_before and machine.get("baseline")
                else "")
    lines = [
        f"Machine: {machine['cpu']} ({machine['nproc']} cores), Linux {machine['kernel']}, "
        f"{machine['memory_gib']} GiB; Qt {machine['qt']}, Node {machine['node']}, "
        f"ws {machine['ws']}; open-file limit {machine['nofile']}; Switchboard at "
        f"{machine['source']}{baseline}. "
        f"Median of {args.repeats} interleaved run(s){' (--quick)' if args.quick else ''}, "
        f"load generator on the same machine; in brackets the lowest and highest run. "
        f"Other work on the machine before a run "
        f"(median of all runs): {machine.get('busy_before_pct', 0):.0f}% of the cores.",
        "",
    ]
    if variants:
        lines += ["Variants, the same binary as Switchboard with extra arguments: "
                  + "; ".join(f"{heads[n]} `{shlex.join(args.variants[n])}`"
                              if args.variants[n] else f"{heads[n]} (none)" for n in variants)
                  + ".", ""]
    lines += [
        "| test | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]

    def ratio_text(a, b):
        return f"{a / b:.2f}x" if a is not None and b else "–"

    for test, row in zip(tests, summary):
        unit = test["unit"]

        def cell(entry):
            if not entry:
                return "–"
            if entry.get("status") == "skipped":
                return "skipped"
            text = f"{fmt(entry.get(test['metric']), unit)} {unit}"
            spread = entry.get("spread")
            if entry.get("runs", 0) > 1 and spread:
                text += f" ({fmt(spread[0], unit)}–{fmt(spread[1], unit)})"
            if entry.get("ok") is False:
                text += " (errors)"
            return text

        cells = [cell(row.get(n, {})) for n in names]
        if has_before:
            cells.append(f"{row['after_before']:.2f}x" if row.get("after_before") is not None
                         else "–")
        for name in variants:
            ratio = row["variant_ratio"][name]
            cells.append(f"{ratio:.2f}x" if ratio is not None else "–")
        if has_ws:
            cells.append(f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "–")
        met = {True: "yes", False: "**no**"}.get(row.get("met"), "–")
        cells += [row.get("target", "–"), met]
        lines.append(f"| {test['title']} | " + " | ".join(cells) + " |")
        for key in test.get("extra", []):
            values = {n: row.get(n, {}).get(key) for n in names}
            if all(v is None for v in values.values()):
                continue
            cells = [fmt(values[n]) for n in names]
            if has_before:
                cells.append(ratio_text(values.get("switchboard"),
                                        values["switchboard-before"]))
            cells += [ratio_text(values[n], values.get("switchboard")) for n in variants]
            if has_ws:
                cells.append(ratio_text(values.get("switchboard"), values["ws"]))
            cells += ["", ""]
            lines.append(f"| &nbsp;&nbsp;{LABELS.get(key, key)} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print()
    print(table)
    return summary, table


def baseline_source(binary):
    """The commit a --baseline binary was built from, read from its CMake build directory
    (bin/.. holds CMakeCache.txt, which names the source directory); None if unknown."""
    cache = Path(binary).resolve().parent.parent / "CMakeCache.txt"
    try:
        for line in cache.read_text(errors="replace").splitlines():
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                source = line.split("=", 1)[1]
                commit = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, timeout=10)
                return commit.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def machine_info(nofile):
    def run(command):
        try:
            return subprocess.run(command, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = round(int(line.split()[1]) / 1024 / 1024)
    ws_version = "?"
    ws_package = BENCH_DIR / "peers" / "node_modules" / "ws" / "package.json"
    if ws_package.exists():
        ws_version = json.loads(ws_package.read_text()).get("version", "?")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_gib": memory,
        "qt": run(["dpkg-query", "-W", "-f=${Version}", "libqt6core6"]) or "?",
        "node": run(["node", "--version"]),
        "ws": ws_version,
        "nofile": nofile,
        "port_range": Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split(),
        # What was measured: the commit, and whether server/ or app/ had local changes.
        "source": run(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short", "HEAD"])
        + (" + local changes in server/ app/"
           if run(["git", "-C", str(SOURCE_DIR), "status", "--porcelain", "--", "server", "app"])
           else ""),
    }


def main():
    parser = argparse.ArgumentParser(
        description="Benchmark switchboard --no-gui against Node's ws (see bench/README.md).")
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, shorter tests (about 5 minutes)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved repeats, medians reported (default 2, --quick 1)")
    parser.add_argument("--only", default="",
                        help="comma-separated test names, e.g. echo_1x1,broadcast_1k")
    parser.add_argument("--servers", default="switchboard,ws",
                        help="which servers to run (default switchboard,ws; with --baseline "
                        "switchboard-before is added unless --servers names the set; every "
                        "--variant's switchboard-NAME is added unless --servers names one)")
    parser.add_argument("--build-dir", default=str(SOURCE_DIR / "build-bench"))
    parser.add_argument("--switchboard", default="",
                        help="benchmark this switchboard binary instead of the one built here")
    parser.add_argument("--baseline", default="",
                        help="an older switchboard binary to run as a third server "
                        "(switchboard-before) in the same interleaved run; tests that need an "
                        "option its --help lacks (--deflate) are skipped for it")
    parser.add_argument("--skip-build", action="store_true",
                        help="use the binaries already in --build-dir")
    parser.add_argument("--switchboard-args", default="",
                        help="extra arguments for every switchboard server, e.g. "
                        "\"--log-level warning\"")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                        help="repeatable: run the same switchboard binary with ARGS "
                        "(shell-split) after the others as one more server, "
                        "switchboard-NAME, in the same interleaved run, e.g. "
                        "w1=\"--workers 1\"; it is added after switchboard unless --servers "
                        "names a variant, and the table compares it with switchboard")
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    parser.add_argument("--quiet-wait", type=float, default=3.0,
                        help="before each run, wait up to this many seconds for other work on "
                        "the machine to stop (default 3; 30 s in all, 10 s with --quick)")
    parser.add_argument("--nice", type=int, default=0,
                        help="run the servers and the load generator at this niceness, e.g. "
                        "-10 on a machine shared with builds (needs root for < 0)")
    args = parser.parse_args()
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every child
    QUIET_BUDGET["left"] = 10.0 if args.quick else 30.0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    args.repeats = max(1, args.repeats)
    args.switchboards, args.variants = switchboard_servers(args)
    servers = [s for s in args.servers.split(",") if s]
    known = [*args.switchboards, "ws"]
    if not set(servers) <= set(known):
        sys.exit(f"run.py: --servers takes {', '.join(known)}")
    servers_given = any(a == "--servers" or a.startswith("--servers=") for a in sys.argv)
    if args.baseline and "switchboard-before" not in servers and not servers_given:
        servers.insert(1 if servers[:1] == ["switchboard"] else 0, "switchboard-before")
    if not set(servers) & set(args.variants):  # all of them, unless --servers picks some
        after = servers.index("switchboard") + 1 if "switchboard" in servers else 0
        servers[after:after] = list(args.variants)

    if not args.skip_build:
        build(args)
    if "ws" in servers:
        install_peer()
    paths = {"switchboard": Path(args.switchboard or Path(args.build_dir) / "bin" / "switchboard"),
             "loadgen": Path(args.build_dir) / "bin" / "switchboard-loadgen"}
    if args.baseline:
        paths["switchboard-before"] = Path(args.baseline)
    for path in paths.values():
        if not path.exists():
            sys.exit(f"run.py: {path} is missing; build it or drop --skip-build")
    for name in args.variants:
        paths[name] = paths["switchboard"]
    helps = {}  # --help of each binary, asked once
    for name in args.switchboards:
        if paths[name] not in helps:
            helps[paths[name]] = switchboard_options(paths[name])
            if "--max-connections" not in helps[paths[name]]:
                log(f"{name} has no --max-connections option; if it caps connections, the "
                    "10k and 20k tests show it")
    paths["help"] = {name: helps[paths[name]] for name in args.switchboards}

    nofile = raise_fd_limit()
    # Each process needs one descriptor per connection plus a few of its own.
    max_idle = nofile - 100
    if max_idle < 20000:
        log(f"the open-file limit is {nofile} and cannot be raised here, so the 20k idle "
            f"test opens {max_idle:,} connections")
    machine = machine_info(nofile)
    if args.variants:
        machine["variants"] = {name: shlex.join(extra) for name, extra in args.variants.items()}
    if args.baseline:
        commit = baseline_source(args.baseline)
        machine["baseline"] = f"{commit} ({args.baseline})" if commit else args.baseline
    tests = suite(args, max_idle)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.results_dir) / (stamp + ("-quick" if args.quick else ""))
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    (out_dir / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
    log(f"results in {out_dir}")

    results = []
    began = time.monotonic()
    with open(out_dir / "raw.jsonl", "w") as raw:
        for repeat in range(1, args.repeats + 1):
            for test in tests:
                # Alternate who goes first, so neither always runs on a warmer machine.
                order = servers if repeat % 2 else list(reversed(servers))
                for name in order:
                    result = run_one(name, test, repeat, paths, args, out_dir)
                    if result is None:
                        continue
                    results.append(result)
                    line = json.dumps(result)
                    print(line, flush=True)
                    raw.write(line + "\n")
                    raw.flush()
    log(f"suite took {time.monotonic() - began:.0f} s")

    machine["busy_before_pct"] = median_of(results, "busy_before_pct") or 0.0
    summary, table = summarize(tests, results, machine, args)
    (out_dir / "summary.json").write_text(
        json.dumps({"machine": machine, "args": vars(args), "summary": summary}, indent=2)
        + "\n")
    (out_dir / "table.md").write_text(table + "\n")
    failed = [r for r in results if r.get("ok") is False]
    if failed:
        log(f"{len(failed)} run(s) reported errors; see {out_dir / 'raw.jsonl'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
