#include "net/httpguard.h"

#include <QtTest/QTest>

#include "testutil.h"

using namespace Switchboard;

namespace {

HttpLimits smallLimits()
{
    HttpLimits limits;
    limits.maxHeaderSize = 1024;
    limits.maxHeaderFields = 10;
    limits.maxBodySize = 100;
    return limits;
}

int statusOf(const QByteArray &reply)
{
    return reply.startsWith("HTTP/1.1 ") ? reply.mid(9, 3).toInt() : 0;
}

} // namespace

class tst_HttpGuard : public QObject
{
    Q_OBJECT

private slots:
    void refusesBadHeads_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("status");
        const QByteArray ok = "GET / HTTP/1.1\r\nHost: x\r\n";
        QTest::newRow("garbage line") << QByteArray("GARBAGE\r\n\r\n") << 400;
        QTest::newRow("double space") << QByteArray("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("no version") << QByteArray("GET /\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("lower-case version")
                << QByteArray("GET / http/1.1\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\nHost: x\r\n\r\n") << 505;
        QTest::newRow("method with slash")
                << QByteArray("G/ET / HTTP/1.1\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("relative target")
                << QByteArray("GET api HTTP/1.1\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("control char in target")
                << QByteArray("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n") << 400;
        QTest::newRow("bare LF") << QByteArray("GET / HTTP/1.1\nHost: x\n\n") << 400;
        QTest::newRow("bare LF in a field")
                << QByteArray("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n") << 400;
        QTest::newRow("bare CR") << QByteArray("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n") << 400;
        QTest::newRow("NUL") << QByteArray("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n", 30) << 400;
        QTest::newRow("no Host in 1.1") << QByteArray("GET / HTTP/1.1\r\n\r\n") << 400;
        QTest::newRow("two Hosts") << QByteArray(ok + "Host: y\r\n\r\n") << 400;
        QTest::newRow("space before colon") << QByteArray(ok + "X-A : 1\r\n\r\n") << 400;
        QTest::newRow("no colon") << QByteArray(ok + "X-A 1\r\n\r\n") << 400;
        QTest::newRow("obs-fold") << QByteArray(ok + "X-A: 1\r\n 2\r\n\r\n") << 400;
        QTest::newRow("control char in value") << QByteArray(ok + "X-A: a\x7f\r\n\r\n") << 400;
        QTest::newRow("CL negative") << QByteArray(ok + "Content-Length: -1\r\n\r\n") << 400;
        QTest::newRow("CL text") << QByteArray(ok + "Content-Length: abc\r\n\r\n") << 400;
        QTest::newRow("CL empty") << QByteArray(ok + "Content-Length: \r\n\r\n") << 400;
        QTest::newRow("CL plus") << QByteArray(ok + "Content-Length: +5\r\n\r\n") << 400;
        QTest::newRow("CL over 2^63")
                << QByteArray(ok + "Content-Length: 99999999999999999999\r\n\r\n") << 400;
        QTest::newRow("CL duplicated, different")
                << QByteArray(ok + "Content-Length: 3\r\nContent-Length: 4\r\n\r\n") << 400;
        QTest::newRow("CL list, different")
                << QByteArray(ok + "Content-Length: 3, 4\r\n\r\n") << 400;
        QTest::newRow("CL and TE")
                << QByteArray(ok + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
                << 400;
        QTest::newRow("TE gzip") << QByteArray(ok + "Transfer-Encoding: gzip\r\n\r\n") << 501;
        QTest::newRow("TE in 1.0")
                << QByteArray("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") << 400;
        QTest::newRow("Expect other") << QByteArray(ok + "Expect: something\r\n\r\n") << 417;
        QTest::newRow("too many fields")
                << QByteArray(ok + QByteArray("X: 1\r\n").repeated(10) + "\r\n") << 431;
        QTest::newRow("head too large")
                << QByteArray(ok + "X: " + QByteArray(1100, 'a') + "\r\n\r\n") << 431;
        QTest::newRow("head too large, unterminated")
                << QByteArray(ok + "X: " + QByteArray(1100, 'a')) << 431;
        QTest::newRow("body too large") << QByteArray(ok + "Content-Length: 101\r\n\r\n") << 413;
    }

    void refusesBadHeads()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, status);
        // Whole, and byte by byte: the verdict must not depend on how TCP splits it.
        for (const bool trickle : {false, true}) {
            ConnectionGuard guard(smallLimits());
            ConnectionGuard::Result result;
            if (trickle) {
                for (qsizetype i = 0; i < bytes.size() && !result.close; ++i) {
                    result = guard.feed(QByteArrayView(bytes).sliced(i, 1));
                    QVERIFY2(result.release.isEmpty(), "nothing may reach Qt");
                }
            } else {
                result = guard.feed(bytes);
            }
            QVERIFY2(result.release.isEmpty(), result.release.constData());
            QCOMPARE(result.refusedStatus, status);
            QCOMPARE(statusOf(result.reply), status);
            QVERIFY(result.reply.contains("connection: close\r\n"));
            QVERIFY(result.close);
            QCOMPARE(guard.state(), ConnectionGuard::State::Closed);
            // Whatever follows is dropped.
            QVERIFY(guard.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n").release.isEmpty());
        }
    }

    void passesGoodRequests_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("requests");
        QTest::addColumn<bool>("closeLast");
        QTest::newRow("simple") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\r\n") << 1 << false;
        QTest::newRow("leading CRLF")
                << QByteArray("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") << 1 << false;
        QTest::newRow("absolute target")
                << QByteArray("GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n") << 1 << false;
        QTest::newRow("body") << QByteArray(
                "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                              << 1 << false;
        QTest::newRow("body with NUL") << QByteArray(
                "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n" + QByteArray(3, '\0'))
                                       << 1 << false;
        QTest::newRow("CL repeated, equal") << QByteArray(
                "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi")
                                            << 1 << false;
        QTest::newRow("body at the limit") << QByteArray(
                "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + QByteArray(100, 'b'))
                                           << 1 << false;
        QTest::newRow("chunked") << QByteArray(
                "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                "chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
                                 << 1 << false;
        QTest::newRow("pipelined") << QByteArray(
                "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
                                   << 2 << false;
        QTest::newRow("connection close")
                << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") << 1
                << true;
        QTest::newRow("HTTP/1.0") << QByteArray("GET / HTTP/1.0\r\n\r\n") << 1 << true;
        QTest::newRow("HTTP/1.0 keep-alive")
                << QByteArray("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") << 1 << false;
        QTest::newRow("exactly max fields") << QByteArray(
                "GET / HTTP/1.1\r\nHost: x\r\n" + QByteArray("X: 1\r\n").repeated(9) + "\r\n")
                                            << 1 << false;
    }

    void passesGoodRequests()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, requests);
        QFETCH(bool, closeLast);
        for (const bool trickle : {false, true}) {
            ConnectionGuard guard(smallLimits());
            QByteArray released;
            QList<bool> completed;
            if (trickle) {
                for (qsizetype i = 0; i < bytes.size(); ++i) {
                    const auto r = guard.feed(QByteArrayView(bytes).sliced(i, 1));
                    QCOMPARE(r.refusedStatus, 0);
                    released += r.release;
                    completed += r.completed;
                }
            } else {
                const auto r = guard.feed(bytes);
                QCOMPARE(r.refusedStatus, 0);
                released = r.release;
                completed = r.completed;
            }
            QCOMPARE(released, bytes.startsWith("\r\n") ? bytes.mid(2) : bytes);
            QCOMPARE(completed.size(), requests);
            QCOMPARE(completed.last(), closeLast);
        }
    }

    void verdictDoesNotDependOnTheSplit_data()
    {
        // Found by fuzz_httpguard: each was answered differently when TCP split it there.
        QTest::addColumn<QByteArray>("first");
        QTest::addColumn<QByteArray>("second");
        QTest::addColumn<int>("status"); // 0 = accepted
        QTest::newRow("CR before the request line, then not LF")
                << QByteArray("\r") << QByteArray("X") << 400;
        const QByteArray atLimit = "GET / HTTP/1.1\r\nHost: x\r\nX: "
                + QByteArray(1024 - 28, 'a'); // request line + fields: exactly 1024 bytes
        QTest::newRow("head at the limit, terminator split")
                << QByteArray(atLimit + "\r\n\r") << QByteArray("\n") << 0;
    }

    void verdictDoesNotDependOnTheSplit()
    {
        QFETCH(QByteArray, first);
        QFETCH(QByteArray, second);
        QFETCH(int, status);
        ConnectionGuard whole(smallLimits());
        const QByteArray bytes = first + second;
        QCOMPARE(whole.feed(bytes).refusedStatus, status);
        ConnectionGuard split(smallLimits());
        const auto a = split.feed(first);
        const auto b = a.refusedStatus ? a : split.feed(second);
        QCOMPARE(b.refusedStatus, status);
        QCOMPARE(a.release.isEmpty() && b.release.isEmpty(), status != 0);
    }

    void closeDropsWhatIsPipelinedAfter()
    {
        ConnectionGuard guard(smallLimits());
        const auto r = guard.feed("GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                  "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
        QVERIFY(r.release.contains("GET /1"));
        QVERIFY(!r.release.contains("GET /2"));
        QCOMPARE(r.completed, QList<bool>{true});
    }

    void expectContinue_data()
    {
        QTest::addColumn<QByteArray>("contentLength");
        QTest::addColumn<int>("status");
        QTest::newRow("fits") << QByteArray("10") << 100;
        QTest::newRow("too large") << QByteArray("1000") << 413;
    }

    void expectContinue()
    {
        QFETCH(QByteArray, contentLength);
        QFETCH(int, status);
        ConnectionGuard guard(smallLimits());
        const QByteArray request = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                   "Content-Length: "
                + contentLength + "\r\n\r\n";
        const auto r = guard.feed(request);
        QCOMPARE(statusOf(r.reply), status);
        QCOMPARE(r.release.isEmpty(), status != 100);
    }

    void chunkedBodies_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status"); // 0 = accepted
        QTest::newRow("ok") << QByteArray("a\r\n0123456789\r\n0\r\n\r\n") << 0;
        QTest::newRow("over the limit")
                << QByteArray("40\r\n" + QByteArray(64, 'x') + "\r\n40\r\n") << 413;
        QTest::newRow("huge size") << QByteArray("ffffffffffffffff\r\n") << 400;
        QTest::newRow("not hex") << QByteArray("zz\r\n") << 400;
        QTest::newRow("missing CRLF after data") << QByteArray("3\r\nabcX") << 400;
        QTest::newRow("bare LF after size") << QByteArray("3\nabc\r\n") << 400;
    }

    void chunkedBodies()
    {
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        ConnectionGuard guard(smallLimits());
        const QByteArray request
                = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
        const auto r = guard.feed(request);
        QCOMPARE(r.refusedStatus, status);
        QCOMPARE(r.completed.size(), status == 0 ? 1 : 0);
    }

    void upgradePassesFramesThroughUnmasked()
    {
        ConnectionGuard guard(smallLimits());
        const QByteArray head = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                                "websocket\r\n\r\n";
        const QByteArray bytes = head + TestUtil::maskedFrame(0x81, "frame");
        const auto r = guard.feed(bytes);
        QCOMPARE(r.release, head);
        QCOMPARE(r.upgraded,
                 QByteArray("\x81\x05"
                            "frame"));
        QVERIFY(r.completed.isEmpty()); // upgrades are not plain requests
        QCOMPARE(guard.state(), ConnectionGuard::State::Upgraded);
        // No HTTP limits now: a 5000-byte frame goes through whole, unmasked the same
        // whether it arrives at once or in pieces that split the key's cycle anywhere.
        const QByteArray mask = "\x01\x82\x33\xf4";
        QByteArray clear(5000, '\0');
        for (qsizetype i = 0; i < clear.size(); ++i)
            clear[i] = char('a' + i % 23);
        QByteArray big = QByteArray::fromHex("82fe1388") + mask;
        for (qsizetype i = 0; i < clear.size(); ++i)
            big.append(char(clear[i] ^ mask[i % 4]));
        const QByteArray expected = QByteArray::fromHex("827e1388") + clear;
        QCOMPARE(guard.feed(big).upgraded.toHex(), expected.toHex());
        for (const qsizetype piece : {1, 3, 7, 13, 4096}) {
            ConnectionGuard g(smallLimits());
            QCOMPARE(g.feed(head).release, head);
            QByteArray out;
            for (qsizetype at = 0; at < big.size(); at += piece)
                out += g.feed(QByteArrayView(big).sliced(at, qMin(piece, big.size() - at)))
                               .upgraded;
            QCOMPARE(out.toHex(), expected.toHex());
        }
    }

    void unmaskedClientFrameIsRefusedWith1002()
    {
        ConnectionGuard guard(smallLimits());
        const QByteArray head = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                                "websocket\r\n\r\n";
        const QByteArray masked = TestUtil::maskedFrame(0x81, "xy");
        const QByteArray unmasked = QByteArray::fromHex("8102") + "hi";
        const QByteArray bytes = head + masked + unmasked + masked;
        const auto r = guard.feed(bytes);
        QCOMPARE(r.upgraded, QByteArray("\x81\x02xy")); // frames before the bad one go through
        QCOMPARE(r.refusedStatus, 1002);
        QVERIFY(r.close);
        QCOMPARE(r.reply.left(4).toHex(), QByteArray("881e03ea")); // close frame, code 1002
        QVERIFY(r.reply.endsWith("client frames must be masked"));
        QVERIFY(guard.feed(masked).upgraded.isEmpty());
    }

    void fragmentedTextIsJoined()
    {
        HttpLimits limits = smallLimits();
        limits.maxWebSocketMessage = 8;
        ConnectionGuard guard(limits);
        const QByteArray head = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
                                "websocket\r\n\r\n";
        const auto frame = [](quint8 first, const QByteArray &payload) {
            return TestUtil::maskedFrame(first, payload);
        };
        const QByteArray bytes = head + frame(0x01, "ab") + frame(0x89, "p") + frame(0x00, "c\xc3")
                + frame(0x80, "\xa9") + frame(0x02, "b1");
        QByteArray out;
        // Byte by byte and whole must give the same frames.
        for (const bool trickle : {true, false}) {
            ConnectionGuard g(limits);
            out.clear();
            if (trickle) {
                for (qsizetype i = 0; i < bytes.size(); ++i)
                    out += g.feed(QByteArrayView(bytes).sliced(i, 1)).upgraded;
            } else {
                out = g.feed(bytes).upgraded;
            }
            // The ping between fragments comes first; binary fragments are not joined.
            const QByteArray joined = QByteArray::fromHex("8901") + "p"
                    + QByteArray::fromHex("8105") + "abc\xc3\xa9" + QByteArray::fromHex("0202")
                    + "b1";
            QCOMPARE(out.toHex(), joined.toHex());
        }
        // Joined messages are bounded: over maxWebSocketMessage -> 1009.
        const QByteArray tooBig = head + frame(0x01, "12345") + frame(0x80, "6789");
        const auto r = guard.feed(tooBig);
        QCOMPARE(r.refusedStatus, 1009);
        QVERIFY(r.reply.startsWith("\x88"));
        // A new message inside a fragmented one is a protocol error.
        ConnectionGuard bad(limits);
        const QByteArray interleaved = head + frame(0x01, "a") + frame(0x81, "b");
        QCOMPARE(bad.feed(interleaved).refusedStatus, 1002);
    }

    void parseRequestHeadFields()
    {
        HttpRefusal refusal;
        const auto head
                = parseRequestHead("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nCONTENT-length: 7\r\n"
                                   "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
                                   "Expect: 100-Continue",
                                   HttpLimits(), &refusal);
        QVERIFY(head);
        QCOMPARE(head->method, QByteArray("POST"));
        QCOMPARE(head->target, QByteArray("/a?b=1"));
        QCOMPARE(head->contentLength.value_or(-1), 7);
        QVERIFY(head->keepAlive);
        QVERIFY(head->expectContinue);
        QVERIFY(head->webSocketUpgrade);
        QCOMPARE(head->fields.at(1).first, QByteArray("content-length"));
    }
};

QTEST_GUILESS_MAIN(tst_HttpGuard)
#include "tst_httpguard.moc"
