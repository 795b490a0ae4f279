#include "websocket/session.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "net/connection.h"
#include "websocket/framecodec.h"
#include "websocket/hub.h"
#include "websocket/sessionhost.h"

#include <QtWebSockets/QWebSocket>

#include <exception>

namespace Switchboard {

Session::Session(quint64 id, std::unique_ptr<QWebSocket> socket, Connection *connection,
                 std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup,
                 SessionHost *host)
    : QObject(host)
    , m_socket(std::move(socket))
    , m_connection(connection)
    , m_handler(std::move(handler))
    , m_host(host)
    , m_metrics(host->pathMetrics(setup.path))
    , m_deflate(setup.deflate)
    , m_deflateThreshold(setup.deflateThreshold)
    , m_frames(setup.frames)
{
    connection->setOwner(this);
    m_info.id = id;
    m_info.peerAddress = connection->peerAddress();
    m_info.peerPort = connection->peerPort();
    m_info.path = setup.path;
    m_info.protocol = setup.protocol;
    m_info.compressed = setup.deflate.has_value();
    m_info.connectedAt = QDateTime::currentDateTimeUtc();
    m_lastReceivedMs = m_host->hub().nowMs();
    m_nextPingAtMs = m_lastReceivedMs + m_host->hub().settings().pingInterval.count();
    m_metrics->open->add();

    // The front door's frame reader enforces the limit first (1009 from the frame
    // header); this is QWebSocket's own bound, which is about 2 GiB by default.
    const auto limit = quint64(m_host->hub().settings().maxMessageSize);
    m_socket->setMaxAllowedIncomingMessageSize(limit);
    m_socket->setMaxAllowedIncomingFrameSize(limit);

    connect(m_socket.get(), &QWebSocket::textMessageReceived, this,
            [this](const QString &text) { onFrame(Frame::text(text)); });
    connect(m_socket.get(), &QWebSocket::binaryMessageReceived, this,
            [this](const QByteArray &data) { onFrame(Frame::binary(data)); });
    connect(m_socket.get(), &QWebSocket::pong, this, &Session::onPong);
    connect(m_socket.get(), &QWebSocket::aboutToClose, this, &Session::onCloseSent);
    connect(m_socket.get(), &QWebSocket::disconnected, this, &Session::onDisconnected);
}

Hub &Session::hub() const
{
    return m_host->hub();
}

Session::~Session()
{
    if (!m_finished)
        m_metrics->open->sub(); // the hub went first, without a disconnect
    // The socket may still hold a connection if the hub is torn down first.
    if (m_socket)
        m_socket->disconnect(this);
}

const SessionInfo &Session::info() const
{
    if (m_frames && m_connection)
        m_info.wireBytesIn = m_frames->wireBytes();
    return m_info;
}

template<typename Callback> bool Session::guarded(const char *what, Callback &&callback)
{
    try {
        callback();
        return true;
    } catch (const std::exception &e) {
        qCWarning(lcWs, "session %llu: handler threw in %s: %s; closing with 1011",
                  static_cast<unsigned long long>(id()), what, e.what());
    } catch (...) {
        qCWarning(lcWs, "session %llu: handler threw in %s; closing with 1011",
                  static_cast<unsigned long long>(id()), what);
    }
    closeWith({TerminateReason::Kind::Error, 1011, QStringLiteral("handler failed")}, 1011,
              QStringLiteral("internal error"));
    return false;
}

void Session::start()
{
    Hub::checkThread(this, "Session::start");
    guarded("websocketInit", [this] { execute(m_handler->websocketInit(*this)); });
}

void Session::onFrame(const Frame &frame)
{
    if (m_finished)
        return;
    m_lastReceivedMs = m_host->hub().nowMs();
    m_outstandingPings = 0; // a peer that sends is alive, even if it never answers pings
    ++m_info.messagesIn;
    m_info.bytesIn += quint64(frame.size());
    m_metrics->messagesIn->add();
    m_metrics->bytesIn->add(quint64(frame.size()));
    m_host->markDirty(id());
    Q_EMIT m_host->hub().frameReceived(id(), frame);
    if (!isOpen())
        return; // closing: late frames are counted but not handled
    guarded("handle", [&] { execute(m_handler->handle(*this, frame)); });
}

void Session::onPong(quint64 elapsedMs, const QByteArray &payload)
{
    if (m_finished)
        return;
    m_lastReceivedMs = m_host->hub().nowMs();
    m_outstandingPings = 0;
    m_info.lastPingRttMs = qint64(elapsedMs);
    ++m_info.pongs;
    m_host->hub().m_pingRtt->observe(double(elapsedMs) / 1000.0);
    m_host->markDirty(id());
    if (!isOpen())
        return;
    guarded("handle", [&] { execute(m_handler->handle(*this, Frame::pong(payload))); });
}

bool Session::deliverInfo(const QVariant &message)
{
    // Not checked here: once per recipient of a fan-out, and only ever called from its
    // host's entry points, which are.
    if (!isOpen())
        return false;
    bool sent = false;
    const bool ran = guarded("info", [&] { sent = execute(m_handler->info(*this, message)); });
    return ran && sent;
}

bool Session::execute(const Reply &reply)
{
    bool sent = true;
    for (const Frame &frame : reply.frames()) {
        if (!sendFrame(frame)) {
            sent = false;
            break;
        }
    }
    if (const auto &close = reply.closeCommand())
        closeWith({TerminateReason::Kind::LocalClose, close->code, close->reason}, close->code,
                  close->reason);
    return sent;
}

bool Session::sendFrame(const Frame &frame)
{
    if (!isOpen() || !m_connection)
        return false;
    if (frame.type() == Frame::Type::Ping) {
        m_socket->ping(frame.payload()); // through Qt, so the pong reports a round trip
        return true;
    }
    // The fast path (see the class): the bytes are encoded once for every session.
    const bool compress = m_deflate && frame.isData() && frame.size() >= m_deflateThreshold;
    qsizetype wirePayload = frame.size();
    // The connection refuses bytes once it is closing (the frame reader refused the
    // peer, or the link is going): those never reach the peer, so they do not count.
    if (m_connection->write(
                compress ? frame.deflatedWireBytes(m_deflate->serverWindowBits(), &wirePayload)
                         : frame.wireBytes())
        < 0)
        return false;
    if (bytesToWrite() > m_host->hub().settings().maxSendBuffer) {
        // The peer stopped reading. Stop queueing for it: close with 1008, and if it
        // cannot even take the close frame, the grace timer cuts it off and frees the queue.
        qCInfo(lcWs, "session %llu: %lld bytes unsent; closing as a slow consumer",
               static_cast<unsigned long long>(id()), bytesToWrite());
        closeWith({TerminateReason::Kind::SlowConsumer, 1008, QStringLiteral("slow consumer")},
                  1008, QStringLiteral("slow consumer"));
        return false;
    }
    if (frame.isData()) {
        ++m_info.messagesOut;
        m_info.bytesOut += quint64(frame.size());
        m_info.wireBytesOut += quint64(wirePayload);
        m_host->countSent(m_metrics, quint64(frame.size()));
        m_host->markDirty(id());
        Q_EMIT m_host->hub().frameSent(id(), frame);
    }
    return true;
}

qint64 Session::bytesToWrite() const
{
    return m_connection ? m_connection->bytesToWrite() : 0;
}

void Session::sendPing(qint64 nowMs, qint64 intervalMs)
{
    ++m_outstandingPings;
    m_nextPingAtMs = nowMs + intervalMs;
    m_socket->ping();
}

void Session::closeWith(const TerminateReason &reason, quint16 code, const QString &text)
{
    Hub::checkThread(this, "Session::closeWith");
    if (!isOpen())
        return;
    m_pendingReason = reason;
    m_info.state = SessionInfo::State::Closing;
    m_host->markDirty(id());
    m_socket->close(QWebSocketProtocol::CloseCode(code), text);
    // A peer that never answers the close frame is cut off after the grace period
    // (one hub timer for all closing sessions: 20,000 closing at once on shutdown
    // would otherwise mean 20,000 timers).
    m_host->closeStarted(id());
}

void Session::onCloseSent()
{
    // QWebSocket sent a Close frame by itself: it answered the peer's Close, or refused a
    // frame. Nothing may follow that frame, so the session is closing from now on, and a
    // peer that does not finish the handshake is cut off after the grace period.
    if (!isOpen())
        return; // closeWith() started it
    m_info.state = SessionInfo::State::Closing;
    m_host->markDirty(id());
    m_host->closeStarted(id());
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
    m_metrics->open->sub();

    TerminateReason reason;
    const quint16 refusal = m_connection ? m_connection->refusalCode() : 0;
    if (m_pendingReason) {
        reason = *m_pendingReason;
    } else if (refusal != 0) {
        // The front door's frame reader closed the connection (see ClientFrameReader).
        reason = {refusal == 1009 ? TerminateReason::Kind::TooBig : TerminateReason::Kind::Error,
                  refusal, m_connection->refusalReason()};
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
    m_host->onSessionFinished(id(), reason);
}

} // namespace Switchboard
