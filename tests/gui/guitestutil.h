#pragma once

// Shared by the GUI tests: a real Server + Hub on 127.0.0.1, port 0, wired
// like main() does, and a QWebSocket client that records what it receives.
// The server runs in the test's thread, so every wait spins the event loop.

#include "config.h"
#include "websocket/hub.h"
#include "routes.h"
#include "http/server.h"
#include "testutil.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QSettings>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>
#include <QtWidgets/QApplication>
#include <QtWebSockets/QWebSocket>

namespace GuiTest {

/*! The widget called \a name under \a root; a missing one ends the test run. */
template<typename T> T *child(const QObject *root, const char *name)
{
    auto *widget = root->findChild<T *>(QString::fromLatin1(name));
    if (!widget)
        qFatal("no child named %s", name);
    return widget;
}

/*!
    Keeps the console's QSettings in \a dir, away from the user's own, and lets a
    test close windows without quitting its application.
*/
inline void isolateSettings(const QTemporaryDir &dir, const QString &applicationName)
{
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, dir.path());
    QCoreApplication::setOrganizationName(QStringLiteral("SwitchboardTests"));
    QCoreApplication::setApplicationName(applicationName);
    QApplication::setQuitOnLastWindowClosed(false);
}

/*! A Server + Hub with the standard routes, not yet listening. */
struct TestServer
{
    explicit TestServer(Switchboard::HubSettings settings = {}) : hub(settings), server(&hub)
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

/*! The shared recording client, plus the hub's id for its session. */
class Client : public TestUtil::Client
{
public:
    using TestUtil::Client::Client;

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
};

} // namespace GuiTest
