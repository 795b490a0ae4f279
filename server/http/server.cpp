#include "http/server.h"

#include "logging.h"
#include "metrics/metrics.h"
#include "net/connection.h"
#include "http/listener.h"
#include "net/frontdoor.h"
#include "platform/listensocket.h"
#include "threading.h"
#include "websocket/hub.h"
#include "websocket/sessionhost.h"

#include <QtCore/QThread>

namespace Switchboard {

Server::Server(Hub *hub, QObject *parent)
    : QObject(parent)
    , m_hub(hub)
    , m_requests(&hub->metrics().counter("switchboard_http_requests_total",
                                         "HTTP requests answered, by method, route pattern "
                                         "(\"unmatched\" for none) and status.",
                                         {"method", "route", "status"}))
    , m_requestDuration(&hub->metrics().histogram(
              "switchboard_http_request_duration_seconds",
              "Time from reading an HTTP request to its response, by method and route pattern.",
              latencyBuckets(), {"method", "route"}))
    , m_refusals(&FrontDoor::refusals(hub->metrics()))
    , m_upgrader(hub)
{
}

Server::~Server()
{
    // Each listener, with its front door and the connections it still owns, goes on its
    // worker's thread (the hub, which runs the threads, outlives the server).
    for (Listener *listener : std::as_const(m_listeners))
        Threading::runAndWait(listener, [listener] { delete listener; });
}

void Server::setTlsConfiguration(const QSslConfiguration &configuration)
{
    Hub::checkThread(this, "Server::setTlsConfiguration");
    m_tls = configuration;
    m_upgrader.setSecure(true);
    // Listening already (a reload): connections from now on get the new certificate.
    for (Listener *listener : std::as_const(m_listeners))
        Threading::runAndWait(listener, [listener, configuration] {
            listener->setTlsConfiguration(configuration);
        });
}

void Server::addWebSocketEndpoint(const QByteArray &path, HandlerFactory factory)
{
    m_upgrader.addEndpoint(path, std::move(factory));
    m_router.get(QString::fromUtf8(path), [](Conn &conn) {
        conn.putRespHeader(QByteArrayLiteral("upgrade"), QByteArrayLiteral("websocket"));
        conn.putRespHeader(QByteArrayLiteral("connection"), QByteArrayLiteral("Upgrade"));
        conn.sendError(426,
                       QStringLiteral("this is a WebSocket endpoint; connect with "
                                      "Upgrade: websocket"));
    });
}

void Server::makeListeners()
{
    if (!m_listeners.isEmpty())
        return;
    for (SessionHost *host : m_hub->hosts()) {
        Listener *listener = nullptr;
        // Made on the worker's thread: QAbstractHttpServer makes objects of its own.
        const auto make = [&] {
            listener = new Listener(this, host, &m_open);
            if (m_tls)
                listener->setTlsConfiguration(*m_tls);
        };
        Threading::runAndWait(host, make);
        m_listeners.append(listener);
    }
}

bool Server::listen(const QHostAddress &address, quint16 port)
{
    Hub::checkThread(this, "Server::listen");
    makeListeners();
    closeListeners(); // listening elsewhere already: the console's "Change address"
    bool ok = true;
    if (m_listeners.size() == 1) {
        Listener *listener = m_listeners.first();
        Threading::runAndWait(listener, [&] { ok = listener->listen(address, port); });
        if (!ok)
            setListenError(address, port, listener->frontDoor()->serverError(),
                           listener->frontDoor()->errorString());
    } else {
        const ListenSocket::Result sockets
                = ListenSocket::openShared(address, port, int(m_listeners.size()), 1024);
        ok = !sockets.descriptors.empty();
        if (!ok)
            setListenError(address, port, sockets.error, sockets.errorString);
        for (qsizetype i = 0; ok && i < m_listeners.size(); ++i) {
            Listener *listener = m_listeners.at(i);
            const qintptr fd = sockets.descriptors.at(size_t(i));
            Threading::runAndWait(listener, [&] { ok = listener->listenOn(fd); });
            if (!ok) {
                setListenError(address, port, listener->frontDoor()->serverError(),
                               listener->frontDoor()->errorString());
                for (size_t j = size_t(i); j < sockets.descriptors.size(); ++j)
                    ListenSocket::close(sockets.descriptors.at(j));
            }
        }
        if (!ok)
            closeListeners();
    }
    if (!ok) {
        // Not logged here: the caller reports it (main prints it, the console shows it),
        // and logging it too printed the same line twice.
        Q_EMIT listeningChanged(false);
        return false;
    }
    FrontDoor *first = m_listeners.first()->frontDoor();
    m_address = address;
    m_port = first->serverPort();
    m_listening = true;
    m_errorString.clear();
    m_listenError = QAbstractSocket::UnknownSocketError;
    Q_EMIT listeningChanged(true);
    return true;
}

void Server::setListenError(const QHostAddress &address, quint16 port,
                            QAbstractSocket::SocketError error, const QString &detail)
{
    const QString where = (address.protocol() == QAbstractSocket::IPv6Protocol
                                   ? u'[' + address.toString() + u']'
                                   : address.toString())
            + u':' + QString::number(port);
    m_listenError = error;
    switch (error) {
    case QAbstractSocket::AddressInUseError:
        m_errorString = QStringLiteral("cannot listen on %1: the port is already in use. Stop the "
                                       "other program or choose another port (--port 0 picks a "
                                       "free one).")
                                .arg(where);
        break;
    case QAbstractSocket::SocketAddressNotAvailableError:
        m_errorString = QStringLiteral("cannot listen on %1: %2 is not an address of this "
                                       "machine. Use 127.0.0.1 (this machine only), 0.0.0.0 "
                                       "(every IPv4 address), :: (every address) or one "
                                       "that 'ip address' lists (--host).")
                                .arg(where, address.toString());
        break;
    default:
        m_errorString = QStringLiteral("cannot listen on %1: %2").arg(where, detail);
        break;
    }
}

void Server::stopListening()
{
    Hub::checkThread(this, "Server::stopListening");
    if (!m_listening)
        return;
    closeListeners();
    Q_EMIT listeningChanged(false);
}

void Server::closeListeners()
{
    for (Listener *listener : std::as_const(m_listeners))
        Threading::runAndWait(listener, [listener] { listener->close(); });
    m_listening = false;
}

QString Server::httpUrl() const
{
    QHostAddress address = serverAddress();
    QString host;
    if (address == QHostAddress::AnyIPv4 || address == QHostAddress::Any)
        host = QStringLiteral("127.0.0.1");
    else if (address == QHostAddress::AnyIPv6)
        host = QStringLiteral("[::1]");
    else if (address.protocol() == QAbstractSocket::IPv6Protocol)
        host = u'[' + address.toString() + u']';
    else
        host = address.toString();
    return QStringLiteral("%1://%2:%3").arg(m_tls ? u"https" : u"http", host).arg(serverPort());
}

QString Server::webSocketUrl() const
{
    const QString http = httpUrl();
    return (m_tls ? u"wss" : u"ws") + http.mid(http.indexOf(u':')) + u"/ws";
}

void Server::serve(Listener *listener, Connection *connection, const QByteArray &body)
{
    if (!connection)
        return; // closed while Qt still held the request: nobody to answer
    const std::optional<ConnectionGuard::Request> request = connection->takeRequest();
    if (!request) {
        // The front door released every request Qt can have read; never expected.
        qCWarning(lcHttp, "QtHttpServer handed on a request the front door did not release");
        connection->respond(ConnectionGuard::errorResponse(500, "request out of step"), true);
        return;
    }
    Conn conn = Conn::fromRequest(request->head, connection->peerAddress(), connection->peerPort());
    conn.body = body;
    const bool closeAfter = request->closeAfterResponse;
    if (!Threading::isCurrent(this)
        && m_router.runs(conn.method, conn.path) == Router::Runs::OnServerThread) {
        // Answered on this (the main) thread; its place in the connection's answers is kept,
        // and the answer goes back to the connection's thread, if it is still there.
        const quint64 ticket = connection->deferResponse();
        const QPointer<Connection> target(connection);
        Threading::post(
                this,
                [this, listener, target, ticket, closeAfter, conn = std::move(conn)]() mutable {
                    answer(conn);
                    const QByteArray response = conn.serializeResponse(closeAfter);
                    countRequest(conn);
                    Threading::post(listener, [target, ticket, response, closeAfter] {
                        if (target)
                            target->respondLater(ticket, response, closeAfter);
                    });
                });
        return;
    }
    answer(conn);
    connection->respond(conn.serializeResponse(closeAfter), closeAfter);
    countRequest(conn); // after respond(): the latency includes writing the response
}

void Server::answer(Conn &conn)
{
    m_pipeline.call(conn, [this](Conn &c) { m_router.call(c); });
}

void Server::upgrade(Connection *connection, const RequestHead &head, SessionHost *host)
{
    Conn conn = Conn::fromRequest(head, connection->peerAddress(), connection->peerPort());
    std::optional<WebSocketUpgrader::Accepted> accepted;
    m_pipeline.call(conn, [&](Conn &c) { accepted = m_upgrader.decide(c); });
    if (accepted && conn.status == 101)
        m_upgrader.handOver(connection, std::move(*accepted), host);
    else {
        m_refusals->labels({"upgrade", QByteArray::number(conn.status)}).add();
        connection->refuseUpgrade(conn.serializeResponse(true));
    }
}

void Server::countRequest(const Conn &conn)
{
    // Once per request, which allocates far more than these lookups do. The labels come
    // from the route table and a fixed list of methods, so a client cannot make new series.
    static const QList<QByteArray> methods{"DELETE", "GET",  "HEAD", "OPTIONS",
                                           "PATCH",  "POST", "PUT"};
    const QByteArray method = methods.contains(conn.method) ? conn.method : "other";
    const QByteArray route = conn.route.isEmpty() ? "unmatched" : conn.route.toUtf8();
    m_requests->labels({method, route, QByteArray::number(conn.status)}).add();
    m_requestDuration->labels({method, route}).observe(double(conn.clock.nsecsElapsed()) / 1e9);
}

} // namespace Switchboard
