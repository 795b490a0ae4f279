// The front door on a real listener: each rule is hit with the exact bad bytes
// from a raw QTcpSocket, and a bystander WebSocket client must not notice.

#include "net/frontdoor.h"

#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace TestUtil;
using namespace std::chrono_literals;

namespace {

HttpLimits testLimits()
{
    HttpLimits limits;
    limits.headerTimeout = 300ms;
    limits.keepAliveTimeout = 300ms;
    limits.maxHeaderSize = 4096;
    limits.maxBodySize = 1000;
    limits.maxConnections = 50;
    return limits;
}

using Raw = RawConnection;

} // namespace

class tst_FrontDoor : public QObject
{
    Q_OBJECT

    std::unique_ptr<Fixture> f;
    std::unique_ptr<Client> bystander;

private:
    /*! The bystander still gets its echo: nothing leaked into its connection. */
    bool bystanderFine()
    {
        const int before = bystander->texts.size();
        bystander->socket.sendTextMessage(QStringLiteral("still there?"));
        return waitFor([&] { return bystander->texts.size() == before + 1; })
                && bystander->texts.last() == u"still there?" && !bystander->closed;
    }

private slots:
    void initTestCase() { quietLogs(); }

    void init()
    {
        f = std::make_unique<Fixture>(quietSettings(), QStringList(), testLimits());
        QVERIFY(f->listening);
        bystander = std::make_unique<Client>(f->url());
        QVERIFY(bystander->waitGreeted());
    }

    void cleanup()
    {
        QVERIFY(bystanderFine());
        bystander.reset();
        f.reset();
    }

    void malformedRequestsGet400AndClose_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("status");
        const QByteArray host = "Host: 127.0.0.1\r\n";
        QTest::newRow("malformed request line") << QByteArray("HELLO THERE\r\n\r\n") << 400;
        QTest::newRow("NUL byte") << QByteArray("GET /api/health HTTP/1.1\r\nHost: a\0b\r\n\r\n",
                                                40)
                                  << 400;
        QTest::newRow("bare LF") << QByteArray("GET /api/health HTTP/1.1\n" + host + "\n") << 400;
        QTest::newRow("Content-Length -1")
                << QByteArray("GET /api/health HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n")
                << 400;
        QTest::newRow("Content-Length abc")
                << QByteArray("GET /api/health HTTP/1.1\r\n" + host + "Content-Length: abc\r\n\r\n")
                << 400;
        QTest::newRow("Content-Length over 2^63")
                << QByteArray("GET /api/health HTTP/1.1\r\n" + host
                              + "Content-Length: 9223372036854775808\r\n\r\n")
                << 400;
        QTest::newRow("Content-Length duplicated")
                << QByteArray("POST /api/broadcast HTTP/1.1\r\n" + host
                              + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy")
                << 400;
        QTest::newRow("Content-Length with chunked")
                << QByteArray("POST /api/broadcast HTTP/1.1\r\n" + host
                              + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                << 400;
        QTest::newRow("101 fields") << QByteArray("GET /api/health HTTP/1.1\r\n" + host
                                                  + QByteArray("X-F: 1\r\n").repeated(100) + "\r\n")
                                    << 431;
        QTest::newRow("head over the limit")
                << QByteArray("GET /api/health HTTP/1.1\r\n" + host
                              + "X-Big: " + QByteArray(5000, 'a') + "\r\n\r\n")
                << 431;
        QTest::newRow("body over the limit") << QByteArray("POST /api/broadcast HTTP/1.1\r\n" + host
                                                           + "Content-Length: 1001\r\n\r\n")
                                             << 413;
        QTest::newRow("chunked body over the limit") << QByteArray(
                "POST /api/broadcast HTTP/1.1\r\n" + host
                + "Transfer-Encoding: chunked\r\n\r\n3e8\r\n" + QByteArray(1000, 'x') + "\r\n1\r\n")
                                                     << 413;
    }

    void malformedRequestsGet400AndClose()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, status);
        QSignalSpy refused(&f->server, &Server::requestRefused);
        Raw raw(f->port());
        raw.socket.write(bytes);
        QTRY_VERIFY(raw.closed);
        QCOMPARE(raw.status(), status);
        QCOMPARE(parseResponse(raw.received).header("content-type"),
                 QByteArray("application/json"));
        QCOMPARE(refused.size(), 1);
        QCOMPARE(refused.first().first().toInt(), status);
        QVERIFY(!raw.received.contains("200 OK"));
    }

    void bodyLimitIsDecidedBeforeTheBodyIsSent()
    {
        Raw raw(f->port());
        raw.socket.write(
                "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
        QTRY_VERIFY(raw.closed); // answered without waiting for 50 MB
        QCOMPARE(raw.status(), 413);
    }

    void exactlyHundredFieldsKeepTheirHeaders()
    {
        // Qt 6.4's parser drops *all* headers past its own field limit; at our limit
        // the last field (here the admin token) must still count.
        QByteArray request = "GET /api/connections HTTP/1.1\r\nHost: x\r\n";
        request += QByteArray("X-F: 1\r\n").repeated(98);
        request += "Authorization: Bearer " + kToken + "\r\n\r\n";
        const HttpResponse r = rawRequest(f->port(), request);
        QCOMPARE(r.status, 200);
    }

    void expectContinueIsAnswered_data()
    {
        QTest::addColumn<QByteArray>("length");
        QTest::addColumn<int>("first");
        QTest::newRow("fits: 100 then 200") << QByteArray("5") << 100;
        QTest::newRow("too large: 413") << QByteArray("5000") << 413;
    }

    void expectContinueIsAnswered()
    {
        QFETCH(QByteArray, length);
        QFETCH(int, first);
        Raw raw(f->port());
        raw.socket.write(
                "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken
                + "\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: "
                + length + "\r\n\r\n");
        QTRY_VERIFY(!raw.received.isEmpty());
        QCOMPARE(parseResponse(raw.received).status, first);
        if (first != 100)
            return;
        QVERIFY(raw.received.startsWith("HTTP/1.1 100 Continue\r\n\r\n"));
        raw.socket.write("hello");
        QTRY_VERIFY(raw.received.contains("HTTP/1.1 200 OK"));
        QTRY_COMPARE(bystander->texts.size(), 2);
        QCOMPARE(bystander->texts.last(), QStringLiteral("hello"));
    }

    void incompleteHeadTimesOutWith408_data()
    {
        QTest::addColumn<QByteArray>("partial");
        QTest::newRow("nothing sent") << QByteArray();
        QTest::newRow("half a head") << QByteArray("GET /api/health HTTP/1.1\r\nHo");
    }

    void incompleteHeadTimesOutWith408()
    {
        QFETCH(QByteArray, partial);
        Raw raw(f->port());
        QTRY_COMPARE(f->server.connectionCount(), 2);
        raw.socket.write(partial);
        QTRY_VERIFY_WITH_TIMEOUT(raw.closed, 3000);
        QCOMPARE(raw.status(), 408);
        QTRY_COMPARE(f->server.connectionCount(), 1); // only the bystander is left
    }

    void slowBodyTimesOut()
    {
        Raw raw(f->port());
        raw.socket.write(
                "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
        QTRY_VERIFY_WITH_TIMEOUT(raw.closed, 3000);
        QCOMPARE(raw.status(), 408);
        QCOMPARE(bystander->texts.size(), 1); // nothing half-received was broadcast
    }

    void idleKeepAliveIsClosed()
    {
        Raw raw(f->port());
        raw.socket.write("GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
        QTRY_COMPARE(raw.status(), 200);
        QVERIFY(!raw.closed);
        QTRY_VERIFY_WITH_TIMEOUT(raw.closed, 3000);
        QCOMPARE(raw.received.count("HTTP/1.1"), 1); // closed quietly, no 408 after a response
    }

    void keepAliveClockRestartsWithEachRequest()
    {
        Raw raw(f->port());
        for (int i = 1; i <= 4; ++i) {
            raw.socket.write("GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
            QTRY_COMPARE(raw.received.count("HTTP/1.1 200"), i);
            QTest::qWait(150); // half the keep-alive timeout between requests
            QVERIFY(!raw.closed);
        }
    }

    void connectionCloseAndHttp10CloseAfterTheResponse_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<bool>("closes");
        QTest::newRow("Connection: close")
                << QByteArray("GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                << true;
        QTest::newRow("HTTP/1.0") << QByteArray("GET /api/health HTTP/1.0\r\n\r\n") << true;
        QTest::newRow("HTTP/1.0 keep-alive")
                << QByteArray("GET /api/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                << false;
        QTest::newRow("HTTP/1.1") << QByteArray("GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                                  << false;
    }

    void connectionCloseAndHttp10CloseAfterTheResponse()
    {
        QFETCH(QByteArray, request);
        QFETCH(bool, closes);
        Raw raw(f->port());
        raw.socket.write(request + request); // the second is dropped after a close
        QTRY_COMPARE(raw.status(), 200);
        if (closes) {
            QTRY_VERIFY(raw.closed);
            QCOMPARE(raw.received.count("HTTP/1.1 200"), 1);
            QVERIFY(raw.received.contains("connection: close"));
        } else {
            QTRY_COMPARE(raw.received.count("HTTP/1.1 200"), 2);
            QVERIFY(!raw.closed);
        }
    }

    void connectionCapAnswers503()
    {
        Fixture capped(quietSettings(), {}, [] {
            HttpLimits l = testLimits();
            l.maxConnections = 3;
            return l;
        }());
        Client a(capped.url());
        Client b(capped.url());
        QVERIFY(a.waitGreeted() && b.waitGreeted());
        Raw third(capped.port());
        QTRY_COMPARE(capped.server.connectionCount(), 3);
        QSignalSpy refused(&capped.server, &Server::requestRefused);
        Raw fourth(capped.port());
        QTRY_VERIFY(fourth.closed);
        QCOMPARE(fourth.status(), 503);
        QCOMPARE(refused.size(), 1);
        QCOMPARE(capped.server.connectionCount(), 3);
        // The health count stays true (WebSocket sessions), and once one leaves there is room.
        third.socket.write("GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        QTRY_VERIFY(third.closed);
        QCOMPARE(parseResponse(third.received).json().value(QStringLiteral("connections")).toInt(),
                 2);
        QTRY_COMPARE(capped.server.connectionCount(), 2);
        QCOMPARE(request(capped.port(), "GET", "/api/health").status, 200);
    }

    void unmaskedClientFrameIsClosedWith1002()
    {
        QSignalSpy closed(&f->hub, &Hub::sessionClosed);
        Raw raw(f->port());
        raw.socket.write(upgradeRequest("/ws", f->port()));
        QTRY_VERIFY(raw.received.contains("start"));
        raw.socket.write(QByteArray::fromHex("8102") + "hi"); // RFC 6455 §5.1: must be masked
        QTRY_VERIFY(raw.closed);
        const qsizetype close = raw.received.indexOf(QByteArray::fromHex("881e03ea"));
        QVERIFY2(close > 0, raw.received.toHex().constData());
        QVERIFY(!raw.received.contains(QByteArray("\x81\x02"
                                                  "hi"))); // not echoed
        QTRY_COMPARE(closed.size(), 1);
        const auto reason = closed.first().at(1).value<TerminateReason>();
        QCOMPARE(reason.kind, TerminateReason::Kind::Error);
        QCOMPARE(reason.code, quint16(1002));
    }

    void framesSentWithTheHandshakeAreNotLost()
    {
        // A client that does not wait for the 101 (RFC clients do) sends its first
        // frame in the same packet; QtWebSockets alone would drop it.
        Raw raw(f->port());
        raw.socket.write(upgradeRequest("/ws", f->port()) + maskedFrame(0x81, "early"));
        QTRY_VERIFY(raw.received.contains("early"));
        QVERIFY(raw.received.startsWith("HTTP/1.1 101"));
        const qsizetype start = raw.received.indexOf("\x81\x05start");
        QVERIFY(start > 0);
        QVERIFY(raw.received.indexOf("\x81\x05"
                                     "early")
                > start); // greeting, then the echo
    }

    void pipelinedFramesAreAnsweredInOrderBeforeTheClose()
    {
        // Answers to frames that arrive together leave together (one send); a close
        // among them must not cut off the answers written before it.
        Raw raw(f->port());
        raw.socket.write(upgradeRequest("/ws", f->port()));
        QTRY_VERIFY(raw.received.contains("start"));
        raw.received.clear();
        // A large answer among them (not corked, sent at once) keeps its place too.
        const QByteArray large(20000, 'L');
        raw.socket.write(maskedFrame(0x81, "one") + maskedFrame(0x81, "two")
                         + maskedFrame(0x82, large) + maskedFrame(0x81, "three")
                         + maskedFrame(0x88, "\x03\xe8"));
        QTRY_VERIFY(raw.closed);
        const QByteArray expected = QByteArray("\x81\x03one\x81\x03two")
                + QByteArray::fromHex("827e4e20") + large + QByteArray("\x81\x05three")
                + QByteArray::fromHex("880203e8");
        QCOMPARE(raw.received.toHex(), expected.toHex());
    }
};

QTEST_GUILESS_MAIN(tst_FrontDoor)
#include "tst_frontdoor.moc"
