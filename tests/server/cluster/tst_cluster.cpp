// Cluster mode end to end: a real redis-server and two real `switchboard`
// processes joined through it, with WebSocket clients on each.

#include "cluster/cluster.h"
#include "clusterutil.h"
#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace TestUtil;

class tst_Cluster : public QObject
{
    Q_OBJECT

private:
    using Instance = ClusterInstance;

    static bool startInstance(Instance &instance, const QString &redisUrl)
    {
        return instance.process.start(
                {QStringLiteral("--no-gui"), QStringLiteral("--admin-token"),
                 QString::fromLatin1(kClusterAdminToken), QStringLiteral("--cluster"), redisUrl,
                 QStringLiteral("--cluster-secret"), QString::fromLatin1(kClusterSecret),
                 QStringLiteral("--node-name"), instance.node});
    }

    static QString health(const Instance &instance)
    {
        return request(instance.port(), "GET", "/api/health")
                .json()
                .value(QStringLiteral("cluster"))
                .toString();
    }

    /*! Waits until both instances list one session each, A's and B's. */
    bool waitForFullListing()
    {
        return waitFor(
                [this] {
                    for (const Instance *instance : {&m_a, &m_b}) {
                        const auto listing = clusterListing(*instance);
                        if (listing.count(m_a.node) != 1 || listing.count(m_b.node) != 1)
                            return false;
                    }
                    return true;
                },
                15000);
    }

    RedisServer m_redis;
    Instance m_a{QStringLiteral("alpha"), {}};
    Instance m_b{QStringLiteral("beta"), {}};
    std::unique_ptr<Client> m_clientA;
    std::unique_ptr<Client> m_clientB;

private slots:
    void initTestCase()
    {
        QVERIFY2(QFile::exists(SwitchboardProcess::binary()),
                 "SWITCHBOARD_BINARY must name the built switchboard binary");
        if (!m_redis.isInstalled())
            QSKIP(kNoRedis);
        QVERIFY2(m_redis.start(), "redis-server did not start");
        QVERIFY2(startInstance(m_a, m_redis.url()), "instance alpha did not start");
        QVERIFY2(startInstance(m_b, m_redis.url()), "instance beta did not start");
        QTRY_COMPARE_WITH_TIMEOUT(health(m_a), QStringLiteral("ok"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health(m_b), QStringLiteral("ok"), 10000);

        m_clientA = std::make_unique<Client>(m_a.process.url());
        m_clientB = std::make_unique<Client>(m_b.process.url());
        QVERIFY(m_clientA->waitGreeted());
        QVERIFY(m_clientB->waitGreeted());
    }

    void cleanupTestCase()
    {
        m_clientA.reset();
        m_clientB.reset();
        m_a.process.stop();
        m_b.process.stop();
        m_redis.kill();
    }

    void clusterListingShowsBothInstances()
    {
        QVERIFY2(waitForFullListing(), "each instance must list the sessions of both");
        const auto listing = clusterListing(m_a);
        QVERIFY(listing.value(m_a.node).startsWith(m_a.node + u':'));
        QVERIFY(listing.value(m_b.node).startsWith(m_b.node + u':'));
        // The plain listing stays local and numeric.
        const QJsonArray local = admin(m_a, "GET", "/api/connections")
                                         .json()
                                         .value(QStringLiteral("connections"))
                                         .toArray();
        QCOMPARE(local.size(), 1);
        QVERIFY(local.first()[QStringLiteral("id")].isDouble());
    }

    void broadcastReachesEveryInstanceOnce()
    {
        const HttpResponse response = admin(m_a, "POST", "/api/broadcast", "to everyone");
        QCOMPARE(response.status, 200);
        QCOMPARE(response.json().value(QStringLiteral("delivered")).toInt(), 1); // local count
        QTRY_COMPARE(m_clientA->texts.count(QStringLiteral("to everyone")), 1);
        QTRY_COMPARE(m_clientB->texts.count(QStringLiteral("to everyone")), 1);

        // A marker sent through Redis after the broadcast: once it arrives, any
        // duplicate of the broadcast (which would travel the same channel first)
        // would have arrived too.
        const QString idA = clusterListing(m_b).value(m_a.node);
        const QString idB = clusterListing(m_a).value(m_b.node);
        QCOMPARE(
                admin(m_b, "POST", "/api/connections/" + idA.toUtf8() + "/send", "marker A").status,
                202);
        QCOMPARE(
                admin(m_a, "POST", "/api/connections/" + idB.toUtf8() + "/send", "marker B").status,
                202);
        QTRY_VERIFY(m_clientA->texts.contains(QStringLiteral("marker A")));
        QTRY_VERIFY(m_clientB->texts.contains(QStringLiteral("marker B")));
        QCOMPARE(m_clientA->texts.count(QStringLiteral("to everyone")), 1);
        QCOMPARE(m_clientB->texts.count(QStringLiteral("to everyone")), 1);
    }

    void sendToOneOnAnotherInstance()
    {
        const QString idB = clusterListing(m_a).value(m_b.node);
        QVERIFY(idB.startsWith(m_b.node + u':'));
        QCOMPARE(admin(m_a, "POST", "/api/connections/" + idB.toUtf8() + "/send", "just for B")
                         .status,
                 202);
        QTRY_VERIFY(m_clientB->texts.contains(QStringLiteral("just for B")));
        QVERIFY(!m_clientA->texts.contains(QStringLiteral("just for B")));
        // An unknown remote session is a 404, not a silent success.
        QCOMPARE(admin(m_a, "POST", "/api/connections/" + m_b.node.toUtf8() + ":999/send", "x")
                         .status,
                 404);
    }

    void chatRelaysAcrossInstances()
    {
        // A handler's Hub::broadcast (here /ws/chat) crosses too, keeping its path filter
        // and skipping only the sender.
        Client chatA(m_a.process.url(QStringLiteral("/ws/chat")));
        Client chatB(m_b.process.url(QStringLiteral("/ws/chat")));
        QVERIFY(chatA.waitGreeted());
        QVERIFY(chatB.waitGreeted());
        chatA.socket.sendTextMessage(QStringLiteral("hi from A"));
        QTRY_COMPARE(chatB.texts.count(QStringLiteral("hi from A")), 1);
        chatA.socket.sendBinaryMessage(QByteArray("\x00\x01\xff", 3));
        QTRY_COMPARE(chatB.binaries.size(), 1);
        QCOMPARE(chatB.binaries.first(), QByteArray("\x00\x01\xff", 3));
        QVERIFY(!chatA.texts.contains(QStringLiteral("hi from A")));
        QVERIFY(!m_clientB->texts.contains(QStringLiteral("hi from A"))); // other path
    }

    void redisOutageDegradesAndRecovers()
    {
        m_redis.kill();
        QTRY_COMPARE_WITH_TIMEOUT(health(m_a), QStringLiteral("degraded"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health(m_b), QStringLiteral("degraded"), 10000);

        // Local traffic goes on: echo and local broadcast.
        m_clientA->socket.sendTextMessage(QStringLiteral("still here"));
        QTRY_VERIFY(m_clientA->texts.contains(QStringLiteral("still here")));
        const HttpResponse local = admin(m_a, "POST", "/api/broadcast", "local only");
        QCOMPARE(local.status, 200);
        QCOMPARE(local.json().value(QStringLiteral("delivered")).toInt(), 1);
        QTRY_VERIFY(m_clientA->texts.contains(QStringLiteral("local only")));

        QVERIFY2(m_redis.start(), "redis-server did not restart");
        QTRY_COMPARE_WITH_TIMEOUT(health(m_a), QStringLiteral("ok"), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(health(m_b), QStringLiteral("ok"), 20000);
        QVERIFY2(waitForFullListing(), "listings must recover after Redis is back");

        QCOMPARE(admin(m_a, "POST", "/api/broadcast", "after the outage").status, 200);
        QTRY_COMPARE(m_clientB->texts.count(QStringLiteral("after the outage")), 1);
        QCOMPARE(m_clientA->texts.count(QStringLiteral("after the outage")), 1);
        QVERIFY(!m_clientB->texts.contains(QStringLiteral("local only")));
    }

    void closeOnAnotherInstance()
    {
        Client extra(m_b.process.url());
        QVERIFY(extra.waitGreeted());
        QStringList idsOnB;
        QVERIFY(waitFor(
                [&] {
                    idsOnB = clusterListing(m_a).values(m_b.node);
                    return idsOnB.size() == 2;
                },
                15000));
        // The newer session has the higher local id.
        const auto localId = [](const QString &id) {
            return id.section(u':', -1).toULongLong();
        };
        const QString idExtra
                = localId(idsOnB.at(0)) > localId(idsOnB.at(1)) ? idsOnB.at(0) : idsOnB.at(1);
        QCOMPARE(admin(m_a, "DELETE", "/api/connections/" + idExtra.toUtf8()).status, 202);
        QTRY_VERIFY(extra.closed);
        QCOMPARE(extra.closeCode, 4000);
        QVERIFY(!m_clientB->closed);
    }

    void remoteSessionsChangedFollowsHeartbeats()
    {
        // An in-process instance, as the console watches it.
        Switchboard::Hub hub;
        Switchboard::ClusterSettings settings;
        settings.redis.host = QStringLiteral("127.0.0.1");
        settings.redis.port = m_redis.port();
        settings.secret = kClusterSecret;
        Switchboard::Cluster observer(&hub, settings);
        QSignalSpy started(&observer, &Switchboard::Cluster::started);
        QSignalSpy changed(&observer, &Switchboard::Cluster::remoteSessionsChanged);
        // What a slot sees: the signal is queued, so the listing is complete by then.
        QList<QStringList> seen;
        connect(&observer, &Switchboard::Cluster::remoteSessionsChanged, this, [&] {
            QStringList ids;
            for (const auto &session : observer.remoteSessions())
                ids.append(session.info.value(QStringLiteral("id")).toString());
            ids.sort();
            seen.append(ids);
        });
        observer.start(QStringLiteral("observer"));
        QCOMPARE(started.size(), 1);
        QCOMPARE(observer.nodeName(), QStringLiteral("observer"));

        QTRY_COMPARE_WITH_TIMEOUT(observer.remoteNodes(), (QStringList{m_a.node, m_b.node}), 10000);
        QVERIFY(!changed.isEmpty());
        const QString idA = clusterListing(m_b).value(m_a.node);
        const QString idB = clusterListing(m_a).value(m_b.node);
        QTRY_COMPARE_WITH_TIMEOUT(seen.value(seen.size() - 1), (QStringList{idA, idB}), 10000);

        // A new session on beta arrives with beta's next heartbeat.
        Client extra(m_b.process.url());
        QVERIFY(extra.waitGreeted());
        QTRY_COMPARE_WITH_TIMEOUT(seen.value(seen.size() - 1).size(), 3, 10000);
        extra.socket.close();
        QTRY_COMPARE_WITH_TIMEOUT(seen.value(seen.size() - 1), (QStringList{idA, idB}), 10000);
    }

    void silentInstanceDropsOut()
    {
        m_b.process.stop();
        // Three missed one-second beats; polled, with slack for a loaded machine.
        QVERIFY(waitFor([this] { return !clusterListing(m_a).contains(m_b.node); }, 15000));
        QCOMPARE(clusterListing(m_a).count(m_a.node), 1);
    }

    void startsDegradedWithoutRedis()
    {
        // Nothing listens on this port: the instance serves locally all the same.
        Instance lonely{QStringLiteral("lonely"), {}};
        QVERIFY2(startInstance(lonely, QStringLiteral("redis://127.0.0.1:%1").arg(freePort())),
                 "must start even though Redis is down");
        QCOMPARE(health(lonely), QStringLiteral("degraded"));
        Client client(lonely.process.url());
        QVERIFY(client.waitGreeted());
        client.socket.sendTextMessage(QStringLiteral("echo me"));
        QTRY_VERIFY(client.texts.contains(QStringLiteral("echo me")));
        QCOMPARE(admin(lonely, "POST", "/api/broadcast", "local")
                         .json()
                         .value(QStringLiteral("delivered")),
                 1);
        QCOMPARE(admin(lonely, "POST", "/api/connections/other:1/send", "x").status, 404);
        lonely.process.stop();
    }

    void standaloneHealthHasNoClusterKey()
    {
        SwitchboardProcess alone;
        QVERIFY(alone.start({QStringLiteral("--no-gui")}));
        const QJsonObject json = request(alone.port(), "GET", "/api/health").json();
        alone.stop();
        QCOMPARE(json.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        QVERIFY(!json.contains(QStringLiteral("cluster")));
    }
};

QTEST_GUILESS_MAIN(tst_Cluster)
#include "tst_cluster.moc"
