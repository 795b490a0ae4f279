#include "net/frontdoor.h"

#include "logging.h"

#include <QtNetwork/QSslSocket>

#include <algorithm>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QSocketNotifier>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace Switchboard {

namespace {

constexpr qint64 kCorkLimit = 16 * 1024;

std::pair<QHostAddress, quint16> endpoint(int fd, bool peer)
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    auto *raw = reinterpret_cast<sockaddr *>(&address);
    if ((peer ? ::getpeername(fd, raw, &length) : ::getsockname(fd, raw, &length)) != 0)
        return {};
    if (address.ss_family == AF_INET)
        return {QHostAddress(raw), ntohs(reinterpret_cast<sockaddr_in *>(raw)->sin_port)};
    if (address.ss_family == AF_INET6)
        return {QHostAddress(raw), ntohs(reinterpret_cast<sockaddr_in6 *>(raw)->sin6_port)};
    return {};
}

bool wouldBlock(int error)
{
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

} // namespace

GuardedSocket::GuardedSocket(qintptr descriptor, FrontDoor *door)
    : QTcpSocket(door), m_door(door), m_fd(int(descriptor)), m_guard(door->limits())
{
    ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
    // Answers are corked into one send() per read already; Nagle would only add delay.
    const int one = 1;
    ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto [peerAddress, peerPort] = endpoint(m_fd, true);
    const auto [localAddress, localPort] = endpoint(m_fd, false);
    setPeerAddress(peerAddress);
    setPeerPort(peerPort);
    setLocalAddress(localAddress);
    setLocalPort(localPort);
    m_readNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
    connect(m_readNotifier, &QSocketNotifier::activated, this, &GuardedSocket::onReadable);
    openDevice();
}

GuardedSocket::GuardedSocket(QSslSocket *transport, FrontDoor *door)
    : QTcpSocket(door), m_door(door), m_tls(transport), m_guard(door->limits())
{
    transport->setParent(this);
    setPeerAddress(transport->peerAddress());
    setPeerPort(transport->peerPort());
    setLocalAddress(transport->localAddress());
    setLocalPort(transport->localPort());
    connect(transport, &QIODevice::readyRead, this, &GuardedSocket::onTlsReadyRead);
    connect(transport, &QAbstractSocket::disconnected, this, &GuardedSocket::onLinkClosed);
    connect(transport, &QAbstractSocket::errorOccurred, this, &GuardedSocket::onTlsError);
    connect(transport, &QIODevice::bytesWritten, this, &QIODevice::bytesWritten);
    openDevice();
}

GuardedSocket::~GuardedSocket()
{
    dropDescriptor();
    if (m_door)
        m_door->untrack(this);
}

void GuardedSocket::openDevice()
{
    // Unbuffered: readers get the guard's bytes straight from readData(). A buffered
    // QIODevice would keep a 16 KiB read chunk per connection for as long as it lives.
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    setSocketState(QAbstractSocket::ConnectedState);
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
    release(std::exchange(m_held, {}));
    // Queued: this runs inside the reader's own handling of the handshake.
    QMetaObject::invokeMethod(this, &GuardedSocket::deliverReleased, Qt::QueuedConnection);
}

void GuardedSocket::release(const QByteArray &bytes)
{
    if (bytes.isEmpty())
        return;
    m_released += bytes;
    m_mustDeliver = true; // told to the reader by deliverReleased()
}

void GuardedSocket::deliverReleased()
{
    if (!std::exchange(m_mustDeliver, false))
        return;
    // Straight from the socket notification, as QTcpSocket does: posting it instead
    // would cost an eventfd write and read per message. Only a reader already busy
    // with this socket (a nested event loop) gets it queued.
    if (m_corked)
        QMetaObject::invokeMethod(this, &GuardedSocket::deliverReadyRead, Qt::QueuedConnection);
    else
        deliverReadyRead(); // may delete this; nothing may follow
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
    linkWrite(bytes.constData(), bytes.size());
}

qint64 GuardedSocket::bytesAvailable() const
{
    return QIODevice::bytesAvailable() + (m_released.size() - m_releasedPos);
}

qint64 GuardedSocket::bytesToWrite() const
{
    const qint64 queued = m_tls ? m_tls->bytesToWrite() : m_backlog.size() - m_backlogPos;
    return queued + m_cork.size();
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
    if (m_refused || state() != QAbstractSocket::ConnectedState)
        return -1;
    // Small answers are corked; a large one would only be copied once more for it.
    if (m_corked && size < kCorkLimit) {
        m_cork.append(data, size);
        return size;
    }
    uncork();
    return linkWrite(data, size);
}

qint64 GuardedSocket::linkWrite(const char *data, qint64 size)
{
    if (m_tls) {
        if (m_tls->state() != QAbstractSocket::ConnectedState || m_tls->write(data, size) < 0)
            return -1;
        m_tls->flush(); // encrypt and send now rather than on the next write notification
        return size;
    }
    if (m_fd < 0)
        return -1;
    // Straight to the kernel while nothing is queued: a broadcast to 1,000 sessions
    // does not wait for 1,000 write notifications before its first byte leaves, and no
    // buffer is kept per connection. What the kernel does not take now is queued, and
    // everything after it goes behind it.
    qint64 sent = 0;
    if (m_backlog.size() == m_backlogPos) {
        const ssize_t n = ::send(m_fd, data, size_t(size), MSG_NOSIGNAL);
        if (n < 0 && !wouldBlock(errno)) {
            linkFailed(errno);
            return -1;
        }
        sent = qMax<qint64>(n, 0);
    }
    if (sent < size) {
        m_backlog.append(data + sent, size - sent);
        if (!m_writeNotifier) {
            m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
            connect(m_writeNotifier, &QSocketNotifier::activated, this, &GuardedSocket::onWritable);
        }
        m_writeNotifier->setEnabled(true);
    }
    return size;
}

void GuardedSocket::onWritable()
{
    while (m_fd >= 0 && m_backlogPos < m_backlog.size()) {
        const ssize_t n = ::send(m_fd, m_backlog.constData() + m_backlogPos,
                                 size_t(m_backlog.size() - m_backlogPos), MSG_NOSIGNAL);
        if (n < 0) {
            if (!wouldBlock(errno)) {
                linkFailed(errno);
            } else if (m_backlogPos >= 64 * 1024 && m_backlogPos * 2 >= m_backlog.size()) {
                // A reader that keeps up only partly must not keep what it already got.
                m_backlog.remove(0, m_backlogPos);
                m_backlogPos = 0;
            }
            return;
        }
        m_backlogPos += n;
        Q_EMIT bytesWritten(n);
    }
    m_backlog = QByteArray(); // a slow reader's backlog is not kept once it is sent
    m_backlogPos = 0;
    if (m_writeNotifier)
        m_writeNotifier->setEnabled(false);
    if (m_closeWhenFlushed)
        closeLink();
}

void GuardedSocket::linkFailed(int error)
{
    // Reported from the event loop, after what was read before it has been delivered.
    if (m_readNotifier)
        m_readNotifier->setEnabled(false);
    if (m_writeNotifier)
        m_writeNotifier->setEnabled(false);
    if (m_failing)
        return;
    m_failing = true;
    const bool closedByPeer = error == 0 || error == ECONNRESET || error == EPIPE;
    const QAbstractSocket::SocketError kind
            = closedByPeer ? QAbstractSocket::RemoteHostClosedError : QAbstractSocket::NetworkError;
    const QString message = error == 0 ? QStringLiteral("The remote host closed the connection")
                                       : QString::fromLocal8Bit(::strerror(error));
    QMetaObject::invokeMethod(
            this,
            [this, kind, message] {
                setSocketError(kind);
                setErrorString(message);
                Q_EMIT errorOccurred(kind);
                closeLink(true);
            },
            Qt::QueuedConnection);
}

void GuardedSocket::closeLink(bool now)
{
    if (m_tls) {
        if (now)
            m_tls->abort();
        else
            m_tls->disconnectFromHost(); // flushes, then reports disconnected()
        return;
    }
    if (m_fd < 0)
        return;
    if (!now && m_backlogPos < m_backlog.size()) {
        m_closeWhenFlushed = true; // onWritable() comes back here once it is all out
        if (m_readNotifier)
            m_readNotifier->setEnabled(false);
        return;
    }
    dropDescriptor();
    m_backlog = QByteArray();
    m_backlogPos = 0;
    onLinkClosed();
}

void GuardedSocket::dropDescriptor()
{
    // The notifiers are unregistered before their descriptor goes.
    delete std::exchange(m_readNotifier, nullptr);
    delete std::exchange(m_writeNotifier, nullptr);
    if (m_fd >= 0)
        ::close(std::exchange(m_fd, -1));
}

void GuardedSocket::disconnectFromHost()
{
    if (state() != QAbstractSocket::ConnectedState)
        return;
    uncork();
    setSocketState(QAbstractSocket::ClosingState);
    Q_EMIT stateChanged(QAbstractSocket::ClosingState);
    closeLink();
}

void GuardedSocket::close()
{
    // QAbstractSocket::abort() drops the write channel and calls close(): then
    // the connection is cut at once; a plain close() lets pending writes out.
    if (writeChannelCount() == 0) {
        m_cork.clear();
        closeLink(true);
    } else {
        disconnectFromHost();
    }
}

bool GuardedSocket::waitForBytesWritten(int msecs)
{
    uncork();
    if (m_tls)
        return m_tls->waitForBytesWritten(msecs);
    QDeadlineTimer deadline(msecs);
    while (m_fd >= 0 && m_backlogPos < m_backlog.size()) {
        pollfd writable{m_fd, POLLOUT, 0};
        if (::poll(&writable, 1, int(qMin<qint64>(deadline.remainingTime(), INT_MAX))) <= 0)
            return false;
        onWritable();
    }
    return m_fd >= 0;
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
    if (m_tls) {
        m_tls->setSocketOption(option, value);
        return;
    }
    const int on = value.toInt();
    if (option == QAbstractSocket::LowDelayOption)
        ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    else if (option == QAbstractSocket::KeepAliveOption)
        ::setsockopt(m_fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
}

QVariant GuardedSocket::socketOption(QAbstractSocket::SocketOption option)
{
    if (m_tls)
        return m_tls->socketOption(option);
    int on = 0;
    socklen_t length = sizeof on;
    if (option == QAbstractSocket::LowDelayOption
        && ::getsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &on, &length) == 0)
        return on;
    if (option == QAbstractSocket::KeepAliveOption
        && ::getsockopt(m_fd, SOL_SOCKET, SO_KEEPALIVE, &on, &length) == 0)
        return on;
    return {};
}

void GuardedSocket::onReadable()
{
    // One buffer for every connection of this thread; what is read is copied out at once.
    static thread_local char buffer[64 * 1024];
    while (m_fd >= 0 && !m_refused) {
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            feed(QByteArrayView(buffer, n));
            if (size_t(n) < sizeof buffer)
                break; // most likely all there was; if not, the notifier fires again
            continue;
        }
        if (n < 0 && wouldBlock(errno))
            break;
        linkFailed(n == 0 ? 0 : errno);
        break;
    }
    refreshDeadline();
    deliverReleased();
}

void GuardedSocket::onTlsReadyRead()
{
    while (!m_refused && m_tls->bytesAvailable() > 0) {
        const QByteArray raw = m_tls->read(qMin<qint64>(m_tls->bytesAvailable(), 64 * 1024));
        if (raw.isEmpty())
            break;
        feed(raw);
    }
    refreshDeadline();
    deliverReleased();
}

void GuardedSocket::feed(QByteArrayView raw)
{
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
    release(out); // delivered by the caller, once the bytes read now are all fed
    if (!result.reply.isEmpty())
        linkWrite(result.reply.constData(), result.reply.size());
    if (result.refusedStatus >= 1000) { // a WebSocket close code, after the upgrade
        qCInfo(lcWs, "closing %s with %d: client frame not masked",
               qPrintable(peerAddress().toString()), result.refusedStatus);
        m_protocolCloseCode = result.refusedStatus;
        m_refused = true;
        closeLink();
    } else if (result.refusedStatus != 0) {
        qCInfo(lcHttp, "refused a request from %s with %d before routing",
               qPrintable(peerAddress().toString()), result.refusedStatus);
        m_refused = true;
        if (m_door)
            Q_EMIT m_door->refused(result.refusedStatus);
        closeLink();
    }
}

void GuardedSocket::onLinkClosed()
{
    m_deadlineMs = 0;
    if (state() == QAbstractSocket::UnconnectedState)
        return;
    setSocketState(QAbstractSocket::UnconnectedState);
    Q_EMIT readChannelFinished();
    Q_EMIT stateChanged(QAbstractSocket::UnconnectedState);
    Q_EMIT disconnected();
}

void GuardedSocket::onTlsError(QAbstractSocket::SocketError error)
{
    setSocketError(error);
    setErrorString(m_tls->errorString());
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
        const QByteArray response
                = ConnectionGuard::errorResponse(408, "request not received in time");
        linkWrite(response.constData(), response.size());
        if (m_door)
            Q_EMIT m_door->refused(408);
    }
    closeLink();
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
    if (int(m_sockets.size()) >= m_limits.maxConnections) {
        // Rare, and over TLS it must be encrypted: Qt's own socket answers this one.
        QTcpSocket *transport = m_tls ? new QSslSocket(this) : new QTcpSocket(this);
        if (!transport->setSocketDescriptor(handle)) {
            delete transport;
            return;
        }
        if (m_tls) {
            static_cast<QSslSocket *>(transport)->setSslConfiguration(*m_tls);
            static_cast<QSslSocket *>(transport)->startServerEncryption();
        }
        qCWarning(lcHttp, "connection limit (%d) reached; refusing %s with 503",
                  m_limits.maxConnections, qPrintable(transport->peerAddress().toString()));
        connect(transport, &QTcpSocket::disconnected, transport, &QObject::deleteLater);
        transport->write(
                ConnectionGuard::errorResponse(503, "too many connections; try again later"));
        transport->disconnectFromHost();
        Q_EMIT refused(503);
        return;
    }
    GuardedSocket *socket = nullptr;
    if (m_tls) {
        auto *tls = new QSslSocket(this);
        if (!tls->setSocketDescriptor(handle)) {
            delete tls;
            return;
        }
        // The guard reads decrypted bytes; a peer that never completes the handshake
        // (plain HTTP on this port, say) fails it, or meets the header timeout.
        tls->setSslConfiguration(*m_tls);
        tls->startServerEncryption();
        socket = new GuardedSocket(tls, this);
    } else {
        // Plain TCP needs no QTcpSocket of its own: the guarded socket reads and writes
        // the descriptor itself (a second socket object, its engine and its buffers cost
        // about 4 KiB per connection and a FIONREAD per read).
        socket = new GuardedSocket(handle, this);
    }
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
