#include "http/plugs.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtTest/QTest>

#include "connutil.h"

using namespace Switchboard;
using TestUtil::makeConn;

namespace {

QStringList g_messages;

void captureMessages(QtMsgType, const QMessageLogContext &context, const QString &message)
{
    g_messages << QString::fromLatin1(context.category) + u' ' + message;
}

} // namespace

class tst_Plugs : public QObject
{
    Q_OBJECT

private slots:
    void requestIdEchoesValidIds_data()
    {
        QTest::addColumn<QByteArray>("given");
        QTest::addColumn<bool>("echoed");
        QTest::newRow("none") << QByteArray() << false;
        QTest::newRow("simple") << QByteArray("abc-123") << true;
        QTest::newRow("uuid") << QByteArray("3f2b8c1e-7d4a-4e0b-9a51-2c6e8f0d1b7a") << true;
        QTest::newRow("dots colons") << QByteArray("svc.a:1_2") << true;
        QTest::newRow("space") << QByteArray("a b") << false;
        QTest::newRow("newline injection") << QByteArray("a\r\nset-cookie: x") << false;
        QTest::newRow("too long") << QByteArray(201, 'a') << false;
        QTest::newRow("max length") << QByteArray(200, 'a') << true;
    }

    void requestIdEchoesValidIds()
    {
        QFETCH(QByteArray, given);
        QFETCH(bool, echoed);
        HeaderList headers;
        if (!given.isNull())
            headers.append({"x-request-id", given});
        Conn conn = makeConn("GET", "/", headers);
        Plugs::requestId()(conn);
        QVERIFY(!conn.requestId.isEmpty());
        QCOMPARE(conn.respHeader("x-request-id"), conn.requestId);
        QCOMPARE(conn.requestId == given, echoed);
        QVERIFY(Plugs::isValidRequestId(conn.requestId));
    }

    void generatedRequestIdsDiffer()
    {
        Conn a = makeConn("GET", "/");
        Conn b = makeConn("GET", "/");
        Plugs::requestId()(a);
        Plugs::requestId()(b);
        QVERIFY(a.requestId != b.requestId);
        QVERIFY(a.requestId.size() >= 16);
    }

    void accessLogWritesOneLine()
    {
        g_messages.clear();
        QLoggingCategory::setFilterRules(QStringLiteral("switchboard.http.info=true"));
        const auto previous = qInstallMessageHandler(captureMessages);
        Conn conn = makeConn("POST", "/api/broadcast");
        conn.requestId = "rid-7";
        Plugs::accessLog()(conn);
        QVERIFY(g_messages.isEmpty()); // logged when the response is ready, not before
        conn.status = 201;
        conn.runBeforeSend();
        qInstallMessageHandler(previous);
        QCOMPARE(g_messages.size(), 1);
        const QString line = g_messages.first();
        QVERIFY2(line.startsWith(u"switchboard.http POST /api/broadcast -> 201 in "),
                 qPrintable(line));
        QVERIFY2(line.contains(u" ms (request id rid-7)"), qPrintable(line));
    }

    void jsonBody_data()
    {
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status"); // 0 = passes through
        QTest::addColumn<bool>("parsed");
        QTest::newRow("object") << QByteArray("application/json") << QByteArray(R"({"text":"hi"})")
                                << 0 << true;
        QTest::newRow("array") << QByteArray("application/json; charset=utf-8")
                               << QByteArray("[1,2]") << 0 << true;
        QTest::newRow("+json") << QByteArray("application/problem+json") << QByteArray("{}") << 0
                               << true;
        QTest::newRow("malformed")
                << QByteArray("application/json") << QByteArray(R"({"text":)") << 400 << false;
        QTest::newRow("trailing garbage")
                << QByteArray("application/json") << QByteArray("{} x") << 400 << false;
        QTest::newRow("bare scalar")
                << QByteArray("application/json") << QByteArray("42") << 400 << false;
        QTest::newRow("empty body") << QByteArray("application/json") << QByteArray() << 0 << false;
        QTest::newRow("not json") << QByteArray("text/plain") << QByteArray("{oops") << 0 << false;
    }

    void jsonBody()
    {
        QFETCH(QByteArray, contentType);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(bool, parsed);
        Conn conn = makeConn("POST", "/x", {{"content-type", contentType}}, body);
        Plugs::jsonBody()(conn);
        QCOMPARE(conn.status, status);
        QCOMPARE(conn.halted, status != 0);
        QCOMPARE(!conn.bodyJson.isUndefined(), parsed);
        if (status == 400) {
            QCOMPARE(conn.respHeader("content-type"), QByteArray("application/json"));
            const QJsonObject error = QJsonDocument::fromJson(conn.respBody)
                                              .object()
                                              .value(QStringLiteral("error"))
                                              .toObject();
            QCOMPARE(error.value(QStringLiteral("status")).toInt(), 400);
            QVERIFY(error.value(QStringLiteral("message"))
                            .toString()
                            .startsWith(u"malformed JSON"));
        }
    }

    void adminAuth_data()
    {
        QTest::addColumn<QByteArray>("authorization");
        QTest::addColumn<bool>("allowed");
        QTest::addColumn<QByteArray>("challenge");
        QTest::newRow("missing") << QByteArray() << false
                                 << QByteArray(R"(Bearer realm="switchboard")");
        QTest::newRow("right") << QByteArray("Bearer s3cret") << true << QByteArray();
        QTest::newRow("scheme case") << QByteArray("bearer s3cret") << true << QByteArray();
        QTest::newRow("wrong") << QByteArray("Bearer s3cre") << false
                               << QByteArray(
                                          R"(Bearer realm="switchboard", error="invalid_token")");
        QTest::newRow("longer") << QByteArray("Bearer s3cret2") << false
                                << QByteArray(
                                           R"(Bearer realm="switchboard", error="invalid_token")");
        QTest::newRow("basic") << QByteArray("Basic czNjcmV0") << false
                               << QByteArray(R"(Bearer realm="switchboard")");
        QTest::newRow("bearer only")
                << QByteArray("Bearer ") << false << QByteArray(R"(Bearer realm="switchboard")");
    }

    void adminAuth()
    {
        QFETCH(QByteArray, authorization);
        QFETCH(bool, allowed);
        QFETCH(QByteArray, challenge);
        HeaderList headers;
        if (!authorization.isNull())
            headers.append({"authorization", authorization});
        Conn conn = makeConn("GET", "/api/connections", headers);
        Plugs::adminAuth([] { return QByteArray("s3cret"); })(conn);
        QCOMPARE(conn.halted, !allowed);
        QCOMPARE(conn.status, allowed ? 0 : 401);
        QCOMPARE(conn.respHeader("www-authenticate"), challenge);
    }

    void adminAuthRefusesEverythingWithoutAToken()
    {
        Conn conn = makeConn("GET", "/", {{"authorization", "Bearer "}});
        Plugs::adminAuth([] { return QByteArray(); })(conn);
        QCOMPARE(conn.status, 401);
    }

    void adminAuthThrottlesWrongTokens()
    {
        // Only counted wrong tokens lead to 429; then even the right one gets 429, until
        // the bucket has leaked one (6 s on the throttle's clock).
        qint64 now = 0;
        AuthThrottle throttle(QByteArrayLiteral("admin token"));
        throttle.setClock([&now] { return now; });
        const Plug auth = Plugs::adminAuth([] { return QByteArray("s3cret"); }, &throttle);
        const auto run = [&auth](const QByteArray &authorization) {
            HeaderList headers;
            if (!authorization.isNull())
                headers.append({"authorization", authorization});
            Conn conn = makeConn("GET", "/api/connections", headers);
            conn.peerAddress = QHostAddress(QStringLiteral("192.0.2.7"));
            auth(conn);
            return conn;
        };
        const QtMessageHandler previous = qInstallMessageHandler(captureMessages);
        g_messages.clear();
        for (int i = 0; i < 20; ++i)
            QCOMPARE(run({}).status, 401); // without a token: nothing guessed, not counted
        for (int i = 0; i < 10; ++i)
            QCOMPARE(run("Bearer guess").status, 401);
        const Conn refused = run("Bearer s3cret");
        QCOMPARE(refused.status, 429);
        QVERIFY(refused.halted);
        QCOMPARE(refused.respHeader("retry-after"), QByteArray("6"));
        QCOMPARE(run("Bearer guess").status, 429);
        now += 6'000;
        QCOMPARE(run("Bearer s3cret").status, 0); // through
        QCOMPARE(run("Bearer s3cret").status, 0); // a right token costs nothing
        QCOMPARE(run("Bearer guess").status, 401); // the one try the wait earned
        QCOMPARE(run("Bearer s3cret").status, 429);
        qInstallMessageHandler(previous);
        // One line each time the peer is made to wait, without the tokens.
        QCOMPARE(g_messages.size(), 2);
        QVERIFY2(g_messages.first().startsWith(
                         u"switchboard.http too many wrong admin tokens from 192.0.2.7"),
                 qPrintable(g_messages.first()));
        for (const QString &line : std::as_const(g_messages))
            QVERIFY(!line.contains(u"s3cret") && !line.contains(u"guess"));
    }

    void constantTimeEquals()
    {
        QVERIFY(Plugs::constantTimeEquals("abc", "abc"));
        QVERIFY(Plugs::constantTimeEquals("", ""));
        QVERIFY(!Plugs::constantTimeEquals("abc", "abd"));
        QVERIFY(!Plugs::constantTimeEquals("abc", "abcd"));
        QVERIFY(!Plugs::constantTimeEquals("abc", ""));
        QVERIFY(!Plugs::constantTimeEquals(QByteArray("a\0b", 3), QByteArray("a\0c", 3)));
    }
};

QTEST_GUILESS_MAIN(tst_Plugs)
#include "tst_plugs.moc"
