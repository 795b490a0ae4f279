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
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslConfiguration>

#include <atomic>
#include <optional>

namespace Switchboard {

class Connection;
class Counter;
class FrontDoor;
class Histogram;
class Hub;
class Listener;
class SessionHost;
template<typename T> class Family;

/*!
    The one listening port: plain requests go through the plug pipeline to
    the router; WebSocket upgrade requests to a registered path go through
    the same plugs, then the WebSocketUpgrader (checks, the handler's init(),
    subprotocol and permessage-deflate), and become Hub sessions.

    Each worker of the hub (HubSettings::workers) accepts connections of its
    own on the port through a Listener (a QAbstractHttpServer and its
    FrontDoor) on its thread; with several workers, each listens on its own
    socket of the port (SO_REUSEPORT, see ListenSocket), so the kernel spreads
    new connections over them. A connection's requests and its session stay
    on the worker that accepted it. The front door owns every connection and
    decides, once, whether a request is an upgrade: Qt's parser sees plain
    requests only, and Switchboard writes every response itself
    (Connection::respond()), so the bytes on the wire are the same on every
    supported Qt version (6.4 to 6.8).

    The Server object itself lives on the main thread, where it is set up
    (pipeline, router, endpoints, limits: before listen(), read-only after)
    and where routes marked Router::Runs::OnServerThread are answered. The
    settings a reload changes (tokens, origins, TLS) are safe to change while
    serving.

    It counts requests by method, route pattern and status, their latency,
    and refused upgrades, in the hub's Metrics.
*/
class Server final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Server)

public:
    explicit Server(Hub *hub, QObject *parent = nullptr);
    ~Server() override;

    /*! Front-door limits for connections accepted from now on (see FrontDoor). */
    void setHttpLimits(const HttpLimits &limits) { m_limits = limits; }
    const HttpLimits &httpLimits() const { return m_limits; }
    /*! Connections currently open on the port (HTTP and WebSocket), on every worker. */
    int connectionCount() const { return m_open.load(std::memory_order_relaxed); }

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
    bool isListening() const { return m_listening; }
    QHostAddress serverAddress() const { return m_address; }
    quint16 serverPort() const { return m_port; }
    QString errorString() const { return m_errorString; }
    /*!
        Why the last listen() failed (UnknownSocketError after a success), for
        callers such as the console that word the error their own way.
    */
    QAbstractSocket::SocketError listenError() const { return m_listenError; }
    /*! "http://127.0.0.1:4040" for the address being listened on. */
    QString httpUrl() const;
    QString webSocketUrl() const;
    /*! One per worker once listen() was called, in the hub's worker order (for tests). */
    const QList<Listener *> &listeners() const { return m_listeners; }

Q_SIGNALS:
    void listeningChanged(bool listening);
    /*! The front door refused a request before routing (400, 408, 413, 431, 503, ...). */
    void requestRefused(int status);

private:
    friend class Listener; // hands over requests and upgrades on its thread

    /*! Answers the next plain request of \a connection (on \a listener's thread). */
    void serve(Listener *listener, Connection *connection, const QByteArray &body);
    /*! Runs the pipeline and the router on \a conn. */
    void answer(Conn &conn);
    void upgrade(Connection *connection, const RequestHead &head, SessionHost *host);
    void countRequest(const Conn &conn);
    void makeListeners();
    /*! Stops every listener accepting (without listeningChanged()). */
    void closeListeners();
    void setListenError(const QHostAddress &address, quint16 port,
                        QAbstractSocket::SocketError error, const QString &detail);

    Hub *m_hub;
    Family<Counter> *m_requests;
    Family<Histogram> *m_requestDuration;
    Family<Counter> *m_refusals;
    AuthThrottle m_adminThrottle{QByteArrayLiteral("admin token")};
    Pipeline m_pipeline;
    Router m_router;
    WebSocketUpgrader m_upgrader;
    std::optional<QSslConfiguration> m_tls;
    HttpLimits m_limits;
    std::atomic<int> m_open{0};
    QList<Listener *> m_listeners;
    bool m_listening = false;
    QHostAddress m_address;
    quint16 m_port = 0;
    QString m_errorString;
    QAbstractSocket::SocketError m_listenError = QAbstractSocket::UnknownSocketError;
};

} // namespace Switchboard
