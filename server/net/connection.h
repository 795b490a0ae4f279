#pragma once

#include "net/httpguard.h"
#include "net/streamfilter.h"

#include <QtCore/QPointer>
#include <QtNetwork/QTcpSocket>

#include <functional>
#include <memory>
#include <optional>

class QSocketNotifier;
class QSslSocket;

namespace Switchboard {

class Connection;
class FrontDoor;

/*!
    The QTcpSocket a Qt reader is given for one Connection: QtHttpServer for
    plain requests, then, after an accepted upgrade, a second one for
    QWebSocketServer and the QWebSocket it makes. It has no descriptor of its
    own: it reads what the connection released to it and writes through the
    connection. When the connection ends, or switches protocols, it reports
    itself disconnected to its reader, so each reader sees an ordinary socket
    begin and end, and never one another's.
*/
class ConnectionSocket final : public QTcpSocket
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConnectionSocket)

public:
    explicit ConnectionSocket(Connection *connection);
    ~ConnectionSocket() override;

    /*! The connection underneath; null once it is gone. */
    Connection *connection() const { return m_connection; }

    /*!
        Passes the first response head written through this socket (the 101 of
        a WebSocket handshake) to \a editor before it is sent; later writes go
        out as they are.
    */
    void editFirstResponseHead(std::function<QByteArray(const QByteArray &)> editor);

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
    friend class Connection;
    /*!
        Queues \a bytes for the reader without copying them: a large frame arrives over
        several reads, and appending each piece to one buffer moved the whole frame
        again (a quarter of the 64 KiB echo's throughput).
    */
    void append(const QByteArray &bytes);
    void dropReadBuffer();
    /*! The stream this reader had is over: disconnected() and friends. */
    void finish();

    QPointer<Connection> m_connection;
    QByteArray m_readable; // being read, from m_readPos
    QList<QByteArray> m_queued; // after it, in order
    qsizetype m_readPos = 0;
    qint64 m_unread = 0;
    std::function<QByteArray(const QByteArray &)> m_headEditor;
    QByteArray m_headSoFar; // the response head while it is written, for the editor
};

/*!
    One accepted TCP (or TLS) connection, owned by the front door until a
    session takes it over.

    Every byte that arrives runs through a ConnectionGuard first; QtHttpServer
    only ever reads what the guard released (whole, valid request heads and
    exactly the body bytes they announce). A WebSocket upgrade head never
    reaches Qt: the front door's upgrade handler decides it (refuseUpgrade()
    or acceptUpgrade()), once every request before it has been answered.
    After an accepted upgrade the bytes run through the StreamFilter the
    handler gave (the WebSocket frame reader), and are held until
    resumeAfterUpgrade(), when the session's slots are connected: QWebSocket
    (QtWebSockets 6.4 to 6.8) parses whatever its socket already holds when it
    is made, before anyone can connect to its signals, and those messages
    would be lost.

    Plain TCP is read and written on the descriptor itself (platform/
    descriptor.h): a QTcpSocket per connection kept a 16 KiB read chunk and a
    32 KiB write chunk for its whole life and asked the kernel for the
    readable size before every read. TLS goes through a QSslSocket. Writes
    made while a read is being handled are corked into one send(); what the
    kernel does not take is queued behind a write notifier.

    Responses to plain requests are written by the server through respond()
    (not by QtHttpServer), so the bytes on the wire and the decision to close
    after a response are the same on every Qt version.
*/
class Connection final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Connection)

public:
    /*! Plain TCP: takes ownership of \a descriptor, a connected socket. */
    Connection(qintptr descriptor, FrontDoor *door);
    /*! TLS: takes ownership of \a transport, a connected socket starting its handshake. */
    Connection(QSslSocket *transport, FrontDoor *door);
    ~Connection() override;

    QHostAddress peerAddress() const { return m_peerAddress; }
    quint16 peerPort() const { return m_peerPort; }
    QHostAddress localAddress() const { return m_localAddress; }
    quint16 localPort() const { return m_localPort; }
    bool isTls() const { return m_tls != nullptr; }
    bool isOpen() const { return m_phase != Phase::Closed; }

    /*!
        The socket QtHttpServer is given for this connection's plain requests; made
        when the first of them is released, so a connection that only upgrades
        (or sends nothing) never has one.
    */
    ConnectionSocket *httpSocket() const { return m_httpSocket; }

    /*!
        The front door's own parse of the next request QtHttpServer hands on
        (requests are answered in order), or nullopt if none is due.
    */
    std::optional<ConnectionGuard::Request> takeRequest();
    /*!
        Writes the response to the request taken last, and closes the
        connection after it if \a closeAfter.
    */
    void respond(const QByteArray &response, bool closeAfter);
    /*!
        Holds the place of the answer to the request taken last, for an answer
        made on another thread: answers to later requests wait behind it.
        Returns the ticket to give respondLater(); 0 when there is nothing to hold.
    */
    quint64 deferResponse();
    /*! The answer for \a ticket (see deferResponse()); sends what may go now. */
    void respondLater(quint64 ticket, const QByteArray &response, bool closeAfter);

    /*! Answers the pending upgrade with \a response and closes. */
    void refuseUpgrade(const QByteArray &response);
    /*!
        Accepts the pending upgrade: QtHttpServer's socket ends, and the
        returned socket (a child of this connection) reads \a handshake first,
        then whatever the client sends after its upgrade request, through
        \a filter, once resumeAfterUpgrade() is called.
    */
    ConnectionSocket *acceptUpgrade(const QByteArray &handshake,
                                    std::unique_ptr<StreamFilter> filter);
    /*! Lets the bytes that came after the upgrade through (from the event loop). */
    void resumeAfterUpgrade();
    /*!
        Hands the connection to \a owner (its QObject parent from now on): it
        no longer deletes itself when it closes.
    */
    void setOwner(QObject *owner);

    /*! Writes \a data to the peer (corked while a read is being handled). */
    qint64 write(const char *data, qint64 size);
    qint64 write(const QByteArray &bytes) { return write(bytes.constData(), bytes.size()); }
    /*! Bytes written that the kernel has not taken yet. */
    qint64 bytesToWrite() const;
    /*! Closes once everything written is sent. */
    void close();
    /*! Drops the connection now. */
    void abort();
    /*! Blocks until the queue is sent or \a msecs pass (for QIODevice::waitForBytesWritten). */
    bool waitForBytesWritten(int msecs);

    /*! The close code the stream filter refused the stream with (1002, 1007, 1009), or 0. */
    quint16 refusalCode() const { return m_refusalCode; }
    QString refusalReason() const { return m_refusalReason; }

    // Socket options, for the sockets' setSocketOption()/socketOption().
    void setOption(QAbstractSocket::SocketOption option, int value);
    QVariant option(QAbstractSocket::SocketOption option) const;

private:
    friend class FrontDoor;
    friend class ConnectionSocket;

    enum class Phase {
        Http, //!< plain requests, read by QtHttpServer
        Upgrading, //!< an upgrade head arrived; waiting for earlier answers and the decision
        Upgraded, //!< accepted: the WebSocket socket reads; held until resumeAfterUpgrade()
        Closed,
    };

    void init();
    /*! Writes the answer to the oldest unanswered request. */
    void send(const QByteArray &response, bool closeAfter);
    /*! The HTTP socket, made and handed to QtHttpServer (through the door) on first use. */
    ConnectionSocket *ensureHttpSocket();
    void onReadable();
    void onWritable();
    void onTlsReadyRead();
    void onTlsError(QAbstractSocket::SocketError error);
    void feed(QByteArrayView raw);
    void filter(QByteArrayView raw);
    void deliver();
    void startUpgrade();
    qint64 linkWrite(const char *data, qint64 size);
    void uncork();
    void linkFailed(const QString &message, bool closedByPeer);
    void closeLink(bool now);
    void dropDescriptor();
    void onLinkClosed();
    void refreshDeadline();
    void expire();
    qint64 deadlineMs() const { return m_deadlineMs; }
    ConnectionSocket *reader() const;

    QPointer<FrontDoor> m_door;
    Phase m_phase = Phase::Http;
    QHostAddress m_peerAddress;
    QHostAddress m_localAddress;
    quint16 m_peerPort = 0;
    quint16 m_localPort = 0;

    // The link: a descriptor (plain TCP) or a QSslSocket.
    qintptr m_fd = -1;
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr; // created the first time the kernel is full
    QByteArray m_backlog; // what the kernel did not take yet
    qsizetype m_backlogPos = 0;
    QSslSocket *m_tls = nullptr;

    // What only plain HTTP needs (the guard, the requests due, an upgrade head): let go
    // of once the connection is upgraded or refused, so an idle WebSocket keeps none of
    // it (about 400 bytes a connection).
    struct HttpState;
    std::unique_ptr<HttpState> m_http;

    QPointer<ConnectionSocket> m_httpSocket;
    bool m_httpSocketMade = false; // once QtHttpServer has let go of it, none is made again
    QPointer<ConnectionSocket> m_webSocket;
    std::unique_ptr<StreamFilter> m_filter;
    QByteArray m_held; // raw bytes after the upgrade head, until resumeAfterUpgrade()
    bool m_holding = false;

    QByteArray m_cork; // written while a read is being handled; sent when it returns
    bool m_corked = false;
    bool m_mustDeliver = false;
    bool m_closeWhenFlushed = false;
    bool m_failing = false;
    bool m_refused = false; // nothing more is read
    bool m_upgraded = false; // once a WebSocket, always counted as one (FrontDoor's metrics)
    bool m_ownedByDoor = true;
    qint64 m_deadlineMs = 0; // FrontDoor clock; 0 = none
    quint16 m_refusalCode = 0;
    QString m_refusalReason;
};

} // namespace Switchboard
