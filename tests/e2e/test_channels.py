#!/usr/bin/python3
"""End-to-end: topics, presence and history on /ws/channels with the real binary.

Python's websockets plays the clients of the protocol (docs/channels-protocol.md);
headless Chromium plays two people on the bundled channels page (GET /channels),
which uses resources/web/switchboard-channels.js. Run with /usr/bin/python3.
"""

import asyncio
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402

from e2e_support import IO_DEADLINE, ServerProcess, curl, poll_until, run  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from test_browser import ChromiumTestCase, DevTools  # noqa: E402


class Client:
    """One connection speaking switchboard.v1, with what it has received."""

    def __init__(self, ws, hello):
        self.ws = ws
        self.hello = hello
        self.session = hello["session"]
        self.ref = 0
        self.inbox = []  # messages that are not answers

    @classmethod
    async def open(cls, server, query=""):
        ws = await websockets.connect(f"{server.ws}/ws/channels{query}",
                                      subprotocols=["switchboard.v1"], open_timeout=IO_DEADLINE)
        hello = json.loads(await asyncio.wait_for(ws.recv(), IO_DEADLINE))
        assert hello["type"] == "hello", hello
        return cls(ws, hello)

    async def request(self, **fields):
        """Sends a request with a new ref; returns its answer (reply or error)."""
        self.ref += 1
        ref = self.ref
        await self.ws.send(json.dumps({**fields, "ref": ref}))
        while True:
            message = await self.next()
            if message.get("ref") == ref:
                return message
            self.inbox.append(message)

    async def next(self):
        return json.loads(await asyncio.wait_for(self.ws.recv(), IO_DEADLINE))

    async def expect(self, kind):
        """The next message of type kind (from the inbox first)."""
        for i, message in enumerate(self.inbox):
            if message["type"] == kind:
                return self.inbox.pop(i)
        while True:
            message = await self.next()
            if message["type"] == kind:
                return message
            self.inbox.append(message)

    async def close(self):
        await self.ws.close()


class ChannelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("--channel-history", "3", "--channel-max-topics", "3")
        cls.addClassCleanup(cls.server.kill)

    def admin(self, path, **kwargs):
        return curl(self.server.http + path, token=self.server.token, **kwargs)

    def test_join_publish_leave_with_presence(self):
        async def scenario():
            ann = await Client.open(self.server)
            bob1 = await Client.open(self.server)
            bob2 = await Client.open(self.server)
            joined = await ann.request(type="join", topic="room:e2e", member="ann",
                                       meta={"name": "Ann"})
            self.assertEqual(joined["status"], "ok")
            self.assertEqual(list(joined["presence"]), ["ann"])
            reply = await bob1.request(type="join", topic="room:e2e", member="bob")
            self.assertEqual(sorted(reply["presence"]), ["ann", "bob"])
            diff = await ann.expect("presence_diff")
            self.assertEqual(list(diff["joins"]), ["bob"])
            # Bob's second connection: one member, two presences.
            reply = await bob2.request(type="join", topic="room:e2e", member="bob")
            self.assertEqual(len(reply["presence"]["bob"]["metas"]), 2)
            self.assertEqual(sorted(m["session"] for m in reply["presence"]["bob"]["metas"]),
                             sorted([bob1.session, bob2.session]))
            diff = await ann.expect("presence_diff")
            self.assertEqual(diff["joins"]["bob"]["metas"][0]["session"], bob2.session)

            published = await ann.request(type="publish", topic="room:e2e", data={"n": 1})
            for client in (ann, bob1, bob2):
                message = await client.expect("message")
                self.assertEqual(message["data"], {"n": 1})
                self.assertEqual(message["offset"], published["offset"])

            # A closed connection is a leave, told to those who stay.
            await bob2.close()
            diff = await ann.expect("presence_diff")
            self.assertEqual(diff["leaves"]["bob"]["metas"][0]["session"], bob2.session)
            state = self.admin("/api/topics/room:e2e").json()
            self.assertEqual(state["subscribers"], 2)
            self.assertEqual(sorted(state["presence"]), ["ann", "bob"])
            self.assertEqual((await bob1.request(type="leave", topic="room:e2e"))["status"], "ok")
            self.assertEqual(list((await ann.expect("presence_diff"))["leaves"]), ["bob"])
            await ann.close()
            await bob1.close()
        run(scenario())

    def test_recovery_after_a_disconnect_and_the_gap(self):
        async def scenario():
            reader = await Client.open(self.server)
            writer = await Client.open(self.server)
            joined = await reader.request(type="join", topic="news:e2e")
            await writer.request(type="join", topic="news:e2e")
            await writer.request(type="publish", topic="news:e2e", data="first")
            seen = await reader.expect("message")
            await reader.close()
            # Away: two messages; the history keeps 3, so both can be recovered.
            for text in ("second", "third"):
                await writer.request(type="publish", topic="news:e2e", data=text)
            back = await Client.open(self.server)
            reply = await back.request(type="join", topic="news:e2e", since=seen["offset"],
                                       epoch=joined["epoch"])
            self.assertIs(reply["recovered"], True)
            self.assertEqual(reply["missed"], 2)
            missed = [await back.expect("message") for _ in range(2)]
            self.assertEqual([m["data"] for m in missed], ["second", "third"])
            self.assertEqual([m["offset"] for m in missed],
                             [seen["offset"] + 1, seen["offset"] + 2])
            await back.request(type="leave", topic="news:e2e")
            last = missed[-1]["offset"]
            # Away too long: five more, more than the history keeps.
            for n in range(5):
                await writer.request(type="publish", topic="news:e2e", data=n)
            reply = await back.request(type="join", topic="news:e2e", since=last,
                                       epoch=joined["epoch"])
            self.assertIs(reply["recovered"], False)
            self.assertEqual(reply["offset"], last + 5)
            # And a history from another run (another epoch) is a gap too.
            other = await Client.open(self.server)
            reply = await other.request(type="join", topic="news:e2e", since=last + 4,
                                        epoch="not-this-run")
            self.assertIs(reply["recovered"], False)
            for client in (writer, back, other):
                await client.close()
        run(scenario())

    def test_authorisation_and_limits(self):
        async def scenario():
            guest = await Client.open(self.server)
            denied = await guest.request(type="join", topic="admin:ops")
            self.assertEqual(denied["type"], "error")
            self.assertEqual(denied["code"], "forbidden")
            operator = await Client.open(self.server, f"?admin_token={self.server.token}")
            self.assertEqual((await operator.request(type="join", topic="admin:ops"))["status"],
                             "ok")
            # --channel-max-topics 3: the fourth is refused, and the connection stays.
            for topic in ("a", "b", "c"):
                self.assertEqual((await guest.request(type="join", topic=topic))["status"], "ok")
            refused = await guest.request(type="join", topic="d")
            self.assertEqual(refused["code"], "too_many_topics")
            self.assertEqual((await guest.request(type="publish", topic="a", data=1))["status"],
                             "ok")
            bad = await guest.request(type="join", topic="no spaces")
            self.assertEqual(bad["code"], "invalid_topic")

            # /metrics counts them, by code, and knows the subscriptions (4 now).
            def scrape():
                text = self.admin("/metrics").body.decode()
                samples = {}
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
                return samples
            self.assertEqual(poll_until(
                lambda: scrape()[("switchboard_channel_subscriptions", ())] == 4 or None,
                what="4 subscriptions in /metrics"), True)
            samples = scrape()
            errors = "switchboard_channel_errors_total"
            self.assertEqual(samples[(errors, (("code", "too_many_topics"),))], 1)
            self.assertEqual(samples[(errors, (("code", "forbidden"),))], 1)
            self.assertGreaterEqual(samples[(errors, (("code", "invalid_topic"),))], 1)
            self.assertGreaterEqual(samples[("switchboard_channel_publishes_total", ())], 1)
            await guest.close()
            await operator.close()
        run(scenario())

    def test_admin_api_lists_and_publishes(self):
        async def scenario():
            client = await Client.open(self.server)
            await client.request(type="join", topic="room:api", member="ann")
            response = self.admin("/api/topics/room:api/publish", method="POST",
                                  data='{"from":"operator"}',
                                  headers=["Content-Type: application/json"])
            self.assertEqual(response.status, 200, response)
            self.assertEqual(response.json()["delivered"], 1)
            self.assertEqual((await client.expect("message"))["data"], {"from": "operator"})
            response = self.admin("/api/topics/room:api/publish", method="POST", data="plain")
            self.assertEqual((await client.expect("message"))["data"], "plain")
            topics = {t["topic"]: t for t in self.admin("/api/topics").json()["topics"]}
            self.assertEqual(topics["room:api"]["subscribers"], 1)
            self.assertEqual(topics["room:api"]["offset"], 2)
            self.assertEqual(curl(self.server.http + "/api/topics").status, 401)
            self.assertEqual(self.admin("/api/topics/room:nothing").status, 404)
            await client.close()
        run(scenario())


class ChannelsPageTest(ChromiumTestCase):
    """Two people, two tabs, one topic: presence and messages on the channels page."""

    def test_two_tabs_see_each_other(self):
        async def open_page(name):
            page = await DevTools.open(self.chromium.browser_ws)
            await page.call("Page.navigate", url=self.server.http + "/channels")
            await page.wait_for("(document.getElementById('status') || {}).textContent"
                                " === 'connected'", f"{name}'s page to connect")
            await page.evaluate(f"document.getElementById('name').value = {json.dumps(name)}")
            await page.click("join")
            await page.wait_for("document.getElementById('target').value === 'room:lobby'",
                                f"{name} to join")
            return page

        async def presence(page):
            return await page.evaluate(
                "[...document.querySelectorAll('#presence li')].map(li => li.firstChild"
                ".textContent).sort()")

        async def scenario():
            ann = await open_page("ann")
            bob = await open_page("bob")
            try:
                await ann.wait_for("document.querySelectorAll('#presence li').length === 2",
                                   "ann to see bob")
                self.assertEqual(await presence(ann), ["ann", "bob"])
                self.assertEqual(await presence(bob), ["ann", "bob"])
                await ann.click("text")
                await ann.type_text("hello from ann")
                await ann.press_enter()
                await bob.wait_for(
                    "document.getElementById('log').textContent.includes("
                    "'[room:lobby] hello from ann')", "bob to get ann's message")
                await bob.evaluate("document.querySelector('#joined button').click()")
                await ann.wait_for("document.querySelectorAll('#presence li').length === 1",
                                   "ann to see bob leave")
                self.assertEqual(await presence(ann), ["ann"])
            finally:
                await ann.close()
                await bob.close()

        asyncio.run(asyncio.wait_for(scenario(), 45))

    def test_the_js_client_applies_a_repeated_join_once(self):
        # In a cluster a presence in the join reply may come again in a diff; the
        # client keys presences by node and session, so it is not counted twice.
        async def scenario():
            page = await DevTools.open(self.chromium.browser_ws)
            try:
                await page.call("Page.navigate", url=self.server.http + "/channels")
                await page.wait_for("typeof SwitchboardChannels === 'function'",
                                    "the client library to load")
                state = await page.evaluate("""(() => {
                    const c = new SwitchboardChannels("ws://127.0.0.1:1/ws/channels");
                    const ann = { node: "a", session: 1, meta: {} };
                    c.topics.set("t", { options: {}, offset: 0, epoch: "e",
                                        presence: { ann: { metas: [ann] } } });
                    c._dispatch({ type: "presence_diff", topic: "t", leaves: {},
                                  joins: { ann: { metas: [ann] },
                                           bob: { metas: [{ node: "b", session: 1 }] } } });
                    c._dispatch({ type: "presence_diff", topic: "t", joins: {},
                                  leaves: { bob: { metas: [{ node: "b", session: 1 }] } } });
                    return JSON.stringify(c.presence("t"));
                })()""")
                self.assertEqual(json.loads(state),
                                 {"ann": {"metas": [{"node": "a", "session": 1, "meta": {}}]}})
            finally:
                # Only this tab: DevTools.close() would end the browser the next test uses.
                await page.ws.close()
                page.reader.cancel()

        asyncio.run(asyncio.wait_for(scenario(), 30))


if __name__ == "__main__":
    unittest.main(verbosity=2)
