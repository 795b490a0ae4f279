// switchboard-channels.js: a small client for Switchboard's channels endpoint
// (/ws/channels, subprotocol switchboard.v1; the protocol is in
// docs/channels-protocol.md). No dependencies; copy it into your app.
//
//   const client = new SwitchboardChannels("ws://127.0.0.1:4040/ws/channels");
//   client.onMessage = (topic, data, message) => console.log(topic, data);
//   client.onPresence = (topic, members) => console.log(topic, Object.keys(members));
//   await client.connect();
//   await client.join("room:lobby", { member: "ann", meta: { name: "Ann" } });
//   await client.publish("room:lobby", { text: "hello" });
//   await client.leave("room:lobby");
//
// join(), leave() and publish() return promises: resolved with the server's
// reply, rejected with an Error whose .code is the protocol's error code
// ("forbidden", "rate_limited", ...). After a lost connection, reconnect()
// (or connect() again) rejoins every topic with the last offset seen, so what
// was published meanwhile arrives in order; if the server could not keep it
// all, onGap(topic) is called instead (fetch the state another way).
"use strict";

class SwitchboardChannels {
  constructor(url) {
    this.url = url;
    this.socket = null;
    this.session = null; // this connection's id, from the server's hello
    this.topics = new Map(); // topic -> { options, offset, epoch, presence }
    this.pending = new Map(); // ref -> { resolve, reject }
    this.nextRef = 1;
    this.onMessage = () => {};
    this.onPresence = () => {};
    this.onGap = () => {};
    this.onClose = () => {};
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, "switchboard.v1");
      this.socket = socket;
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "hello") {
          this.session = message.session;
          this._rejoin().then(() => resolve(message), reject);
        } else {
          this._dispatch(message);
        }
      };
      socket.onclose = (event) => {
        for (const { reject: fail } of this.pending.values())
          fail(new Error("connection closed"));
        this.pending.clear();
        if (this.session === null) reject(new Error("could not connect (" + event.code + ")"));
        this.session = null;
        this.onClose(event);
      };
    });
  }

  reconnect() { return this.connect(); }

  close() { if (this.socket) this.socket.close(1000, "bye"); }

  join(topic, options = {}) {
    const entry = this.topics.get(topic) || { options, offset: null, epoch: null, presence: {} };
    entry.options = options;
    return this._request({ type: "join", topic, member: options.member, meta: options.meta,
                           params: options.params }).then((reply) => {
      this._joined(topic, entry, reply);
      return reply;
    });
  }

  leave(topic) {
    this.topics.delete(topic);
    return this._request({ type: "leave", topic });
  }

  publish(topic, data) { return this._request({ type: "publish", topic, data }); }

  // The members present in a topic: { member: { metas: [{ session, node, meta, online_at }] } }.
  presence(topic) { return (this.topics.get(topic) || { presence: {} }).presence; }

  _request(fields) {
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN)
        return reject(new Error("not connected"));
      this.pending.set(ref, { resolve, reject });
      this.socket.send(JSON.stringify({ ...fields, ref }));
    });
  }

  _rejoin() {
    // After a reconnect: every topic again, from the last offset seen.
    return Promise.all([...this.topics.entries()].map(([topic, entry]) => {
      const request = { type: "join", topic, member: entry.options.member,
                        meta: entry.options.meta, params: entry.options.params };
      if (entry.offset !== null) { request.since = entry.offset; request.epoch = entry.epoch; }
      return this._request(request).then((reply) => {
        if (reply.recovered === false) this.onGap(topic);
        this._joined(topic, entry, reply);
      });
    }));
  }

  _joined(topic, entry, reply) {
    // Missed messages (when recovered) follow the reply and move the offset on.
    if (entry.offset === null || reply.recovered !== true) entry.offset = reply.offset;
    entry.epoch = reply.epoch;
    entry.presence = reply.presence;
    this.topics.set(topic, entry);
    this.onPresence(topic, entry.presence);
  }

  _dispatch(message) {
    if (message.ref !== undefined && this.pending.has(message.ref)) {
      const { resolve, reject } = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      if (message.type === "error") {
        const error = new Error(message.message);
        error.code = message.code;
        reject(error);
      } else {
        resolve(message);
      }
      return;
    }
    const entry = this.topics.get(message.topic);
    if (message.type === "message") {
      if (entry) entry.offset = Math.max(entry.offset || 0, message.offset);
      this.onMessage(message.topic, message.data, message);
    } else if (message.type === "presence_diff" && entry) {
      // A presence is its node and session: a join the state has already replaces it.
      const key = (m) => m.node + "/" + m.session;
      const remove = (member, metas) => {
        const gone = new Set(metas.map(key));
        const left = (entry.presence[member] || { metas: [] }).metas
          .filter((m) => !gone.has(key(m)));
        if (left.length) entry.presence[member] = { metas: left };
        else delete entry.presence[member];
      };
      for (const [member, { metas }] of Object.entries(message.leaves)) remove(member, metas);
      for (const [member, { metas }] of Object.entries(message.joins)) {
        remove(member, metas);
        const known = (entry.presence[member] || { metas: [] }).metas;
        entry.presence[member] = { metas: known.concat(metas) };
      }
      this.onPresence(message.topic, entry.presence);
    }
  }
}

if (typeof module !== "undefined") module.exports = { SwitchboardChannels };
