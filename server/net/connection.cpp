#include "net/connection.h"

#include "logging.h"
#include "net/frontdoor.h"
#include "platform/descriptor.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QSslSocket>

#include <cstring>

namespace Switchboard {

namespace {

// Answers smaller than this are corked; a larger one would only be copied once more for it.
constexpr qint64 kCorkLimit = 16 * 1024;

} // namespace

// --- ConnectionSocket ------------------------------------------------------------

ConnectionSocket::ConnectionSocket(Connection *connection)
    : QTcpSocket(connection), m_connection(connection)
{
    setPeerAddress(connection->peerAddress());
    setPeerPort(connection->peerPort());
    setLocalAddress(connection->localAddress());
    setLocalPort(connection->localPort());
    // Unbuffered: readers get the released bytes straight from readData(). A buffered
    // QIODevice would keep a 16 KiB read chunk for as long as the socket lives.
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    setSocketState(QAbstractSocket::ConnectedState);
}

ConnectionSocket::~ConnectionSocket() = default;

void ConnectionSocket::editFirstResponseHead(std::function<QByteArray(const QByteArray &)> editor)
{
    m_headEditor = std::move(editor);
}

qint64 ConnectionSocket::bytesAvailable() const
{
    return QIODevice::bytesAvailable() + m_unread;
}

qint64 ConnectionSocket::bytesToWrite() const
{
    return m_connection ? m_connection->bytesToWrite() : 0;
}

void ConnectionSocket::append(const QByteArray &bytes)
{
    if (bytes.isEmpty())
        return;
    if (m_readable.isEmpty())
        m_readable = bytes; // shared, not copied
    else
        m_queued.append(bytes);
    m_unread += bytes.size();
}

qint64 ConnectionSocket::readData(char *data, qint64 maxSize)
{
    qint64 n = 0;
    while (n < maxSize && !m_readable.isEmpty()) {
        const qint64 take = qMin<qint64>(maxSize - n, m_readable.size() - m_readPos);
        std::memcpy(data + n, m_readable.constData() + m_readPos, size_t(take));
        n += take;
        m_readPos += take;
        if (m_readPos == m_readable.size()) {
            // An idle connection keeps no read buffer.
            m_readable = m_queued.isEmpty() ? QByteArray() : m_queued.takeFirst();
            m_readPos = 0;
            if (m_queued.isEmpty())
                m_queued = QList<QByteArray>();
        }
    }
    m_unread -= n;
    if (n > 0)
        return n;
    return state() == QAbstractSocket::UnconnectedState ? -1 : 0;
}

qint64 ConnectionSocket::writeData(const char *data, qint64 size)
{
    if (!m_connection || state() != QAbstractSocket::ConnectedState)
        return -1;
    if (!m_headEditor)
        return m_connection->write(data, size);
    // The first response head goes out only once it is whole, as the editor made it.
    m_headSoFar.append(data, size);
    const qsizetype end = m_headSoFar.indexOf("\r\n\r\n");
    if (end >= 0) {
        const QByteArray head = std::exchange(m_headSoFar, {});
        const auto editor = std::exchange(m_headEditor, {});
        m_connection->write(editor(head.first(end + 4)));
        if (head.size() > end + 4)
            m_connection->write(head.constData() + end + 4, head.size() - end - 4);
    }
    return size;
}

void ConnectionSocket::disconnectFromHost()
{
    if (state() != QAbstractSocket::ConnectedState)
        return;
    setSocketState(QAbstractSocket::ClosingState);
    Q_EMIT stateChanged(QAbstractSocket::ClosingState);
    if (m_connection)
        m_connection->close(); // finish() follows once the link is closed
    else
        finish();
}

void ConnectionSocket::close()
{
    // QAbstractSocket::abort() drops the write channel and calls close(): then the
    // connection is cut at once; a plain close() lets pending writes out.
    if (writeChannelCount() == 0 && m_connection)
        m_connection->abort();
    else
        disconnectFromHost();
}

bool ConnectionSocket::waitForBytesWritten(int msecs)
{
    return m_connection && m_connection->waitForBytesWritten(msecs);
}

bool ConnectionSocket::waitForReadyRead(int msecs)
{
    Q_UNUSED(msecs);
    return bytesAvailable() > 0;
}

void ConnectionSocket::setReadBufferSize(qint64 size)
{
    Q_UNUSED(size); // reads are bounded by the guard and the frame reader, not by this buffer
}

void ConnectionSocket::setSocketOption(QAbstractSocket::SocketOption option, const QVariant &value)
{
    if (m_connection)
        m_connection->setOption(option, value.toInt());
}

QVariant ConnectionSocket::socketOption(QAbstractSocket::SocketOption option)
{
    return m_connection ? m_connection->option(option) : QVariant();
}

void ConnectionSocket::dropReadBuffer()
{
    // QIODevice grows a read buffer of one 16 KiB chunk whenever a reader peeks or
    // reads inside a transaction (QWebSocketServer peeks at the handshake, QtWebSockets
    // 6.4 to 6.8) and keeps the chunk for as long as the device is open: 5.7 KiB more
    // resident memory per idle session (heaptrack, 3,000 sessions). QIODevice offers a
    // subclass no other way to let go of it than closing; once the handshake has been
    // read nothing is in it, so the device is closed and opened again at once, quietly
    // (QWebSocket would take aboutToClose() for the end of the connection). Reads after
    // this never fill another: the device is unbuffered and QWebSocket reads without
    // transactions.
    if (QIODevice::bytesAvailable() != 0 || isTransactionStarted())
        return;
    const QSignalBlocker quiet(this);
    QIODevice::close();
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
}

void ConnectionSocket::finish()
{
    if (state() == QAbstractSocket::UnconnectedState)
        return;
    setSocketState(QAbstractSocket::UnconnectedState);
    Q_EMIT readChannelFinished();
    Q_EMIT stateChanged(QAbstractSocket::UnconnectedState);
    Q_EMIT disconnected();
}

// --- Connection ------------------------------------------------------------------

struct Connection::HttpState
{
    explicit HttpState(const HttpLimits &limits) : guard(limits) { }

    ConnectionGuard guard;
    QList<ConnectionGuard::Request> requests; // released, not yet taken by the server
    std::optional<RequestHead> upgradeHead;
    int unanswered = 0; // released requests the server has not answered yet
    // Answers in request order: a deferred one (respondLater()) holds back the ones
    // after it. Empty unless an answer was deferred.
    struct Answer
    {
        quint64 ticket = 0; // 0: given already
        QByteArray response;
        bool closeAfter = false;
    };
    QList<Answer> held;
    quint64 lastTicket = 0;
    bool upgradeStarted = false;
    bool sawRequest = false; // the keep-alive clock, not the header clock, runs between them
    bool headStarted = false; // the header clock runs from a head's first byte
    qint64 bodyStartMs = 0; // FrontDoor clock: when the head of the body arriving now ended
    qint64 bodyBytes = 0; // bytes of that body received since (they earn it more time)
};

Connection::Connection(qintptr descriptor, FrontDoor *door)
    : QObject(door)
    , m_door(door)
    , m_fd(descriptor)
    , m_http(std::make_unique<HttpState>(door->limits()))
{
    Descriptor::prepareAccepted(m_fd);
    std::tie(m_peerAddress, m_peerPort) = Descriptor::endpoint(m_fd, true);
    std::tie(m_localAddress, m_localPort) = Descriptor::endpoint(m_fd, false);
    m_readNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
    connect(m_readNotifier, &QSocketNotifier::activated, this, &Connection::onReadable);
    init();
}

Connection::Connection(QSslSocket *transport, FrontDoor *door)
    : QObject(door)
    , m_door(door)
    , m_tls(transport)
    , m_http(std::make_unique<HttpState>(door->limits()))
{
    transport->setParent(this);
    m_peerAddress = transport->peerAddress();
    m_peerPort = transport->peerPort();
    m_localAddress = transport->localAddress();
    m_localPort = transport->localPort();
    connect(transport, &QIODevice::readyRead, this, &Connection::onTlsReadyRead);
    connect(transport, &QAbstractSocket::disconnected, this, &Connection::onLinkClosed);
    connect(transport, &QAbstractSocket::errorOccurred, this, &Connection::onTlsError);
    init();
}

void Connection::init()
{
    if (m_tls)
        connect(m_tls, &QIODevice::bytesWritten, this, [this](qint64 n) {
            if (ConnectionSocket *socket = reader())
                Q_EMIT socket->bytesWritten(n);
        });
}

ConnectionSocket *Connection::ensureHttpSocket()
{
    // Made on demand: a QtHttpServer socket and its request state cost more to set up
    // and take down than the rest of a connection that only upgrades to a WebSocket.
    if (!m_httpSocketMade && m_door && m_phase == Phase::Http) {
        m_httpSocketMade = true;
        m_httpSocket = new ConnectionSocket(this);
        m_door->offerHttpSocket(m_httpSocket);
    }
    return m_httpSocket;
}

Connection::~Connection()
{
    dropDescriptor();
    if (m_door)
        m_door->untrack(this);
}

ConnectionSocket *Connection::reader() const
{
    return m_phase == Phase::Upgraded ? m_webSocket.data() : m_httpSocket.data();
}

std::optional<ConnectionGuard::Request> Connection::takeRequest()
{
    if (!m_http || m_http->requests.isEmpty())
        return std::nullopt;
    return m_http->requests.takeFirst();
}

void Connection::respond(const QByteArray &response, bool closeAfter)
{
    if (m_http && !m_http->held.isEmpty()) {
        m_http->held.append({0, response, closeAfter}); // behind a deferred answer
        return;
    }
    send(response, closeAfter);
}

quint64 Connection::deferResponse()
{
    if (!m_http)
        return 0;
    const quint64 ticket = ++m_http->lastTicket;
    m_http->held.append({ticket, {}, false});
    return ticket;
}

void Connection::respondLater(quint64 ticket, const QByteArray &response, bool closeAfter)
{
    if (!m_http || ticket == 0)
        return;
    for (HttpState::Answer &answer : m_http->held) {
        if (answer.ticket == ticket) {
            answer = {0, response, closeAfter};
            break;
        }
    }
    // Everything answered at the head of the line goes out, in order.
    while (m_http && !m_http->held.isEmpty() && m_http->held.first().ticket == 0) {
        const HttpState::Answer answer = m_http->held.takeFirst();
        send(answer.response, answer.closeAfter);
        if (answer.closeAfter)
            break;
    }
}

void Connection::send(const QByteArray &response, bool closeAfter)
{
    write(response);
    if (closeAfter) {
        m_refused = true; // anything pipelined after it is dropped
        close();
        return;
    }
    if (!m_http)
        return;
    m_http->unanswered = qMax(0, m_http->unanswered - 1);
    // An upgrade that arrived behind pipelined requests goes ahead once they are answered,
    // from the event loop: this runs inside QtHttpServer's handling of a request.
    if (m_http->unanswered == 0 && m_phase == Phase::Upgrading && !m_http->upgradeStarted)
        QMetaObject::invokeMethod(this, &Connection::startUpgrade, Qt::QueuedConnection);
}

void Connection::startUpgrade()
{
    if (m_phase != Phase::Upgrading || !m_http || m_http->upgradeStarted || !m_http->upgradeHead)
        return;
    m_http->upgradeStarted = true;
    // A copy: deciding the upgrade lets go of the HTTP state it lives in.
    const RequestHead head = *m_http->upgradeHead;
    if (m_door)
        m_door->requestUpgrade(this, head);
}

void Connection::refuseUpgrade(const QByteArray &response)
{
    m_refused = true;
    m_held.clear();
    m_http.reset();
    write(response);
    close();
}

ConnectionSocket *Connection::acceptUpgrade(const QByteArray &handshake,
                                            std::unique_ptr<StreamFilter> filter)
{
    Q_ASSERT(m_phase == Phase::Upgrading);
    m_phase = Phase::Upgraded;
    if (m_door && !m_upgraded)
        m_door->upgraded(this);
    m_upgraded = true;
    m_http.reset();
    m_filter = std::move(filter);
    m_holding = true;
    // QtHttpServer's part of this connection is over: to it, the client went away.
    if (ConnectionSocket *http = std::exchange(m_httpSocket, nullptr))
        http->finish();
    m_webSocket = new ConnectionSocket(this);
    m_webSocket->append(handshake);
    return m_webSocket;
}

void Connection::resumeAfterUpgrade()
{
    // Queued: this is called from the reader's own handling of the handshake.
    QMetaObject::invokeMethod(
            this,
            [this] {
                if (!m_holding)
                    return;
                m_holding = false;
                if (m_webSocket)
                    m_webSocket->dropReadBuffer();
                refreshDeadline();
                filter(std::exchange(m_held, {}));
                deliver();
            },
            Qt::QueuedConnection);
}

void Connection::setOwner(QObject *owner)
{
    m_ownedByDoor = false;
    setParent(owner);
}

void Connection::onReadable()
{
    // One buffer for every connection of this thread; what is read is copied out at once.
    static thread_local char buffer[64 * 1024];
    while (m_fd >= 0 && !m_refused) {
        const Descriptor::Transfer read = Descriptor::receive(m_fd, buffer, sizeof buffer);
        if (read.bytes > 0) {
            feed(QByteArrayView(buffer, read.bytes));
            if (read.bytes < qint64(sizeof buffer))
                break; // most likely all there was; if not, the notifier fires again
            continue;
        }
        if (read.failure != Descriptor::Failure::WouldBlock)
            linkFailed(Descriptor::errorString(read.error),
                       read.failure == Descriptor::Failure::ClosedByPeer);
        break;
    }
    refreshDeadline();
    deliver();
}

void Connection::onTlsReadyRead()
{
    while (!m_refused && m_tls->bytesAvailable() > 0) {
        const QByteArray raw = m_tls->read(qMin<qint64>(m_tls->bytesAvailable(), 64 * 1024));
        if (raw.isEmpty())
            break;
        feed(raw);
    }
    refreshDeadline();
    deliver();
}

void Connection::feed(QByteArrayView raw)
{
    if (m_phase == Phase::Upgraded) {
        if (m_holding)
            m_held += raw;
        else
            filter(raw);
        return;
    }
    if (!m_http)
        return;
    m_http->sawRequest = true;
    const bool wasInBody = m_http->guard.inBody();
    ConnectionGuard::Result result = m_http->guard.feed(raw);
    if (m_http->guard.inBody()) {
        // The body deadline (refreshDeadline()) runs from the end of the body's head; the
        // bytes of a body already arriving extend it. Counted per read, so the bytes of a
        // body that begins in the same read as its head earn nothing: the client only gets
        // less time than it could.
        if (!wasInBody || !result.completed.isEmpty()) {
            m_http->bodyStartMs = m_door ? m_door->nowMs() : 0;
            m_http->bodyBytes = 0;
        } else {
            m_http->bodyBytes += raw.size();
        }
    }
    if (!result.release.isEmpty() && ensureHttpSocket()) {
        m_httpSocket->append(result.release);
        m_mustDeliver = true; // told to the reader by deliver()
    }
    m_http->unanswered += int(result.completed.size());
    for (ConnectionGuard::Request &request : result.completed)
        m_http->requests.append(std::move(request));
    if (!result.reply.isEmpty())
        linkWrite(result.reply.constData(), result.reply.size());
    if (result.refusedStatus != 0) {
        qCInfo(lcHttp, "refused a request from %s with %d before routing",
               qPrintable(m_peerAddress.toString()), result.refusedStatus);
        m_refused = true;
        if (m_door)
            Q_EMIT m_door->refused(result.refusedStatus);
        closeLink(false);
        return;
    }
    if (result.upgrade) {
        m_phase = Phase::Upgrading;
        m_http->upgradeHead = std::move(result.upgrade);
        m_held += result.afterUpgrade;
    } else if (m_phase == Phase::Upgrading) {
        m_held += result.afterUpgrade;
    }
}

void Connection::filter(QByteArrayView raw)
{
    if (raw.isEmpty() || !m_filter || m_refused)
        return;
    StreamFilter::Output out;
    m_filter->feed(raw, out);
    if (!out.forReader.isEmpty() && m_webSocket) {
        m_webSocket->append(out.forReader);
        m_mustDeliver = true;
    }
    if (!out.reply.isEmpty())
        write(out.reply);
    if (out.closeCode != 0) {
        qCInfo(lcWs, "closing the connection from %s with %d: %s",
               qPrintable(m_peerAddress.toString()), out.closeCode, qPrintable(out.closeReason));
        m_refusalCode = out.closeCode;
        m_refusalReason = out.closeReason;
        m_refused = true;
        close();
    }
}

void Connection::deliver()
{
    if (std::exchange(m_mustDeliver, false)) {
        ConnectionSocket *socket = reader();
        if (socket && m_corked) {
            // A reader already busy with this connection (a nested event loop) gets it queued.
            QMetaObject::invokeMethod(socket, &QIODevice::readyRead, Qt::QueuedConnection);
        } else if (socket) {
            // Straight from the socket notification, as QTcpSocket does: posting it would
            // cost an eventfd write and read per message. Whatever the reader answers while
            // it handles these bytes (four echoes for four pipelined messages, an HTTP
            // response's head and body) leaves in one send().
            const QPointer<Connection> alive(this);
            m_corked = true;
            Q_EMIT socket->readyRead();
            if (!alive)
                return;
            m_corked = false;
            uncork();
        }
    }
    // An upgrade head with nothing unanswered before it is decided now.
    if (m_phase == Phase::Upgrading && m_http && m_http->unanswered == 0 && !m_http->upgradeStarted)
        startUpgrade();
}

qint64 Connection::write(const char *data, qint64 size)
{
    if (m_phase == Phase::Closed || m_closeWhenFlushed)
        return -1;
    if (m_corked && size < kCorkLimit) {
        m_cork.append(data, size);
        return size;
    }
    uncork();
    return linkWrite(data, size);
}

void Connection::uncork()
{
    if (m_cork.isEmpty())
        return;
    const QByteArray bytes = std::exchange(m_cork, {});
    linkWrite(bytes.constData(), bytes.size());
}

qint64 Connection::bytesToWrite() const
{
    const qint64 queued = m_tls ? m_tls->bytesToWrite() : m_backlog.size() - m_backlogPos;
    return queued + m_cork.size();
}

qint64 Connection::linkWrite(const char *data, qint64 size)
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
        const Descriptor::Transfer written = Descriptor::send(m_fd, data, size);
        if (written.failure == Descriptor::Failure::ClosedByPeer
            || written.failure == Descriptor::Failure::Error) {
            linkFailed(Descriptor::errorString(written.error),
                       written.failure == Descriptor::Failure::ClosedByPeer);
            return -1;
        }
        sent = written.bytes;
    }
    if (sent < size) {
        m_backlog.append(data + sent, size - sent);
        if (!m_writeNotifier) {
            m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
            connect(m_writeNotifier, &QSocketNotifier::activated, this, &Connection::onWritable);
        }
        m_writeNotifier->setEnabled(true);
    }
    return size;
}

void Connection::onWritable()
{
    while (m_fd >= 0 && m_backlogPos < m_backlog.size()) {
        const Descriptor::Transfer written = Descriptor::send(
                m_fd, m_backlog.constData() + m_backlogPos, m_backlog.size() - m_backlogPos);
        if (written.failure == Descriptor::Failure::WouldBlock) {
            if (m_backlogPos >= 64 * 1024 && m_backlogPos * 2 >= m_backlog.size()) {
                // A reader that keeps up only partly must not keep what it already got.
                m_backlog.remove(0, m_backlogPos);
                m_backlogPos = 0;
            }
            return;
        }
        if (written.failure != Descriptor::Failure::None) {
            linkFailed(Descriptor::errorString(written.error),
                       written.failure == Descriptor::Failure::ClosedByPeer);
            return;
        }
        m_backlogPos += written.bytes;
        if (ConnectionSocket *socket = reader())
            Q_EMIT socket->bytesWritten(written.bytes);
    }
    m_backlog = QByteArray(); // a slow reader's backlog is not kept once it is sent
    m_backlogPos = 0;
    if (m_writeNotifier)
        m_writeNotifier->setEnabled(false);
    if (m_closeWhenFlushed)
        closeLink(true);
}

bool Connection::waitForBytesWritten(int msecs)
{
    uncork();
    if (m_tls)
        return m_tls->waitForBytesWritten(msecs);
    const QDeadlineTimer deadline(msecs);
    while (m_fd >= 0 && m_backlogPos < m_backlog.size()) {
        if (!Descriptor::waitWritable(m_fd, deadline))
            return false;
        onWritable();
    }
    return m_fd >= 0;
}

void Connection::linkFailed(const QString &message, bool closedByPeer)
{
    // Reported from the event loop, after what was read before it has been delivered.
    if (m_readNotifier)
        m_readNotifier->setEnabled(false);
    if (m_writeNotifier)
        m_writeNotifier->setEnabled(false);
    if (std::exchange(m_failing, true))
        return;
    const QAbstractSocket::SocketError kind
            = closedByPeer ? QAbstractSocket::RemoteHostClosedError : QAbstractSocket::NetworkError;
    QMetaObject::invokeMethod(
            this,
            [this, kind, message] {
                if (ConnectionSocket *socket = reader()) {
                    socket->setSocketError(kind);
                    socket->setErrorString(message);
                    Q_EMIT socket->errorOccurred(kind);
                }
                closeLink(true);
            },
            Qt::QueuedConnection);
}

void Connection::close()
{
    uncork();
    closeLink(false);
}

void Connection::abort()
{
    m_cork.clear();
    closeLink(true);
}

void Connection::closeLink(bool now)
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

void Connection::dropDescriptor()
{
    // The notifiers are unregistered before their descriptor goes.
    delete std::exchange(m_readNotifier, nullptr);
    delete std::exchange(m_writeNotifier, nullptr);
    if (m_fd >= 0)
        Descriptor::close(std::exchange(m_fd, -1));
}

void Connection::onLinkClosed()
{
    if (m_phase == Phase::Closed)
        return;
    m_phase = Phase::Closed;
    m_deadlineMs = 0;
    m_held.clear();
    // Each reader is told once; QtHttpServer and QWebSocketServer delete their sockets then.
    if (ConnectionSocket *socket = m_httpSocket)
        socket->finish();
    if (ConnectionSocket *socket = m_webSocket)
        socket->finish();
    if (m_ownedByDoor)
        deleteLater();
}

void Connection::onTlsError(QAbstractSocket::SocketError error)
{
    if (ConnectionSocket *socket = reader()) {
        socket->setSocketError(error);
        socket->setErrorString(m_tls->errorString());
        Q_EMIT socket->errorOccurred(error);
    }
}

void Connection::setOption(QAbstractSocket::SocketOption option, int value)
{
    if (m_tls)
        m_tls->setSocketOption(option, value);
    else if (m_fd >= 0)
        Descriptor::setOption(m_fd, option, value);
}

QVariant Connection::option(QAbstractSocket::SocketOption option) const
{
    if (m_tls)
        return m_tls->socketOption(option);
    if (m_fd < 0)
        return {};
    const auto value = Descriptor::option(m_fd, option);
    return value ? QVariant(*value) : QVariant();
}

void Connection::refreshDeadline()
{
    if (!m_door)
        return;
    const HttpLimits &limits = m_door->limits();
    const qint64 now = m_door->nowMs();
    switch (m_phase) {
    case Phase::Http:
        if (!m_http)
            break;
        switch (m_http->guard.state()) {
        case ConnectionGuard::State::Head:
            if (m_http->guard.inHead()) {
                // The header clock runs from the first byte of this head (or the accept);
                // it is not restarted by more bytes of the same head.
                if (m_deadlineMs == 0 || !m_http->headStarted)
                    m_deadlineMs = now + limits.headerTimeout.count();
                m_http->headStarted = true;
            } else {
                // Between requests: the keep-alive clock restarts after each one.
                m_deadlineMs = now
                        + (m_http->sawRequest ? limits.keepAliveTimeout : limits.headerTimeout)
                                  .count();
                m_http->headStarted = false;
            }
            break;
        case ConnectionGuard::State::Body:
        case ConnectionGuard::State::ChunkedBody:
            // A total deadline, not an inactivity clock: a byte every few seconds must not
            // hold the connection (and its slot) for ever. Bytes received earn more time
            // (mod_reqtimeout's MinRate), so a large body at a fair rate still arrives.
            m_deadlineMs = m_http->bodyStartMs + limits.bodyTimeout.count()
                    + (limits.bodyMinRate > 0 ? m_http->bodyBytes * 1000 / limits.bodyMinRate : 0);
            m_http->headStarted = false;
            break;
        case ConnectionGuard::State::Upgraded:
        case ConnectionGuard::State::Closed:
            break;
        }
        break;
    case Phase::Upgrading:
        // Earlier answers and the decision are ours to give, but the handshake as a whole
        // gets the header timeout.
        if (m_http && !m_http->headStarted)
            m_deadlineMs = now + limits.headerTimeout.count();
        if (m_http)
            m_http->headStarted = true;
        break;
    case Phase::Upgraded:
        if (!m_holding)
            m_deadlineMs = 0; // WebSocket sessions have their own heartbeat
        break;
    case Phase::Closed:
        m_deadlineMs = 0;
        break;
    }
}

void Connection::expire()
{
    m_deadlineMs = 0;
    if (m_refused || m_phase == Phase::Closed)
        return;
    const ConnectionGuard::State state
            = m_http ? m_http->guard.state() : ConnectionGuard::State::Closed;
    const bool midRequest = m_phase == Phase::Http && m_http
            && (m_http->guard.inHead() || !m_http->sawRequest
                || state == ConnectionGuard::State::Body
                || state == ConnectionGuard::State::ChunkedBody);
    m_refused = true;
    if (midRequest) {
        const QByteArray response
                = ConnectionGuard::errorResponse(408, "request not received in time");
        linkWrite(response.constData(), response.size());
        if (m_door)
            Q_EMIT m_door->refused(408);
    }
    closeLink(false);
}

} // namespace Switchboard
