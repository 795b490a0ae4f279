#pragma once

#include "net/httpguard.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QPointer>
#include <QtCore/QSet>
#include <QtCore/QVariant>

#include <optional>
#include <QtCore/QTimer>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

class QSocketNotifier;
class QSslSocket;

namespace Switchboard {

class FrontDoor;

/*!
    The socket QtHttpServer and QtWebSockets are given: it has no descriptor
    Qt knows of. It owns the real connection, runs every byte that arrives
    through a ConnectionGuard, and only what the guard releases can be read
    here: whole, valid request heads and exactly the body bytes they announce,
    then, after a WebSocket upgrade, the frames.

    Plain TCP is read and written on the descriptor directly (a QSocketNotifier
    for reads, one for writes only while the kernel's buffer is full); TLS goes
    through a QSslSocket. Writes made while a read is being handled are corked
    into one send(). bytesWritten() is emitted only for bytes that had to wait.

    (Qt 6.4 offers no public hook in front of its parser: QTcpSocket buffers
    internally, so overriding readData() alone sees nothing.)

    After an upgrade, frames are held until resumeAfterUpgrade(): QtWebSockets
    6.4 parses frames that arrive with the handshake inside QWebSocket's
    constructor, before any slot is connected, and would lose them.
*/
class GuardedSocket final : public QTcpSocket
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(GuardedSocket)

public:
    /*! Plain TCP: takes ownership of \a descriptor, a connected socket. */
    GuardedSocket(qintptr descriptor, FrontDoor *door);
    /*! TLS: takes ownership of \a transport, a connected socket starting its handshake. */
    GuardedSocket(QSslSocket *transport, FrontDoor *door);
    ~GuardedSocket() override;

    /*! Whether the response to the request being handled must close the connection. */
    bool takeCloseAfterResponse();
    /*! Lets WebSocket frames through; call once the session's slots are connected. */
    void resumeAfterUpgrade();
    bool isUpgraded() const { return m_guard.state() == ConnectionGuard::State::Upgraded; }
    /*! The WebSocket close code the front door closed with (1002 for an unmasked frame), or 0. */
    int protocolCloseCode() const { return m_protocolCloseCode; }

    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override;
    qint64 bytesToWrite() const override;
    void close() override;
    void disconnectFromHost() override;
    bool waitForBytesWritten(int msecs = 30000) override;
    bool waitForReadyRead(int msecs = 30000) override;
    void setReadBufferSize(qint64 size) override;
    void setSocketOption(QAbstractSocket::SocketOption option, const QVariant &value) override;
    QVariant socketOption(QAbstractSocket::SocketOption option) override;

protected:
    qint64 readData(char *data, qint64 maxSize) override;
    qint64 writeData(const char *data, qint64 size) override;

private:
    friend class FrontDoor;
    void openDevice();
    void onReadable();
    void onWritable();
    void onTlsReadyRead();
    void onTlsError(QAbstractSocket::SocketError error);
    void feed(QByteArrayView raw);
    qint64 linkWrite(const char *data, qint64 size);
    void linkFailed(int error);
    void closeLink(bool now = false);
    void dropDescriptor();
    void onLinkClosed();
    void refreshDeadline();
    void expire();
    void release(const QByteArray &bytes);
    void deliverReleased();
    void deliverReadyRead();
    void uncork();
    qint64 deadlineMs() const { return m_deadlineMs; }

    QPointer<FrontDoor> m_door;
    int m_fd = -1; // plain TCP
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr; // created the first time the kernel is full
    QByteArray m_backlog; // what the kernel did not take yet
    qsizetype m_backlogPos = 0;
    QSslSocket *m_tls = nullptr; // TLS instead
    ConnectionGuard m_guard;
    QByteArray m_released;
    qsizetype m_releasedPos = 0;
    QByteArray m_held;
    QByteArray m_cork; // written while readyRead() is being handled; sent when it returns
    QList<bool> m_closeFlags;
    qint64 m_deadlineMs = 0; // FrontDoor clock; 0 = none
    int m_protocolCloseCode = 0;
    bool m_corked = false;
    bool m_mustDeliver = false; // feed() released bytes the reader has not been told of
    bool m_closeWhenFlushed = false;
    bool m_failing = false;
    bool m_holding = false;
    bool m_sawRequest = false;
    bool m_headStarted = false;
    bool m_refused = false;
};

/*!
    The listening socket given to QAbstractHttpServer::bind(): every accepted
    connection is a GuardedSocket. It enforces the connection cap (503 and
    close) and, with one timer for all connections, the header and keep-alive
    timeouts (408 / close).
*/
class FrontDoor final : public QTcpServer
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(FrontDoor)

public:
    explicit FrontDoor(const HttpLimits &limits, QObject *parent = nullptr);

    const HttpLimits &limits() const { return m_limits; }
    /*! Serves TLS on every connection accepted from now on (HTTPS and WSS). */
    void setTlsConfiguration(const QSslConfiguration &configuration);
    bool isTls() const { return m_tls.has_value(); }
    int connectionCount() const { return int(m_sockets.size()); }
    qint64 nowMs() const { return m_clock.elapsed(); }

Q_SIGNALS:
    /*! A request was refused before reaching the server (status 400, 408, 413, 431, 503...). */
    void refused(int status);

protected:
    void incomingConnection(qintptr handle) override;

private:
    friend class GuardedSocket;
    void track(GuardedSocket *socket);
    void untrack(GuardedSocket *socket);
    void sweep();

    HttpLimits m_limits;
    std::optional<QSslConfiguration> m_tls;
    QElapsedTimer m_clock;
    QSet<GuardedSocket *> m_sockets;
    QTimer m_sweep;
    QTimer m_trim;
    qsizetype m_peak = 0;
};

} // namespace Switchboard
