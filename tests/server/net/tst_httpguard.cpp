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
        QTest::newRow("unknown method") << QByteArray("BREW / HTTP/1.1\r\nHost: x\r\n\r\n") << 501;
        QTest::newRow("WebDAV method")
                << QByteArray("PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n") << 501;
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
            QList<ConnectionGuard::Request> completed;
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
            QCOMPARE(completed.last().closeAfterResponse, closeLast);
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
        QCOMPARE(r.completed.size(), 1);
        QVERIFY(r.completed.first().closeAfterResponse);
        QCOMPARE(r.completed.first().head.target, QByteArray("/1"));
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

    void upgradeHeadIsNotReleased()
    {
        // The guard decides once: Qt never sees an upgrade head; the caller gets it
        // parsed, with the bytes after it untouched, and the guard reads no further.
        for (const bool trickle : {false, true}) {
            ConnectionGuard guard(smallLimits());
            const QByteArray before = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
            const QByteArray head = "GET /ws?room=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                    "Upgrade: websocket\r\nSec-WebSocket-Protocol: a, b\r\n\r\n";
            const QByteArray frames = TestUtil::maskedFrame(0x81, "frame") + "\xff\x00 anything";
            const QByteArray bytes = before + head + frames;
            ConnectionGuard::Result all;
            for (qsizetype at = 0; at < bytes.size(); at += trickle ? 1 : bytes.size()) {
                auto r = guard.feed(QByteArrayView(bytes).sliced(at, trickle ? 1 : bytes.size()));
                QCOMPARE(r.refusedStatus, 0);
                all.release += r.release;
                all.completed += r.completed;
                all.afterUpgrade += r.afterUpgrade;
                if (r.upgrade) {
                    QVERIFY(!all.upgrade);
                    all.upgrade = r.upgrade;
                }
            }
            QCOMPARE(all.release, before);
            QCOMPARE(all.completed.size(), 1);
            QVERIFY(all.upgrade);
            QVERIFY(all.upgrade->webSocketUpgrade);
            QCOMPARE(all.upgrade->target, QByteArray("/ws?room=1"));
            QCOMPARE(all.upgrade->field("sec-websocket-protocol"), QByteArray("a, b"));
            QCOMPARE(all.afterUpgrade, frames);
            QCOMPARE(guard.state(), ConnectionGuard::State::Upgraded);
        }
    }

    void upgradeWithBodyIsRefused()
    {
        ConnectionGuard guard(smallLimits());
        const auto r = guard.feed("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                  "Upgrade: websocket\r\nContent-Length: 3\r\n\r\nabc");
        QCOMPARE(r.refusedStatus, 400);
        QVERIFY(!r.upgrade);
        QVERIFY(r.release.isEmpty());
    }

    void qtNeverSeesAnUpgradeOrExpect_data()
    {
        QTest::addColumn<QByteArray>("fields");
        // QtHttpServer treats any Connection value containing "upgrade" with Upgrade:
        // websocket as an upgrade of its own, and 6.8 answers Expect itself.
        QTest::newRow("h2c") << QByteArray("Connection: Upgrade\r\nUpgrade: h2c\r\n");
        QTest::newRow("x-upgrade") << QByteArray("Connection: x-upgrade\r\nUpgrade: websocket\r\n");
        QTest::newRow("websocket without Connection") << QByteArray("Upgrade: websocket\r\n");
        QTest::newRow("expect") << QByteArray("Expect: 100-continue\r\nContent-Length: 2\r\n");
    }

    void qtNeverSeesAnUpgradeOrExpect()
    {
        QFETCH(QByteArray, fields);
        ConnectionGuard guard(smallLimits());
        const QByteArray body = fields.contains("Content-Length") ? "hi" : "";
        const QByteArray request
                = "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Keep: 1\r\n" + fields + "\r\n" + body;
        const auto r = guard.feed(request);
        QCOMPARE(r.refusedStatus, 0);
        QVERIFY(!r.upgrade);
        QCOMPARE(r.completed.size(), 1);
        const QByteArray released = r.release.toLower();
        QVERIFY2(!released.contains("upgrade") && !released.contains("expect")
                         && !released.contains("connection:"),
                 r.release.constData());
        QVERIFY(r.release.startsWith("POST /a?b=1 HTTP/1.1\r\n"));
        QVERIFY(r.release.contains("x-keep: 1\r\n"));
        QVERIFY(r.release.endsWith(QByteArray("\r\n\r\n" + body)));
        // The handler still sees the request as the client sent it.
        QVERIFY(r.completed.first().head.fields.size() >= 3);
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
