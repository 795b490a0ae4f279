#pragma once

#include "http/auththrottle.h"
#include "websocket/deflate.h"
#include "websocket/originpolicy.h"
#include "websocket/websockethandler.h"

#include <QtCore/QHash>
#include <QtCore/QObject>

#include <memory>
#include <mutex>
#include <optional>

namespace Switchboard {

class Connection;
class Hub;
class SessionHost;
struct Conn;

/*!
    Decides WebSocket upgrade requests and hands the accepted ones to
    QtWebSockets.

    decide() runs as the last step of the plug pipeline for an upgrade
    request (so request id and access log apply): endpoint, method, HTTP
    version, Host, key and version, the client token, the origin policy, the
    offered subprotocols, the handler's init() and permessage-deflate. A
    refusal is an ordinary HTTP response on the Conn; nothing is switched.

    handOver() gives the connection to a QWebSocketServer of its own
    (QWebSocketServer::handleConnection()), which reads a handshake request
    made here from the decision (the chosen subprotocol is the only one it
    offers and the only one the server supports, so Qt's 101 names exactly
    that), writes the 101 and makes the QWebSocket; the hub then makes the
    session. A server per handshake, deleted once it is done, because a
    QWebSocketServer stays connected to every socket it handled for as long
    as the socket lives, and looks the sender up among all of them whenever
    one disconnects (QObject::sender()): with one long-lived server, closing
    20,000 sessions took tens of seconds (QtWebSockets 6.4 to 6.8).
    Qt 6 supports no WebSocket extensions, so the agreed permessage-deflate
    parameters are added to Qt's 101 here, and the frames are inflated and
    deflated by Switchboard (see ClientFrameReader and Frame).
*/
class WebSocketUpgrader final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(WebSocketUpgrader)

public:
    /*! An upgrade request that passed every check. */
    struct Accepted
    {
        std::unique_ptr<WebSocketHandler> handler;
        QByteArray path;
        QByteArray protocol; //!< the subprotocol init() chose, or empty
        std::optional<DeflateParameters> deflate;
        QByteArray handshake; //!< the request QWebSocketServer reads
    };

    explicit WebSocketUpgrader(Hub *hub, QObject *parent = nullptr);
    ~WebSocketUpgrader() override;

    /*! Serves sessions on \a path, one handler from \a factory per upgrade. */
    void addEndpoint(const QByteArray &path, HandlerFactory factory);
    bool hasEndpoint(const QByteArray &path) const { return m_endpoints.contains(path); }
    QList<QByteArray> paths() const { return m_endpoints.keys(); }

    void setOriginPolicy(const OriginPolicy &policy);
    /*!
        Requires \a token (`?token=` or `Authorization: Bearer`); empty = no check.
        Wrong tokens count against their peer in clientThrottle().
    */
    void setClientToken(const QByteArray &token);
    AuthThrottle &clientThrottle() { return m_clientThrottle; }
    void setDeflate(const DeflateSettings &settings) { m_deflate = settings; }
    const DeflateSettings &deflate() const { return m_deflate; }
    /*! Whether connections are TLS (for the same-origin check and Qt's wss:// URL). */
    void setSecure(bool secure) { m_secure = secure; }

    /*!
        Decides the upgrade request in \a conn. On refusal \a conn carries the
        error response and nullopt is returned; on acceptance \a conn's status
        is 101 (for the access log) and the decision is returned.
    */
    std::optional<Accepted> decide(Conn &conn);
    /*!
        Carries out an accepted upgrade on \a connection (see the class); the
        session is made on \a host, which runs on the connection's thread.
    */
    void handOver(Connection *connection, Accepted accepted, SessionHost *host);

    /*! The subprotocols in \a values (every `Sec-WebSocket-Protocol` field); nullopt if malformed. */
    static std::optional<QList<QByteArray>> parseProtocols(const QList<QByteArray> &values);
    /*! \a head (a response head ending in an empty line) with \a field added before the end. */
    static QByteArray withField(const QByteArray &head, const QByteArray &field);

private:
    /*! Whether \a conn carries the client token; \a offered: whether it carries one at all. */
    static bool hasClientToken(const Conn &conn, const QByteArray &token, bool *offered);

    Hub *m_hub;
    QHash<QByteArray, HandlerFactory> m_endpoints;
    std::mutex m_mutex; // guards the two a reload changes while workers read them
    OriginPolicy m_originPolicy;
    QByteArray m_clientToken;
    AuthThrottle m_clientThrottle{QByteArrayLiteral("client token")};
    DeflateSettings m_deflate;
    bool m_secure = false;
};

} // namespace Switchboard
