#pragma once

#include "websocket/deflate.h"
#include "websocket/sessioninfo.h"
#include "websocket/websockethandler.h"

#include <QtCore/QObject>
#include <QtCore/QPointer>

#include <memory>
#include <optional>

class QWebSocket;

namespace Switchboard {

class ClientFrameReader;
class Connection;
class Hub;
class SessionHost;
struct PathMetrics;

/*! What the upgrade agreed for a session. */
struct SessionSetup
{
    QByteArray path;
    QByteArray protocol; //!< the chosen subprotocol, or empty
    std::optional<DeflateParameters> deflate;
    qsizetype deflateThreshold = 1024; //!< shorter messages are sent uncompressed
    const ClientFrameReader *frames = nullptr; //!< reads this session's frames (wire counts)
};

/*!
    One live WebSocket connection driving one WebSocketHandler.

    Sessions are created and owned by a SessionHost, on its worker's thread,
    which every function here is for; everything outside the server library
    refers to them by id, through the Hub. The session turns QWebSocket signals into
    handler callbacks and carries out the Reply each callback returns. It
    owns its Connection (and through it the socket QWebSocket reads).

    Who writes what: data messages (text, binary) and pongs a handler asks
    for are written by the session straight to the connection, encoded once
    per Frame (and compressed once, with permessage-deflate) however many
    sessions send it. Control frames that need QWebSocket's bookkeeping go
    through QWebSocket: pings (so the pong reports a round trip), the closing
    handshake, and the pongs QWebSocket sends to client pings by itself. Both
    write whole frames synchronously to the same connection, so frames never
    interleave.
*/
class Session final : public QObject, public SessionContext
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Session)

public:
    Session(quint64 id, std::unique_ptr<QWebSocket> socket, Connection *connection,
            std::unique_ptr<WebSocketHandler> handler, const SessionSetup &setup,
            SessionHost *host);
    ~Session() override;

    // SessionContext
    quint64 id() const override { return m_info.id; }
    QByteArray path() const override { return m_info.path; }
    QHostAddress peerAddress() const override { return m_info.peerAddress; }
    quint16 peerPort() const override { return m_info.peerPort; }
    QByteArray protocol() const override { return m_info.protocol; }
    bool isCompressed() const override { return m_info.compressed; }
    Hub &hub() const override;

    /*! The session's figures, wire counts brought up to date. */
    const SessionInfo &info() const;
    bool isOpen() const { return m_info.state == SessionInfo::State::Open; }

    /*! Calls websocketInit() and sends what it returns. */
    void start();
    /*!
        Hands \a message to the handler's info() and sends what it answers; false if
        the session is closing, the handler threw, or a frame it answered could not be
        sent (the message did not reach the peer).
    */
    bool deliverInfo(const QVariant &message);
    /*! Starts the closing handshake; the peer gets \a code and \a reason. */
    void closeWith(const TerminateReason &reason, quint16 code, const QString &text);
    /*! Drops the connection at once (dead peer). */
    void abortWith(const TerminateReason &reason);

    // Heartbeat bookkeeping, driven by the hub's timer.
    qint64 lastReceivedMs() const { return m_lastReceivedMs; }
    int outstandingPings() const { return m_outstandingPings; }
    qint64 nextPingAtMs() const { return m_nextPingAtMs; }
    void sendPing(qint64 nowMs, qint64 intervalMs);
    /*! Bytes queued for this peer that the kernel has not taken yet. */
    qint64 bytesToWrite() const;

private:
    void onFrame(const Frame &frame);
    void onPong(quint64 elapsedMs, const QByteArray &payload);
    void onCloseSent();
    void onDisconnected();
    /*! Sends \a reply; false if one of its frames could not be sent. */
    bool execute(const Reply &reply);
    bool sendFrame(const Frame &frame);
    /*! Runs a handler callback; one that throws closes the session with 1011. */
    template<typename Callback> bool guarded(const char *what, Callback &&callback);

    mutable SessionInfo m_info;
    std::unique_ptr<QWebSocket> m_socket;
    QPointer<Connection> m_connection;
    std::unique_ptr<WebSocketHandler> m_handler;
    SessionHost *m_host;
    const PathMetrics *m_metrics; // this session's path's counters, from the hub
    std::optional<DeflateParameters> m_deflate;
    qsizetype m_deflateThreshold = 0;
    const ClientFrameReader *m_frames = nullptr;
    std::optional<TerminateReason> m_pendingReason;
    qint64 m_lastReceivedMs = 0;
    qint64 m_nextPingAtMs = 0;
    int m_outstandingPings = 0;
    bool m_finished = false;
};

} // namespace Switchboard
