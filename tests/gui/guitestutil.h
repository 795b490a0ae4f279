#pragma once

// Shared by the GUI tests: a real Server + Hub on 127.0.0.1, port 0, wired
// like main() does, and a QWebSocket client that records what it receives.
// The server runs in the test's thread, so every wait spins the event loop.

#include "config.h"
#include "hub.h"
#include "routes.h"
#include "server.h"

#include <QtTest/QTest>
#include <QtWebSockets/QWebSocket>

namespace GuiTest {

/*! A Server + Hub with the standard routes, not yet listening. */
struct TestServer
{
    TestServer() : server(&hub)
    {
        Switchboard::ServerConfig config;
        config.adminToken = QByteArrayLiteral("test-token");
        Switchboard::installDefaults(server, config);
    }

    bool listen() { return server.listen(QHostAddress(QHostAddress::LocalHost), 0); }
    QString url(const QString &path = QStringLiteral("/ws")) const
    {
        return QStringLiteral("ws://127.0.0.1:%1%2").arg(server.serverPort()).arg(path);
    }

    Switchboard::Hub hub; // declared first: the server refers to it
    Switchboard::Server server;
};

/*! A WebSocket client that records every message and how it was closed. */
class Client
{
public:
    explicit Client(const QString &url)
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &text) { texts.append(text); });
        QObject::connect(&socket, &QWebSocket::binaryMessageReceived, &socket,
                         [this](const QByteArray &data) { binaries.append(data); });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket, [this] {
            closed = true;
            closeCode = int(socket.closeCode());
        });
        socket.open(QUrl(url));
    }

    /*! Waits for the server's `start` greeting, i.e. the session exists. */
    bool waitGreeted(int timeoutMs = 5000)
    {
        return QTest::qWaitFor([this] { return !texts.isEmpty() || closed; }, timeoutMs)
                && texts.value(0) == u"start";
    }

    /*! The id the hub gave this client's session, matched by port; 0 if none. */
    quint64 sessionId(const Switchboard::Hub &hub) const
    {
        const auto sessions = hub.sessions();
        for (const auto &info : sessions) {
            if (info.peerPort == socket.localPort())
                return info.id;
        }
        return 0;
    }

    QWebSocket socket;
    QStringList texts;
    QList<QByteArray> binaries;
    bool closed = false;
    int closeCode = -1;
};

} // namespace GuiTest
