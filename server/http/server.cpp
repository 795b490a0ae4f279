#include "http/server.h"

#include "logging.h"
#include "net/connection.h"
#include "net/frontdoor.h"
#include "websocket/hub.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtNetwork/QTcpSocket>

namespace Switchboard {

Server::Server(Hub *hub, QObject *parent) : QAbstractHttpServer(parent), m_hub(hub), m_upgrader(hub)
{
}

Server::~Server() = default;

void Server::setTlsConfiguration(const QSslConfiguration &configuration)
{
    m_tls = configuration;
    m_upgrader.setSecure(true);
    // Listening already (a reload): connections from now on get the new certificate.
    if (m_frontDoor)
        m_frontDoor->setTlsConfiguration(configuration);
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

bool Server::listen(const QHostAddress &address, quint16 port)
{
    if (!m_frontDoor) {
        m_frontDoor = new FrontDoor(m_limits, this);
        m_frontDoor->setMaxPendingConnections(1024);
        m_frontDoor->setUpgradeHandler([this](Connection *connection, const RequestHead &head) {
            upgrade(connection, head);
        });
        connect(m_frontDoor, &FrontDoor::refused, this, &Server::requestRefused);
        if (m_tls)
            m_frontDoor->setTlsConfiguration(*m_tls);
        m_bound = false;
    }
    if (m_frontDoor->isListening())
        m_frontDoor->close();
    if (!m_frontDoor->listen(address, port)) {
        const QString where = (address.protocol() == QAbstractSocket::IPv6Protocol
                                       ? u'[' + address.toString() + u']'
                                       : address.toString())
                + u':' + QString::number(port);
        m_listenError = m_frontDoor->serverError();
        switch (m_listenError) {
        case QAbstractSocket::AddressInUseError:
            m_errorString
                    = QStringLiteral("cannot listen on %1: the port is already in use. Stop the "
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
            m_errorString = QStringLiteral("cannot listen on %1: %2")
                                    .arg(where, m_frontDoor->errorString());
            break;
        }
        // Not logged here: the caller reports it (main prints it, the console shows it),
        // and logging it too printed the same line twice.
        Q_EMIT listeningChanged(false);
        return false;
    }
    m_errorString.clear();
    m_listenError = QAbstractSocket::UnknownSocketError;
    if (!m_bound) {
        bind(m_frontDoor); // once, while listening: Qt 6.8 refuses a server that is not
        m_bound = true;
    }
    Q_EMIT listeningChanged(true);
    return true;
}

void Server::stopListening()
{
    if (m_frontDoor && m_frontDoor->isListening()) {
        m_frontDoor->close();
        Q_EMIT listeningChanged(false);
    }
}

int Server::connectionCount() const
{
    return m_frontDoor ? m_frontDoor->connectionCount() : 0;
}

bool Server::isListening() const
{
    return m_frontDoor && m_frontDoor->isListening();
}

QHostAddress Server::serverAddress() const
{
    return m_frontDoor ? m_frontDoor->serverAddress() : QHostAddress();
}

quint16 Server::serverPort() const
{
    return m_frontDoor ? m_frontDoor->serverPort() : 0;
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

Connection *Server::connectionOf(const QHttpServerRequest &request) const
{
#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
    Q_UNUSED(request);
    return nullptr; // Qt 6.4 passes the socket itself
#else
    return m_frontDoor ? m_frontDoor->connection(request.remoteAddress(), request.remotePort(),
                                                 request.localAddress())
                       : nullptr;
#endif
}

#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
bool Server::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    const auto *ours = qobject_cast<ConnectionSocket *>(socket);
    serve(ours ? ours->connection() : nullptr, request.body());
    return true;
}

void Server::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    // handleRequest() answers everything; Qt only calls this when it returns false.
    Q_UNUSED(request);
    Q_UNUSED(socket);
}
#else
bool Server::handleRequest(const QHttpServerRequest &request, QHttpServerResponder &responder)
{
    Q_UNUSED(responder); // the response goes out through the Connection, see the class
    serve(connectionOf(request), request.body());
    return true;
}

#if QT_VERSION < QT_VERSION_CHECK(6, 8, 0)
void Server::missingHandler(const QHttpServerRequest &request, QHttpServerResponder &&responder)
#else
void Server::missingHandler(const QHttpServerRequest &request, QHttpServerResponder &responder)
#endif
{
    // handleRequest() answers everything; Qt only calls this when it returns false.
    Q_UNUSED(request);
    Q_UNUSED(responder);
}
#endif

void Server::serve(Connection *connection, const QByteArray &body)
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
    m_pipeline.call(conn, [this](Conn &c) { m_router.call(c); });
    connection->respond(conn.serializeResponse(request->closeAfterResponse),
                        request->closeAfterResponse);
}

void Server::upgrade(Connection *connection, const RequestHead &head)
{
    Conn conn = Conn::fromRequest(head, connection->peerAddress(), connection->peerPort());
    std::optional<WebSocketUpgrader::Accepted> accepted;
    m_pipeline.call(conn, [&](Conn &c) { accepted = m_upgrader.decide(c); });
    if (accepted && conn.status == 101)
        m_upgrader.handOver(connection, std::move(*accepted));
    else
        connection->refuseUpgrade(conn.serializeResponse(true));
}

} // namespace Switchboard
