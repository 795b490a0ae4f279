#include "http/router.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtTest/QTest>

#include "connutil.h"

using namespace Switchboard;
using TestUtil::makeConn;

class tst_Router : public QObject
{
    Q_OBJECT

private:
    static Router sampleRouter()
    {
        Router router;
        router.get(QStringLiteral("/"), [](Conn &c) { c.send(200, "root", "text/plain"); });
        router.get(QStringLiteral("/api/health"), [](Conn &c) { c.send(200, "ok", "text/plain"); });
        router.get(QStringLiteral("/api/connections/:id"), [](Conn &c) {
            c.send(200, "get " + c.pathParams.value(QStringLiteral("id")).toUtf8(), "text/plain");
        });
        router.del(QStringLiteral("/api/connections/:id"), [](Conn &c) {
            c.send(200, "del " + c.pathParams.value(QStringLiteral("id")).toUtf8(), "text/plain");
        });
        router.post(QStringLiteral("/api/connections/:id/send"), [](Conn &c) {
            c.send(200, "send " + c.pathParams.value(QStringLiteral("id")).toUtf8(), "text/plain");
        });
        router.get(QStringLiteral("/files/*path"), [](Conn &c) {
            c.send(200, "file " + c.pathParams.value(QStringLiteral("path")).toUtf8(),
                   "text/plain");
        });
        return router;
    }

private slots:
    void matches_data()
    {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("body");

        QTest::newRow("root") << QByteArray("GET") << QByteArray("/") << 200 << QByteArray("root");
        QTest::newRow("literal") << QByteArray("GET") << QByteArray("/api/health") << 200
                                 << QByteArray("ok");
        QTest::newRow("param") << QByteArray("GET") << QByteArray("/api/connections/42") << 200
                               << QByteArray("get 42");
        QTest::newRow("param decoded") << QByteArray("GET") << QByteArray("/api/connections/a%20b")
                                       << 200 << QByteArray("get a b");
        QTest::newRow("encoded slash stays in param")
                << QByteArray("GET") << QByteArray("/api/connections/a%2Fb") << 200
                << QByteArray("get a/b");
        QTest::newRow("same path other method")
                << QByteArray("DELETE") << QByteArray("/api/connections/7") << 200
                << QByteArray("del 7");
        QTest::newRow("param mid-path")
                << QByteArray("POST") << QByteArray("/api/connections/9/send") << 200
                << QByteArray("send 9");
        QTest::newRow("rest") << QByteArray("GET") << QByteArray("/files/a/b/c.txt") << 200
                              << QByteArray("file a/b/c.txt");
        QTest::newRow("rest empty")
                << QByteArray("GET") << QByteArray("/files") << 200 << QByteArray("file ");
        QTest::newRow("unknown") << QByteArray("GET") << QByteArray("/nope") << 404 << QByteArray();
        QTest::newRow("trailing slash is another path")
                << QByteArray("GET") << QByteArray("/api/health/") << 404 << QByteArray();
        QTest::newRow("empty param does not match")
                << QByteArray("GET") << QByteArray("/api/connections/") << 404 << QByteArray();
        QTest::newRow("too long") << QByteArray("GET") << QByteArray("/api/health/x") << 404
                                  << QByteArray();
        QTest::newRow("wrong method")
                << QByteArray("POST") << QByteArray("/api/health") << 405 << QByteArray();
    }

    void matches()
    {
        QFETCH(QByteArray, method);
        QFETCH(QByteArray, path);
        QFETCH(int, status);
        QFETCH(QByteArray, body);

        const Router router = sampleRouter();
        Conn conn = makeConn(method, path);
        router.call(conn);
        QCOMPARE(conn.status, status);
        if (status == 200)
            QCOMPARE(conn.respBody, body);
        else
            QCOMPARE(QJsonDocument::fromJson(conn.respBody)
                             .object()
                             .value(QStringLiteral("error"))
                             .toObject()
                             .value(QStringLiteral("status"))
                             .toInt(),
                     status);
    }

    void methodNotAllowedListsAllow()
    {
        const Router router = sampleRouter();
        Conn conn = makeConn("PUT", "/api/connections/3");
        router.call(conn);
        QCOMPARE(conn.status, 405);
        QCOMPARE(conn.respHeader("allow"), QByteArray("DELETE, GET, HEAD"));
        QCOMPARE(conn.respHeader("content-type"), QByteArray("application/json"));
    }

    void headUsesGetRouteWithoutBody()
    {
        const Router router = sampleRouter();
        Conn conn = makeConn("HEAD", "/api/health");
        router.call(conn);
        QCOMPARE(conn.status, 200);
        const QByteArray wire = conn.serializeResponse(false);
        QVERIFY(wire.startsWith("HTTP/1.1 200 OK\r\n"));
        QVERIFY2(wire.contains("content-length: 2\r\n"), wire.constData());
        QVERIFY(wire.endsWith("\r\n\r\n")); // headers only

        Conn get = makeConn("GET", "/api/health");
        router.call(get);
        QVERIFY(get.serializeResponse(false).endsWith("\r\n\r\nok"));
    }

    void explicitHeadRouteWins()
    {
        Router router = sampleRouter();
        router.addRoute("HEAD", QStringLiteral("/api/health"),
                        [](Conn &c) { c.send(204, {}, {}); });
        Conn conn = makeConn("HEAD", "/api/health");
        router.call(conn);
        QCOMPARE(conn.status, 204);
    }

    void routePlugsRunAndCanHalt()
    {
        Router router;
        bool handlerRan = false;
        const Plug deny = [](Conn &c) {
            c.sendError(401, QStringLiteral("no")).halt();
        };
        const Plug tag = [](Conn &c) {
            c.assigns.insert(QStringLiteral("tag"), 1);
        };
        router.get(QStringLiteral("/open"),
                   [&](Conn &c) {
                       handlerRan = true;
                       c.send(200,
                              QByteArray::number(c.assigns.value(QStringLiteral("tag")).toInt()),
                              {});
                   },
                   {tag});
        router.get(QStringLiteral("/closed"),
                   [&](Conn &c) {
                       handlerRan = true;
                       c.send(200, {}, {});
                   },
                   {deny});

        Conn open = makeConn("GET", "/open");
        router.call(open);
        QCOMPARE(open.status, 200);
        QCOMPARE(open.respBody, QByteArray("1"));

        handlerRan = false;
        Conn closed = makeConn("GET", "/closed");
        router.call(closed);
        QCOMPARE(closed.status, 401);
        QVERIFY(closed.halted);
        QVERIFY(!handlerRan);
    }

    void firstMatchingRouteWins()
    {
        Router router;
        router.get(QStringLiteral("/a/special"), [](Conn &c) { c.send(200, "literal", {}); });
        router.get(QStringLiteral("/a/:x"), [](Conn &c) { c.send(200, "param", {}); });
        Conn conn = makeConn("GET", "/a/special");
        router.call(conn);
        QCOMPARE(conn.respBody, QByteArray("literal"));
        Conn other = makeConn("GET", "/a/other");
        router.call(other);
        QCOMPARE(other.respBody, QByteArray("param"));
    }

    void malformedPatternsAreRejected_data()
    {
        QTest::addColumn<QString>("pattern");
        QTest::newRow("no leading slash") << QStringLiteral("api");
        QTest::newRow("rest not last") << QStringLiteral("/a/*rest/b");
        QTest::newRow("unnamed param") << QStringLiteral("/a/:");
        QTest::newRow("unnamed rest") << QStringLiteral("/a/*");
    }

    void malformedPatternsAreRejected()
    {
        QFETCH(QString, pattern);
        Router router;
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral(".*pattern.*")));
        QVERIFY(!router.get(pattern, [](Conn &) {}));
        QCOMPARE(router.size(), 0);
    }

    void handlerThatDoesNotAnswerIs500()
    {
        Router router;
        router.get(QStringLiteral("/silent"), [](Conn &) {});
        Conn conn = makeConn("GET", "/silent");
        router.call(conn);
        QCOMPARE(conn.status, 500);
    }
};

QTEST_GUILESS_MAIN(tst_Router)
#include "tst_router.moc"
