// Cluster mode end to end: a real redis-server and two real `switchboard`
// processes joined through it, with WebSocket clients on each.

#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtNetwork/QTcpServer>
#include <QtTest/QTest>

#include <memory>

using namespace TestUtil;

namespace {

constexpr QByteArrayView kToken = "cluster-test-token";

quint16 freePort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

} // namespace

class tst_Cluster : public QObject
{
    Q_OBJECT

private:
    struct Instance
    {
        QString node;
        std::unique_ptr<QProcess> process;
        quint16 port = 0;
    };

    static QString binary() { return qEnvironmentVariable("SWITCHBOARD_BINARY"); }

    /*! Starts redis-server on m_redisPort; true once it accepts connections. */
    bool startRedis()
    {
        m_redis = std::make_unique<QProcess>();
        m_redis->setProcessChannelMode(QProcess::MergedChannels);
        m_redis->start(m_redisBinary,
                       {QStringLiteral("--port"), QString::number(m_redisPort),
                        QStringLiteral("--bind"), QStringLiteral("127.0.0.1"),
                        QStringLiteral("--save"), QString(), QStringLiteral("--appendonly"),
                        QStringLiteral("no")});
        if (!m_redis->waitForStarted(5000))
            return false;
        QByteArray output;
        return waitFor(
                       [&] {
                           output += m_redis->readAll();
                           return output.contains("Ready to accept connections")
                                   || m_redis->state() == QProcess::NotRunning;
                       },
                       10000)
                && m_redis->state() == QProcess::Running;
    }

    void killRedis()
    {
        if (!m_redis)
            return;
        m_redis->kill(); // by the PID QProcess started, like a crash
        m_redis->waitForFinished(5000);
        m_redis.reset();
    }

    static bool startInstance(Instance &instance, quint16 redisPort)
    {
        instance.process = std::make_unique<QProcess>();
        instance.process->start(binary(),
                                {QStringLiteral("--no-gui"), QStringLiteral("--port"),
                                 QStringLiteral("0"), QStringLiteral("--admin-token"),
                                 QString::fromLatin1(kToken), QStringLiteral("--cluster"),
                                 QStringLiteral("redis://127.0.0.1:%1").arg(redisPort),
                                 QStringLiteral("--node-name"), instance.node});
        if (!instance.process->waitForStarted(5000))
            return false;
        QString output;
        waitFor(
                [&] {
                    output += QString::fromUtf8(instance.process->readAllStandardOutput());
                    return output.contains(u'\n')
                            || instance.process->state() == QProcess::NotRunning;
                },
                10000);
        static const QRegularExpression line(
                QStringLiteral("^Switchboard listening on http://127\\.0\\.0\\.1:(\\d+) "));
        const auto match = line.match(output);
        instance.port = match.hasMatch() ? quint16(match.captured(1).toUInt()) : 0;
        return instance.port != 0;
    }

    static void stopInstance(Instance &instance)
    {
        if (!instance.process)
            return;
        instance.process->terminate();
        if (!instance.process->waitForFinished(5000))
            instance.process->kill();
        instance.process->waitForFinished(5000);
        instance.process.reset();
    }

    static HttpResponse admin(const Instance &instance, const QByteArray &method,
                              const QByteArray &path, const QByteArray &body = {})
    {
        return request(instance.port, method, path,
                       {{"Authorization", "Bearer " + kToken.toByteArray()},
                        {"Content-Type", "text/plain"}},
                       body);
    }

    static QString health(const Instance &instance)
    {
        return request(instance.port, "GET", "/api/health")
                .json()
                .value(QStringLiteral("cluster"))
                .toString();
    }

    /*! The cluster listing as seen from \a instance: node -> global ids. */
    static QMultiHash<QString, QString> clusterListing(const Instance &instance)
    {
        QMultiHash<QString, QString> out;
        const QJsonArray list = admin(instance, "GET", "/api/connections?scope=cluster")
                                        .json()
                                        .value(QStringLiteral("connections"))
                                        .toArray();
        for (const QJsonValue &entry : list)
            out.insert(entry[QStringLiteral("node")].toString(),
                       entry[QStringLiteral("id")].toString());
        return out;
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

    QString m_redisBinary;
    quint16 m_redisPort = 0;
    std::unique_ptr<QProcess> m_redis;
    Instance m_a{QStringLiteral("alpha"), {}, 0};
    Instance m_b{QStringLiteral("beta"), {}, 0};
    std::unique_ptr<Client> m_clientA;
    std::unique_ptr<Client> m_clientB;

private slots:
    void initTestCase()
    {
        QVERIFY2(QFile::exists(binary()),
                 "SWITCHBOARD_BINARY must name the built switchboard binary");
        m_redisBinary = QStandardPaths::findExecutable(QStringLiteral("redis-server"));
        if (m_redisBinary.isEmpty())
            QSKIP("redis-server is not installed (Debian package redis-server; ./dev test "
                  "installs it): cluster tests skipped");
        m_redisPort = freePort();
        QVERIFY(m_redisPort != 0);
        QVERIFY2(startRedis(), "redis-server did not start");
        QVERIFY2(startInstance(m_a, m_redisPort), "instance alpha did not start");
        QVERIFY2(startInstance(m_b, m_redisPort), "instance beta did not start");
        QTRY_COMPARE_WITH_TIMEOUT(health(m_a), QStringLiteral("ok"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health(m_b), QStringLiteral("ok"), 10000);

        m_clientA = std::make_unique<Client>(QStringLiteral("ws://127.0.0.1:%1/ws").arg(m_a.port));
        m_clientB = std::make_unique<Client>(QStringLiteral("ws://127.0.0.1:%1/ws").arg(m_b.port));
        QVERIFY(m_clientA->waitGreeted());
        QVERIFY(m_clientB->waitGreeted());
    }

    void cleanupTestCase()
    {
        m_clientA.reset();
        m_clientB.reset();
        stopInstance(m_a);
        stopInstance(m_b);
        killRedis();
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
        Client chatA(QStringLiteral("ws://127.0.0.1:%1/ws/chat").arg(m_a.port));
        Client chatB(QStringLiteral("ws://127.0.0.1:%1/ws/chat").arg(m_b.port));
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
        killRedis();
        QTRY_COMPARE_WITH_TIMEOUT(health(m_a), QStringLiteral("degraded"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health(m_b), QStringLiteral("degraded"), 10000);

        // Local traffic goes on: echo and local broadcast.
        m_clientA->socket.sendTextMessage(QStringLiteral("still here"));
        QTRY_VERIFY(m_clientA->texts.contains(QStringLiteral("still here")));
        const HttpResponse local = admin(m_a, "POST", "/api/broadcast", "local only");
        QCOMPARE(local.status, 200);
        QCOMPARE(local.json().value(QStringLiteral("delivered")).toInt(), 1);
        QTRY_VERIFY(m_clientA->texts.contains(QStringLiteral("local only")));

        QVERIFY2(startRedis(), "redis-server did not restart");
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
        Client extra(QStringLiteral("ws://127.0.0.1:%1/ws").arg(m_b.port));
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

    void silentInstanceDropsOut()
    {
        stopInstance(m_b);
        // Three missed one-second beats; polled, with slack for a loaded machine.
        QVERIFY(waitFor([this] { return !clusterListing(m_a).contains(m_b.node); }, 15000));
        QCOMPARE(clusterListing(m_a).count(m_a.node), 1);
    }

    void startsDegradedWithoutRedis()
    {
        // Nothing listens on this port: the instance serves locally all the same.
        Instance lonely{QStringLiteral("lonely"), {}, 0};
        QVERIFY2(startInstance(lonely, freePort()), "must start even though Redis is down");
        QCOMPARE(health(lonely), QStringLiteral("degraded"));
        Client client(QStringLiteral("ws://127.0.0.1:%1/ws").arg(lonely.port));
        QVERIFY(client.waitGreeted());
        client.socket.sendTextMessage(QStringLiteral("echo me"));
        QTRY_VERIFY(client.texts.contains(QStringLiteral("echo me")));
        QCOMPARE(admin(lonely, "POST", "/api/broadcast", "local")
                         .json()
                         .value(QStringLiteral("delivered")),
                 1);
        QCOMPARE(admin(lonely, "POST", "/api/connections/other:1/send", "x").status, 404);
        stopInstance(lonely);
    }

    void standaloneHealthHasNoClusterKey()
    {
        Instance alone{QStringLiteral("alone"), std::make_unique<QProcess>(), 0};
        alone.process->start(
                binary(),
                {QStringLiteral("--no-gui"), QStringLiteral("--port"), QStringLiteral("0")});
        QVERIFY(alone.process->waitForStarted(5000));
        QString output;
        QVERIFY(waitFor([&] {
            output += QString::fromUtf8(alone.process->readAllStandardOutput());
            return output.contains(u'\n');
        }));
        static const QRegularExpression line(QStringLiteral("http://127\\.0\\.0\\.1:(\\d+)"));
        alone.port = quint16(line.match(output).captured(1).toUInt());
        const QJsonObject json = request(alone.port, "GET", "/api/health").json();
        stopInstance(alone);
        QCOMPARE(json.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        QVERIFY(!json.contains(QStringLiteral("cluster")));
    }
};

QTEST_GUILESS_MAIN(tst_Cluster)
#include "tst_cluster.moc"
