// AuthThrottle on a clock the test moves: the leaky bucket, the peer keys,
// the 429 it answers and the bound on its table.

#include "http/auththrottle.h"
#include "http/conn.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtTest/QTest>

#include "connutil.h"

using namespace Switchboard;
using namespace std::chrono_literals;

namespace {

const QHostAddress kPeer(QStringLiteral("192.0.2.7"));

/*! A throttle with the default policy on a clock that only moves when told to. */
struct Throttled
{
    Throttled(AuthThrottleSettings settings = {})
        : throttle(QByteArrayLiteral("test token"), settings)
    {
        throttle.setClock([this] { return now; });
    }
    void fail(int times, const QHostAddress &peer = kPeer)
    {
        for (int i = 0; i < times; ++i)
            throttle.recordFailure(peer);
    }

    qint64 now = 1'000'000;
    AuthThrottle throttle;
};

} // namespace

class tst_AuthThrottle : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QLoggingCategory::setFilterRules(QStringLiteral("switchboard.http.warning=false"));
    }

    void tenWrongTokensThenOneEverySixSeconds()
    {
        Throttled t;
        QCOMPARE(t.throttle.retryAfter(kPeer), 0s);
        t.fail(9);
        QCOMPARE(t.throttle.retryAfter(kPeer), 0s); // the tenth is still looked at
        t.fail(1);
        QCOMPARE(t.throttle.retryAfter(kPeer), 6s);
        t.now += 5'001;
        QCOMPARE(t.throttle.retryAfter(kPeer), 1s); // rounded up, never 0 while waiting
        t.now += 999;
        QCOMPARE(t.throttle.retryAfter(kPeer), 0s); // one failure forgiven: one more try
        t.fail(1);
        QCOMPARE(t.throttle.retryAfter(kPeer), 6s);
        // A full minute later the bucket is empty: ten tries again.
        t.now += 60'000;
        t.fail(9);
        QCOMPARE(t.throttle.retryAfter(kPeer), 0s);
        t.fail(1);
        QCOMPARE(t.throttle.retryAfter(kPeer), 6s);
    }

    void aPeerThatKeepsFailingWaitsLonger()
    {
        // Callers do not look at a waiting peer's token (refuse()), but a failure
        // recorded anyway pushes the peer one more interval out.
        Throttled t;
        t.fail(12);
        QCOMPARE(t.throttle.retryAfter(kPeer), 18s);
    }

    void otherPeersAreNotAffected()
    {
        Throttled t;
        t.fail(10);
        QCOMPARE(t.throttle.retryAfter(QHostAddress(QStringLiteral("192.0.2.8"))), 0s);
        QCOMPARE(t.throttle.retryAfter(QHostAddress(QStringLiteral("2001:db8::1"))), 0s);
    }

    void peerKey_data()
    {
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<bool>("same");
        QTest::newRow("IPv4") << "192.0.2.1"
                              << "192.0.2.1" << true;
        QTest::newRow("IPv4 neighbours") << "192.0.2.1"
                                         << "192.0.2.2" << false;
        QTest::newRow("IPv4-mapped") << "::ffff:192.0.2.1"
                                     << "192.0.2.1" << true;
        QTest::newRow("same /64") << "2001:db8:1:2::1"
                                  << "2001:db8:1:2:ffff:ffff:ffff:ffff" << true;
        QTest::newRow("next /64") << "2001:db8:1:2::1"
                                  << "2001:db8:1:3::1" << false;
        QTest::newRow("IPv4 vs IPv6") << "192.0.2.1"
                                      << "c000:201::" << false;
    }

    void peerKey()
    {
        QFETCH(QString, a);
        QFETCH(QString, b);
        QFETCH(bool, same);
        const QHostAddress first(a);
        const QHostAddress second(b);
        QVERIFY(!first.isNull() && !second.isNull());
        QCOMPARE(AuthThrottle::peerKey(first) == AuthThrottle::peerKey(second), same);
        // And the throttle treats them so.
        Throttled t;
        t.fail(10, first);
        QCOMPARE(t.throttle.retryAfter(second), same ? 6s : 0s);
    }

    void refuseAnswers429WithRetryAfter()
    {
        Throttled t;
        Conn conn = TestUtil::makeConn("GET", "/api/connections");
        conn.peerAddress = kPeer;
        QVERIFY(!t.throttle.refuse(conn));
        QCOMPARE(conn.status, 0);
        t.fail(10);
        t.now += 2'500;
        QVERIFY(t.throttle.refuse(conn));
        QVERIFY(conn.halted);
        QCOMPARE(conn.status, 429);
        QCOMPARE(conn.respHeader("retry-after"), QByteArray("4"));
        QCOMPARE(conn.respHeader("content-type"), QByteArray("application/json"));
        const QJsonObject error = QJsonDocument::fromJson(conn.respBody)
                                          .object()
                                          .value(QStringLiteral("error"))
                                          .toObject();
        QCOMPARE(error.value(QStringLiteral("status")).toInt(), 429);
        QCOMPARE(error.value(QStringLiteral("message")).toString(),
                 QStringLiteral("too many wrong test tokens from this address; retry in 4 s"));
    }

    void tableIsBounded()
    {
        AuthThrottleSettings settings;
        settings.maxPeers = 4;
        Throttled t(settings);
        const auto peer = [](int i) {
            return QHostAddress(quint32(0xc0000200 + i));
        };
        t.fail(10, peer(0)); // a guesser, locked out
        for (int i = 1; i <= 100; ++i)
            t.fail(1, peer(i)); // many peers with one failure each
        QCOMPARE(t.throttle.peerCount(), 4);
        // The emptiest buckets went; the guesser is still remembered.
        QCOMPARE(t.throttle.retryAfter(peer(0)), 6s);
        // Buckets that emptied are forgotten first.
        t.now += 7'000;
        t.fail(1, peer(200));
        QCOMPARE(t.throttle.peerCount(), 2);
    }

    void capacityZeroTurnsItOff()
    {
        AuthThrottleSettings settings;
        settings.capacity = 0;
        Throttled t(settings);
        t.fail(100);
        QCOMPARE(t.throttle.retryAfter(kPeer), 0s);
        QCOMPARE(t.throttle.peerCount(), 0);
    }
};

QTEST_GUILESS_MAIN(tst_AuthThrottle)
#include "tst_auththrottle.moc"
