#include "frontdoor.h"

#include "logging.h"

#include <QtNetwork/QSslSocket>

#include <algorithm>

#include <sys/socket.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace Switchboard {

GuardedSocket::GuardedSocket(QTcpSocket *transport, FrontDoor *door)
    : QTcpSocket(door), m_door(door), m_transport(transport), m_guard(door->limits())
{
    transport->setParent(this);
    setPeerAddress(transport->peerAddress());
    setPeerPort(transport->peerPort());
    setLocalAddress(transport->localAddress());
    setLocalPort(transport->localPort());
    // Unbuffered: readers get the guard's bytes straight from readData(). A buffered
    // QIODevice would keep a 16 KiB read chunk per connection for as long as it lives.
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    if (!qobject_cast<QSslSocket *>(transport))
        m_descriptor = transport->socketDescriptor();
    setSocketState(QAbstractSocket::ConnectedState);

    connect(transport, &QIODevice::readyRead, this, &GuardedSocket::onTransportReadyRead);
    connect(transport, &QAbstractSocket::disconnected, this,
            &GuardedSocket::onTransportDisconnected);
    connect(transport, &QAbstractSocket::errorOccurred, this, &GuardedSocket::onTransportError);
    connect(transport, &QIODevice::bytesWritten, this, &QIODevice::bytesWritten);
}

GuardedSocket::~GuardedSocket()
{
    if (m_door)
        m_door->untrack(this);
}

bool GuardedSocket::takeCloseAfterResponse()
{
    return !m_closeFlags.isEmpty() && m_closeFlags.takeFirst();
}

void GuardedSocket::resumeAfterUpgrade()
{
    // QHttpServer reads each request head inside a QIODevice transaction, which makes
    // this device fill (and then keep) a 16 KiB read chunk for as long as the session
    // lives. The handshake has been read in full by now; reopening the device drops the
    // chunk, and unbuffered reads with no transaction never allocate another. Quietly:
    // QWebSocket takes aboutToClose() as the end of the connection.
    if (QIODevice::bytesAvailable() == 0 && !isTransactionStarted()) {
        const QSignalBlocker quiet(this);
        QIODevice::close();
        QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    }
    if (!m_holding)
        return;
    m_holding = false;
    if (!m_held.isEmpty())
        release(std::exchange(m_held, {}));
}

void GuardedSocket::release(const QByteArray &bytes)
{
    if (bytes.isEmpty())
        return;
    m_released += bytes;
    // Queued, like a real socket's notification: the reader is never re-entered.
    QMetaObject::invokeMethod(this, &GuardedSocket::deliverReadyRead, Qt::QueuedConnection);
}

void GuardedSocket::deliverReadyRead()
{
    // Whatever the reader answers while it handles these bytes (four echoes for four
    // pipelined messages, an HTTP response's head and body) leaves in one send().
    const QPointer<GuardedSocket> alive(this);
    m_corked = true;
    Q_EMIT readyRead();
    if (!alive)
        return;
    m_corked = false;
    uncork();
}

void GuardedSocket::uncork()
{
    if (m_cork.isEmpty())
        return;
    const QByteArray bytes = std::exchange(m_cork, {});
    writeThrough(bytes.constData(), bytes.size());
}

qint64 GuardedSocket::bytesAvailable() const
{
    return QIODevice::bytesAvailable() + (m_released.size() - m_releasedPos);
}

qint64 GuardedSocket::bytesToWrite() const
{
    return m_transport->bytesToWrite() + m_cork.size();
}

qint64 GuardedSocket::readData(char *data, qint64 maxSize)
{
    const qint64 n = qMin<qint64>(maxSize, m_released.size() - m_releasedPos);
    if (n > 0) {
        memcpy(data, m_released.constData() + m_releasedPos, size_t(n));
        m_releasedPos += n;
        if (m_releasedPos == m_released.size()) {
            m_released.clear();
            m_releasedPos = 0;
        }
        return n;
    }
    return state() == QAbstractSocket::UnconnectedState ? -1 : 0;
}

qint64 GuardedSocket::writeData(const char *data, qint64 size)
{
    if (m_refused || m_transport->state() != QAbstractSocket::ConnectedState)
        return -1;
    if (m_corked && m_descriptor >= 0) {
        m_cork.append(data, size);
        return size;
    }
    return writeThrough(data, size);
}

qint64 GuardedSocket::writeThrough(const char *data, qint64 size)
{
    // Write through to the kernel while nothing is queued. QTcpSocket would copy the
    // bytes into a 32 KiB chunk of its write buffer, send them on the next write
    // notification (a broadcast to 1,000 sessions would wait for 1,000 round trips
    // through the event loop before the first byte left), and keep that chunk for as
    // long as the connection lives. Only what the kernel does not take now is queued
    // there; once something is queued, everything goes behind it, keeping the order.
    qint64 sent = 0;
    if (m_descriptor >= 0 && m_transport->bytesToWrite() == 0) {
        const ssize_t n = ::send(int(m_descriptor), data, size_t(size), MSG_NOSIGNAL);
        if (n > 0)
            sent = n;
        // Errors other than a full buffer surface through the transport's own write.
    }
    if (sent < size) {
        if (m_transport->write(data + sent, size - sent) < 0)
            return sent > 0 ? sent : -1;
        if (m_descriptor < 0)
            m_transport->flush(); // TLS: encrypt and send now, as above
    }
    return size;
}

void GuardedSocket::disconnectFromHost()
{
    if (state() != QAbstractSocket::ConnectedState)
        return;
    uncork();
    setSocketState(QAbstractSocket::ClosingState);
    Q_EMIT stateChanged(QAbstractSocket::ClosingState);
    m_transport->disconnectFromHost(); // flushes, then reports disconnected()
}

void GuardedSocket::close()
{
    // QAbstractSocket::abort() drops the write channel and calls close(): then
    // the transport is cut at once; a plain close() lets pending writes out.
    if (writeChannelCount() == 0) {
        m_cork.clear();
        m_transport->abort();
    } else {
        disconnectFromHost();
    }
}

bool GuardedSocket::waitForBytesWritten(int msecs)
{
    uncork();
    return m_transport->waitForBytesWritten(msecs);
}

bool GuardedSocket::waitForReadyRead(int msecs)
{
    Q_UNUSED(msecs);
    return bytesAvailable() > 0;
}

void GuardedSocket::setReadBufferSize(qint64 size)
{
    Q_UNUSED(size); // reads are bounded by the guard, not by this buffer
}

void GuardedSocket::setSocketOption(QAbstractSocket::SocketOption option, const QVariant &value)
{
    m_transport->setSocketOption(option, value);
}

QVariant GuardedSocket::socketOption(QAbstractSocket::SocketOption option)
{
    return m_transport->socketOption(option);
}

void GuardedSocket::onTransportReadyRead()
{
    while (!m_refused && m_transport->bytesAvailable() > 0) {
        // Sized to what is there: a fixed 64 KiB read would keep 64 KiB per connection alive.
        const QByteArray raw
                = m_transport->read(qMin<qint64>(m_transport->bytesAvailable(), 64 * 1024));
        if (raw.isEmpty())
            break;
        m_sawRequest = true;
        const ConnectionGuard::Result result = m_guard.feed(raw);
        for (const bool close : result.completed)
            m_closeFlags.append(close);
        if (isUpgraded() && !result.release.isEmpty())
            m_holding = true; // the upgrade head goes out now; frames wait for the session
        QByteArray out = result.release;
        if (m_holding)
            m_held += result.upgraded;
        else
            out += result.upgraded;
        release(out);
        if (!result.reply.isEmpty())
            m_transport->write(result.reply);
        if (result.refusedStatus >= 1000) { // a WebSocket close code, after the upgrade
            qCInfo(lcWs, "closing %s with %d: client frame not masked",
                   qPrintable(peerAddress().toString()), result.refusedStatus);
            m_protocolCloseCode = result.refusedStatus;
            m_refused = true;
            m_transport->disconnectFromHost();
        } else if (result.refusedStatus != 0) {
            qCInfo(lcHttp, "refused a request from %s with %d before routing",
                   qPrintable(peerAddress().toString()), result.refusedStatus);
            m_refused = true;
            if (m_door)
                Q_EMIT m_door->refused(result.refusedStatus);
            m_transport->disconnectFromHost();
        }
    }
    refreshDeadline();
}

void GuardedSocket::onTransportDisconnected()
{
    m_deadlineMs = 0;
    if (state() == QAbstractSocket::UnconnectedState)
        return;
    setSocketState(QAbstractSocket::UnconnectedState);
    Q_EMIT readChannelFinished();
    Q_EMIT stateChanged(QAbstractSocket::UnconnectedState);
    Q_EMIT disconnected();
}

void GuardedSocket::onTransportError(QAbstractSocket::SocketError error)
{
    setSocketError(error);
    setErrorString(m_transport->errorString());
    Q_EMIT errorOccurred(error);
}

void GuardedSocket::refreshDeadline()
{
    if (!m_door)
        return;
    const HttpLimits &limits = m_door->limits();
    const qint64 now = m_door->nowMs();
    switch (m_guard.state()) {
    case ConnectionGuard::State::Head:
        if (m_guard.inHead()) {
            // The header clock runs from the first byte of this head (or the accept).
            if (m_deadlineMs == 0 || !m_headStarted)
                m_deadlineMs = now + limits.headerTimeout.count();
            m_headStarted = true;
        } else {
            // Between requests: the keep-alive clock restarts after each one.
            m_deadlineMs
                    = now + (m_sawRequest ? limits.keepAliveTimeout : limits.headerTimeout).count();
            m_headStarted = false;
        }
        break;
    case ConnectionGuard::State::Body:
    case ConnectionGuard::State::ChunkedBody:
        m_deadlineMs = now + limits.keepAliveTimeout.count(); // inactivity while a body arrives
        m_headStarted = false;
        break;
    case ConnectionGuard::State::Upgraded:
    case ConnectionGuard::State::Closed:
        m_deadlineMs = 0; // WebSocket sessions have their own heartbeat
        break;
    }
}

void GuardedSocket::expire()
{
    m_deadlineMs = 0;
    if (m_refused)
        return;
    const bool midRequest = m_guard.inHead() || !m_sawRequest
            || m_guard.state() == ConnectionGuard::State::Body
            || m_guard.state() == ConnectionGuard::State::ChunkedBody;
    m_refused = true;
    if (midRequest) {
        m_transport->write(ConnectionGuard::errorResponse(408, "request not received in time"));
        if (m_door)
            Q_EMIT m_door->refused(408);
    }
    m_transport->disconnectFromHost();
}

FrontDoor::FrontDoor(const HttpLimits &limits, QObject *parent)
    : QTcpServer(parent), m_limits(limits)
{
    m_clock.start();
    using namespace std::chrono_literals;
    const auto shortest = std::min(m_limits.headerTimeout, m_limits.keepAliveTimeout);
    m_sweep.setInterval(std::clamp<std::chrono::milliseconds>(shortest / 8, 10ms, 1000ms));
    connect(&m_sweep, &QTimer::timeout, this, &FrontDoor::sweep);

    // glibc keeps freed heap pages for reuse; after a burst of connections has come
    // and gone that looks like a leak in RSS. Hand them back once the burst is over.
    m_trim.setSingleShot(true);
    m_trim.setInterval(1s);
    connect(&m_trim, &QTimer::timeout, this, [this] {
#ifdef __GLIBC__
        ::malloc_trim(0);
#endif
        m_peak = m_sockets.size();
    });
}

void FrontDoor::setTlsConfiguration(const QSslConfiguration &configuration)
{
    m_tls = configuration;
}

void FrontDoor::incomingConnection(qintptr handle)
{
    QTcpSocket *transport = m_tls ? new QSslSocket(this) : new QTcpSocket(this);
    if (!transport->setSocketDescriptor(handle)) {
        delete transport;
        return;
    }
    if (m_tls) {
        // The guard reads decrypted bytes; a peer that never completes the handshake
        // (plain HTTP on this port, say) fails it, or meets the header timeout.
        auto *tls = static_cast<QSslSocket *>(transport);
        tls->setSslConfiguration(*m_tls);
        tls->startServerEncryption();
    }
    if (int(m_sockets.size()) >= m_limits.maxConnections) {
        qCWarning(lcHttp, "connection limit (%d) reached; refusing %s with 503",
                  m_limits.maxConnections, qPrintable(transport->peerAddress().toString()));
        connect(transport, &QTcpSocket::disconnected, transport, &QObject::deleteLater);
        transport->write(
                ConnectionGuard::errorResponse(503, "too many connections; try again later"));
        transport->disconnectFromHost();
        Q_EMIT refused(503);
        return;
    }
    auto *socket = new GuardedSocket(transport, this);
    track(socket);
    addPendingConnection(socket); // QTcpServer emits newConnection() after this returns
}

void FrontDoor::track(GuardedSocket *socket)
{
    m_sockets.insert(socket);
    m_peak = qMax(m_peak, m_sockets.size());
    socket->refreshDeadline();
    if (!m_sweep.isActive())
        m_sweep.start();
}

void FrontDoor::untrack(GuardedSocket *socket)
{
    m_sockets.remove(socket);
    if (m_sockets.isEmpty())
        m_sweep.stop();
    if (m_peak >= 256 && m_sockets.size() <= m_peak / 4)
        m_trim.start(); // (re)started: runs once things have been quiet for a second
}

void FrontDoor::sweep()
{
    const qint64 now = nowMs();
    QList<GuardedSocket *> expired;
    for (GuardedSocket *socket : std::as_const(m_sockets)) {
        if (socket->deadlineMs() != 0 && now >= socket->deadlineMs())
            expired.append(socket);
    }
    for (GuardedSocket *socket : expired)
        socket->expire();
}

} // namespace Switchboard
