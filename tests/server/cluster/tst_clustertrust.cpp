// What the cluster trusts, end to end: a real redis-server (with and without
// credentials), real `switchboard` processes, and envelopes published by hand
// with redis-cli, as anyone who can reach the Redis server could.

#include "cluster/cluster.h"
#include "cluster/envelope.h"
#include "cluster/redislink.h"
#include "clusterutil.h"
#include "testutil.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <memory>

using namespace TestUtil;
using Switchboard::EnvelopeCodec;

namespace {

const QByteArray kChannel = "switchboard:cluster:0";

qint64 now()
{
    return QDateTime::currentMSecsSinceEpoch();
}

/*! An envelope sealed by a node named \a origin that knows \a secret. */
QByteArray sealed(const QByteArray &secret, const QString &origin, const QString &type,
                  const QString &target, const QJsonObject &payload,
                  const QByteArray &channel = kChannel)
{
    EnvelopeCodec codec(secret, channel, origin, EnvelopeCodec::newBoot());
    return codec.seal(type, target, payload, now());
}

QJsonObject text(const QString &text)
{
    return {{QStringLiteral("text"), text}};
}

} // namespace

class tst_ClusterTrust : public QObject
{
    Q_OBJECT

private:
    using Instance = ClusterInstance;

    static bool startInstance(Instance &instance, const QString &redisUrl,
                              const QStringList &more = {})
    {
        return instance.process.start(
                QStringList{QStringLiteral("--no-gui"), QStringLiteral("--admin-token"),
                            QString::fromLatin1(kClusterAdminToken), QStringLiteral("--cluster"),
                            redisUrl, QStringLiteral("--node-name"), instance.node}
                + more);
    }

    static bool startSecured(Instance &instance, const QString &redisUrl,
                             const QByteArray &secret = kClusterSecret)
    {
        return startInstance(instance, redisUrl,
                             {QStringLiteral("--cluster-secret"), QString::fromLatin1(secret),
                              QStringLiteral("--max-message-size"), QStringLiteral("64K")});
    }

    /*! GET /api/cluster of \a instance. */
    static QJsonObject clusterState(const Instance &instance)
    {
        return admin(instance, "GET", "/api/cluster").json();
    }

    static qint64 dropped(const Instance &instance, const QString &kind)
    {
        return clusterState(instance)
                .value(QStringLiteral("dropped"))
                .toObject()
                .value(kind)
                .toInteger(-1);
    }

    /*! The value of \a series in \a instance's GET /metrics; -1 if absent. */
    static double metric(const Instance &instance, const QByteArray &series)
    {
        const QByteArray body = admin(instance, "GET", "/metrics").body;
        for (const QByteArray &line : body.split('\n')) {
            if (line.startsWith(QByteArray(series + ' ')))
                return line.mid(series.size() + 1).toDouble();
        }
        return -1;
    }

    /*! The nodes \a instance lists sessions of (scope=cluster). */
    static QSet<QString> listedNodes(const Instance &instance)
    {
        const QList<QString> nodes = clusterListing(instance).keys();
        return {nodes.cbegin(), nodes.cend()};
    }

    /*! The global id of \a instance's only local session. */
    static QString onlySessionId(const Instance &instance)
    {
        const QJsonArray local = admin(instance, "GET", "/api/connections")
                                         .json()
                                         .value(QStringLiteral("connections"))
                                         .toArray();
        if (local.size() != 1)
            return {};
        return instance.node + u':'
                + QString::number(local.first()[QStringLiteral("id")].toInteger());
    }

    /*!
        Sends \a marker from beta to alpha's client through Redis and waits for
        it: whatever was published before it has been handled by then.
    */
    bool markerArrives(const QString &marker)
    {
        if (admin(m_beta, "POST", "/api/broadcast", marker.toUtf8()).status != 200)
            return false;
        return waitFor([&] { return m_client->texts.contains(marker); }, 10000);
    }

    bool publishToAll(const QByteArray &envelope)
    {
        return !m_redis.cli({QStringLiteral("PUBLISH"), QString::fromLatin1(kChannel),
                             QString::fromUtf8(envelope)})
                        .isEmpty();
    }

    RedisServer m_redis;
    Instance m_alpha{QStringLiteral("alpha"), {}};
    Instance m_beta{QStringLiteral("beta"), {}};
    std::unique_ptr<Client> m_client; // on alpha
    int m_markers = 0;

    QString nextMarker() { return QStringLiteral("marker %1").arg(++m_markers); }

private slots:
    void initTestCase()
    {
        QVERIFY2(QFile::exists(SwitchboardProcess::binary()),
                 "SWITCHBOARD_BINARY must name the built switchboard binary");
        if (!m_redis.isInstalled())
            QSKIP(kNoRedis);
        QVERIFY2(m_redis.start(), "redis-server did not start");
        QVERIFY2(startSecured(m_alpha, m_redis.url()), "instance alpha did not start");
        QVERIFY2(startSecured(m_beta, m_redis.url()), "instance beta did not start");
        QTRY_VERIFY_WITH_TIMEOUT(clusterState(m_alpha).value(QStringLiteral("connected")).toBool(),
                                 10000);
        QTRY_VERIFY_WITH_TIMEOUT(clusterState(m_beta).value(QStringLiteral("connected")).toBool(),
                                 10000);
        m_client = std::make_unique<Client>(m_alpha.process.url());
        QVERIFY(m_client->waitGreeted());
        QVERIFY(markerArrives(nextMarker())); // the cluster works
        const QJsonObject state = clusterState(m_alpha);
        QVERIFY(state.value(QStringLiteral("authenticated")).toBool());
        QCOMPARE(state.value(QStringLiteral("redis")).toString(), m_redis.url() + u"/0");
    }

    void cleanupTestCase()
    {
        m_client.reset();
        m_alpha.process.stop();
        m_beta.process.stop();
        m_redis.kill();
    }

    void metricsShowTheCluster()
    {
        QVERIFY(markerArrives(nextMarker())); // beta's broadcast, relayed to alpha
        QCOMPARE(metric(m_alpha, "switchboard_cluster_connected"), 1.0);
        QTRY_COMPARE(metric(m_alpha, "switchboard_cluster_peers"), 1.0); // beta
        QVERIFY(metric(m_alpha, "switchboard_cluster_messages_published_total") > 0); // beats
        QVERIFY(metric(m_alpha, "switchboard_cluster_messages_received_total") > 0);
        QVERIFY(metric(m_beta, "switchboard_broadcasts_total") >= 1);
    }

    void forgedEnvelopeReachesNoClient_data()
    {
        QTest::addColumn<QByteArray>("envelope");
        QTest::addColumn<QString>("counter");
        const QString target = QStringLiteral(""); // a broadcast to every path
        const QJsonObject payload = text(QStringLiteral("forged"));
        const QByteArray json
                = QJsonDocument(QJsonObject{{QStringLiteral("v"), 2},
                                            {QStringLiteral("type"), QStringLiteral("broadcast")},
                                            {QStringLiteral("origin"), QStringLiteral("mallory")},
                                            {QStringLiteral("boot"), QStringLiteral("1f")},
                                            {QStringLiteral("seq"), 1},
                                            {QStringLiteral("ts"), now()},
                                            {QStringLiteral("target"), target},
                                            {QStringLiteral("payload"), payload}})
                          .toJson(QJsonDocument::Compact);
        // What a Switchboard before protocol 2 published: no MAC at all.
        QTest::newRow("protocol 1")
                << QJsonDocument(QJsonObject{{QStringLiteral("type"), QStringLiteral("broadcast")},
                                             {QStringLiteral("origin"), QStringLiteral("mallory")},
                                             {QStringLiteral("path"), target},
                                             {QStringLiteral("frame"), payload}})
                           .toJson(QJsonDocument::Compact)
                << QStringLiteral("version");
        QTest::newRow("insecure form") << "-." + json << QStringLiteral("unauthenticated");
        QTest::newRow("made-up MAC")
                << QByteArray(43, 'A') + '.' + json << QStringLiteral("forged");
        QTest::newRow("another secret")
                << sealed("not the cluster's secret at all", QStringLiteral("mallory"),
                          QStringLiteral("broadcast"), target, payload)
                << QStringLiteral("forged");
        // Sealed for another cluster's channel (the same secret, database 1).
        QTest::newRow("another channel")
                << sealed(kClusterSecret, QStringLiteral("gamma"), QStringLiteral("broadcast"),
                          target, payload, "switchboard:cluster:1")
                << QStringLiteral("forged");
        // A genuine envelope, altered on the way.
        QByteArray altered = sealed(kClusterSecret, QStringLiteral("gamma"),
                                    QStringLiteral("broadcast"), target, text(QStringLiteral("f")));
        altered.replace("\"text\":\"f\"", "\"text\":\"forged\"");
        QTest::newRow("altered") << altered << QStringLiteral("forged");
    }

    void forgedEnvelopeReachesNoClient()
    {
        QFETCH(QByteArray, envelope);
        QFETCH(QString, counter);
        const qint64 before = dropped(m_alpha, counter);
        QVERIFY(before >= 0);
        QVERIFY2(publishToAll(envelope), "redis-cli PUBLISH failed");
        QVERIFY(markerArrives(nextMarker()));
        QVERIFY2(!m_client->texts.contains(QStringLiteral("forged")), "a forged envelope got in");
        QTRY_COMPARE(dropped(m_alpha, counter), before + 1);
        // /metrics shows the same counter, not a second count.
        QCOMPARE(metric(m_alpha,
                        "switchboard_cluster_dropped_total{reason=\"" + counter.toUtf8() + "\"}"),
                 double(before + 1));
        QVERIFY(!clusterState(m_alpha)
                         .value(QStringLiteral("nodes"))
                         .toArray()
                         .contains(QStringLiteral("mallory")));
    }

    void dropsAreLoggedAtAGentleRate()
    {
        // Many forgeries, a few log lines: one per kind per 10 s, with a count.
        for (int i = 0; i < 20; ++i)
            QVERIFY(publishToAll(QByteArray(43, 'B') + ".{}"));
        QVERIFY(markerArrives(nextMarker()));
        QString log;
        QVERIFY(waitFor(
                [&] {
                    log = m_alpha.process.errorOutput();
                    return log.contains(u"dropped");
                },
                5000));
        const qsizetype lines = log.count(QStringLiteral("cluster envelope(s) (forged)"));
        QVERIFY2(lines >= 1 && lines <= 3, qPrintable(log));
        QVERIFY2(!log.contains(QString::fromLatin1(kClusterSecret)), "the secret was logged");
    }

    void replayedEnvelopeIsDropped()
    {
        // Listen like an eavesdropper, capture beta's broadcast, and publish it again.
        QProcess listener;
        listener.start(QStringLiteral("redis-cli"),
                       {QStringLiteral("-p"), QString::number(m_redis.port()),
                        QStringLiteral("SUBSCRIBE"), QString::fromLatin1(kChannel)});
        QVERIFY(listener.waitForStarted());
        QByteArray heard;
        QVERIFY(waitFor(
                [&] {
                    heard += listener.readAllStandardOutput();
                    return heard.contains("subscribe\n");
                },
                5000));
        QCOMPARE(admin(m_beta, "POST", "/api/broadcast", "only once").status, 200);
        QTRY_COMPARE(m_client->texts.count(QStringLiteral("only once")), 1);
        QByteArray captured;
        QVERIFY(waitFor(
                [&] {
                    heard += listener.readAllStandardOutput();
                    for (const QByteArray &line : heard.split('\n')) {
                        if (line.contains("only once"))
                            captured = line;
                    }
                    return !captured.isEmpty();
                },
                5000));
        listener.kill();
        listener.waitForFinished();

        const qint64 before = dropped(m_alpha, QStringLiteral("replayed"));
        QVERIFY(publishToAll(captured));
        QVERIFY(publishToAll(captured));
        QVERIFY(markerArrives(nextMarker()));
        QCOMPARE(m_client->texts.count(QStringLiteral("only once")), 1);
        QTRY_COMPARE(dropped(m_alpha, QStringLiteral("replayed")), before + 2);
    }

    void valuesFromRedisAreValidated_data()
    {
        // Sealed with the right secret: authenticated, and still not trusted blindly.
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("target"); // "*" = alpha's session
        QTest::addColumn<QJsonObject>("payload");
        const auto close = [](const QJsonValue &code, const QJsonValue &reason = {}) {
            QJsonObject payload{{QStringLiteral("code"), code}};
            if (!reason.isNull())
                payload.insert(QStringLiteral("reason"), reason);
            return payload;
        };
        QTest::newRow("close 1005") << "close"
                                    << "*" << close(1005);
        QTest::newRow("close 1006") << "close"
                                    << "*" << close(1006);
        QTest::newRow("close 999") << "close"
                                   << "*" << close(999);
        QTest::newRow("close 5000") << "close"
                                    << "*" << close(5000);
        QTest::newRow("close 70000") << "close"
                                     << "*" << close(70000);
        QTest::newRow("close 4000.5") << "close"
                                      << "*" << close(4000.5);
        QTest::newRow("close code text") << "close"
                                         << "*" << close(QStringLiteral("4000"));
        QTest::newRow("close long reason") << "close"
                                           << "*" << close(4000, QString(124, u'x'));
        QTest::newRow("send bad id") << "send"
                                     << "alpha:x1" << text(QStringLiteral("bad"));
        QTest::newRow("send no frame") << "send"
                                       << "*" << QJsonObject{};
        QTest::newRow("send too big") << "send"
                                      << "*" << text(QString(65 * 1024, u'z')); // alpha allows 64K
        QTest::newRow("broadcast bad path") << "broadcast"
                                            << "ws" << text(QStringLiteral("bad path"));
        QTest::newRow("heartbeat of alpha's sessions")
                << "heartbeat"
                << ""
                << QJsonObject{{QStringLiteral("sessions"),
                                QJsonArray{QJsonObject{
                                        {QStringLiteral("id"), QStringLiteral("alpha:1")},
                                        {QStringLiteral("node"), QStringLiteral("alpha")}}}}};
    }

    void valuesFromRedisAreValidated()
    {
        QFETCH(QString, type);
        QFETCH(QString, target);
        QFETCH(QJsonObject, payload);
        const QString session = onlySessionId(m_alpha);
        QVERIFY(!session.isEmpty());
        const qint64 before = dropped(m_alpha, QStringLiteral("malformed"));
        const qsizetype texts = m_client->texts.size();
        QVERIFY(publishToAll(sealed(kClusterSecret, QStringLiteral("tester"), type,
                                    target == u"*" ? session : target, payload)));
        QVERIFY(markerArrives(nextMarker()));
        QTRY_COMPARE(dropped(m_alpha, QStringLiteral("malformed")), before + 1);
        QVERIFY(!m_client->closed);
        QCOMPARE(m_client->texts.size(), texts + 1); // the marker only
        QVERIFY(!listedNodes(m_alpha).contains(QStringLiteral("tester")));
    }

    void heartbeatsCarryChangesAndForgetWhatNoBeatLists()
    {
        // One sender (one boot) whose beats say what changed, as Switchboard's do.
        EnvelopeCodec tester(kClusterSecret, kChannel, QStringLiteral("tester"),
                             EnvelopeCodec::newBoot());
        const auto entry = [](int id) {
            return QJsonObject{{QStringLiteral("id"), QStringLiteral("tester:%1").arg(id)},
                               {QStringLiteral("node"), QStringLiteral("tester")}};
        };
        const auto beat = [&](const QJsonObject &payload) {
            return publishToAll(tester.seal(QStringLiteral("heartbeat"), {}, payload, now()));
        };
        const auto listed = [this] {
            QStringList ids = clusterListing(m_alpha).values(QStringLiteral("tester"));
            ids.sort();
            return ids;
        };
        QVERIFY(beat({{QStringLiteral("sessions"), QJsonArray{entry(1), entry(2)}}}));
        QTRY_COMPARE(listed(),
                     (QStringList{QStringLiteral("tester:1"), QStringLiteral("tester:2")}));
        QVERIFY(beat({{QStringLiteral("opened"), QJsonArray{entry(3)}},
                      {QStringLiteral("closed"), QJsonArray{QStringLiteral("tester:1")}},
                      {QStringLiteral("refresh"), QJsonArray{}}}));
        QTRY_COMPARE(listed(),
                     (QStringList{QStringLiteral("tester:2"), QStringLiteral("tester:3")}));
        // tester:2's close is lost: it goes once no beat has listed it for twelve beats.
        for (int i = 0; i < 11; ++i)
            QVERIFY(beat({{QStringLiteral("refresh"), QJsonArray{entry(3)}}}));
        QVERIFY(markerArrives(nextMarker()));
        QCOMPARE(listed(), (QStringList{QStringLiteral("tester:2"), QStringLiteral("tester:3")}));
        QVERIFY(beat({{QStringLiteral("refresh"), QJsonArray{entry(3)}}}));
        QTRY_COMPARE(listed(), QStringList{QStringLiteral("tester:3")});
        // A closed id of another node is refused like any other id of another node.
        const qint64 before = dropped(m_alpha, QStringLiteral("malformed"));
        QVERIFY(beat({{QStringLiteral("closed"), QJsonArray{QStringLiteral("alpha:1")}}}));
        QTRY_COMPARE(dropped(m_alpha, QStringLiteral("malformed")), before + 1);
    }

    void nodeNamesAreChecked()
    {
        // A node name goes into admin URLs and onto the console: markup is refused.
        const QString evil = QStringLiteral("<img src=x>");
        const qint64 before = dropped(m_alpha, QStringLiteral("malformed"));
        const QJsonObject session{{QStringLiteral("id"), QString(evil + QStringLiteral(":1"))},
                                  {QStringLiteral("node"), evil}};
        const QJsonObject payload{{QStringLiteral("sessions"), QJsonArray{session}}};
        QVERIFY(publishToAll(
                sealed(kClusterSecret, evil, QStringLiteral("heartbeat"), QString(), payload)));
        QVERIFY(markerArrives(nextMarker()));
        QTRY_COMPARE(dropped(m_alpha, QStringLiteral("malformed")), before + 1);
        QVERIFY(!listedNodes(m_alpha).contains(evil));
    }

    void validSealedEnvelopeIsDelivered()
    {
        // The control for the rows above: the same sealing, with sane values, works.
        const QString session = onlySessionId(m_alpha);
        QVERIFY(publishToAll(sealed(kClusterSecret, QStringLiteral("tester"),
                                    QStringLiteral("send"), session,
                                    text(QStringLiteral("sealed and sane")))));
        QTRY_VERIFY(m_client->texts.contains(QStringLiteral("sealed and sane")));
    }

    void nodeWithWrongSecretIsShutOut()
    {
        Instance mallory{QStringLiteral("mallory"), {}};
        QVERIFY(startSecured(mallory, m_redis.url(), "a secret that is not the cluster's"));
        Client victim(m_alpha.process.url());
        QVERIFY(victim.waitGreeted());
        Client own(mallory.process.url());
        QVERIFY(own.waitGreeted());
        const qint64 forgedBefore = dropped(m_alpha, QStringLiteral("forged"));
        // Its heartbeats arrive, and are dropped: several beats, no listing.
        QTRY_VERIFY_WITH_TIMEOUT(dropped(m_alpha, QStringLiteral("forged")) >= forgedBefore + 3,
                                 10000);
        QVERIFY(!clusterState(m_alpha)
                         .value(QStringLiteral("nodes"))
                         .toArray()
                         .contains(mallory.node));
        QVERIFY(!listedNodes(m_alpha).contains(mallory.node));
        QVERIFY(!listedNodes(m_beta).contains(mallory.node));
        // It cannot send: its broadcast stays its own.
        QCOMPARE(admin(mallory, "POST", "/api/broadcast", "from mallory").status, 200);
        QTRY_VERIFY(own.texts.contains(QStringLiteral("from mallory")));
        // Nor close: a close for alpha's session, sealed with its secret, is dropped.
        const QString victimId = m_alpha.node + u':'
                + QString::number(admin(m_alpha, "GET", "/api/connections")
                                          .json()
                                          .value(QStringLiteral("connections"))
                                          .toArray()
                                          .last()[QStringLiteral("id")]
                                          .toInteger());
        QVERIFY(publishToAll(sealed("a secret that is not the cluster's", mallory.node,
                                    QStringLiteral("close"), victimId,
                                    {{QStringLiteral("code"), 4000}})));
        // Nor does it see the cluster's sessions.
        QVERIFY(listedNodes(mallory) == QSet<QString>{mallory.node});
        QCOMPARE(admin(mallory, "DELETE", "/api/connections/" + victimId.toUtf8()).status, 404);
        QVERIFY(markerArrives(nextMarker()));
        QVERIFY(!m_client->texts.contains(QStringLiteral("from mallory")));
        QVERIFY(!victim.texts.contains(QStringLiteral("from mallory")));
        QVERIFY(!victim.closed);
        mallory.process.stop();
    }

    void requirePassWorksWithCredentialsAndFailsClearly_data()
    {
        QTest::addColumn<QString>("userInfo"); // in the URL, before the '@'
        QTest::addColumn<QString>("passwordFile"); // its content, or empty
        QTest::addColumn<QString>("error"); // in last_error; empty = connects
        QTest::newRow("requirepass") << ":server-pass-1"
                                     << ""
                                     << "";
        QTest::newRow("requirepass from file") << ""
                                               << "server-pass-1"
                                               << "";
        QTest::newRow("ACL user") << "app:app-pass-2"
                                  << ""
                                  << "";
        QTest::newRow("ACL user, password file") << "app"
                                                 << "app-pass-2"
                                                 << "";
        QTest::newRow("no password") << ""
                                     << ""
                                     << "requires a password (NOAUTH";
        QTest::newRow("wrong password") << ":wrong"
                                        << ""
                                        << "WRONGPASS";
        QTest::newRow("ACL user, wrong password") << "app:wrong"
                                                  << ""
                                                  << "WRONGPASS";
    }

    void requirePassWorksWithCredentialsAndFailsClearly()
    {
        QFETCH(QString, userInfo);
        QFETCH(QString, passwordFile);
        QFETCH(QString, error);
        // The default user has a password; "app" may only publish and subscribe on
        // the cluster's channels: enough for broadcasts (topics need more; the README
        // lists it and e2e_channels_cluster runs as that user).
        RedisServer redis;
        QVERIFY(redis.start({QStringLiteral("--requirepass"), QStringLiteral("server-pass-1"),
                             QStringLiteral("--user"), QStringLiteral("app"), QStringLiteral("on"),
                             QStringLiteral(">app-pass-2"), QStringLiteral("resetchannels"),
                             QStringLiteral("&switchboard:cluster:*"), QStringLiteral("-@all"),
                             QStringLiteral("+subscribe"), QStringLiteral("+publish")}));
        QString url = redis.url();
        if (!userInfo.isEmpty())
            url.replace(QStringLiteral("//"), QStringLiteral("//%1@").arg(userInfo));
        QStringList more;
        QTemporaryDir dir;
        if (!passwordFile.isEmpty()) {
            QFile file(dir.filePath(QStringLiteral("password")));
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(passwordFile.toUtf8() + '\n');
            file.close();
            more = {QStringLiteral("--cluster-password-file"), file.fileName()};
        }
        Instance one{QStringLiteral("one"), {}};
        QVERIFY(startInstance(one, url,
                              more
                                      + QStringList{QStringLiteral("--cluster-secret"),
                                                    QString::fromLatin1(kClusterSecret)}));
        if (error.isEmpty()) {
            QTRY_VERIFY_WITH_TIMEOUT(clusterState(one).value(QStringLiteral("connected")).toBool(),
                                     10000);
            Client client(one.process.url());
            QVERIFY(client.waitGreeted());
            // Through Redis and back: publish and subscribe are allowed.
            QVERIFY(publishToAllOn(redis,
                                   sealed(kClusterSecret, QStringLiteral("tester"),
                                          QStringLiteral("send"), onlySessionId(one),
                                          text(QStringLiteral("through Redis")))));
            QTRY_VERIFY(client.texts.contains(QStringLiteral("through Redis")));
        } else {
            QTRY_VERIFY_WITH_TIMEOUT(clusterState(one)
                                             .value(QStringLiteral("last_error"))
                                             .toString()
                                             .contains(error),
                                     10000);
            QVERIFY(!clusterState(one).value(QStringLiteral("connected")).toBool());
            const QString log = one.process.errorOutput();
            QVERIFY2(log.contains(error), qPrintable(log));
            QCOMPARE(request(one.port(), "GET", "/api/health")
                             .json()
                             .value(QStringLiteral("cluster"))
                             .toString(),
                     QStringLiteral("degraded"));
        }
        const QString log = one.process.errorOutput();
        QVERIFY2(!log.contains(u"server-pass-1") && !log.contains(u"app-pass-2"),
                 "a password was logged");
        one.process.stop();
    }

    void aclUserWithoutChannelRightsFailsClearly()
    {
        RedisServer redis;
        QVERIFY(redis.start({QStringLiteral("--user"), QStringLiteral("narrow"),
                             QStringLiteral("on"), QStringLiteral(">narrow-pass-3"),
                             QStringLiteral("resetchannels"), QStringLiteral("&other:*"),
                             QStringLiteral("-@all"), QStringLiteral("+subscribe"),
                             QStringLiteral("+publish")}));
        Instance one{QStringLiteral("one"), {}};
        QString url = redis.url();
        url.replace(QStringLiteral("//"), QStringLiteral("//narrow:narrow-pass-3@"));
        QVERIFY(startInstance(
                one, url,
                {QStringLiteral("--cluster-secret"), QString::fromLatin1(kClusterSecret)}));
        QTRY_VERIFY_WITH_TIMEOUT(clusterState(one)
                                         .value(QStringLiteral("last_error"))
                                         .toString()
                                         .contains(u"NOPERM"),
                                 10000);
        QVERIFY(!clusterState(one).value(QStringLiteral("connected")).toBool());
        one.process.stop();
    }

    void redissVerifiesTheServer_data()
    {
        QTest::addColumn<QString>("host");
        QTest::addColumn<bool>("withCa");
        QTest::addColumn<QString>("error"); // in last_error; empty = connects
        QTest::newRow("by name, our CA") << "localhost" << true << "";
        QTest::newRow("address not in the certificate")
                << "127.0.0.1" << true << "IP address mismatch";
        QTest::newRow("system CAs only") << "localhost" << false << "certificate was refused";
    }

    void redissVerifiesTheServer()
    {
        if (!Switchboard::RedisLink::supportsTls())
            QSKIP("this build's hiredis has no TLS (Debian 12): redissNeedsTlsInHiredis covers it");
        QFETCH(QString, host);
        QFETCH(bool, withCa);
        QFETCH(QString, error);
        // A CA, and a certificate it signs for "localhost" only, made with openssl(1).
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto path = [&](const char *name) {
            return dir.filePath(QLatin1String(name));
        };
        QFile extensions(path("server.ext"));
        QVERIFY(extensions.open(QIODevice::WriteOnly));
        extensions.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n");
        extensions.close();
        const QStringList ecKey{
                QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes")};
        const QList<QStringList> steps{
                QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + ecKey
                        + QStringList{QStringLiteral("-keyout"), path("ca.key"),
                                      QStringLiteral("-out"), path("ca.pem"),
                                      QStringLiteral("-days"), QStringLiteral("2"),
                                      QStringLiteral("-subj"),
                                      QStringLiteral("/CN=Switchboard test CA"),
                                      QStringLiteral("-addext"),
                                      QStringLiteral("basicConstraints=critical,CA:TRUE"),
                                      QStringLiteral("-addext"),
                                      QStringLiteral("keyUsage=critical,keyCertSign")},
                QStringList{QStringLiteral("req")} + ecKey
                        + QStringList{QStringLiteral("-keyout"), path("server.key"),
                                      QStringLiteral("-out"), path("server.csr"),
                                      QStringLiteral("-subj"), QStringLiteral("/CN=localhost")},
                {QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                 path("server.csr"), QStringLiteral("-CA"), path("ca.pem"),
                 QStringLiteral("-CAkey"), path("ca.key"), QStringLiteral("-CAcreateserial"),
                 QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-extfile"),
                 path("server.ext"), QStringLiteral("-out"), path("server.pem")}};
        for (const QStringList &step : steps) {
            QProcess openssl;
            openssl.setProcessChannelMode(QProcess::MergedChannels);
            openssl.start(QStringLiteral("openssl"), step);
            QVERIFY2(openssl.waitForFinished(20000) && openssl.exitCode() == 0,
                     openssl.readAll().constData());
        }
        RedisServer redis;
        if (!redis.start({},
                         {QStringLiteral("--tls-cert-file"), path("server.pem"),
                          QStringLiteral("--tls-key-file"), path("server.key"),
                          QStringLiteral("--tls-ca-cert-file"), path("ca.pem"),
                          QStringLiteral("--tls-auth-clients"), QStringLiteral("no")}))
            QSKIP(qPrintable(QStringLiteral("redis-server did not start with TLS: ")
                             + QString::fromUtf8(redis.output().right(300))));
        Instance one{QStringLiteral("one"), {}};
        QStringList more{QStringLiteral("--cluster-secret"), QString::fromLatin1(kClusterSecret)};
        if (withCa)
            more += {QStringLiteral("--cluster-ca-file"), path("ca.pem")};
        const QString url = QStringLiteral("rediss://%1:%2").arg(host).arg(redis.port());
        QVERIFY(startInstance(one, url, more));
        if (error.isEmpty()) {
            // Two instances, and a broadcast from one reaching the other's client.
            Instance two{QStringLiteral("two"), {}};
            QVERIFY(startInstance(two, url, more));
            for (const Instance *instance : {&one, &two})
                QTRY_VERIFY_WITH_TIMEOUT(
                        clusterState(*instance).value(QStringLiteral("connected")).toBool(), 10000);
            Client client(two.process.url());
            QVERIFY(client.waitGreeted());
            QCOMPARE(admin(one, "POST", "/api/broadcast", "over TLS").status, 200);
            QTRY_VERIFY(client.texts.contains(QStringLiteral("over TLS")));
            two.process.stop();
        } else {
            QTRY_VERIFY_WITH_TIMEOUT(clusterState(one)
                                             .value(QStringLiteral("last_error"))
                                             .toString()
                                             .contains(error),
                                     10000);
            QVERIFY(!clusterState(one).value(QStringLiteral("connected")).toBool());
        }
        one.process.stop();
    }

    void redissNeedsTlsInHiredis()
    {
        if (Switchboard::RedisLink::supportsTls())
            QSKIP("this build has TLS for Redis: redissVerifiesTheServer covers rediss://");
        SwitchboardProcess refused;
        QVERIFY(!refused.start({QStringLiteral("--no-gui"), QStringLiteral("--cluster"),
                                QStringLiteral("rediss://127.0.0.1:6380"),
                                QStringLiteral("--cluster-secret"),
                                QString::fromLatin1(kClusterSecret)}));
        QTRY_COMPARE(refused.exitCode(), 2);
        const QString log = refused.errorOutput();
        QVERIFY2(log.contains(u"no TLS") && log.contains(u"rediss://"), qPrintable(log));
    }

    void refusesToStartWithoutSecret()
    {
        SwitchboardProcess refused;
        QVERIFY(!refused.start(
                {QStringLiteral("--no-gui"), QStringLiteral("--cluster"), m_redis.url()}));
        QTRY_COMPARE(refused.exitCode(), 2);
        QVERIFY2(refused.errorOutput().contains(u"--cluster-insecure"),
                 qPrintable(refused.errorOutput()));
    }

private:
    static bool publishToAllOn(const RedisServer &redis, const QByteArray &envelope)
    {
        // The default user, with the server's password (redis-cli -a).
        return !redis.cli({QStringLiteral("-a"), QStringLiteral("server-pass-1"),
                           QStringLiteral("PUBLISH"), QString::fromLatin1(kChannel),
                           QString::fromUtf8(envelope)})
                        .isEmpty();
    }
};

QTEST_GUILESS_MAIN(tst_ClusterTrust)
#include "tst_clustertrust.moc"
