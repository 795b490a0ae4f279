#include "websocket/hub.h"

#include "logging.h"
#include "websocket/framecodec.h"
#include "websocket/session.h"

#include <QtCore/QMetaMethod>
#include <QtWebSockets/QWebSocket>

#include <algorithm>

namespace Switchboard {

Hub::Hub(HubSettings settings, QObject *parent) : QObject(parent), m_settings(settings)
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
    updateTimer();
    qCInfo(lcWs, "session %llu opened from %s on %s%s%s%s", static_cast<unsigned long long>(id),
           qPrintable(session->info().peer()), setup.path.constData(),
           setup.protocol.isEmpty() ? "" : " (subprotocol ",
           setup.protocol.isEmpty() ? "" : setup.protocol.constData(),
           setup.protocol.isEmpty() ? "" : ")");
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

int Hub::broadcastLocal(const Frame &frame, const BroadcastFilter &filter)
{
    // One QVariant and one Frame (with its encode cache) for all recipients.
    const QVariant message = QVariant::fromValue(frame);
    int delivered = 0;
    const auto snapshot = m_sessions.values(); // handlers may close sessions meanwhile
    for (Session *session : snapshot) {
        if (session->id() == filter.exceptId)
            continue;
        if (!filter.path.isEmpty() && session->path() != filter.path)
            continue;
        if (session->deliverInfo(message))
            ++delivered;
    }
    Q_EMIT broadcastSent(frame, delivered);
    return delivered;
}

bool Hub::send(quint64 id, const Frame &frame)
{
    Session *session = m_sessions.value(id);
    return session && session->deliverInfo(QVariant::fromValue(frame));
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
