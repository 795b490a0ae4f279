#include "websocket/sessionhost.h"

#include "websocket/hub.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "websocket/framecodec.h"
#include "websocket/session.h"

#include <QtWebSockets/QWebSocket>

#include <algorithm>

namespace Switchboard {

SessionHost::SessionHost(Hub *hub, int index) : m_hub(hub), m_index(index)
{
    setObjectName(QStringLiteral("switchboard-sessions-%1").arg(index));
    const HubSettings &settings = m_hub->settings();
    // One timer for every session's heartbeat instead of one QTimer each: it
    // ticks at an eighth of the shortest period, so a deadline is late by at
    // most that much, and it only runs while sessions exist.
    using namespace std::chrono_literals;
    auto shortest = settings.pingInterval.count() > 0 ? settings.pingInterval : 0ms;
    if (settings.idleTimeout.count() > 0 && (shortest == 0ms || settings.idleTimeout < shortest))
        shortest = settings.idleTimeout;
    m_heartbeat.setInterval(std::clamp<std::chrono::milliseconds>(shortest / 8, 10ms, 1000ms));
    m_heartbeat.setTimerType(Qt::CoarseTimer);
    connect(&m_heartbeat, &QTimer::timeout, this, &SessionHost::heartbeat);

    m_closeGraceTimer.setInterval(
            std::max<std::chrono::milliseconds>(settings.closeGrace / 4, 10ms));
    connect(&m_closeGraceTimer, &QTimer::timeout, this, &SessionHost::enforceCloseGrace);

    m_statsTimer.setSingleShot(true);
    m_statsTimer.setInterval(settings.statsInterval);
    connect(&m_statsTimer, &QTimer::timeout, this, &SessionHost::flushStats);
}

SessionHost::~SessionHost()
{
    // Sessions are children; delete them before the timers and hash they use.
    const auto sessions = m_sessions.values();
    m_sessions.clear();
    qDeleteAll(sessions);
}

void SessionHost::checkThread(const char *where) const
{
    Hub::checkThread(this, where);
}

quint64 SessionHost::adopt(std::unique_ptr<QWebSocket> socket, Connection *connection,
                           std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup)
{
    checkThread("SessionHost::adopt");
    const quint64 id = m_hub->registerSession(this);
    auto *session = new Session(id, std::move(socket), connection, std::move(handler), setup, this);
    m_sessions.insert(id, session);
    m_hub->m_sessionsOpened->labels({setup.path, setup.protocol}).add();
    updateTimer();
    if (lcWs().isInfoEnabled()) {
        // Built as UTF-16 and passed through as it is ("%ls"): formatting it from
        // "session %llu opened from %s on %s%s%s%s" cost 1.7 times as much.
        QString line = u"session " + QString::number(id) + u" opened from " + session->info().peer()
                + u" on " + QString::fromUtf8(setup.path);
        if (!setup.protocol.isEmpty())
            line += u" (subprotocol " + QString::fromUtf8(setup.protocol) + u')';
        qCInfo(lcWs, "%ls", qUtf16Printable(line));
    }
    Q_EMIT m_hub->sessionOpened(session->info());
    m_hub->noteCountChanged();
    if (m_hub->isShuttingDown())
        session->closeWith({TerminateReason::Kind::Shutdown, 1001, {}}, 1001,
                           QStringLiteral("server shutting down"));
    else
        session->start();
    return id;
}

QList<SessionInfo> SessionHost::sessions() const
{
    checkThread("SessionHost::sessions");
    QList<SessionInfo> out;
    out.reserve(m_sessions.size());
    for (const Session *session : m_sessions)
        out.append(session->info());
    return out;
}

std::optional<SessionInfo> SessionHost::session(quint64 id) const
{
    checkThread("SessionHost::session");
    if (const Session *session = m_sessions.value(id))
        return session->info();
    return std::nullopt;
}

template<typename Accept>
int SessionHost::fanOut(const QList<Session *> &sessions, const QVariant &message, Accept accept)
{
    int delivered = 0;
    Fanout fanout;
    Fanout *const outer = std::exchange(m_fanout, &fanout); // a handler may broadcast too
    for (Session *session : sessions) {
        if (accept(session) && session->deliverInfo(message))
            ++delivered;
    }
    m_fanout = outer;
    for (int i = 0; i < fanout.used; ++i) {
        const Fanout::Entry &entry = fanout.entries[size_t(i)];
        entry.path->messagesOut->add(entry.messages);
        entry.path->bytesOut->add(entry.bytes);
    }
    return delivered;
}

int SessionHost::broadcast(const Frame &frame, const BroadcastFilter &filter)
{
    checkThread("SessionHost::broadcast");
    // One QVariant and one Frame (with its encoding) for all recipients; a snapshot
    // of the sessions, as handlers may close sessions meanwhile.
    return fanOut(m_sessions.values(), QVariant::fromValue(frame), [&filter](Session *session) {
        return session->id() != filter.exceptId
                && (filter.path.isEmpty() || session->path() == filter.path);
    });
}

bool SessionHost::send(quint64 id, const Frame &frame)
{
    return deliver(id, QVariant::fromValue(frame));
}

int SessionHost::send(const QList<quint64> &ids, const Frame &frame)
{
    checkThread("SessionHost::send");
    QList<Session *> sessions;
    sessions.reserve(ids.size());
    for (const quint64 id : ids) {
        if (Session *session = m_sessions.value(id))
            sessions.append(session);
    }
    return fanOut(sessions, QVariant::fromValue(frame), [](Session *) { return true; });
}

bool SessionHost::deliver(quint64 id, const QVariant &message)
{
    checkThread("SessionHost::deliver");
    Session *session = m_sessions.value(id);
    return session && session->deliverInfo(message);
}

bool SessionHost::close(quint64 id, quint16 code, const QString &reason)
{
    checkThread("SessionHost::close");
    Session *session = m_sessions.value(id);
    if (!session || !session->isOpen())
        return false;
    session->closeWith({TerminateReason::Kind::Operator, code, reason}, code, reason);
    return true;
}

void SessionHost::shutdown()
{
    checkThread("SessionHost::shutdown");
    const auto snapshot = m_sessions.values();
    for (Session *session : snapshot)
        session->closeWith({TerminateReason::Kind::Shutdown, 1001, {}}, 1001,
                           QStringLiteral("server shutting down"));
    if (m_sessions.isEmpty() && !std::exchange(m_drainReported, true))
        m_hub->hostDrained();
}

void SessionHost::onSessionFinished(quint64 id, const TerminateReason &reason)
{
    Session *session = m_sessions.take(id);
    if (!session)
        return;
    m_hub->unregisterSession(id);
    m_dirty.remove(id);
    m_closeDeadlines.remove(id);
    if (m_closeDeadlines.isEmpty())
        m_closeGraceTimer.stop();
    qCInfo(lcWs, "session %llu closed: %s", static_cast<unsigned long long>(id),
           qPrintable(reason.toString()));
    m_hub->countClose(reason);
    session->deleteLater();
    updateTimer();
    Q_EMIT m_hub->sessionClosed(id, reason);
    m_hub->noteCountChanged();
    if (m_hub->isShuttingDown() && m_sessions.isEmpty() && !std::exchange(m_drainReported, true))
        m_hub->hostDrained();
}

void SessionHost::markDirty(quint64 id)
{
    // Headless, nobody listens: no set insert per message, and no list of every busy
    // session built four times a second.
    if (!m_hub->wantsStats())
        return;
    m_dirty.insert(id);
    if (!m_statsTimer.isActive())
        m_statsTimer.start();
}

void SessionHost::flushStats()
{
    QList<SessionInfo> changed;
    changed.reserve(m_dirty.size());
    for (const quint64 id : std::as_const(m_dirty)) {
        if (const Session *session = m_sessions.value(id))
            changed.append(session->info());
    }
    m_dirty.clear();
    if (!changed.isEmpty())
        Q_EMIT m_hub->statsChanged(changed);
}

void SessionHost::heartbeat()
{
    const qint64 now = m_hub->nowMs();
    const qint64 ping = m_hub->settings().pingInterval.count();
    const qint64 idle = m_hub->settings().idleTimeout.count();
    const auto snapshot = m_sessions.values(); // closing may remove sessions
    for (Session *session : snapshot) {
        if (!session->isOpen())
            continue;
        if (idle > 0 && now - session->lastReceivedMs() >= idle) {
            session->closeWith({TerminateReason::Kind::IdleTimeout, 1001, {}}, 1001,
                               QStringLiteral("idle timeout"));
            continue;
        }
        if (ping > 0 && now >= session->nextPingAtMs()) {
            if (session->outstandingPings() >= 2) {
                session->abortWith({TerminateReason::Kind::PingTimeout, 0,
                                    QStringLiteral("2 pings unanswered")});
                continue;
            }
            session->sendPing(now, ping);
        }
    }
}

void SessionHost::closeStarted(quint64 id)
{
    m_closeDeadlines.insert(id, m_hub->nowMs() + m_hub->settings().closeGrace.count());
    if (!m_closeGraceTimer.isActive())
        m_closeGraceTimer.start();
}

void SessionHost::enforceCloseGrace()
{
    const qint64 now = m_hub->nowMs();
    QList<Session *> overdue;
    for (auto it = m_closeDeadlines.cbegin(); it != m_closeDeadlines.cend(); ++it) {
        if (now >= it.value()) {
            if (Session *session = m_sessions.value(it.key()))
                overdue.append(session);
        }
    }
    for (Session *session : overdue)
        session->abortWith({}); // keeps the reason the close was started with
}

const PathMetrics *SessionHost::pathMetrics(const QByteArray &path)
{
    // Once per session; the pointers stay valid as long as the registry.
    auto it = m_pathMetrics.find(path);
    if (it == m_pathMetrics.end()) {
        Metrics &m = m_hub->metrics();
        const QList<QByteArray> labels{path};
        PathMetrics children;
        children.open = &m.gauge("switchboard_websocket_sessions_open",
                                 "WebSocket sessions open now, by path.", {"path"})
                                 .labels(labels);
        children.messagesIn = &m.counter("switchboard_websocket_messages_received_total",
                                         "WebSocket data messages received, by path.", {"path"})
                                       .labels(labels);
        children.messagesOut = &m.counter("switchboard_websocket_messages_sent_total",
                                          "WebSocket data messages sent, by path.", {"path"})
                                        .labels(labels);
        children.bytesIn = &m.counter("switchboard_websocket_received_bytes_total",
                                      "Payload bytes of the WebSocket data messages received "
                                      "(uncompressed), by path.",
                                      {"path"})
                                    .labels(labels);
        children.bytesOut = &m.counter("switchboard_websocket_sent_bytes_total",
                                       "Payload bytes of the WebSocket data messages sent "
                                       "(uncompressed), by path.",
                                       {"path"})
                                     .labels(labels);
        it = m_pathMetrics.insert(path, children);
    }
    return &it.value();
}

void SessionHost::countSent(const PathMetrics *path, quint64 bytes)
{
    if (Fanout *fanout = m_fanout) {
        for (int i = 0; i < fanout->used; ++i) {
            Fanout::Entry &entry = fanout->entries[size_t(i)];
            if (entry.path == path) {
                ++entry.messages;
                entry.bytes += bytes;
                return;
            }
        }
        if (size_t(fanout->used) < fanout->entries.size()) {
            fanout->entries[size_t(fanout->used++)] = {path, 1, bytes};
            return;
        }
    }
    path->messagesOut->add();
    path->bytesOut->add(bytes);
}

void SessionHost::updateTimer()
{
    const bool needed = !m_sessions.isEmpty()
            && (m_hub->settings().pingInterval.count() > 0
                || m_hub->settings().idleTimeout.count() > 0);
    if (needed && !m_heartbeat.isActive())
        m_heartbeat.start();
    else if (!needed && m_heartbeat.isActive())
        m_heartbeat.stop();
}

} // namespace Switchboard
