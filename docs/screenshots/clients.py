#!/usr/bin/python3
"""WebSocket clients for the README screenshots: they join in two waves, talk at
different rates, and one leaves, so the traffic chart has steps and slopes.

Usage: clients.py PORT SECONDS   (needs python3-websockets)
"""
import asyncio
import json
import random
import sys

import websockets


async def talk(ws, interval, lifetime, message):
    """Sends message(i) every interval (give or take half) for lifetime seconds,
    reading (and dropping) whatever comes back meanwhile."""
    async def drain():
        async for _ in ws:
            pass

    reader = asyncio.create_task(drain())
    loop = asyncio.get_running_loop()
    end = loop.time() + lifetime
    i = 0
    while loop.time() < end:
        i += 1
        await ws.send(message(i))
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))
    reader.cancel()


async def client(port, n, interval, chat, lifetime):
    path = "/ws/chat" if chat else "/ws"
    kwargs = {"subprotocols": ["chat.v1"]} if chat else {}
    if n == 5:
        kwargs["compression"] = None  # one plain session beside the deflate ones
    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", **kwargs) as ws:
        await talk(ws, interval, lifetime,
                   lambda i: f"client {n}: update {i} " + "x" * random.randint(20, 400))


async def channel_client(port, member, topic, interval, lifetime):
    """A client of /ws/channels: joins a topic as member and publishes now and then."""
    uri = f"ws://127.0.0.1:{port}/ws/channels"
    async with websockets.connect(uri, subprotocols=["switchboard.v1"]) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "join", "ref": 1, "topic": topic, "member": member,
                                  "meta": {"name": member}}))
        await talk(ws, interval, lifetime,
                   lambda i: json.dumps({"type": "publish", "topic": topic,
                                         "data": {"from": member, "n": i}}))


async def main(port, seconds):
    rnd = random.Random(7)
    tasks = []
    # First wave, then a second one a third of the way in; client 3 leaves early.
    plan = [(1, 0.10, False), (2, 0.40, True), (3, 0.25, False),
            (4, 0.05, True), (5, 0.30, False), (6, 0.15, False)]
    for n, interval, chat in plan:
        if n == 4:
            await asyncio.sleep(seconds / 3)
        lifetime = seconds * 0.5 if n == 3 else seconds * 2
        tasks.append(asyncio.create_task(client(port, n, interval, chat, lifetime)))
        await asyncio.sleep(rnd.uniform(1, 3))
    # The Topics tab's subjects: ann twice (one member, two presences), bob, a device.
    for member, topic, interval in (("ann", "room:lobby", 2.0), ("ann", "room:lobby", 5.0),
                                    ("bob", "room:lobby", 3.0), ("sensor-42", "device:42", 1.0)):
        tasks.append(asyncio.create_task(
            channel_client(port, member, topic, interval, seconds * 2)))
    await asyncio.sleep(seconds * 2)


asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
