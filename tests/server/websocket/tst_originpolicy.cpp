#include "websocket/originpolicy.h"

#include <QtTest/QTest>

using namespace Switchboard;

class tst_OriginPolicy : public QObject
{
    Q_OBJECT

private slots:
    void allows_data()
    {
        QTest::addColumn<QStringList>("allowed");
        QTest::addColumn<QByteArray>("origin");
        QTest::addColumn<QByteArray>("host");
        QTest::addColumn<bool>("expected");

        const QStringList none;
        QTest::newRow("no origin header")
                << none << QByteArray() << QByteArray("127.0.0.1:4040") << true;
        QTest::newRow("same origin") << none << QByteArray("http://127.0.0.1:4040")
                                     << QByteArray("127.0.0.1:4040") << true;
        QTest::newRow("same origin, host case") << none << QByteArray("http://LocalHost:4040")
                                                << QByteArray("localhost:4040") << true;
        QTest::newRow("default port")
                << none << QByteArray("http://example.com") << QByteArray("example.com") << true;
        QTest::newRow("other port") << none << QByteArray("http://127.0.0.1:3000")
                                    << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("other host") << none << QByteArray("http://evil.example:4040")
                                    << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("null origin")
                << none << QByteArray("null") << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("garbage origin")
                << none << QByteArray("::::") << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("no host header")
                << none << QByteArray("http://127.0.0.1:4040") << QByteArray() << false;
        QTest::newRow("ipv6 same origin")
                << none << QByteArray("http://[::1]:4040") << QByteArray("[::1]:4040") << true;

        const QStringList dev{QStringLiteral("http://localhost:3000")};
        QTest::newRow("listed") << dev << QByteArray("http://localhost:3000")
                                << QByteArray("127.0.0.1:4040") << true;
        QTest::newRow("listed, other port") << dev << QByteArray("http://localhost:3001")
                                            << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("listed, other scheme") << dev << QByteArray("https://localhost:3000")
                                              << QByteArray("127.0.0.1:4040") << false;
        QTest::newRow("list keeps same origin") << dev << QByteArray("http://127.0.0.1:4040")
                                                << QByteArray("127.0.0.1:4040") << true;
        const QStringList any{QStringLiteral("*")};
        QTest::newRow("wildcard") << any << QByteArray("http://evil.example") << QByteArray("x:1")
                                  << true;
        QTest::newRow("wildcard, null") << any << QByteArray("null") << QByteArray("x:1") << true;
    }

    void allows()
    {
        QFETCH(QStringList, allowed);
        QFETCH(QByteArray, origin);
        QFETCH(QByteArray, host);
        QFETCH(bool, expected);
        QCOMPARE(OriginPolicy(allowed).allows(origin, host), expected);
    }

    void normalize_data()
    {
        QTest::addColumn<QString>("origin");
        QTest::addColumn<QString>("expected"); // empty = rejected
        QTest::newRow("http default")
                << QStringLiteral("http://Example.com") << QStringLiteral("http://example.com:80");
        QTest::newRow("https default") << QStringLiteral("https://example.com")
                                       << QStringLiteral("https://example.com:443");
        QTest::newRow("explicit port")
                << QStringLiteral("http://a:3000") << QStringLiteral("http://a:3000");
        QTest::newRow("slash ok") << QStringLiteral("http://a:3000/")
                                  << QStringLiteral("http://a:3000");
        QTest::newRow("path") << QStringLiteral("http://a/x") << QString();
        QTest::newRow("ftp") << QStringLiteral("ftp://a") << QString();
        QTest::newRow("no scheme") << QStringLiteral("localhost:3000") << QString();
        QTest::newRow("userinfo") << QStringLiteral("http://u@a") << QString();
        QTest::newRow("query") << QStringLiteral("http://a?x") << QString();
    }

    void normalize()
    {
        QFETCH(QString, origin);
        QFETCH(QString, expected);
        QCOMPARE(OriginPolicy::normalize(origin).value_or(QString()), expected);
    }
};

QTEST_GUILESS_MAIN(tst_OriginPolicy)
#include "tst_originpolicy.moc"
