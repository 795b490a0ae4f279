#!/usr/bin/python3
"""End-to-end: a person uses the bundled test page (GET /) in headless Chromium.

Chromium is driven over the Chrome DevTools Protocol with the `websockets`
client: mouse clicks and typing go through Input.*, what the person sees is
read back with Runtime.evaluate. Run with /usr/bin/python3.

Environment:
  SWITCHBOARD_BINARY          the switchboard binary (CTest sets it)
  SWITCHBOARD_CHROMIUM        Chromium binary (default /usr/bin/chromium)
  SWITCHBOARD_SCREENSHOT_DIR  if set, write screenshot-test-client.png there
"""

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402

from e2e_support import (  # noqa: E402
    IO_DEADLINE, STARTUP_DEADLINE, ServerProcess, _die_with_parent, connections, curl,
    poll_until)

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_NAME = "screenshot-test-client.png"


class Chromium:
    """A headless Chromium in its own process group, with a fresh profile."""

    def __init__(self):
        if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
            raise RuntimeError(
                f"Chromium not found at {CHROMIUM}. The browser end-to-end test needs it: "
                "apt-get install -y --no-install-recommends chromium "
                "(or set SWITCHBOARD_CHROMIUM).")
        self.profile = tempfile.mkdtemp(prefix="switchboard-chromium-")
        self.log = open(os.path.join(self.profile, "chromium-stderr.log"), "wb")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-proxy-server",
                "--disable-extensions", "--mute-audio", "--window-size=900,640",
                "--force-device-scale-factor=1", "--lang=en-US",
                f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", "about:blank"]
        env = dict(os.environ, LANG="C.UTF-8", TZ="UTC")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        try:
            self.browser_ws = self._devtools_url()
        except BaseException:
            self.stop()
            raise

    def _devtools_url(self):
        path = os.path.join(self.profile, "DevToolsActivePort")

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: "
                                   f"{self.log_text()[-2000:]}")
            try:
                with open(path) as f:
                    lines = f.read().split("\n")
            except FileNotFoundError:
                return None
            return lines if len(lines) >= 2 and lines[0] and lines[1] else None

        port, browser_path = poll_until(ready, deadline=STARTUP_DEADLINE,
                                        what="Chromium's DevToolsActivePort file")[:2]
        return f"ws://127.0.0.1:{int(port)}{browser_path}"

    def log_text(self):
        with open(os.path.join(self.profile, "chromium-stderr.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def _exited(self):
        """True once the browser process has exited; leaves it a zombie, so its group id
        stays ours until self.proc.wait() reaps it."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def stop(self):
        """Stops Chromium by its PID: it normally exits after Browser.close already; else
        SIGTERM, then SIGKILL; finally SIGKILL whatever is left in its process group."""
        if self.proc.returncode is None:
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    os.kill(self.pid, sig)
                try:
                    poll_until(self._exited, deadline=5.0, what="chromium to exit")
                    break
                except AssertionError:
                    continue
            try:
                os.killpg(self.pid, signal.SIGKILL)  # helpers still in its group, if any
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class DevTools:
    """A minimal CDP client over one WebSocket, attached to one page target."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.session = None
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, browser_ws):
        ws = await websockets.connect(browser_ws, max_size=None, ping_interval=None,
                                      open_timeout=IO_DEADLINE)
        tools = cls(ws)
        target = await tools.call("Target.createTarget", url="about:blank", browser=True)
        attached = await tools.call("Target.attachToTarget", targetId=target["targetId"],
                                    flatten=True, browser=True)
        tools.session = attached["sessionId"]
        await tools.call("Page.enable")
        await tools.call("Runtime.enable")
        return tools

    async def _read(self):
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id"), None)
            if future and not future.done():
                future.set_result(message)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("DevTools connection closed"))

    async def call(self, method, browser=False, **params):
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params}
        if self.session and not browser:
            message["sessionId"] = self.session
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        await self.ws.send(json.dumps(message))
        reply = await asyncio.wait_for(future, IO_DEADLINE)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression, what, deadline=IO_DEADLINE):
        """Evaluates until the value is truthy; returns it."""
        end = time.monotonic() + deadline
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= end:
                raise AssertionError(f"timed out after {deadline} s waiting for {what}")
            await asyncio.sleep(0.05)

    # What a person does ------------------------------------------------

    async def click(self, element_id):
        box = await self.evaluate(
            f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2, disabled: !!e.disabled}; })()")
        if box["disabled"]:
            raise AssertionError(f"#{element_id} is disabled; a person could not click it")
        for event in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=event, x=box["x"], y=box["y"],
                            button="left", buttons=1 if event == "mousePressed" else 0,
                            clickCount=1)

    async def type_text(self, text):
        await self.call("Input.insertText", text=text)

    async def press_enter(self):
        await self.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, text="\r")
        await self.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)

    async def log_lines(self):
        """The page's log as [kind, text] pairs, without the leading time stamp."""
        return await self.evaluate(
            "[...document.querySelectorAll('#log > div')].map(d => {"
            " const t = d.textContent; return [d.className, t.slice(t.indexOf('  ') + 2)]; })")

    async def wait_for_log(self, kind, text):
        expression = (
            "[...document.querySelectorAll('#log > div." + kind + "')].some(d => {"
            " const t = d.textContent; return t.slice(t.indexOf('  ') + 2) === "
            + json.dumps(text) + "; })")
        try:
            await self.wait_for(expression, f"log line {kind} {text!r}")
        except AssertionError as error:
            raise AssertionError(f"{error}; the log shows {await self.log_lines()}") from None

    async def status(self):
        return await self.evaluate("document.getElementById('status').textContent")

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.send(json.dumps(
                {"id": next(self.ids), "method": "Browser.close"})), IO_DEADLINE)
        except Exception:  # noqa: BLE001 - best effort; Chromium.stop() follows
            pass
        await self.ws.close()
        self.reader.cancel()


class ChromiumTestCase(unittest.TestCase):
    """One server (with server_args) and one Chromium per class; each test drives a page."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(*cls.server_args)
        cls.addClassCleanup(cls.server.kill)
        cls.chromium = Chromium()
        cls.addClassCleanup(cls.chromium.stop)

    def admin(self, path, **kwargs):
        return curl(self.server.http + path, token=self.server.token, **kwargs)

    def drive(self, scenario):
        """Runs scenario(page) on a fresh page, closing it afterwards."""
        async def run_it():
            page = await DevTools.open(self.chromium.browser_ws)
            try:
                await scenario(page)
            finally:
                await page.close()
        asyncio.run(asyncio.wait_for(run_it(), 45))


class BrowserTest(ChromiumTestCase):
    def test_person_uses_the_test_page(self):
        self.drive(self._drive)

    async def _drive(self, page):
        url = self.server.http + "/"
        navigated = await page.call("Page.navigate", url=url)
        self.assertNotIn("errorText", navigated, f"could not open {url}")
        await page.wait_for("document.readyState === 'complete'"
                            " && !!document.getElementById('connect')", "the page to load")
        self.assertEqual(await page.evaluate("document.title"), "Switchboard test client")
        self.assertEqual(await page.evaluate("document.getElementById('url').value"),
                         f"ws://127.0.0.1:{self.server.port}/ws")
        self.assertIn("Connects to the server as the page opens",
                      await page.evaluate("document.getElementById('hint').textContent"))

        # No click: the page connects as it opens, and the server greets with "start".
        await page.wait_for_log("in", "start")
        self.assertEqual(await page.status(), "connected")
        self.assertTrue(await page.evaluate("document.getElementById('connect').disabled"))

        # Type a message and press Enter: it is echoed back.
        message = "hello from chromium ✓"
        await page.click("text")
        await page.type_text(message)
        await page.press_enter()
        await page.wait_for_log("out", message)
        await page.wait_for_log("in", message)
        self.assertEqual(await page.evaluate("document.getElementById('text').value"), "",
                         "the input should be cleared after sending")

        # The operator broadcasts with curl; the page shows it.
        response = await asyncio.to_thread(self.admin, "/api/broadcast", method="POST",
                                           data="broadcast from curl")
        self.assertEqual((response.status, response.json()), (200, {"delivered": 1}))
        await page.wait_for_log("in", "broadcast from curl")

        # The server lists the browser's session on /ws.
        listed = await asyncio.to_thread(connections, self.server)
        self.assertEqual(len(listed), 1, listed)
        session = listed[0]
        self.assertEqual(session["path"], "/ws")
        self.assertEqual(session["state"], "open")
        self.assertTrue(session["peer"].startswith("127.0.0.1:"), session)
        self.assertGreaterEqual(session["messages_in"], 1)
        self.assertGreaterEqual(session["messages_out"], 3)  # start, echo, broadcast

        # The whole exchange, in order.
        lines = [line for line in await page.log_lines() if line[0] != "sys"]
        self.assertEqual(lines, [["in", "start"], ["out", message], ["in", message],
                                 ["in", "broadcast from curl"]])

        screenshot_dir = os.environ.get("SWITCHBOARD_SCREENSHOT_DIR")
        if screenshot_dir:
            shot = await page.call("Page.captureScreenshot", format="png")
            os.makedirs(screenshot_dir, exist_ok=True)
            with open(os.path.join(screenshot_dir, SCREENSHOT_NAME), "wb") as f:
                f.write(base64.b64decode(shot["data"]))

        # Disconnect: a normal close, and the session leaves the server.
        await page.click("disconnect")
        await page.wait_for_log("sys", "closed: code 1000 (bye)")
        self.assertEqual(await page.status(), "disconnected")
        await asyncio.to_thread(poll_until, lambda: connections(self.server) == [],
                                what="the browser session to leave /api/connections")

        # Reconnect; the operator closes the session; the page says so.
        await page.click("connect")
        # The greeting comes from the new session, so the hub lists it by then.
        await page.wait_for("[...document.querySelectorAll('#log > div.in')].filter(d =>"
                            " d.textContent.endsWith('  start')).length === 2",
                            "the second greeting after reconnecting")
        self.assertEqual(await page.status(), "connected")
        listed = await asyncio.to_thread(connections, self.server)
        self.assertEqual(len(listed), 1, listed)
        deleted = await asyncio.to_thread(self.admin, f"/api/connections/{listed[0]['id']}",
                                          method="DELETE")
        self.assertEqual(deleted.status, 200)
        await page.wait_for_log("sys", "closed: code 4000 (closed by operator)")
        self.assertEqual(await page.status(), "disconnected")


class BrowserExtensionsTest(ChromiumTestCase):
    """Chromium's own WebSocket: it offers subprotocols on request and always offers
    permessage-deflate, which the server agrees to with --deflate."""

    server_args = ("--deflate",)

    def test_subprotocols_and_deflate(self):
        self.drive(self._drive)

    async def _drive(self, page):
        # A page of the server's own origin, so the origin check passes.
        await page.call("Page.navigate", url=self.server.http + "/")
        await page.wait_for("document.readyState === 'complete'", "the page to load")
        # The page connects to /ws by itself; close that so only this test's sockets remain.
        await page.wait_for_log("in", "start")
        await page.click("disconnect")
        await page.wait_for_log("sys", "closed: code 1000 (bye)")
        await asyncio.to_thread(poll_until, lambda: connections(self.server) == [],
                                what="the page's own session to leave /api/connections")
        await page.evaluate(OPEN_SOCKET_JS)
        base = json.dumps(self.server.ws)

        # Chosen: chat.v1 is in the list; the page sees it, and deflate was agreed.
        chat = await page.evaluate(f"openSocket({base} + '/ws/chat', ['x.v0', 'chat.v1'])")
        self.assertEqual(chat["state"], "open", chat)
        self.assertEqual(chat["protocol"], "chat.v1")
        self.assertIn("permessage-deflate", chat["extensions"])
        self.assertEqual(chat["first"], "start")

        # Refused by the browser: it asked for chat.v1 only, the echo endpoint chose
        # none, and a client that requires a subprotocol must fail the connection.
        echo = await page.evaluate(f"openSocket({base} + '/ws', ['chat.v1'])")
        self.assertEqual(echo["state"], "failed", echo)
        self.assertEqual(echo["code"], 1006)

        # None asked, none chosen: a compressed echo of a 4 KiB JSON message.
        plain = await page.evaluate(f"openSocket({base} + '/ws', [])")
        self.assertEqual((plain["state"], plain["protocol"]), ("open", ""), plain)
        message = json.dumps({"rows": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]}
                                       for i in range(90)]})
        self.assertGreater(len(message), 4000)
        echoed = await page.evaluate(f"echoOn(sockets.length - 1, {json.dumps(message)})")
        self.assertEqual(echoed, message)
        listed = await asyncio.to_thread(connections, self.server)
        by_path = {s["path"]: s for s in listed}
        self.assertEqual(by_path["/ws/chat"]["subprotocol"], "chat.v1")
        self.assertTrue(by_path["/ws"]["deflate"], by_path)
        self.assertGreater(by_path["/ws"]["compression_ratio"], 3, by_path)
        self.assertLess(by_path["/ws"]["wire_bytes_in"], len(message) / 3, by_path)


# Helpers evaluated in the page: open a socket and report how that went.
OPEN_SOCKET_JS = """
window.sockets = [];
window.openSocket = (url, protocols) => new Promise(resolve => {
    const ws = new WebSocket(url, protocols);
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = e => {
        sockets.push(ws);
        resolve({state: 'open', protocol: ws.protocol, extensions: ws.extensions,
                 first: e.data});
    };
    ws.onclose = e => resolve({state: opened ? 'closed' : 'failed', code: e.code});
});
window.echoOn = (index, text) => new Promise(resolve => {
    const ws = sockets[index];
    ws.onmessage = e => resolve(e.data);
    ws.send(text);
});
"""


if __name__ == "__main__":
    unittest.main(verbosity=2)
