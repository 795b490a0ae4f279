#!/usr/bin/python3
"""End-to-end: channels across a cluster of real switchboard processes.

A real redis-server (Debian redis-server) and two or three instances joined
with --cluster; Python's websockets plays the clients of switchboard.v1 on
each. Run with /usr/bin/python3. Skips when redis-server is not installed.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import ServerProcess, _die_with_parent, curl, poll_until, run  # noqa: E402
from test_channels import Client  # noqa: E402

SECRET = "e2e-cluster-secret-0123456789"
# Cluster::kBeatsBeforeDropped beats of 1 s; the test allows it twice over.
DROP_WINDOW = 3.0
# The narrowest ACL user the README documents: the tests pass with nothing more.
ACL_USER = ("switchboard", "acl-pass-0123")
ACL_RULES = ["on", f">{ACL_USER[1]}", "resetchannels", "&switchboard:cluster:*", "resetkeys",
             "~switchboard:cluster:*", "-@all", "+subscribe", "+unsubscribe", "+publish", "+eval",
             "+set", "+get", "+del", "+pexpire", "+hget", "+hset", "+hsetnx", "+hdel",
             "+hincrby", "+hmget", "+hgetall", "+hkeys", "+rpush", "+ltrim", "+lrange", "+sadd",
             "+smembers"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1 with nothing saved; stopped by its PID."""

    def __init__(self, *extra):
        self.port = free_port()
        self.extra = list(extra)
        self.start()
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self):
        """Starts it (again, on the same port, empty)."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        poll_until(self._accepts, what="redis-server to accept connections")

    def _accepts(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
class ChannelsClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer("--user", ACL_USER[0], *ACL_RULES)
        cls.addClassCleanup(cls.redis.kill)
        cls.url = cls.redis.url.replace("//", f"//{ACL_USER[0]}:{ACL_USER[1]}@")
        secret = tempfile.NamedTemporaryFile("w", prefix="switchboard-secret-", delete=False)
        secret.write(SECRET + "\n")
        secret.close()
        cls.addClassCleanup(os.unlink, secret.name)
        cls.secret_file = secret.name
        cls.a = cls.instance("alpha")
        cls.b = cls.instance("beta")
        cls.wait_for_peers(cls.a, ["beta"])
        cls.wait_for_peers(cls.b, ["alpha"])

    @classmethod
    def instance(cls, name, *extra):
        server = ServerProcess("--cluster", cls.url, "--cluster-secret-file",
                               cls.secret_file, "--node-name", name, "--channel-history", "5",
                               *extra)
        cls.addClassCleanup(server.kill)
        return server

    @staticmethod
    def wait_for_peers(server, names):
        def peers():
            response = curl(server.http + "/api/cluster", token=server.token)
            return response.status == 200 and sorted(response.json()["nodes"]) == names
        poll_until(peers, deadline=15, what=f"peers {names}")

    def test_publish_on_one_instance_reaches_every_subscriber_once_in_one_order(self):
        async def body():
            a1 = await Client.open(self.a)
            a2 = await Client.open(self.a)
            b1 = await Client.open(self.b)
            clients = [a1, a2, b1]
            for c in clients:
                self.assertEqual((await c.request(type="join", topic="room:once"))["status"], "ok")
            # Interleaved publishes from both instances: one order of offsets for all.
            sent = []
            for i in range(10):
                publisher = a1 if i % 2 == 0 else b1
                reply = await publisher.request(type="publish", topic="room:once",
                                                data={"n": i})
                self.assertEqual(reply["status"], "ok", reply)
                sent.append(reply["offset"])
            self.assertEqual(sorted(sent), list(range(sent[0], sent[0] + 10)), sent)
            # Then a last one from the other instance: everything before it has arrived
            # once it has (one order of offsets), so a second copy would be among them.
            end = await b1.request(type="publish", topic="room:once", data={"n": "end"})
            for c in clients:
                got = []
                while not got or got[-1][1] != "end":
                    message = await c.expect("message")
                    got.append((message["offset"], message["data"]["n"]))
                self.assertEqual([o for o, _ in got], sorted(sent) + [end["offset"]], c.session)
                self.assertEqual(sorted(n for _, n in got[:-1]), list(range(10)))
            for c in clients:
                await c.close()
        run(body())

    def test_presence_is_merged_across_instances(self):
        async def body():
            alice = await Client.open(self.a)
            joined = await alice.request(type="join", topic="room:presence", member="alice",
                                         meta={"name": "Alice"})
            self.assertEqual(list(joined["presence"]), ["alice"])
            bob = await Client.open(self.b)
            joined = await bob.request(type="join", topic="room:presence", member="bob",
                                       meta={"name": "Bob"})
            # Bob, on beta, sees Alice of alpha; Alice gets Bob's join as a diff.
            self.assertEqual(sorted(joined["presence"]), ["alice", "bob"])
            meta = joined["presence"]["alice"]["metas"][0]
            self.assertEqual((meta["node"], meta["session"], meta["meta"]),
                             ("alpha", alice.session, {"name": "Alice"}))
            diff = await alice.expect("presence_diff")
            self.assertEqual(list(diff["joins"]), ["bob"])
            self.assertEqual(diff["joins"]["bob"]["metas"][0]["node"], "beta")
            # A second connection of Alice's, on beta: one member, two presences.
            alice2 = await Client.open(self.b)
            joined = await alice2.request(type="join", topic="room:presence", member="alice")
            self.assertEqual(sorted(m["node"] for m in joined["presence"]["alice"]["metas"]),
                             ["alpha", "beta"])
            diff = await alice.expect("presence_diff")
            self.assertEqual(diff["joins"]["alice"]["metas"][0]["session"], alice2.session)
            # The admin API of either instance shows the merged presence.
            response = curl(self.a.http + "/api/topics/room:presence", token=self.a.token)
            self.assertEqual(response.status, 200)
            topic = response.json()
            self.assertEqual(topic["members"], 2)
            self.assertEqual(len(topic["presence"]["alice"]["metas"]), 2)
            await bob.close()
            diff = await alice.expect("presence_diff")
            self.assertEqual((list(diff["joins"]), list(diff["leaves"])), ([], ["bob"]))
            await alice.close()
            await alice2.close()
        run(body())

    def test_recovery_across_instances_and_the_gap(self):
        async def body():
            writer = await Client.open(self.a)
            joined = await writer.request(type="join", topic="room:history")
            epoch, start = joined["epoch"], joined["offset"]
            for i in range(3):
                await writer.request(type="publish", topic="room:history", data=i)
            # A client that saw `start` comes back on the other instance.
            reader = await Client.open(self.b)
            joined = await reader.request(type="join", topic="room:history", since=start,
                                          epoch=epoch)
            self.assertEqual((joined["recovered"], joined["missed"], joined["epoch"]),
                             (True, 3, epoch))
            got = [await reader.next() for _ in range(3)]
            self.assertEqual([m["data"] for m in got], [0, 1, 2])
            self.assertEqual([m["offset"] for m in got], [start + 1, start + 2, start + 3])
            # Live messages follow, without repeats.
            await writer.request(type="publish", topic="room:history", data="live")
            self.assertEqual((await reader.expect("message"))["data"], "live")
            await reader.close()
            # History keeps 5: from `start`, 9 later messages cannot all be given.
            for i in range(5):
                await writer.request(type="publish", topic="room:history", data=i)
            late = await Client.open(self.b)
            joined = await late.request(type="join", topic="room:history", since=start,
                                        epoch=epoch)
            self.assertEqual((joined["recovered"], joined["missed"]), (False, 0))
            await late.close()
            await writer.close()
        run(body())

    def test_admin_publish_on_an_instance_without_subscribers(self):
        async def body():
            listener = await Client.open(self.a)
            await listener.request(type="join", topic="news")
            response = curl(self.b.http + "/api/topics/news/publish", method="POST",
                            token=self.b.token, data='{"headline": "hi"}',
                            headers=["Content-Type: application/json"])
            self.assertEqual((response.status, response.json()),
                             (202, {"topic": "news", "accepted": True}))
            message = await listener.expect("message")
            self.assertEqual(message["data"], {"headline": "hi"})
            await listener.close()
        run(body())

    def test_a_killed_instance_members_leave_within_the_window(self):
        gamma = self.instance("gamma")
        self.wait_for_peers(self.a, ["beta", "gamma"])

        async def body():
            watcher = await Client.open(self.a)
            await watcher.request(type="join", topic="room:crash", member="watcher")
            doomed = await Client.open(gamma)
            await doomed.request(type="join", topic="room:crash", member="doomed")
            diff = await watcher.expect("presence_diff")
            self.assertEqual(list(diff["joins"]), ["doomed"])
            os.kill(gamma.pid, signal.SIGKILL)
            gamma.proc.wait()
            killed = time.monotonic()
            diff = await asyncio.wait_for(watcher.expect("presence_diff"), 2 * DROP_WINDOW + 2)
            waited = time.monotonic() - killed
            self.assertEqual((list(diff["joins"]), list(diff["leaves"])), ([], ["doomed"]))
            self.assertLess(waited, 2 * DROP_WINDOW, "left later than the heartbeat window")
            # A newcomer on the other instance does not see it either (its entry in
            # Redis belongs to an instance that stopped heart-beating).
            newcomer = await Client.open(self.b)
            joined = await newcomer.request(type="join", topic="room:crash")
            self.assertNotIn("doomed", joined["presence"])
            self.assertIn("watcher", joined["presence"])
            await newcomer.close()
            await watcher.close()
        run(body())


@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
class RedisOutageTest(unittest.TestCase):
    """Redis goes away and comes back empty: clear errors meanwhile, then all is restored."""

    def test_outage_answers_unavailable_then_presence_and_publishing_come_back(self):
        redis = RedisServer()
        self.addCleanup(redis.kill)
        secret = tempfile.NamedTemporaryFile("w", prefix="switchboard-secret-", delete=False)
        secret.write(SECRET + "\n")
        secret.close()
        self.addCleanup(os.unlink, secret.name)
        servers = {}
        for name in ("alpha", "beta"):
            servers[name] = ServerProcess("--cluster", redis.url, "--cluster-secret-file",
                                          secret.name, "--node-name", name)
            self.addCleanup(servers[name].kill)
        a, b = servers["alpha"], servers["beta"]
        ChannelsClusterTest.wait_for_peers(a, ["beta"])
        ChannelsClusterTest.wait_for_peers(b, ["alpha"])

        def connected(server, state):
            return lambda: curl(server.http + "/api/cluster",
                                token=server.token).json()["connected"] == state

        async def body():
            alice = await Client.open(a)
            await alice.request(type="join", topic="room:outage", member="alice")
            bob = await Client.open(b)
            await bob.request(type="join", topic="room:outage", member="bob")
            await alice.expect("presence_diff")

            redis.kill()
            poll_until(connected(a, False), what="alpha to notice Redis is gone")
            answer = await alice.request(type="publish", topic="room:outage", data="lost?")
            self.assertEqual((answer["type"], answer["code"]), ("error", "unavailable"))
            newcomer = await Client.open(a)
            answer = await newcomer.request(type="join", topic="room:other")
            self.assertEqual((answer["type"], answer["code"]), ("error", "unavailable"))
            await bob.close()  # its leave cannot reach Redis now

            redis.start()  # empty: everything Redis held is gone
            poll_until(connected(a, True), deadline=20, what="alpha to reconnect")
            poll_until(connected(b, True), deadline=20, what="beta to reconnect")
            ChannelsClusterTest.wait_for_peers(a, ["beta"])
            # Alice's presence was put back by alpha; Bob left for good.
            carol = await Client.open(b)
            joined = await carol.request(type="join", topic="room:outage", member="carol")
            self.assertEqual(joined["status"], "ok", joined)
            self.assertEqual(sorted(joined["presence"]), ["alice", "carol"])
            reply = await alice.request(type="publish", topic="room:outage", data="back")
            self.assertEqual(reply["status"], "ok", reply)
            self.assertEqual((await carol.expect("message"))["data"], "back")
            # Alice's view has caught up too: Bob gone, Carol there.
            poll_until(lambda: sorted(curl(a.http + "/api/topics/room:outage",
                                           token=a.token).json()["presence"])
                       == ["alice", "carol"], what="alpha's presence to catch up")
            for c in (alice, carol, newcomer):
                await c.close()
        run(body(), deadline=60)


if __name__ == "__main__":
    unittest.main()
