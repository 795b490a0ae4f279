#!/usr/bin/env python3
"""Splits a callgrind dump of bench/profile-connect.sh into the stages of one WebSocket
connection set-up, in instructions per connection (and % of the total).

    bench/callgrind_stages.py N DUMP [DUMP...]     (one column per dump; N connections each)

Stages are inclusive costs of the functions that start them (inlined parts merged), with
nested stages subtracted; what no stage claims is "the rest". QtWebSockets' handshake slot
has no symbol in Debian's libQt6WebSockets 6.4.2 (0x18d10); another Qt build needs that
name changed.
"""
import re, sys, collections
def load(path):
    names = {}
    def name(kind, rest):
        m = re.match(r'\((\d+)\)(?: (.*))?', rest)
        if not m: return rest
        if m.group(2) is not None: names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), '?')
    selfc = collections.Counter(); calls = collections.defaultdict(collections.Counter)
    fn = None; pending = None
    for line in open(path):
        line = line.rstrip('\n')
        if line.startswith('fn='): fn = name('fn', line[3:]); continue
        if line.startswith('cfn='): cfn = name('fn', line[4:]); continue
        if line.startswith('calls='): pending = 1; continue
        if line and (line[0].isdigit() or line[0] in '+-*'):
            p = line.split()
            if len(p) < 2: continue
            v = int(p[1])
            if pending: 
                if cfn != fn: calls[fn][cfn] += v
                pending = None
            else: selfc[fn] += v
    incl = {f: selfc[f] + sum(calls[f].values()) for f in set(selfc) | set(calls)}
    return selfc, calls, incl
def one(incl, pat):
    m = [f for f in incl if re.search(pat, f)]
    return max((incl[f] for f in m), default=0)
def child(calls, parentpat, childpat):
    t = 0
    for f in calls:
        if re.search(parentpat, f):
            t += sum(v for c, v in calls[f].items() if re.search(childpat, c))
    return t
def stages(path, n):
    selfc, calls, incl = load(path)
    total = sum(selfc.values())
    readn = one(incl, r'^QTcpServerPrivate::readNotification\(\)$')
    httpsock_del = child(calls, r'^qDeleteInEventHandler', r'ConnectionSocket::~ConnectionSocket')
    wss_del = child(calls, r'^qDeleteInEventHandler', r'QWebSocketServer::~QWebSocketServer')
    onread = one(incl, r'^Switchboard::Connection::onReadable\(\)')
    deliver = one(incl, r'^Switchboard::Connection::deliver\(\)')
    handover = one(incl, r'^Switchboard::WebSocketUpgrader::handOver\(')
    access = one(incl, r'^Switchboard::Conn::runBeforeSend\(\)')
    qths = one(incl, r'^0x0000000000018d10$')
    newconn = one(incl, r'^QWebSocketServer::newConnection\(\)$')
    adoptlog = child(calls, r'Hub::adopt\(', r'QMessageLogger::info|SessionInfo::peer|toLocal8Bit|QString::fromUtf8|QString::number|QString::QString\(long long, Qt::Initialization\)|QArrayDataPointer<char16_t>::~')
    rows = [
        ("accept: QTcpServer accept, Connection, read notifier" + (", HTTP socket for QtHttpServer (made, handed over, deleted)" if httpsock_del else ""), readn + httpsock_del),
        ("guard: read, parse and check the request head", onread - deliver),
        ("upgrade decision: Conn, plugs, checks, handler init, 101 request for Qt", deliver - handover - access),
        ("hand-over: QWebSocketServer per handshake (made, deleted), socket for Qt", handover + wss_del),
        ("QtWebSockets handshake: parse, 101, QWebSocket", qths - newconn),
        ("session + hub registration + greeting", newconn - adoptlog),
        ("logging: access log line + session-opened line", access + adoptlog),
    ]
    rows.append(("event loop, timers, deleteLater, the rest", total - sum(v for _, v in rows)))
    return total, rows
n = int(sys.argv[1])
res = [stages(p, n) for p in sys.argv[2:]]
for i, (label, _) in enumerate(res[0][1]):
    vals = [r[1][i][1] / n for r in res]
    cells = " | ".join(f"{v:,.0f} ({v / (r[0] / n) * 100:.1f}%)" for v, r in zip(vals, res))
    print(f"| {label} | {cells} |")
print("| **total** | " + " | ".join(f"**{r[0] / n:,.0f}**" for r in res) + " |")
