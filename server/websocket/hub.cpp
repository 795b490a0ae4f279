#include "websocket/hub.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "websocket/framecodec.h"
#include "websocket/session.h"

#include <QtCore/QMetaMethod>
#include <QtWebSockets/QWebSocket>

#include <algorithm>

namespace Switchboard {

namespace {

/*! The `reason` label of a close: the kind, with protocol errors told apart. */
QByteArray closeReasonLabel(const TerminateReason &reason)
{
    using Kind = TerminateReason::Kind;
    switch (reason.kind) {
    case Kind::RemoteClose:
        return QByteArrayLiteral("remote_close");
    case Kind::LocalClose:
        return QByteArrayLiteral("handler_close");
    case Kind::IdleTimeout:
        return QByteArrayLiteral("idle_timeout");
    case Kind::PingTimeout:
        return QByteArrayLiteral("ping_timeout");
    case Kind::TooBig:
        return QByteArrayLiteral("message_too_big");
    case Kind::SlowConsumer:
        return QByteArrayLiteral("slow_consumer");
    case Kind::Error:
        return reason.code == 1002 || reason.code == 1007 ? QByteArrayLiteral("protocol_error")
                                                          : QByteArrayLiteral("error");
    case Kind::Shutdown:
        return QByteArrayLiteral("shutdown");
    case Kind::Operator:
        return QByteArrayLiteral("operator");
    }
    return QByteArrayLiteral("error");
}

/*!
    The `code` label: the registered codes (1000-1015) as they are, others by range
    ("3xxx", "4xxx"), so a peer choosing codes cannot make new series without end.
*/
QByteArray closeCodeLabel(quint16 code)
{
    if (code == 0)
        return QByteArrayLiteral("none");
    if (code >= 1000 && code <= 1015)
        return QByteArray::number(code);
    if (code >= 3000 && code <= 4999)
        return QByteArray::number(code / 1000) + "xxx";
    return QByteArrayLiteral("other");
}

} // namespace

Hub::Hub(HubSettings settings, Metrics *metrics, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_ownMetrics(metrics ? nullptr : std::make_unique<Metrics>())
    , m_metrics(metrics ? metrics : m_ownMetrics.get())
    , m_sessionsOpened(&m_metrics->counter("switchboard_websocket_sessions_opened_total",
                                           "WebSocket sessions opened, by path and subprotocol.",
                                           {"path", "subprotocol"}))
    , m_closes(&m_metrics->counter(
              "switchboard_websocket_closes_total",
              "WebSocket sessions ended, by why (slow_consumer 1008, protocol_error 1002/1007, "
              "message_too_big 1009, idle_timeout, ping_timeout, remote_close, ...) and close "
              "code.",
              {"reason", "code"}))
    , m_broadcasts(&m_metrics
                            ->counter("switchboard_broadcasts_total",
                                      "Broadcasts fanned out on this instance.")
                            .get())
    , m_broadcastRecipients(
              &m_metrics
                       ->counter("switchboard_broadcast_recipients_total",
                                 "Sessions broadcasts were delivered to, summed over broadcasts.")
                       .get())
    , m_pingRtt(&m_metrics
                         ->histogram("switchboard_websocket_ping_rtt_seconds",
                                     "Round trip of the server's WebSocket pings.",
                                     latencyBuckets())
                         .get())
{
    qRegisterMetaType<Switchboard::Frame>();
    qRegisterMetaType<Switchboard::SessionInfo>();
    qRegisterMetaType<Switchboard::TerminateReason>();
    m_clock.start();

    // One timer for every session's heartbeat instead of one QTimer each: it
    // ticks at an eighth of the shortest period, so a deadline is late by at
    // most that much, and it only runs while sessions exist.
    using namespace std::chrono_literals;
    auto shortest = m_settings.pingInterval.count() > 0 ? m_settings.pingInterval : 0ms;
    if (m_settings.idleTimeout.count() > 0
        && (shortest == 0ms || m_settings.idleTimeout < shortest))
        shortest = m_settings.idleTimeout;
    m_heartbeat.setInterval(std::clamp<std::chrono::milliseconds>(shortest / 8, 10ms, 1000ms));
    m_heartbeat.setTimerType(Qt::CoarseTimer);
    connect(&m_heartbeat, &QTimer::timeout, this, &Hub::heartbeat);

    m_closeGraceTimer.setInterval(
            std::max<std::chrono::milliseconds>(m_settings.closeGrace / 4, 10ms));
    connect(&m_closeGraceTimer, &QTimer::timeout, this, &Hub::enforceCloseGrace);

    m_statsTimer.setSingleShot(true);
    m_statsTimer.setInterval(m_settings.statsInterval);
    connect(&m_statsTimer, &QTimer::timeout, this, &Hub::flushStats);
}

Hub::~Hub()
{
    // Sessions are children; delete them before the timers and hash they use.
    const auto sessions = m_sessions.values();
    m_sessions.clear();
    qDeleteAll(sessions);
}

quint64 Hub::adopt(std::unique_ptr<QWebSocket> socket, Connection *connection,
                   std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup)
{
    const quint64 id = m_nextId++;
    auto *session = new Session(id, std::move(socket), connection, std::move(handler), setup, this);
    m_sessions.insert(id, session);
    m_sessionsOpened->labels({setup.path, setup.protocol}).add();
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
    Q_EMIT sessionOpened(session->info());
    Q_EMIT countChanged(count());
    if (m_shuttingDown)
        session->closeWith({TerminateReason::Kind::Shutdown, 1001, {}}, 1001,
                           QStringLiteral("server shutting down"));
    else
        session->start();
    return id;
}

QList<SessionInfo> Hub::sessions() const
{
    QList<SessionInfo> out;
    out.reserve(m_sessions.size());
    for (const Session *session : m_sessions)
        out.append(session->info());
    std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) { return a.id < b.id; });
    return out;
}

std::optional<SessionInfo> Hub::session(quint64 id) const
{
    if (const Session *session = m_sessions.value(id))
        return session->info();
    return std::nullopt;
}

int Hub::broadcast(const Frame &frame, const BroadcastFilter &filter)
{
    // Other instances first: their fan-out then runs while this one does its own.
    Q_EMIT broadcastRequested(frame, filter);
    return broadcastLocal(frame, filter);
}

template<typename Accept>
int Hub::fanOut(const QList<Session *> &sessions, const QVariant &message, Accept accept)
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

int Hub::broadcastLocal(const Frame &frame, const BroadcastFilter &filter)
{
    // One QVariant and one Frame (with its encode cache) for all recipients;
    // a snapshot of the sessions, as handlers may close sessions meanwhile.
    const int delivered
            = fanOut(m_sessions.values(), QVariant::fromValue(frame), [&filter](Session *session) {
                  return session->id() != filter.exceptId
                          && (filter.path.isEmpty() || session->path() == filter.path);
              });
    m_broadcasts->add();
    m_broadcastRecipients->add(quint64(delivered));
    Q_EMIT broadcastSent(frame, delivered);
    return delivered;
}

bool Hub::send(quint64 id, const Frame &frame)
{
    Session *session = m_sessions.value(id);
    return session && session->deliverInfo(QVariant::fromValue(frame));
}

int Hub::send(const QList<quint64> &ids, const Frame &frame)
{
    QList<Session *> sessions;
    sessions.reserve(ids.size());
    for (const quint64 id : ids) {
        if (Session *session = m_sessions.value(id))
            sessions.append(session);
    }
    return fanOut(sessions, QVariant::fromValue(frame), [](Session *) { return true; });
}

void Hub::post(quint64 id, const QVariant &message)
{
    QMetaObject::invokeMethod(
            this,
            [this, id, message] {
                if (Session *session = m_sessions.value(id))
                    session->deliverInfo(message);
            },
            Qt::QueuedConnection);
}

bool Hub::close(quint64 id, quint16 code, const QString &reason)
{
    Session *session = m_sessions.value(id);
    if (!session || !session->isOpen() || !isSendableCloseCode(code))
        return false;
    session->closeWith({TerminateReason::Kind::Operator, code, reason}, code, reason);
    return true;
}

void Hub::shutdown()
{
    m_shuttingDown = true;
    const auto snapshot = m_sessions.values();
    for (Session *session : snapshot)
        session->closeWith({TerminateReason::Kind::Shutdown, 1001, {}}, 1001,
                           QStringLiteral("server shutting down"));
    if (m_sessions.isEmpty())
        QMetaObject::invokeMethod(this, &Hub::drained, Qt::QueuedConnection);
}

void Hub::onSessionFinished(quint64 id, const TerminateReason &reason)
{
    Session *session = m_sessions.take(id);
    if (!session)
        return;
    m_dirty.remove(id);
    m_closeDeadlines.remove(id);
    if (m_closeDeadlines.isEmpty())
        m_closeGraceTimer.stop();
    qCInfo(lcWs, "session %llu closed: %s", static_cast<unsigned long long>(id),
           qPrintable(reason.toString()));
    countClose(reason);
    session->deleteLater();
    updateTimer();
    Q_EMIT sessionClosed(id, reason);
    Q_EMIT countChanged(count());
    if (m_shuttingDown && m_sessions.isEmpty())
        Q_EMIT drained();
}

void Hub::markDirty(quint64 id)
{
    // Headless, nobody listens: no set insert per message, and no list of every busy
    // session built four times a second.
    static const QMetaMethod statsSignal = QMetaMethod::fromSignal(&Hub::statsChanged);
    if (!isSignalConnected(statsSignal))
        return;
    m_dirty.insert(id);
    if (!m_statsTimer.isActive())
        m_statsTimer.start();
}

void Hub::flushStats()
{
    QList<SessionInfo> changed;
    changed.reserve(m_dirty.size());
    for (const quint64 id : std::as_const(m_dirty)) {
        if (const Session *session = m_sessions.value(id))
            changed.append(session->info());
    }
    m_dirty.clear();
    if (!changed.isEmpty())
        Q_EMIT statsChanged(changed);
}

void Hub::heartbeat()
{
    const qint64 now = nowMs();
    const qint64 ping = m_settings.pingInterval.count();
    const qint64 idle = m_settings.idleTimeout.count();
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

void Hub::closeStarted(quint64 id)
{
    m_closeDeadlines.insert(id, nowMs() + m_settings.closeGrace.count());
    if (!m_closeGraceTimer.isActive())
        m_closeGraceTimer.start();
}

void Hub::enforceCloseGrace()
{
    const qint64 now = nowMs();
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

const PathMetrics *Hub::pathMetrics(const QByteArray &path)
{
    // Once per session; the pointers stay valid as long as the registry.
    auto it = m_pathMetrics.find(path);
    if (it == m_pathMetrics.end()) {
        Metrics &m = *m_metrics;
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

void Hub::countSent(const PathMetrics *path, quint64 bytes)
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

void Hub::countClose(const TerminateReason &reason)
{
    // Once per session: a lookup is fine here.
    m_closes->labels({closeReasonLabel(reason), closeCodeLabel(reason.code)}).add();
}

void Hub::updateTimer()
{
    const bool needed = !m_sessions.isEmpty()
            && (m_settings.pingInterval.count() > 0 || m_settings.idleTimeout.count() > 0);
    if (needed && !m_heartbeat.isActive())
        m_heartbeat.start();
    else if (!needed && m_heartbeat.isActive())
        m_heartbeat.stop();
}

} // namespace Switchboard
