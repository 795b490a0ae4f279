#pragma once

// A running Switchboard (Hub + Server with the standard routes, like main()
// builds it) on 127.0.0.1 and a free port, for network tests.

#include "config.h"
#include "websocket/hub.h"
#include "routes.h"
#include "http/server.h"

#include <QtCore/QLoggingCategory>
#include <QtNetwork/QTcpSocket>

namespace TestUtil {

inline const QByteArray kToken = "test-token";
inline const QList<std::pair<QByteArray, QByteArray>> kAdmin{
        {"Authorization", "Bearer test-token"}};

/*! Hub settings without heartbeat noise, unless a test asks for it. */
inline Switchboard::HubSettings quietSettings()
{
    using namespace std::chrono_literals;
    Switchboard::HubSettings s;
    s.pingInterval = 0ms;
    s.idleTimeout = 0ms;
    return s;
}

struct Fixture
{
    explicit Fixture(Switchboard::HubSettings settings = quietSettings(), QStringList origins = {},
                     Switchboard::HttpLimits limits = {}, Switchboard::DeflateSettings deflate = {})
        : hub(settings), server(&hub)
    {
        config.hub = settings;
        config.http = limits;
        config.deflate = deflate;
        config.adminToken = kToken;
        config.allowedOrigins = origins;
        Switchboard::installDefaults(server, config);
        listening = server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return server.serverPort(); }
    QString url(const QString &path = QStringLiteral("/ws")) const
    {
        return QStringLiteral("ws://127.0.0.1:%1%2").arg(port()).arg(path);
    }

    Switchboard::ServerConfig config;
    Switchboard::Hub hub;
    Switchboard::Server server;
    bool listening = false;
};

inline QByteArray upgradeRequest(const QByteArray &path, quint16 port, const QByteArray &extra = {})
{
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(port)
            + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + extra + "\r\n";
}

/*!
    Opens a /ws session on \a socket that then stops reading: the socket
    buffers at most 1 KiB, the rest stays in the kernel and the server. False
    if it could not connect.
*/
inline bool openStalledSession(QTcpSocket &socket, quint16 port)
{
    socket.setReadBufferSize(1024);
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!socket.waitForConnected(5000))
        return false;
    socket.write(upgradeRequest("/ws", port));
    return true;
}

/*! Logs only warnings and up. */
inline void quietLogs()
{
    QLoggingCategory::setFilterRules(QStringLiteral("switchboard.*.info=false"));
}

} // namespace TestUtil
