#include "http/server.h"

#include "net/frontdoor.h"
#include "websocket/hub.h"
#include "logging.h"
#include "http/plugs.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtWebSockets/QWebSocket>

namespace Switchboard {

namespace {

QByteArray methodName(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get:
        return QByteArrayLiteral("GET");
    case QHttpServerRequest::Method::Put:
        return QByteArrayLiteral("PUT");
    case QHttpServerRequest::Method::Delete:
        return QByteArrayLiteral("DELETE");
    case QHttpServerRequest::Method::Post:
        return QByteArrayLiteral("POST");
    case QHttpServerRequest::Method::Head:
        return QByteArrayLiteral("HEAD");
    case QHttpServerRequest::Method::Options:
        return QByteArrayLiteral("OPTIONS");
    case QHttpServerRequest::Method::Patch:
        return QByteArrayLiteral("PATCH");
    case QHttpServerRequest::Method::Connect:
        return QByteArrayLiteral("CONNECT");
    case QHttpServerRequest::Method::Trace:
        return QByteArrayLiteral("TRACE");
    default:
        return QByteArrayLiteral("UNKNOWN");
    }
}

Conn makeConn(const QHttpServerRequest &request, QTcpSocket *socket)
{
    Conn conn;
    conn.clock.start();
    conn.method = methodName(request.method());
    const QUrl url = request.url();
    conn.path = url.path(QUrl::FullyEncoded).toUtf8();
    if (conn.path.isEmpty())
        conn.path = QByteArrayLiteral("/");
    conn.query = request.query();
    const auto headers = request.headers();
    conn.headers.reserve(headers.size());
    for (const auto &[name, value] : headers)
        conn.headers.append({name.toLower(), value});
    conn.body = request.body();
    conn.peerAddress = request.remoteAddress();
    conn.peerPort = socket->peerPort();
    conn.upgrade = conn.headerHasToken("connection", "upgrade")
            && conn.header("upgrade").trimmed().compare("websocket", Qt::CaseInsensitive) == 0;
    return conn;
}

bool isValidWebSocketKey(const QByteArray &key)
{
    const auto decoded = QByteArray::fromBase64Encoding(key.trimmed(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
    return decoded && decoded.decoded.size() == 16;
}

} // namespace

Server::Server(Hub *hub, QObject *parent) : QAbstractHttpServer(parent), m_hub(hub)
{
    m_clock.start();
    connect(this, &QAbstractHttpServer::newWebSocketConnection, this,
            &Server::onNewWebSocketConnection);
}

Server::~Server() = default;

void Server::addWebSocketEndpoint(const QByteArray &path, HandlerFactory factory)
{
    m_endpoints.insert(path, std::move(factory));
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
    if (!m_tcpServer) {
        m_tcpServer = new FrontDoor(m_limits, this);
        m_tcpServer->setMaxPendingConnections(1024);
        connect(m_tcpServer, &FrontDoor::refused, this, &Server::requestRefused);
        if (m_tls)
            m_tcpServer->setTlsConfiguration(*m_tls);
        m_bound = false;
    }
    if (m_tcpServer->isListening())
        m_tcpServer->close();
    if (!m_tcpServer->listen(address, port)) {
        const QString where = (address.protocol() == QAbstractSocket::IPv6Protocol
                                       ? u'[' + address.toString() + u']'
                                       : address.toString())
                + u':' + QString::number(port);
        m_errorString = m_tcpServer->serverError() == QAbstractSocket::AddressInUseError
                ? QStringLiteral(
                          "cannot listen on %1: the port is already in use. Stop the "
                          "other program or choose another port (--port 0 picks a free one).")
                          .arg(where)
                : QStringLiteral("cannot listen on %1: %2").arg(where, m_tcpServer->errorString());
        qCWarning(lcApp).noquote() << m_errorString;
        Q_EMIT listeningChanged(false);
        return false;
    }
    m_errorString.clear();
    if (!m_bound) {
        bind(m_tcpServer); // once: bind() connects to the server, and it must be listening
        m_bound = true;
    }
    Q_EMIT listeningChanged(true);
    return true;
}

void Server::stopListening()
{
    if (m_tcpServer && m_tcpServer->isListening()) {
        m_tcpServer->close();
        Q_EMIT listeningChanged(false);
    }
}

int Server::connectionCount() const
{
    return m_tcpServer ? m_tcpServer->connectionCount() : 0;
}

bool Server::isListening() const
{
    return m_tcpServer && m_tcpServer->isListening();
}

QHostAddress Server::serverAddress() const
{
    return m_tcpServer ? m_tcpServer->serverAddress() : QHostAddress();
}

quint16 Server::serverPort() const
{
    return m_tcpServer ? m_tcpServer->serverPort() : 0;
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

bool Server::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    Conn conn = makeConn(request, socket);
    if (conn.upgrade)
        return handleUpgrade(conn, socket);

    m_pipeline.call(conn, [this](Conn &c) {
        if (c.method == "UNKNOWN")
            c.sendError(501, QStringLiteral("method not implemented"));
        else
            m_router.call(c);
    });
    // The front door knows the framing (HTTP/1.0, Connection: close); Qt 6.4 ignores both.
    auto *guarded = qobject_cast<GuardedSocket *>(socket);
    const bool close = guarded ? guarded->takeCloseAfterResponse()
                               : conn.headerHasToken("connection", "close");
    socket->write(conn.serializeResponse(close));
    if (close)
        socket->disconnectFromHost();
    return true;
}

bool Server::handleUpgrade(Conn &conn, QTcpSocket *socket)
{
    std::unique_ptr<WebSocketHandler> handler;
    m_pipeline.call(conn, [&](Conn &c) { answerUpgrade(c, &handler); });
    if (conn.status == 101 && handler) {
        // Qt now writes the 101 and hands us the QWebSocket (onNewWebSocketConnection);
        // remember the handler that init() accepted until then.
        const qint64 now = m_clock.elapsed();
        // An entry is normally taken within one event-loop turn; anything old belongs
        // to a handshake that Qt aborted.
        std::erase_if(m_pending,
                      [now](const auto &it) { return now - it.second.acceptedAtMs > 30'000; });
        m_pending.insert_or_assign(peerKey(conn.peerAddress, conn.peerPort),
                                   PendingUpgrade{std::move(handler), conn.path, socket, now});
        return true;
    }
    // Refused: answer now and report "not handled" so Qt closes instead of upgrading.
    socket->write(conn.serializeResponse(true));
    m_refusedUpgrade = socket;
    return false;
}

void Server::answerUpgrade(Conn &conn, std::unique_ptr<WebSocketHandler> *accepted)
{
    const auto endpoint = m_endpoints.constFind(conn.path);
    if (endpoint == m_endpoints.cend()) {
        conn.sendError(
                404,
                QStringLiteral("no WebSocket endpoint at %1").arg(QString::fromUtf8(conn.path)));
        return;
    }
    if (conn.method != "GET") {
        conn.putRespHeader(QByteArrayLiteral("allow"), QByteArrayLiteral("GET"));
        conn.sendError(405, QStringLiteral("a WebSocket upgrade must use GET"));
        return;
    }
    if (conn.header("sec-websocket-version").trimmed() != "13") {
        conn.putRespHeader(QByteArrayLiteral("sec-websocket-version"), QByteArrayLiteral("13"));
        conn.sendError(426, QStringLiteral("only WebSocket version 13 is supported"));
        return;
    }
    if (!isValidWebSocketKey(conn.header("sec-websocket-key"))) {
        conn.sendError(400, QStringLiteral("missing or malformed Sec-WebSocket-Key"));
        return;
    }
    if (!m_clientToken.isEmpty() && !hasClientToken(conn)) {
        conn.putRespHeader(QByteArrayLiteral("www-authenticate"),
                           QByteArrayLiteral("Bearer realm=\"switchboard-ws\""));
        conn.sendError(401,
                       QStringLiteral("a client token is required: ?token=TOKEN or "
                                      "Authorization: Bearer TOKEN"));
        return;
    }
    if (!m_originPolicy.allows(conn.header("origin"), conn.header("host"), m_tls.has_value())) {
        qCInfo(lcWs, "refused upgrade from origin %s", conn.header("origin").constData());
        conn.sendError(403,
                       QStringLiteral("origin %1 is not allowed; start the server with "
                                      "--allowed-origin to allow it")
                               .arg(QString::fromUtf8(conn.header("origin"))));
        return;
    }

    std::unique_ptr<WebSocketHandler> handler = endpoint.value()();
    const UpgradeRequest request{conn.path,        conn.query,    conn.headers,
                                 conn.peerAddress, conn.peerPort, conn.requestId};
    const InitResult init = handler->init(request);
    if (!init.accepted) {
        const int status = init.status >= 400 && init.status <= 599 ? init.status : 403;
        conn.sendError(status,
                       init.message.isEmpty() ? QStringLiteral("upgrade refused") : init.message);
        return;
    }
    conn.status = 101;
    *accepted = std::move(handler);
}

bool Server::hasClientToken(const Conn &conn) const
{
    const QByteArray query
            = conn.query.queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded).toUtf8();
    const QByteArray header = conn.header("authorization");
    const bool bearer
            = header.size() > 7 && header.first(7).compare("bearer ", Qt::CaseInsensitive) == 0;
    // Evaluate both, so the time taken does not tell which one was tried.
    const bool queryOk = Plugs::constantTimeEquals(query, m_clientToken);
    const bool headerOk
            = bearer && Plugs::constantTimeEquals(header.mid(7).trimmed(), m_clientToken);
    return queryOk || headerOk;
}

void Server::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    if (std::exchange(m_refusedUpgrade, nullptr) == socket)
        return; // handleUpgrade() already answered
    Conn conn = makeConn(request, socket);
    conn.sendError(404, QStringLiteral("not found"));
    socket->write(conn.serializeResponse(true));
}

void Server::onNewWebSocketConnection()
{
    while (hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> socket = nextPendingWebSocketConnection();
        if (!socket)
            break;
        const auto found = m_pending.find(peerKey(socket->peerAddress(), socket->peerPort()));
        if (found == m_pending.end()) {
            qCWarning(lcWs) << "upgraded connection without an accepted request; closing";
            socket->close(QWebSocketProtocol::CloseCodeBadOperation);
            continue;
        }
        PendingUpgrade pending = std::move(found->second);
        m_pending.erase(found);
        m_hub->adopt(std::move(socket), pending.socket.data(), std::move(pending.handler),
                     pending.path);
        if (auto *guarded = qobject_cast<GuardedSocket *>(pending.socket.data())) {
            // QtWebSockets 6.4's internal QWebSocketServer deletes every upgraded socket
            // once it disconnects, from a slot that first calls QObject::sender(), a
            // walk over all the sockets it was given: closing 20,000 sessions took
            // 6-38 s. The same deletion, without the walk:
            QObject::disconnect(guarded, &QAbstractSocket::disconnected, nullptr, nullptr);
            connect(guarded, &QAbstractSocket::disconnected, guarded, &QObject::deleteLater);
            // The session's slots are connected now: let frames that came with the
            // handshake in.
            guarded->resumeAfterUpgrade();
        }
    }
}

QString Server::peerKey(const QHostAddress &address, quint16 port)
{
    return address.toString() + u'|' + QString::number(port);
}

} // namespace Switchboard
