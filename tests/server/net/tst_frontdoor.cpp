// The front door on a real listener: each rule is hit with the exact bad bytes
// from a raw QTcpSocket, and a bystander WebSocket client must not notice.

#include "net/frontdoor.h"

#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonArray>
#include <QtCore/QTimer>
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
    limits.bodyTimeout = 300ms;
    limits.maxHeaderSize = 4096;
    limits.maxBodySize = 1000;
    limits.maxConnections = 50;
    return limits;
}

using Raw = RawConnection;

/*! A broadcast request head announcing \a framing ("Content-Length: N" or chunked). */
QByteArray broadcastHead(const QByteArray &framing)
{
    return "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken
            + "\r\nContent-Type: text/plain\r\n" + framing + "\r\n\r\n";
}

/*!
    Writes \a bytes to \a socket in pieces of \a piece bytes, one every \a everyMs, from
    the event loop; stops early once the server closed (\a closed). sent() tells how
    far it got.
*/
class Trickle
{
public:
    Trickle(QTcpSocket &socket, const QByteArray &bytes, qsizetype piece, int everyMs,
            const bool &closed)
    {
        m_timer.setInterval(everyMs);
        QObject::connect(&m_timer, &QTimer::timeout, &socket, [&, bytes, piece] {
            if (!closed) {
                socket.write(bytes.mid(m_sent, piece));
                m_sent = qMin(m_sent + piece, bytes.size());
            }
            if (closed || m_sent == bytes.size())
                m_timer.stop();
        });
        m_timer.start();
    }
    qsizetype sent() const { return m_sent; }
    bool done() const { return !m_timer.isActive(); }

private:
    QTimer m_timer;
    qsizetype m_sent = 0;
};

/*! \a text as a chunked body, one chunk per \a piece bytes, and the last chunk. */
QByteArray chunked(const QByteArray &text, qsizetype piece)
{
    QByteArray body;
    for (qsizetype i = 0; i < text.size(); i += piece) {
        const QByteArray chunk = text.mid(i, piece);
        body += QByteArray::number(chunk.size(), 16) + "\r\n" + chunk + "\r\n";
    }
    return body + "0\r\n\r\n";
}

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

    void tricklingBodyGets408AndFreesItsSlot_data()
    {
        QTest::addColumn<QByteArray>("framing");
        QTest::addColumn<QByteArray>("body");
        QTest::newRow("Content-Length")
                << QByteArray("Content-Length: 100") << QByteArray(100, 'x');
        QTest::newRow("chunked") << QByteArray("Transfer-Encoding: chunked")
                                 << chunked(QByteArray(20, 'x'), 1);
    }

    void tricklingBodyGets408AndFreesItsSlot()
    {
        // A byte every 200 ms never leaves the connection silent for the keep-alive
        // timeout (300 ms), so only the body deadline (1 s, plus 2 ms a byte at 500 B/s)
        // can end it, long before the body would be complete (20 s).
        QFETCH(QByteArray, framing);
        QFETCH(QByteArray, body);
        HttpLimits limits = testLimits();
        limits.bodyTimeout = 1s;
        limits.bodyMinRate = 500;
        limits.maxConnections = 1;
        Fixture capped(quietSettings(), {}, limits);
        Raw raw(capped.port());
        QTRY_COMPARE(capped.server.connectionCount(), 1);
        raw.socket.write(broadcastHead(framing));
        // The trickler holds the only slot while its body arrives.
        {
            Raw over(capped.port());
            QTRY_VERIFY(over.closed);
            QCOMPARE(over.status(), 503);
        }
        QSignalSpy refused(&capped.server, &Server::requestRefused);
        Trickle trickle(raw.socket, body, 1, 200, raw.closed);
        QTRY_VERIFY_WITH_TIMEOUT(raw.closed, 8000);
        QCOMPARE(raw.status(), 408);
        QCOMPARE(parseResponse(raw.received)
                         .json()
                         .value(QStringLiteral("error"))
                         .toObject()
                         .value(QStringLiteral("message"))
                         .toString(),
                 QStringLiteral("request not received in time"));
        QVERIFY2(trickle.sent() >= 3 && trickle.sent() < body.size(),
                 qPrintable(QString::number(trickle.sent()))); // cut off while still sending
        QCOMPARE(refused.size(), 1);
        QCOMPARE(refused.first().first().toInt(), 408);
        // The slot is free again.
        QTRY_COMPARE(capped.server.connectionCount(), 0);
        QCOMPARE(request(capped.port(), "GET", "/api/health").status, 200);
    }

    void bodyAboveTheMinimumRateTakesAsLongAsItNeeds_data()
    {
        QTest::addColumn<bool>("isChunked");
        QTest::newRow("Content-Length") << false;
        QTest::newRow("chunked") << true;
    }

    void bodyAboveTheMinimumRateTakesAsLongAsItNeeds()
    {
        // 300 bytes at 150 B/s take 2 s, twice the body timeout; at 100 B/s each 15 bytes
        // earn 150 ms more, so the deadline stays ahead of the body.
        QFETCH(bool, isChunked);
        HttpLimits limits = testLimits();
        limits.bodyTimeout = 1s;
        limits.bodyMinRate = 100;
        Fixture slow(quietSettings(), {}, limits);
        Client listener(slow.url());
        QVERIFY(listener.waitGreeted());
        QByteArray text;
        for (int i = 0; i < 300; ++i)
            text += char('a' + i % 26);
        const QByteArray body = isChunked ? chunked(text, 15) : text;
        Raw raw(slow.port());
        raw.socket.write(broadcastHead(isChunked ? QByteArray("Transfer-Encoding: chunked")
                                                 : "Content-Length: 300"));
        QElapsedTimer clock;
        clock.start();
        Trickle trickle(raw.socket, body, isChunked ? 20 : 15, 100, raw.closed);
        QTRY_VERIFY_WITH_TIMEOUT(parseResponse(raw.received).complete || raw.closed, 10000);
        QCOMPARE(raw.status(), 200);
        QVERIFY(trickle.done());
        QVERIFY(clock.elapsed() > 1000); // it did take longer than the body timeout
        QTRY_COMPARE(listener.texts.size(), 2);
        QCOMPARE(listener.texts.last().toLatin1(), text);
        QVERIFY(!raw.closed);
    }

    void headerClockDoesNotRestartOnEachByte()
    {
        // A head that never ends, a byte every 150 ms for 5.5 s: the header timeout (1 s)
        // counts from its first byte, so the 408 comes at about 1 s, while bytes are
        // still arriving. Restarted on every byte, it would come only after the trickle.
        HttpLimits limits = testLimits();
        limits.headerTimeout = 1s;
        Fixture slow(quietSettings(), {}, limits);
        const QByteArray head = "GET /api/health HTTP/1.1\r\nX-Slow: abc"; // 37 bytes, no end
        Raw raw(slow.port());
        QTRY_COMPARE(slow.server.connectionCount(), 1);
        QElapsedTimer clock;
        clock.start();
        Trickle trickle(raw.socket, head, 1, 150, raw.closed);
        QTRY_VERIFY_WITH_TIMEOUT(raw.closed, 8000);
        const qint64 elapsed = clock.elapsed();
        QCOMPARE(raw.status(), 408);
        // Cut off while bytes were still arriving: counted in bytes, not milliseconds,
        // so a loaded machine cannot make it pass or fail.
        QVERIFY2(trickle.sent() < head.size(),
                 qPrintable(QStringLiteral("408 after %1 ms and %2 of %3 bytes")
                                    .arg(elapsed)
                                    .arg(trickle.sent())
                                    .arg(head.size())));
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
