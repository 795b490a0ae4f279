"""Shared helpers for Switchboard's end-to-end tests.

These tests start the real `switchboard` binary and talk to it with real
clients: curl for HTTP, the `websockets` package (Debian python3-websockets,
10.x) for WebSocket, headless Chromium for the bundled page. Run them with
/usr/bin/python3 so Debian's packages are importable.

Everything listens on 127.0.0.1 only. Every process started here is stopped
by its own PID (or, for Chromium, its own process group).
"""

import asyncio
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time

import websockets
import websockets.exceptions

WEBSOCKETS_MAJOR = int(websockets.__version__.split(".")[0])

# Generous deadlines: they only bound how long a *failing* test hangs.
STARTUP_DEADLINE = 15.0
IO_DEADLINE = 10.0
EXIT_DEADLINE = 10.0

ADMIN_TOKEN = "e2e-secret-token"

_LISTEN_LINE = re.compile(r"^Switchboard listening on http://127\.0\.0\.1:(\d+) "
                          r"\(WebSocket ws://127\.0\.0\.1:(\d+)/ws\)$")


def _die_with_parent():
    """preexec_fn: have the child killed if this test process dies (e.g. a CTest timeout)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def binary_path():
    path = os.environ.get("SWITCHBOARD_BINARY")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "bin", "switchboard")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"switchboard binary not found at {path}; build it and set SWITCHBOARD_BINARY")
    return path


def poll_until(predicate, deadline=IO_DEADLINE, interval=0.02, what="condition"):
    """Calls predicate() until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(interval)


class ServerProcess:
    """The real switchboard binary on 127.0.0.1, port 0."""

    def __init__(self, *extra_args, token=ADMIN_TOKEN, env=None):
        """token=None leaves the admin token to the configuration; env replaces os.environ."""
        self.token = token
        self.args = [binary_path(), "--no-gui", "--host", "127.0.0.1", "--port", "0",
                     *(["--admin-token", token] if token else []), *extra_args]
        self._stderr = tempfile.NamedTemporaryFile(prefix="switchboard-e2e-", suffix=".log")
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, preexec_fn=_die_with_parent, env=env)
        self.pid = self.proc.pid
        self.port = None
        try:
            line = self._read_first_line()
            match = _LISTEN_LINE.match(line)
            if not match or match.group(1) != match.group(2):
                raise RuntimeError(f"unexpected first stdout line: {line!r}")
            self.port = int(match.group(1))
        except BaseException:
            self.kill()
            raise
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"

    def _read_first_line(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        end = time.monotonic() + STARTUP_DEADLINE
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no listening line within {STARTUP_DEADLINE} s; "
                                   f"stderr: {self.stderr_text()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"switchboard exited ({self.proc.wait()}) before "
                                       f"listening; stderr: {self.stderr_text()}")
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def stderr_text(self):
        with open(self._stderr.name, "rb") as f:
            return f.read().decode(errors="replace")

    def terminate(self):
        """SIGTERM; returns the exit code (raises if it does not exit in time)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        return self.proc.wait(timeout=EXIT_DEADLINE)

    def kill(self):
        """Stops the process by PID whatever state it is in. Safe to call twice."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


class HttpResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> list of values
        self.body = body

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"HttpResponse({self.status}, {self.headers}, {self.body[:200]!r})"


def curl(url, method="GET", headers=(), data=None, token=None, head=False):
    """Runs curl and returns status, headers and body of the final response."""
    with tempfile.TemporaryDirectory(prefix="switchboard-curl-") as tmp:
        header_file = os.path.join(tmp, "headers")
        body_file = os.path.join(tmp, "body")
        args = ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time",
                str(IO_DEADLINE), "-D", header_file, "-o", body_file, "-H", "Expect:"]
        if head:
            args.append("--head")
        else:
            args += ["-X", method]
        for header in headers:
            args += ["-H", header]
        if token is not None:
            args += ["-H", f"Authorization: Bearer {token}"]
        if data is not None:
            # curl's default for a body is application/x-www-form-urlencoded, which
            # the server answers with 415; say what we send unless told otherwise.
            if not any(h.lower().startswith("content-type:") for h in headers):
                args += ["-H", "Content-Type: text/plain; charset=utf-8"]
            args += ["--data-binary", "@-"]
        args.append(url)
        result = subprocess.run(
            args, input=data.encode() if isinstance(data, str) else data,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=IO_DEADLINE + 5)
        if result.returncode != 0:
            raise AssertionError(f"curl failed ({result.returncode}): {result.stderr.decode()}")
        with open(header_file, "rb") as f:
            raw_headers = f.read().decode("latin-1")
        body = b""
        if os.path.exists(body_file):
            with open(body_file, "rb") as f:
                body = f.read()
    # The file may hold several blocks (e.g. 100 Continue); keep the last one.
    blocks = [b for b in raw_headers.split("\r\n\r\n") if b.strip()]
    lines = blocks[-1].split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed.setdefault(name.strip().lower(), []).append(value.strip())
    return HttpResponse(status, parsed, body)


def connections(server):
    response = curl(server.http + "/api/connections", token=server.token)
    if response.status != 200:
        raise AssertionError(f"GET /api/connections: {response!r}")
    return response.json()["connections"]


def run(coro, deadline=30.0):
    """Runs one async test body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, deadline))


def ws_connect(url, **kwargs):
    """websockets.connect with e2e defaults: no client pings, bounded handshake."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("open_timeout", IO_DEADLINE)
    kwargs.setdefault("close_timeout", IO_DEADLINE)
    return websockets.connect(url, **kwargs)


async def recv(ws, deadline=IO_DEADLINE):
    try:
        return await asyncio.wait_for(ws.recv(), deadline)
    except asyncio.TimeoutError:
        raise AssertionError(f"no message from the server within {deadline} s") from None


async def wait_closed(ws, deadline=IO_DEADLINE):
    """Waits for the server to close; returns (code, reason) as the client received them."""
    try:
        await asyncio.wait_for(ws.wait_closed(), deadline)
    except asyncio.TimeoutError:
        raise AssertionError(f"the server did not close the connection within {deadline} s"
                             ) from None
    return ws.close_code, ws.close_reason


def invalid_status(exc):
    """HTTP status of a refused handshake (websockets 10.x raises InvalidStatusCode)."""
    if hasattr(exc, "status_code"):
        return exc.status_code
    response = getattr(exc, "response", None)  # websockets >= 14 InvalidStatus
    return getattr(response, "status_code", None)


def local_port(ws):
    return ws.local_address[1]


def session_id_for(server, ws):
    """The hub id of the session whose peer is this client's local port."""
    port = local_port(ws)
    for info in connections(server):
        if info["peer"].endswith(f":{port}"):
            return info["id"]
    raise AssertionError(f"no session with peer port {port} in {connections(server)}")
