#include "websocket/upgrade.h"

#include "http/conn.h"
#include "http/plugs.h"
#include "logging.h"
#include "net/connection.h"
#include "net/httpguard.h"
#include "websocket/framecodec.h"
#include "websocket/hub.h"
#include "websocket/sessionhost.h"
#include "websocket/session.h"

#include <QtCore/QUrl>
#include <QtWebSockets/QWebSocket>
#include <QtWebSockets/QWebSocketServer>

namespace Switchboard {

namespace {

bool isValidWebSocketKey(const QByteArray &key)
{
    const auto decoded = QByteArray::fromBase64Encoding(key.trimmed(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
    return decoded && decoded.decoded.size() == 16;
}

bool isValidHost(const QByteArray &host)
{
    if (host.isEmpty())
        return false;
    QUrl url;
    url.setAuthority(QString::fromLatin1(host), QUrl::StrictMode);
    return url.isValid() && !url.host().isEmpty() && url.userInfo().isEmpty();
}

QByteArray requestTarget(const Conn &conn)
{
    const QByteArray query = conn.query.toString(QUrl::FullyEncoded).toUtf8();
    return query.isEmpty() ? conn.path : conn.path + '?' + query;
}

} // namespace

WebSocketUpgrader::WebSocketUpgrader(Hub *hub, QObject *parent) : QObject(parent), m_hub(hub) { }

WebSocketUpgrader::~WebSocketUpgrader() = default;

void WebSocketUpgrader::addEndpoint(const QByteArray &path, HandlerFactory factory)
{
    m_endpoints.insert(path, std::move(factory));
}

std::optional<QList<QByteArray>> WebSocketUpgrader::parseProtocols(const QList<QByteArray> &values)
{
    QList<QByteArray> protocols;
    for (const QByteArray &value : values) {
        for (const QByteArray &part : value.split(',')) {
            const QByteArray name = part.trimmed();
            // RFC 6455 §4.1: the names are tokens, each at most once.
            if (!isToken(name) || protocols.contains(name))
                return std::nullopt;
            protocols.append(name);
        }
    }
    return protocols;
}

QByteArray WebSocketUpgrader::withField(const QByteArray &head, const QByteArray &field)
{
    Q_ASSERT(head.endsWith("\r\n\r\n"));
    return head.first(head.size() - 2) + field + "\r\n\r\n";
}

void WebSocketUpgrader::setOriginPolicy(const OriginPolicy &policy)
{
    const std::lock_guard lock(m_mutex);
    m_originPolicy = policy;
}

void WebSocketUpgrader::setClientToken(const QByteArray &token)
{
    const std::lock_guard lock(m_mutex);
    m_clientToken = token;
}

bool WebSocketUpgrader::hasClientToken(const Conn &conn, const QByteArray &token, bool *offered)
{
    const QByteArray query
            = conn.query.queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded).toUtf8();
    const std::optional<QByteArray> bearer = Plugs::bearerToken(conn);
    *offered = !query.isEmpty() || bearer.has_value();
    // Evaluate both, so the time taken does not tell which one was tried.
    const bool queryOk = Plugs::constantTimeEquals(query, token);
    const bool headerOk = bearer && Plugs::constantTimeEquals(*bearer, token);
    return queryOk || headerOk;
}

std::optional<WebSocketUpgrader::Accepted> WebSocketUpgrader::decide(Conn &conn)
{
    const auto endpoint = m_endpoints.constFind(conn.path);
    if (endpoint == m_endpoints.cend()) {
        conn.sendError(
                404,
                QStringLiteral("no WebSocket endpoint at %1").arg(QString::fromUtf8(conn.path)));
        return std::nullopt;
    }
    if (conn.method != "GET") {
        conn.putRespHeader(QByteArrayLiteral("allow"), QByteArrayLiteral("GET"));
        conn.sendError(405, QStringLiteral("a WebSocket upgrade must use GET"));
        return std::nullopt;
    }
    if (conn.minorVersion < 1 || !isValidHost(conn.header("host"))) {
        conn.sendError(400,
                       QStringLiteral("a WebSocket upgrade needs HTTP/1.1 and a valid Host field"));
        return std::nullopt;
    }
    if (conn.header("sec-websocket-version").trimmed() != "13") {
        conn.putRespHeader(QByteArrayLiteral("sec-websocket-version"), QByteArrayLiteral("13"));
        conn.sendError(426, QStringLiteral("only WebSocket version 13 is supported"));
        return std::nullopt;
    }
    const QByteArray key = conn.header("sec-websocket-key").trimmed();
    if (!isValidWebSocketKey(key)) {
        conn.sendError(400, QStringLiteral("missing or malformed Sec-WebSocket-Key"));
        return std::nullopt;
    }
    // What a reload may change, read once (the workers decide upgrades concurrently).
    QByteArray clientToken;
    OriginPolicy originPolicy;
    {
        const std::lock_guard lock(m_mutex);
        clientToken = m_clientToken;
        originPolicy = m_originPolicy;
    }
    if (!clientToken.isEmpty() && m_clientThrottle.refuse(conn))
        return std::nullopt; // the token is not looked at: guessing stops here
    bool offered = false;
    if (!clientToken.isEmpty() && !hasClientToken(conn, clientToken, &offered)) {
        if (offered) // one without a token guesses nothing
            m_clientThrottle.recordFailure(conn.peerAddress);
        conn.putRespHeader(QByteArrayLiteral("www-authenticate"),
                           QByteArrayLiteral("Bearer realm=\"switchboard-ws\""));
        conn.sendError(401,
                       QStringLiteral("a client token is required: ?token=TOKEN or "
                                      "Authorization: Bearer TOKEN"));
        return std::nullopt;
    }
    const QByteArray origin = conn.header("origin");
    if (!originPolicy.allows(origin, conn.header("host"), m_secure)) {
        qCInfo(lcWs, "refused upgrade from origin %s", origin.constData());
        conn.sendError(403,
                       QStringLiteral("origin %1 is not allowed; start the server with "
                                      "--allowed-origin to allow it")
                               .arg(QString::fromUtf8(origin)));
        return std::nullopt;
    }
    QList<QByteArray> protocolFields;
    QList<QByteArray> extensionFields;
    for (const auto &[name, value] : conn.headers) {
        if (name == "sec-websocket-protocol")
            protocolFields.append(value);
        else if (name == "sec-websocket-extensions")
            extensionFields.append(value);
    }
    const std::optional<QList<QByteArray>> protocols = parseProtocols(protocolFields);
    if (!protocols) {
        conn.sendError(400,
                       QStringLiteral("malformed Sec-WebSocket-Protocol: a comma-separated list "
                                      "of distinct tokens"));
        return std::nullopt;
    }

    std::unique_ptr<WebSocketHandler> handler = endpoint.value()();
    UpgradeRequest request{conn.path,     conn.query,     conn.headers, conn.peerAddress,
                           conn.peerPort, conn.requestId, *protocols};
    const InitResult init = handler->init(request);
    if (!init.accepted) {
        const int status = init.status >= 400 && init.status <= 599 ? init.status : 403;
        conn.sendError(status,
                       init.message.isEmpty() ? QStringLiteral("upgrade refused") : init.message);
        return std::nullopt;
    }
    if (!init.protocol.isEmpty() && !protocols->contains(init.protocol)) {
        // RFC 6455 §4.2.2: the server may only choose one the client offered.
        qCWarning(lcWs, "the handler on %s chose subprotocol '%s', which the client did not offer",
                  conn.path.constData(), init.protocol.constData());
        conn.sendError(500, QStringLiteral("the server chose a subprotocol that was not offered"));
        return std::nullopt;
    }

    Accepted accepted;
    accepted.handler = std::move(handler);
    accepted.path = conn.path;
    accepted.protocol = init.protocol;
    accepted.deflate = negotiateDeflate(extensionFields, m_deflate);
    // What QWebSocketServer reads: the decision already made, in a form its parser takes.
    QByteArray &handshake = accepted.handshake;
    handshake = "GET " + requestTarget(conn) + " HTTP/1.1\r\nHost: " + conn.header("host")
            + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
            + "\r\nSec-WebSocket-Version: 13\r\n";
    if (!origin.isEmpty())
        handshake += "Origin: " + origin + "\r\n";
    if (!accepted.protocol.isEmpty())
        handshake += "Sec-WebSocket-Protocol: " + accepted.protocol + "\r\n";
    handshake += "\r\n";
    conn.status = 101;
    return accepted;
}

void WebSocketUpgrader::handOver(Connection *connection, Accepted accepted, SessionHost *host)
{
    auto reader = std::make_unique<ClientFrameReader>(m_hub->settings().maxMessageSize,
                                                      accepted.deflate);
    const ClientFrameReader *frames = reader.get();
    ConnectionSocket *socket = connection->acceptUpgrade(accepted.handshake, std::move(reader));
    if (accepted.deflate) {
        // Qt's 101 names no extension (Qt 6 has none); the agreed one is added to it.
        const QByteArray field = "Sec-WebSocket-Extensions: " + accepted.deflate->responseValue();
        socket->editFirstResponseHead([field](const QByteArray &head) {
            return head.startsWith("HTTP/1.1 101 ") ? withField(head, field) : head;
        });
    }

    // A child of the socket: gone with it if the client leaves during the handshake.
    auto *handshake = new QWebSocketServer(
            QString(), m_secure ? QWebSocketServer::SecureMode : QWebSocketServer::NonSecureMode,
            socket);
    if (!accepted.protocol.isEmpty())
        handshake->setSupportedSubprotocols({QString::fromLatin1(accepted.protocol)});
    const QPointer<Connection> alive(connection);
    SessionSetup setup{accepted.path, accepted.protocol, accepted.deflate, m_deflate.threshold,
                       frames};
    auto handler = std::make_shared<std::unique_ptr<WebSocketHandler>>(std::move(accepted.handler));
    // On the handshake's (the connection's worker's) thread, where the session is made.
    connect(handshake, &QWebSocketServer::newConnection, handshake,
            [host, handshake, alive, setup, handler] {
                std::unique_ptr<QWebSocket> webSocket(handshake->nextPendingConnection());
                handshake->deleteLater(); // done: it must not outlive the handshake (see the class)
                if (!webSocket || !alive)
                    return;
                host->adopt(std::move(webSocket), alive, std::move(*handler), setup);
                alive->resumeAfterUpgrade();
            });
    connect(handshake, &QWebSocketServer::serverError, handshake,
            [peer = connection->peerAddress()](QWebSocketProtocol::CloseCode code) {
                qCWarning(lcWs,
                          "QtWebSockets refused a handshake from %s that was accepted "
                          "(close code %d)",
                          qPrintable(peer.toString()), int(code));
            });
    handshake->handleConnection(socket);
}

} // namespace Switchboard
