// TLS on the one port: HTTPS and WSS with a certificate made at test time by
// `openssl`, plain HTTP on the TLS port dropped, and clear errors for bad files.

#include "net/tls.h"

#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QSslSocket>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace TestUtil;

class tst_Tls : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_cert;
    QString m_key;
    QString m_otherKey;

private slots:
    void initTestCase()
    {
        quietLogs();
        QVERIFY2(QSslSocket::supportsSsl(), "Qt has no TLS backend");
        QVERIFY(m_dir.isValid());
        m_cert = m_dir.filePath(QStringLiteral("cert.pem"));
        m_key = m_dir.filePath(QStringLiteral("key.pem"));
        m_otherKey = m_dir.filePath(QStringLiteral("other-key.pem"));
        QVERIFY2(makeCertificate(m_cert, m_key), "openssl could not make a certificate");
        QVERIFY(makeCertificate(m_dir.filePath(QStringLiteral("other-cert.pem")), m_otherKey));
    }

    void loadsAMatchingPair()
    {
        QString error;
        const auto configuration = loadTlsConfiguration(m_cert, m_key, &error);
        QVERIFY2(configuration, qPrintable(error));
        QVERIFY(!configuration->localCertificate().isNull());
    }

    void refusesBadFiles_data()
    {
        QTest::addColumn<QString>("cert");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("missing certificate") << QStringLiteral("/nonexistent/cert.pem") << QString()
                                             << QStringLiteral("cannot read the TLS certificate");
        QTest::newRow("missing key") << QString() << QStringLiteral("/nonexistent/key.pem")
                                     << QStringLiteral("cannot read the TLS key");
        QTest::newRow("key is not a key") << QString() << QStringLiteral("CERT")
                                          << QStringLiteral("no unencrypted PEM private key");
        QTest::newRow("certificate is not one")
                << QStringLiteral("KEY") << QString() << QStringLiteral("no PEM certificate");
        QTest::newRow("key of another certificate")
                << QString() << QStringLiteral("OTHER")
                << QStringLiteral("does not belong to the certificate");
    }

    void refusesBadFiles()
    {
        QFETCH(QString, cert);
        QFETCH(QString, key);
        QFETCH(QString, mentions);
        const auto resolve = [this](const QString &path, const QString &fallback) {
            if (path == u"CERT")
                return m_cert;
            if (path == u"KEY")
                return m_key;
            if (path == u"OTHER")
                return m_otherKey;
            return path.isEmpty() ? fallback : path;
        };
        QString error;
        QVERIFY(!loadTlsConfiguration(resolve(cert, m_cert), resolve(key, m_key), &error));
        QVERIFY2(error.contains(mentions), qPrintable(error));
    }

    void httpsAndWssOnOnePort()
    {
        QString error;
        const auto configuration = loadTlsConfiguration(m_cert, m_key, &error);
        QVERIFY2(configuration, qPrintable(error));
        Hub hub(quietSettings());
        Server server(&hub);
        ServerConfig config;
        config.adminToken = kToken;
        installDefaults(server, config);
        server.setTlsConfiguration(*configuration);
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        QVERIFY(server.httpUrl().startsWith(u"https://"));
        QVERIFY(server.webSocketUrl().startsWith(u"wss://"));

        // HTTPS
        QSslSocket https;
        https.setPeerVerifyMode(QSslSocket::VerifyNone);
        QByteArray received;
        connect(&https, &QSslSocket::readyRead, &https, [&] { received += https.readAll(); });
        https.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort());
        QTRY_VERIFY(https.isEncrypted());
        https.write("GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        QTRY_VERIFY(parseResponse(received).complete);
        QCOMPARE(parseResponse(received).status, 200);
        QCOMPARE(parseResponse(received).json().value(QStringLiteral("status")).toString(),
                 QStringLiteral("ok"));

        // WSS, with a certificate the client is told to trust
        QWebSocket wss;
        QSslConfiguration clientTls = QSslConfiguration::defaultConfiguration();
        clientTls.setCaCertificates({configuration->localCertificate()});
        wss.setSslConfiguration(clientTls);
        QStringList texts;
        connect(&wss, &QWebSocket::textMessageReceived, &wss,
                [&](const QString &t) { texts << t; });
        wss.open(QUrl(QStringLiteral("wss://localhost:%1/ws").arg(server.serverPort())));
        QTRY_COMPARE(texts.size(), 1);
        QCOMPARE(texts.first(), QStringLiteral("start"));
        wss.sendTextMessage(QStringLiteral("secret echo"));
        QTRY_COMPARE(texts.size(), 2);
        QCOMPARE(texts.at(1), QStringLiteral("secret echo"));

        // Plain HTTP on the TLS port: dropped, no HTTP answer, and the WSS client is fine.
        bool closed = false;
        const HttpResponse plain = rawRequest(
                server.serverPort(), "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n", false, &closed);
        QVERIFY(closed);
        QCOMPARE(plain.status, 0);
        QVERIFY(!plain.raw.contains("HTTP/1.1"));
        wss.sendTextMessage(QStringLiteral("still fine"));
        QTRY_COMPARE(texts.size(), 3);
        QCOMPARE(hub.count(), 1);
    }
};

QTEST_GUILESS_MAIN(tst_Tls)
#include "tst_tls.moc"
