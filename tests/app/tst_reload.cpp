#include "config.h"
#include "http/server.h"
#include "net/tls.h"
#include "reload.h"
#include "routes.h"
#include "serverfixture.h"
#include "testutil.h"
#include "websocket/hub.h"

#include <QtCore/QTemporaryDir>
#include <QtNetwork/QSslSocket>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace TestUtil;

namespace {

/*! The configuration \a text says, read from a file as at start-up and at SIGHUP. */
CommandLine fromFile(const QTemporaryDir &dir, const QByteArray &text)
{
    const QString path = dir.filePath(QStringLiteral("switchboard.conf"));
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(text) != text.size())
        qFatal("cannot write %s", qPrintable(path));
    file.close();
    return parseCommandLine({QStringLiteral("switchboard"), QStringLiteral("--config"), path},
                            QProcessEnvironment());
}

/*! The server as main() builds it from \a config, not yet listening. */
struct Running
{
    explicit Running(const ServerConfig &config)
        : hub(quietSettings()), server(&hub), tokens(installDefaults(server, config).tokens)
    {
    }
    Hub hub;
    Server server;
    std::shared_ptr<AdminTokens> tokens;
};

int adminStatus(quint16 port, const QByteArray &token)
{
    return request(port, "GET", "/api/connections", {{"Authorization", "Bearer " + token}}).status;
}

} // namespace

class tst_Reload : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { quietLogs(); }

    void appliesWhatCanChangeAndKeepsTheRest()
    {
        QTemporaryDir dir;
        CommandLine running = fromFile(dir, "port = 0\nadmin-token = first-token\n");
        QCOMPARE(running.action, CommandLine::Action::Run);
        Running app(running.config);
        Server &server = app.server;
        AdminTokens &tokens = *app.tokens;
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        QCOMPARE(adminStatus(server.serverPort(), "first-token"), 200);

        const CommandLine next = fromFile(dir,
                                          "port = 4999\n"
                                          "admin-token = second-token\n"
                                          "log-level = warning\n");
        const ReloadResult result = applyReload(server, tokens, running, next);
        QCOMPARE(result.applied,
                 QStringList({QStringLiteral("admin-token"), QStringLiteral("log-level")}));
        QCOMPARE(result.needRestart, QStringList{QStringLiteral("port")});
        QCOMPARE(adminStatus(server.serverPort(), "first-token"), 401);
        QCOMPARE(adminStatus(server.serverPort(), "second-token"), 200);

        // The port still waits for a restart, so the next reload says so again.
        const ReloadResult again = applyReload(server, tokens, running, next);
        QVERIFY(again.applied.isEmpty());
        QCOMPARE(again.needRestart, QStringList{QStringLiteral("port")});
        applyLogLevel(QStringLiteral("warning"));
    }

    void keepsTheGeneratedAdminToken()
    {
        QTemporaryDir dir;
        CommandLine running = fromFile(dir, "port = 0\n");
        QVERIFY(running.config.adminTokenGenerated);
        const QByteArray generated = running.config.adminToken;
        Running app(running.config);
        Server &server = app.server;
        AdminTokens &tokens = *app.tokens;
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const CommandLine next = fromFile(dir, "port = 0\nallowed-origin = http://a.example\n");
        QVERIFY(next.config.adminToken != generated); // a new one was made for "next"...
        const ReloadResult result = applyReload(server, tokens, running, next);
        QCOMPARE(result.applied, QStringList{QStringLiteral("allowed-origin")});
        // ...but the operator was given the first, which keeps working.
        QCOMPARE(adminStatus(server.serverPort(), generated), 200);
        QCOMPARE(running.config.adminToken, generated);
    }

    void allowedOriginsAndClientTokenApplyToNewUpgrades()
    {
        QTemporaryDir dir;
        CommandLine running = fromFile(dir, "port = 0\nadmin-token = t\n");
        Running app(running.config);
        Server &server = app.server;
        AdminTokens &tokens = *app.tokens;
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const quint16 port = server.serverPort();
        const auto upgrade = [port](const QByteArray &extra) {
            return rawRequest(port, upgradeRequest("/ws", port, extra)).status;
        };
        QCOMPARE(upgrade("Origin: http://a.example\r\n"), 403); // same-origin only by default
        applyReload(server, tokens, running,
                    fromFile(dir,
                             "port = 0\nadmin-token = t\nallowed-origin = http://a.example\n"
                             "client-token = client-secret\n"));
        QCOMPARE(upgrade("Origin: http://a.example\r\n"), 401); // allowed now, but no token
        QCOMPARE(upgrade("Origin: http://a.example\r\nAuthorization: Bearer client-secret\r\n"),
                 101);
    }

    void aRenewedCertificateIsServedAfterTheReload()
    {
        QTemporaryDir dir;
        const QString cert = dir.filePath(QStringLiteral("cert.pem"));
        const QString key = dir.filePath(QStringLiteral("key.pem"));
        QVERIFY(makeCertificate(cert, key));
        const QByteArray tls = "tls-cert = cert.pem\ntls-key = key.pem\n";
        CommandLine running = fromFile(dir, "port = 0\nadmin-token = t\n" + tls);
        QVERIFY2(running.action == CommandLine::Action::Run, qPrintable(running.text));
        Running app(running.config);
        Server &server = app.server;
        AdminTokens &tokens = *app.tokens;
        QString error;
        server.setTlsConfiguration(*loadTlsConfiguration(cert, key, &error));
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const auto servedCertificate = [&] {
            QSslSocket socket;
            socket.setPeerVerifyMode(QSslSocket::VerifyNone);
            socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());
            // The server runs on this thread: wait with the event loop running.
            return QTest::qWaitFor([&] { return socket.isEncrypted(); }, 10000)
                    ? socket.peerCertificate()
                    : QSslCertificate();
        };
        const QSslCertificate first = servedCertificate();
        QVERIFY(!first.isNull());

        // certbot renews in place: same names, new files, then a reload.
        QVERIFY(makeCertificate(cert, key));
        const ReloadResult result = applyReload(server, tokens, running,
                                                fromFile(dir, "port = 0\nadmin-token = t\n" + tls));
        QVERIFY(result.needRestart.isEmpty());
        const QSslCertificate second = servedCertificate();
        QVERIFY(!second.isNull());
        QVERIFY(second != first);
        QCOMPARE(second, loadTlsConfiguration(cert, key, &error)->localCertificate());
    }

    void turningTlsOnWaitsForARestart()
    {
        QTemporaryDir dir;
        CommandLine running = fromFile(dir, "port = 0\nadmin-token = t\n");
        Running app(running.config);
        Server &server = app.server;
        AdminTokens &tokens = *app.tokens;
        // The files need not exist: turning TLS on is refused before they are read.
        const CommandLine next = fromFile(dir,
                                          "port = 0\nadmin-token = t\ntls-cert = c.pem\n"
                                          "tls-key = k.pem\n");
        const ReloadResult result = applyReload(server, tokens, running, next);
        QCOMPARE(result.needRestart,
                 QStringList({QStringLiteral("tls-cert"), QStringLiteral("tls-key")}));
        QVERIFY(!server.isTls());
        QVERIFY(running.config.tlsCertificate.isEmpty());
    }
};

QTEST_GUILESS_MAIN(tst_Reload)
#include "tst_reload.moc"
