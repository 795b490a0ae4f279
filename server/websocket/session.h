#pragma once

#include "websocket/sessioninfo.h"
#include "websocket/websockethandler.h"

#include <QtCore/QObject>
#include <QtCore/QPointer>

#include <memory>
#include <optional>

class QTcpSocket;
class QWebSocket;

namespace Switchboard {

class Hub;

/*!
    One live WebSocket connection driving one WebSocketHandler.

    Sessions are created and owned by the Hub; everything outside the server
    library refers to them by id. The session turns QWebSocket signals into
    handler callbacks and carries out the Reply each callback returns.
*/
class Session final : public QObject, public SessionContext
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Session)

public:
    Session(quint64 id, std::unique_ptr<QWebSocket> socket, QTcpSocket *rawSocket,
            std::unique_ptr<WebSocketHandler> handler, QByteArray path, Hub *hub);
    ~Session() override;

    // SessionContext
    quint64 id() const override { return m_info.id; }
    QByteArray path() const override { return m_info.path; }
    QHostAddress peerAddress() const override { return m_info.peerAddress; }
    quint16 peerPort() const override { return m_info.peerPort; }
    Hub &hub() const override { return *m_hub; }

    const SessionInfo &info() const { return m_info; }
    bool isOpen() const { return m_info.state == SessionInfo::State::Open; }

    /*! Calls websocketInit() and sends what it returns. */
    void start();
    /*! Hands \a message to the handler's info(); false if the session is closing. */
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
    void onDisconnected();
    void execute(const Reply &reply);
    bool sendFrame(const Frame &frame);

    SessionInfo m_info;
    std::unique_ptr<QWebSocket> m_socket;
    QPointer<QTcpSocket> m_raw; //!< the TCP socket under m_socket, for pre-encoded writes
    std::unique_ptr<WebSocketHandler> m_handler;
    Hub *m_hub;
    std::optional<TerminateReason> m_pendingReason;
    qint64 m_lastReceivedMs = 0;
    qint64 m_nextPingAtMs = 0;
    int m_outstandingPings = 0;
    bool m_finished = false;
};

} // namespace Switchboard
