#!/usr/bin/env node
// The comparison peer for bench/run.py: Node's http module and the npm package `ws`,
// written the way their documentation does it, doing what Switchboard does for the
// benchmark on one port:
//   /ws                  greets "start", then echoes text and binary unchanged
//   GET /api/health      {"status":"ok","version":...,"uptime_s":...,"connections":N}
//   POST /api/broadcast  Authorization: Bearer TOKEN, text/plain body -> text frame to
//                        every client; answers {"delivered":N}
// and pings every client every --ping-interval seconds, dropping one that has not
// answered the previous ping (ws's documented heartbeat). It does not implement
// Switchboard's idle timeout, admin routes beyond broadcast, or logging.
//
// --deflate turns on ws's permessage-deflate with its defaults, the way its README
// shows (`perMessageDeflate: true` plus the threshold, 1024 unless
// --deflate-threshold says otherwise): zlib level and memLevel are Node's defaults
// (6 and 8), and context takeover is kept in both directions unless the client's
// offer asks otherwise, so every connection that has exchanged a compressed message
// keeps a deflate and an inflate stream; the threshold only applies to a direction
// without context takeover (ws compresses every message otherwise).
//
// Usage: node ws-peer.js [--host 127.0.0.1] [--port 0] [--admin-token T]
//                        [--ping-interval 10] [--max-message-size 16777216]
//                        [--deflate [--deflate-threshold 1024]]
'use strict';

const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const options = {
    host: '127.0.0.1',
    port: 0,
    adminToken: process.env.SWITCHBOARD_ADMIN_TOKEN || 'T',
    pingInterval: 10,
    maxMessageSize: 16 * 1024 * 1024,
    deflate: false,
    deflateThreshold: 1024,
  };
  const numeric = new Set(['port', 'pingInterval', 'maxMessageSize', 'idleTimeout',
                           'deflateThreshold']);
  for (let i = 2; i < argv.length; ++i) {
    let [key, value] = argv[i].split(/=(.*)/s);
    if (!key.startsWith('--')) {
      console.error(`ws-peer: unexpected argument ${argv[i]}`);
      process.exit(2);
    }
    key = key.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (key === 'noGui')
      continue; // accepted for command-line compatibility with switchboard
    if (key === 'deflate' && value === undefined) {
      options.deflate = true;
      continue;
    }
    if (value === undefined)
      value = argv[++i];
    if (value === undefined) {
      console.error(`ws-peer: --${key} needs a value`);
      process.exit(2);
    }
    if (numeric.has(key)) {
      value = Number(value);
      if (!Number.isFinite(value) || value < 0) {
        console.error(`ws-peer: --${key} needs a non-negative number`);
        process.exit(2);
      }
    }
    options[key] = value;
  }
  return options;
}

const options = parseArgs(process.argv);
const startedAt = Date.now();

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: options.maxMessageSize,
  perMessageDeflate: options.deflate ? { threshold: options.deflateThreshold } : false,
});

function sendJson(res, status, object, extraHeaders = {}) {
  const body = JSON.stringify(object);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?', 1)[0];
  if (path === '/api/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    sendJson(res, 200, {
      status: 'ok',
      version: 'ws-peer',
      uptime_s: Math.floor((Date.now() - startedAt) / 1000),
      connections: wss.clients.size,
    });
    return;
  }
  if (path === '/api/broadcast' && req.method === 'POST') {
    if (req.headers.authorization !== `Bearer ${options.adminToken}`) {
      sendJson(res, 401, { error: 'unauthorized' }, { 'WWW-Authenticate': 'Bearer' });
      req.resume();
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let delivered = 0;
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) {
          client.send(body, { binary: false });
          ++delivered;
        }
      }
      sendJson(res, 200, { delivered });
    });
    return;
  }
  sendJson(res, 404, { error: 'not found' });
});

server.on('upgrade', (req, socket, head) => {
  if (req.url.split('?', 1)[0] !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

wss.on('connection', (ws) => {
  ws.isAlive = true;
  ws.on('pong', () => {
    ws.isAlive = true;
  });
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
  ws.send('start');
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.isAlive) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, options.pingInterval * 1000);

function shutDown() {
  clearInterval(heartbeat);
  for (const ws of wss.clients)
    ws.close(1001, 'server shutting down');
  server.close();
  setTimeout(() => process.exit(0), 300).unref();
}
process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);

server.on('error', (error) => {
  console.error(`ws-peer: cannot listen on ${options.host}:${options.port}: ${error.message}`);
  process.exit(1);
});

server.listen(options.port, options.host, 1024, () => {
  const { port } = server.address();
  console.log(`ws-peer listening on http://${options.host}:${port} `
              + `(WebSocket ws://${options.host}:${port}/ws)`);
});
