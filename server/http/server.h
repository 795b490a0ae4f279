#pragma once

#include "net/httpguard.h"
#include "websocket/originpolicy.h"
#include "http/pipeline.h"
#include "http/router.h"
#include "websocket/websockethandler.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QPointer>
#include <QtHttpServer/QAbstractHttpServer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>

#include <map>

class QTcpSocket;

namespace Switchboard {

class FrontDoor;
class Hub;

/*!
    The one listener: HTTP requests go through the plug pipeline to the
    router; `Upgrade: websocket` requests to a registered path go through the
    same plugs, then the handler's init(), and become Hub sessions.

    Built on QAbstractHttpServer (QtHttpServer 6.4). Two facts about 6.4.2
    shape it: an upgrade proceeds whenever handleRequest() returns true, and
    nothing may be written before the 101. So upgrades never reach the
    router, and a refusal is written here and reported as "not handled",
    which makes Qt close the connection instead of upgrading it.
*/
class Server final : public QAbstractHttpServer
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Server)

public:
    explicit Server(Hub *hub, QObject *parent = nullptr);

    /*! Front-door limits for connections accepted from now on (see FrontDoor). */
    void setHttpLimits(const HttpLimits &limits) { m_limits = limits; }
    const HttpLimits &httpLimits() const { return m_limits; }
    /*! Connections currently open on the listener (HTTP and WebSocket). */
    int connectionCount() const;
    ~Server() override;

    Pipeline &pipeline() { return m_pipeline; }
    Router &router() { return m_router; }
    Hub &hub() { return *m_hub; }

    void setOriginPolicy(const OriginPolicy &policy) { m_originPolicy = policy; }
    /*!
        Requires \a token on every WebSocket upgrade (`?token=` or
        `Authorization: Bearer`), else 401 before any 101. Empty = no check.
    */
    void setClientToken(const QByteArray &token) { m_clientToken = token; }
    /*! Serves HTTPS and WSS on the same port, for connections accepted after listen(). */
    void setTlsConfiguration(const QSslConfiguration &configuration) { m_tls = configuration; }
    bool isTls() const { return m_tls.has_value(); }

    /*!
        Serves WebSocket sessions on \a path, one handler from \a factory per
        upgrade. A plain GET on \a path answers 426 Upgrade Required.
    */
    void addWebSocketEndpoint(const QByteArray &path, HandlerFactory factory);
    QList<QByteArray> webSocketPaths() const { return m_endpoints.keys(); }

    /*! Starts listening; false with errorString() set if the address is unavailable. */
    bool listen(const QHostAddress &address, quint16 port);
    /*! Stops accepting connections; live sessions stay. */
    void stopListening();
    bool isListening() const;
    QHostAddress serverAddress() const;
    quint16 serverPort() const;
    QString errorString() const { return m_errorString; }
    /*! "http://127.0.0.1:4040" for the address being listened on. */
    QString httpUrl() const;
    QString webSocketUrl() const;

Q_SIGNALS:
    void listeningChanged(bool listening);
    /*! The front door refused a request before routing (400, 408, 413, 431, 503, ...). */
    void requestRefused(int status);

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    struct PendingUpgrade
    {
        std::unique_ptr<WebSocketHandler> handler;
        QByteArray path;
        QPointer<QTcpSocket> socket;
        qint64 acceptedAtMs = 0;
    };

    bool handleUpgrade(Conn &conn, QTcpSocket *socket);
    bool hasClientToken(const Conn &conn) const;
    void answerUpgrade(Conn &conn, std::unique_ptr<WebSocketHandler> *accepted);
    void onNewWebSocketConnection();
    static QString peerKey(const QHostAddress &address, quint16 port);

    Hub *m_hub;
    Pipeline m_pipeline;
    Router m_router;
    OriginPolicy m_originPolicy;
    QByteArray m_clientToken;
    std::optional<QSslConfiguration> m_tls;
    QHash<QByteArray, HandlerFactory> m_endpoints;
    std::map<QString, PendingUpgrade> m_pending; // keyed by peer address:port
    HttpLimits m_limits;
    QPointer<FrontDoor> m_tcpServer;
    bool m_bound = false;
    QTcpSocket *m_refusedUpgrade = nullptr;
    QElapsedTimer m_clock;
    QString m_errorString;
};

} // namespace Switchboard
