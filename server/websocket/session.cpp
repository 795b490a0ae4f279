#include "websocket/session.h"

#include "net/frontdoor.h"
#include "websocket/hub.h"
#include "logging.h"

#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>
#include <QtWebSockets/QWebSocket>

#include <exception>

namespace Switchboard {

QString SessionInfo::peer() const
{
    const QString address = peerAddress.protocol() == QAbstractSocket::IPv6Protocol
            ? u'[' + peerAddress.toString() + u']'
            : peerAddress.toString();
    return address + u':' + QString::number(peerPort);
}

Session::Session(quint64 id, std::unique_ptr<QWebSocket> socket, QTcpSocket *rawSocket,
                 std::unique_ptr<WebSocketHandler> handler, QByteArray path, Hub *hub)
    : QObject(hub)
    , m_socket(std::move(socket))
    , m_raw(rawSocket)
    , m_handler(std::move(handler))
    , m_hub(hub)
{
    m_info.id = id;
    m_info.peerAddress = m_socket->peerAddress();
    m_info.peerPort = m_socket->peerPort();
    m_info.path = std::move(path);
    m_info.connectedAt = QDateTime::currentDateTimeUtc();
    m_lastReceivedMs = m_hub->nowMs();
    const auto interval = m_hub->settings().pingInterval.count();
    m_nextPingAtMs = m_lastReceivedMs + interval;

    const auto limit = quint64(m_hub->settings().maxMessageSize);
    m_socket->setMaxAllowedIncomingMessageSize(limit);
    m_socket->setMaxAllowedIncomingFrameSize(limit);

    connect(m_socket.get(), &QWebSocket::textMessageReceived, this,
            [this](const QString &text) { onFrame(Frame::text(text)); });
    connect(m_socket.get(), &QWebSocket::binaryMessageReceived, this,
            [this](const QByteArray &data) { onFrame(Frame::binary(data)); });
    connect(m_socket.get(), &QWebSocket::pong, this, &Session::onPong);
    connect(m_socket.get(), &QWebSocket::disconnected, this, &Session::onDisconnected);
}

Session::~Session()
{
    // The socket may still hold a connection if the hub is torn down first.
    if (m_socket)
        m_socket->disconnect(this);
}

void Session::start()
{
    try {
        execute(m_handler->websocketInit(*this));
    } catch (...) {
        qCWarning(lcWs) << "session" << id() << "websocketInit threw; closing with 1011";
        closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
                  QStringLiteral("internal error"));
    }
}

void Session::onFrame(const Frame &frame)
{
    if (m_finished)
        return;
    m_lastReceivedMs = m_hub->nowMs();
    m_outstandingPings = 0; // a peer that sends is alive, even if it never answers pings
    ++m_info.messagesIn;
    m_info.bytesIn += quint64(frame.size());
    m_hub->markDirty(id());
    Q_EMIT m_hub->frameReceived(id(), frame);
    if (!isOpen())
        return; // closing: late frames are counted but not handled
    try {
        execute(m_handler->handle(*this, frame));
    } catch (const std::exception &e) {
        qCWarning(lcWs, "session %llu: handler threw: %s; closing with 1011",
                  static_cast<unsigned long long>(id()), e.what());
        closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
                  QStringLiteral("internal error"));
    } catch (...) {
        qCWarning(lcWs) << "session" << id() << "handler threw; closing with 1011";
        closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
                  QStringLiteral("internal error"));
    }
}

void Session::onPong(quint64 elapsedMs, const QByteArray &payload)
{
    if (m_finished)
        return;
    m_lastReceivedMs = m_hub->nowMs();
    m_outstandingPings = 0;
    m_info.lastPingRttMs = qint64(elapsedMs);
    m_hub->markDirty(id());
    if (!isOpen())
        return;
    try {
        execute(m_handler->handle(*this, Frame::pong(payload)));
    } catch (...) {
        qCWarning(lcWs) << "session" << id() << "handler threw on pong; closing with 1011";
        closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
                  QStringLiteral("internal error"));
    }
}

bool Session::deliverInfo(const QVariant &message)
{
    if (!isOpen())
        return false;
    try {
        execute(m_handler->info(*this, message));
    } catch (...) {
        qCWarning(lcWs) << "session" << id() << "info() threw; closing with 1011";
        closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
                  QStringLiteral("internal error"));
        return false;
    }
    return true;
}

void Session::execute(const Reply &reply)
{
    for (const Frame &frame : reply.frames()) {
        if (!sendFrame(frame))
            break;
    }
    if (const auto &close = reply.closeCommand())
        closeWith({TerminateReason::Kind::LocalClose, close->code, close->reason}, close->code,
                  close->reason);
}

bool Session::sendFrame(const Frame &frame)
{
    if (!isOpen())
        return false;
    switch (frame.type()) {
    case Frame::Type::Ping:
        m_socket->ping(frame.payload()); // through Qt, so the pong reports a round trip
        break;
    case Frame::Type::Text:
    case Frame::Type::Binary:
    case Frame::Type::Pong:
        if (m_raw) {
            // The frame was encoded once (Frame::wireBytes) for every session that gets
            // it. QWebSocket writes whole frames synchronously, so frames never interleave.
            m_raw->write(frame.wireBytes());
        } else if (frame.isText()) {
            m_socket->sendTextMessage(frame.toText());
        } else if (frame.isBinary()) {
            m_socket->sendBinaryMessage(frame.payload());
        } else {
            return true; // no raw socket: Qt sends pongs itself
        }
        break;
    }
    if (bytesToWrite() > m_hub->settings().maxSendBuffer) {
        // The peer stopped reading. Stop queueing for it: close with 1008, and if it
        // cannot even take the close frame, the grace timer cuts it off and frees the queue.
        qCInfo(lcWs, "session %llu: %lld bytes unsent; closing as a slow consumer",
               static_cast<unsigned long long>(id()), bytesToWrite());
        closeWith({TerminateReason::Kind::SlowConsumer, 1008, QStringLiteral("slow consumer")},
                  1008, QStringLiteral("slow consumer"));
        return false;
    }
    if (!frame.isControl()) {
        ++m_info.messagesOut;
        m_info.bytesOut += quint64(frame.size());
        m_hub->markDirty(id());
        Q_EMIT m_hub->frameSent(id(), frame);
    }
    return true;
}

qint64 Session::bytesToWrite() const
{
    return m_raw ? m_raw->bytesToWrite() : m_socket->bytesToWrite();
}

void Session::sendPing(qint64 nowMs, qint64 intervalMs)
{
    ++m_outstandingPings;
    m_nextPingAtMs = nowMs + intervalMs;
    m_socket->ping();
}

void Session::closeWith(const TerminateReason &reason, quint16 code, const QString &text)
{
    if (!isOpen())
        return;
    m_pendingReason = reason;
    m_info.state = SessionInfo::State::Closing;
    m_hub->markDirty(id());
    m_socket->close(QWebSocketProtocol::CloseCode(code), text);
    // A peer that never answers the close frame is cut off after the grace period
    // (one hub timer for all closing sessions: 20,000 closing at once on shutdown
    // would otherwise mean 20,000 timers).
    m_hub->closeStarted(id());
}

void Session::abortWith(const TerminateReason &reason)
{
    if (m_finished)
        return;
    if (!m_pendingReason)
        m_pendingReason = reason;
    m_info.state = SessionInfo::State::Closing;
    m_socket->abort();
    if (!m_finished) // abort() normally reports disconnected() synchronously
        onDisconnected();
}

void Session::onDisconnected()
{
    if (m_finished)
        return;
    m_finished = true;
    m_info.state = SessionInfo::State::Closing;

    TerminateReason reason;
    const auto *guarded = qobject_cast<const GuardedSocket *>(m_raw.data());
    if (m_pendingReason) {
        reason = *m_pendingReason;
    } else if (guarded && guarded->protocolCloseCode() != 0) {
        reason = {TerminateReason::Kind::Error, quint16(guarded->protocolCloseCode()),
                  QStringLiteral("client frame not masked")};
    } else {
        const auto code = quint16(m_socket->closeCode());
        if (code == QWebSocketProtocol::CloseCodeTooMuchData) {
            reason = {TerminateReason::Kind::TooBig, code, m_socket->closeReason()};
        } else if (m_socket->error() != QAbstractSocket::UnknownSocketError
                   && m_socket->error() != QAbstractSocket::RemoteHostClosedError) {
            reason = {TerminateReason::Kind::Error, code, m_socket->errorString()};
        } else {
            reason = {TerminateReason::Kind::RemoteClose, code, m_socket->closeReason()};
        }
    }
    try {
        m_handler->terminate(*this, reason);
    } catch (...) {
        qCWarning(lcWs) << "session" << id() << "terminate() threw; ignored";
    }
    m_hub->onSessionFinished(id(), reason);
}

} // namespace Switchboard
