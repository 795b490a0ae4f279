#pragma once

#include "http/auththrottle.h"
#include "http/pipeline.h"
#include "http/router.h"
#include "net/httpguard.h"
#include "websocket/deflate.h"
#include "websocket/originpolicy.h"
#include "websocket/upgrade.h"
#include "websocket/websockethandler.h"

#include <QtCore/QPointer>
#include <QtNetwork/QAbstractSocket>
#include <QtHttpServer/QAbstractHttpServer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>

#include <optional>

class QTcpSocket;
class QHttpServerResponder;

namespace Switchboard {

class Connection;
class FrontDoor;
class Hub;

/*!
    The one listener: plain requests go through the plug pipeline to the
    router; WebSocket upgrade requests to a registered path go through the
    same plugs, then the WebSocketUpgrader (checks, the handler's init(),
    subprotocol and permessage-deflate), and become Hub sessions.

    A QAbstractHttpServer bound to the FrontDoor, which owns every
    connection and decides, once, whether a request is an upgrade: Qt's
    parser sees plain requests only, and Switchboard writes every response
    itself (Connection::respond()), so the bytes on the wire are the same
    on every supported Qt version (6.4 to 6.8).
*/
class Server final : public QAbstractHttpServer
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Server)

public:
    explicit Server(Hub *hub, QObject *parent = nullptr);
    ~Server() override;

    /*! Front-door limits for connections accepted from now on (see FrontDoor). */
    void setHttpLimits(const HttpLimits &limits) { m_limits = limits; }
    const HttpLimits &httpLimits() const { return m_limits; }
    /*! Connections currently open on the listener (HTTP and WebSocket). */
    int connectionCount() const;

    Pipeline &pipeline() { return m_pipeline; }
    Router &router() { return m_router; }
    Hub &hub() { return *m_hub; }

    void setOriginPolicy(const OriginPolicy &policy) { m_upgrader.setOriginPolicy(policy); }
    /*!
        Requires \a token on every WebSocket upgrade (`?token=` or
        `Authorization: Bearer`), else 401 before any 101. Empty = no check.
    */
    void setClientToken(const QByteArray &token) { m_upgrader.setClientToken(token); }
    /*!
        Wrong admin tokens per peer: give it to Plugs::adminAuth(). The plugs
        live in the router, which goes before the throttle does.
    */
    AuthThrottle &adminThrottle() { return m_adminThrottle; }
    /*! Wrong client tokens per peer, counted on WebSocket upgrades. */
    AuthThrottle &clientThrottle() { return m_upgrader.clientThrottle(); }
    /*! permessage-deflate for upgrades from now on (off unless \a settings enable it). */
    void setDeflate(const DeflateSettings &settings) { m_upgrader.setDeflate(settings); }
    /*!
        Serves HTTPS and WSS on the same port. Called again while listening (a
        reload with a renewed certificate), connections from then on get the new one.
    */
    void setTlsConfiguration(const QSslConfiguration &configuration);
    bool isTls() const { return m_tls.has_value(); }

    /*!
        Serves WebSocket sessions on \a path, one handler from \a factory per
        upgrade. A plain GET on \a path answers 426 Upgrade Required.
    */
    void addWebSocketEndpoint(const QByteArray &path, HandlerFactory factory);
    QList<QByteArray> webSocketPaths() const { return m_upgrader.paths(); }

    /*! Starts listening; false with errorString() set if the address is unavailable. */
    bool listen(const QHostAddress &address, quint16 port);
    /*! Stops accepting connections; live sessions stay. */
    void stopListening();
    bool isListening() const;
    QHostAddress serverAddress() const;
    quint16 serverPort() const;
    QString errorString() const { return m_errorString; }
    /*!
        Why the last listen() failed (UnknownSocketError after a success), for
        callers such as the console that word the error their own way.
    */
    QAbstractSocket::SocketError listenError() const { return m_listenError; }
    /*! "http://127.0.0.1:4040" for the address being listened on. */
    QString httpUrl() const;
    QString webSocketUrl() const;

Q_SIGNALS:
    void listeningChanged(bool listening);
    /*! The front door refused a request before routing (400, 408, 413, 431, 503, ...). */
    void requestRefused(int status);

protected:
    // QAbstractHttpServer's callbacks changed shape in Qt 6.5 and again in 6.8; each
    // version's overrides find the Connection and hand over to serve().
#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;
#else
    bool handleRequest(const QHttpServerRequest &request, QHttpServerResponder &responder) override;
#if QT_VERSION < QT_VERSION_CHECK(6, 8, 0)
    void missingHandler(const QHttpServerRequest &request,
                        QHttpServerResponder &&responder) override;
#else
    void missingHandler(const QHttpServerRequest &request,
                        QHttpServerResponder &responder) override;
#endif
#endif

private:
    /*! The connection \a request arrived on (Qt 6.5+ gives no socket). */
    Connection *connectionOf(const QHttpServerRequest &request) const;
    /*! Answers the next plain request of \a connection, whose body Qt read: \a body. */
    void serve(Connection *connection, const QByteArray &body);
    void upgrade(Connection *connection, const RequestHead &head);

    Hub *m_hub;
    AuthThrottle m_adminThrottle{QByteArrayLiteral("admin token")};
    Pipeline m_pipeline;
    Router m_router;
    WebSocketUpgrader m_upgrader;
    std::optional<QSslConfiguration> m_tls;
    HttpLimits m_limits;
    QPointer<FrontDoor> m_frontDoor;
    bool m_bound = false;
    QString m_errorString;
    QAbstractSocket::SocketError m_listenError = QAbstractSocket::UnknownSocketError;
};

} // namespace Switchboard
