#include "http/pipeline.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtTest/QTest>

#include "connutil.h"

#include <stdexcept>

using namespace Switchboard;
using TestUtil::makeConn;

class tst_Pipeline : public QObject
{
    Q_OBJECT

private slots:
    void plugsRunInOrderThenTerminal()
    {
        Pipeline pipeline;
        QStringList trace;
        pipeline.add([&](Conn &) { trace << QStringLiteral("a"); });
        pipeline.add([&](Conn &) { trace << QStringLiteral("b"); });
        Conn conn = makeConn("GET", "/");
        pipeline.call(conn, [&](Conn &c) {
            trace << QStringLiteral("terminal");
            c.send(200, "x", {});
        });
        QCOMPARE(trace,
                 QStringList(
                         {QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("terminal")}));
        QCOMPARE(conn.status, 200);
    }

    void haltStopsThePipeline()
    {
        Pipeline pipeline;
        bool laterPlugRan = false;
        bool terminalRan = false;
        pipeline.add([](Conn &c) { c.sendError(401, QStringLiteral("stop")).halt(); });
        pipeline.add([&](Conn &) { laterPlugRan = true; });
        Conn conn = makeConn("GET", "/");
        pipeline.call(conn, [&](Conn &) { terminalRan = true; });
        QCOMPARE(conn.status, 401);
        QVERIFY(!laterPlugRan);
        QVERIFY(!terminalRan);
    }

    void exceptionBecomes500_data()
    {
        QTest::addColumn<bool>("stdException");
        QTest::addColumn<bool>("inPlug");
        QTest::newRow("std::exception in handler") << true << false;
        QTest::newRow("other throw in handler") << false << false;
        QTest::newRow("std::exception in plug") << true << true;
    }

    void exceptionBecomes500()
    {
        QFETCH(bool, stdException);
        QFETCH(bool, inPlug);
        const auto thrower = [stdException](Conn &c) {
            c.putRespHeader("x-partial", "1"); // must not leak into the 500
            if (stdException)
                throw std::runtime_error("boom");
            throw 42;
        };
        Pipeline pipeline;
        pipeline.add([](Conn &c) {
            c.requestId = "rid";
            c.putRespHeader("x-request-id", "rid");
        });
        bool logged = false;
        pipeline.add([&](Conn &c) { c.beforeSend.append([&](Conn &) { logged = true; }); });
        if (inPlug)
            pipeline.add(thrower);
        Conn conn = makeConn("GET", "/boom");
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral(".*/boom.*")));
        pipeline.call(conn,
                      inPlug ? Handler([](Conn &c) { c.send(200, {}, {}); }) : Handler(thrower));
        QCOMPARE(conn.status, 500);
        QCOMPARE(conn.respHeader("x-partial"), QByteArray());
        QCOMPARE(conn.respHeader("x-request-id"), QByteArray("rid"));
        QCOMPARE(conn.respHeader("content-type"), QByteArray("application/json"));
        const QJsonObject error = QJsonDocument::fromJson(conn.respBody)
                                          .object()
                                          .value(QStringLiteral("error"))
                                          .toObject();
        QCOMPARE(error.value(QStringLiteral("status")).toInt(), 500);
        QVERIFY(logged); // the access log still sees the failed request
    }

    void beforeSendRunsLastRegisteredFirst()
    {
        Pipeline pipeline;
        QStringList trace;
        pipeline.add([&](Conn &c) {
            c.beforeSend.append([&](Conn &) { trace << QStringLiteral("first"); });
        });
        pipeline.add([&](Conn &c) {
            c.beforeSend.append([&](Conn &) { trace << QStringLiteral("second"); });
        });
        Conn conn = makeConn("GET", "/");
        pipeline.call(conn, [](Conn &c) { c.send(204, {}, {}); });
        QCOMPARE(trace, QStringList({QStringLiteral("second"), QStringLiteral("first")}));
    }

    void nothingAnsweredIs500()
    {
        Pipeline pipeline;
        Conn conn = makeConn("GET", "/");
        pipeline.call(conn, [](Conn &) {});
        QCOMPARE(conn.status, 500);
    }
};

QTEST_GUILESS_MAIN(tst_Pipeline)
#include "tst_pipeline.moc"
