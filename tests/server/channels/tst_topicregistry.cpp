#include "channels/topicregistry.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace std::chrono_literals;
using namespace Qt::StringLiterals;

namespace {

/*! What the registry handed to whom, decoded. */
struct Deliveries
{
    QList<std::pair<QList<quint64>, QJsonObject>> sent;
    int frames = 0;

    TopicRegistry::Deliver deliver()
    {
        return [this](const QList<quint64> &ids, const Frame &frame) {
            QList<quint64> sorted = ids;
            std::sort(sorted.begin(), sorted.end());
            sent.append({sorted, QJsonDocument::fromJson(frame.payload()).object()});
            ++frames;
        };
    }
    QJsonObject last() const { return sent.isEmpty() ? QJsonObject() : sent.constLast().second; }
    QList<quint64> lastIds() const
    {
        return sent.isEmpty() ? QList<quint64>() : sent.constLast().first;
    }
};

qint64 offsetOf(const Frame &frame)
{
    return QJsonDocument::fromJson(frame.payload()).object().value(u"offset").toInteger();
}

/*! A cluster that answers when the test says so. */
struct FakeRemote final : TopicRemote
{
    QList<std::function<void(std::optional<JoinState>)>> joins;
    QList<std::pair<QString, QString>> leaves; // topic, presence key
    QList<QJsonValue> published;

    void join(const QString &, const RemotePresence &, bool,
              std::function<void(std::optional<JoinState>)> done) override
    {
        joins.append(std::move(done));
    }
    void leave(const QString &topic, const RemotePresence &presence, bool) override
    {
        leaves.append({topic, presence.key});
    }
    void publish(const QString &, const QJsonValue &data,
                 std::function<void(std::optional<qint64>)> done) override
    {
        published.append(data);
        done(qint64(published.size()));
    }
};

/*! A registry made one of a cluster's, with what it delivered. */
struct Clustered
{
    Deliveries d;
    TopicRegistry registry;
    FakeRemote remote;

    explicit Clustered(const QString &node = u"me"_s, ChannelSettings settings = {})
        : registry(d.deliver(), settings)
    {
        registry.setRemote(&remote);
        registry.setNodeName(node);
    }
};

RemotePresence remotePresence(const QString &node, quint64 session, const QString &member)
{
    return {node + u':' + QString::number(session), member,
            QJsonObject{{u"session"_s, qint64(session)},
                        {u"node"_s, node},
                        {u"online_at"_s, 1},
                        {u"meta"_s, QJsonObject()}}};
}

QList<qint64> offsetsSentTo(const Deliveries &d, quint64 id)
{
    QList<qint64> offsets;
    for (const auto &[ids, message] : d.sent) {
        if (ids.contains(id) && message.value(u"type").toString() == u"message")
            offsets.append(message.value(u"offset").toInteger());
    }
    return offsets;
}

QStringList members(const QJsonObject &presence)
{
    QStringList keys = presence.keys();
    keys.sort();
    return keys;
}

} // namespace

class tst_TopicRegistry : public QObject
{
    Q_OBJECT

private slots:
    void publishReachesEverySubscriberWithOneFrame()
    {
        Deliveries d;
        TopicRegistry registry(d.deliver());
        registry.join(1, QStringLiteral("t"), {}, {});
        registry.join(2, QStringLiteral("t"), {}, {});
        registry.join(3, QStringLiteral("other"), {}, {});
        d.sent.clear();
        QCOMPARE(registry.publish(QStringLiteral("t"), QJsonValue(QStringLiteral("hi"))), 1);
        QCOMPARE(registry.publish(QStringLiteral("t"), QJsonValue(2)), 2);
        // One delivery per publish, to exactly the topic's subscribers.
        QCOMPARE(d.sent.size(), 2);
        QCOMPARE(d.sent[0].first, QList<quint64>({1, 2}));
        QCOMPARE(d.sent[0].second.value(u"data").toString(), QStringLiteral("hi"));
        QCOMPARE(d.sent[1].second.value(u"offset").toInt(), 2);
        QCOMPARE(d.sent[1].second.value(u"topic").toString(), QStringLiteral("t"));
    }

    void presenceStateAndDiffs()
    {
        Deliveries d;
        TopicRegistry registry(d.deliver());
        auto joined = registry.join(1, QStringLiteral("t"), QStringLiteral("ann"),
                                    {{QStringLiteral("name"), QStringLiteral("Ann")}});
        QCOMPARE(members(joined.presence), QStringList{QStringLiteral("ann")});
        QCOMPARE(d.frames, 0); // alone: nobody to tell

        // The same member from a second connection: one member, two presences.
        joined = registry.join(2, QStringLiteral("t"), QStringLiteral("ann"), {});
        QCOMPARE(members(joined.presence), QStringList{QStringLiteral("ann")});
        QCOMPARE(joined.presence.value(u"ann").toObject().value(u"metas").toArray().size(), 2);
        QCOMPARE(d.lastIds(), QList<quint64>{1}); // the others get the diff
        QCOMPARE(d.last().value(u"type").toString(), QStringLiteral("presence_diff"));
        QCOMPARE(d.last().value(u"joins")
                         .toObject()
                         .value(u"ann")
                         .toObject()
                         .value(u"metas")
                         .toArray()
                         .at(0)
                         .toObject()
                         .value(u"session")
                         .toInt(),
                 2);

        // Without a member name, a session is its own member.
        joined = registry.join(3, QStringLiteral("t"), {}, {});
        QCOMPARE(members(joined.presence),
                 QStringList({QStringLiteral("ann"), QStringLiteral("local:3")}));
        QCOMPARE(registry.topic(QStringLiteral("t"))->members, 2);
        QCOMPARE(registry.topic(QStringLiteral("t"))->subscribers, 3);

        // A leave is a diff to those who stay.
        QVERIFY(registry.leave(2, QStringLiteral("t")));
        QCOMPARE(d.lastIds(), QList<quint64>({1, 3}));
        QVERIFY(d.last().value(u"leaves").toObject().contains(u"ann"));
        QVERIFY(d.last().value(u"joins").toObject().isEmpty());
        QVERIFY(!registry.leave(2, QStringLiteral("t")));

        // A closed connection leaves everything.
        registry.join(1, QStringLiteral("u"), {}, {});
        registry.leaveAll(1);
        QCOMPARE(registry.topicCountOf(1), 0);
        QCOMPARE(registry.subscribers(QStringLiteral("t")), QList<quint64>{3});
        QVERIFY(!registry.topic(QStringLiteral("u"))); // empty and without history: gone
    }

    void recoversWhatWasMissed()
    {
        Deliveries d;
        TopicRegistry registry(d.deliver());
        for (int i = 1; i <= 5; ++i)
            registry.publish(QStringLiteral("t"), QJsonValue(i));
        const auto joined = registry.join(1, QStringLiteral("t"), {}, {}, 2, registry.epoch());
        QCOMPARE(joined.offset, 5);
        QVERIFY(joined.recovered.value_or(false));
        QCOMPARE(joined.missed.size(), 3);
        QCOMPARE(offsetOf(joined.missed.at(0)), 3);
        QCOMPARE(offsetOf(joined.missed.at(2)), 5);
        // Up to date: recovered, nothing missed.
        registry.leave(1, QStringLiteral("t"));
        const auto current = registry.join(1, QStringLiteral("t"), {}, {}, 5, registry.epoch());
        QVERIFY(current.recovered.value_or(false));
        QVERIFY(current.missed.isEmpty());
        // Without "since", no recovery is attempted.
        QVERIFY(!registry.join(2, QStringLiteral("t"), {}, {}).recovered);
    }

    void tellsWhenTheGapIsTooOld_data()
    {
        QTest::addColumn<qint64>("since");
        QTest::addColumn<bool>("sameEpoch");
        QTest::addColumn<bool>("recovered");
        // History of 3 after 10 publishes: offsets 8, 9, 10 are kept.
        QTest::newRow("all kept") << qint64(7) << true << true;
        QTest::newRow("one lost") << qint64(6) << true << false;
        QTest::newRow("from the start") << qint64(0) << true << false;
        QTest::newRow("ahead of the topic") << qint64(11) << true << false;
        QTest::newRow("another epoch") << qint64(9) << false << false;
    }

    void tellsWhenTheGapIsTooOld()
    {
        QFETCH(qint64, since);
        QFETCH(bool, sameEpoch);
        QFETCH(bool, recovered);
        Deliveries d;
        ChannelSettings settings;
        settings.historySize = 3;
        TopicRegistry registry(d.deliver(), settings);
        for (int i = 1; i <= 10; ++i)
            registry.publish(QStringLiteral("t"), QJsonValue(i));
        QCOMPARE(registry.topic(QStringLiteral("t"))->history, 3);
        const auto joined = registry.join(1, QStringLiteral("t"), {}, {}, since,
                                          sameEpoch ? registry.epoch() : QStringLiteral("old"));
        QCOMPARE(joined.recovered, std::optional<bool>(recovered));
        QCOMPARE(joined.missed.isEmpty(), !recovered || since == 10);
    }

    void historyAgeDropsOldMessages()
    {
        Deliveries d;
        ChannelSettings settings;
        settings.historyAge = 1ms;
        TopicRegistry registry(d.deliver(), settings);
        registry.publish(QStringLiteral("t"), QJsonValue(1));
        QTest::qWait(20); // the age is the point of this test
        const auto joined = registry.join(1, QStringLiteral("t"), {}, {}, 0, registry.epoch());
        QCOMPARE(joined.recovered, std::optional<bool>(false));
        QCOMPARE(registry.topic(QStringLiteral("t"))->history, 0);
    }

    void sweepDropsAbandonedTopics()
    {
        Deliveries d;
        ChannelSettings settings;
        settings.historyAge = 1ms;
        TopicRegistry registry(d.deliver(), settings);
        // Joined, published to once, left: only its history keeps it.
        registry.join(1, QStringLiteral("abandoned"), {}, {});
        registry.publish(QStringLiteral("abandoned"), QJsonValue(1));
        registry.leave(1, QStringLiteral("abandoned"));
        registry.join(2, QStringLiteral("busy"), {}, {});
        registry.publish(QStringLiteral("busy"), QJsonValue(1));
        registry.publish(QStringLiteral("fresh"), QJsonValue(1)); // no one there, history young
        QVERIFY(registry.topic(QStringLiteral("abandoned")));
        QTest::qWait(20); // the age is the point of this test
        registry.publish(QStringLiteral("fresh"), QJsonValue(2));
        QCOMPARE(registry.sweep(), 1);
        QVERIFY(!registry.topic(QStringLiteral("abandoned")));
        QVERIFY(registry.topic(QStringLiteral("busy"))); // someone is subscribed
        QVERIFY(registry.topic(QStringLiteral("fresh"))); // its last message is young
        // And the timer runs it by itself.
        QTRY_VERIFY(!registry.topic(QStringLiteral("fresh")));
    }

    void epochsDifferBetweenRegistries()
    {
        Deliveries d;
        QVERIFY(TopicRegistry(d.deliver()).epoch() != TopicRegistry(d.deliver()).epoch());
    }

    // Clustered: what the remote answers, and what arrives while it has not.

    void messagesDuringAJoinComeAfterItsReplyWithoutRepeats()
    {
        Clustered c;
        const QString topic = u"t"_s;
        QList<qint64> replied;
        c.registry.join(1, topic, {}, {}, std::nullopt, {}, [&](const TopicRegistry::Joined &j) {
            QCOMPARE(j.status, TopicRegistry::Joined::Status::Joined);
            replied.append(j.offset);
            QVERIFY2(offsetsSentTo(c.d, 1).isEmpty(), "a message came before the reply");
        });
        QCOMPARE(c.remote.joins.size(), 1);
        // Published by others while the cluster answers: 5 is before the state, 6 after.
        c.registry.deliverRemote(topic, 5, 1000, u"five"_s);
        c.registry.deliverRemote(topic, 6, 1000, u"six"_s);
        QVERIFY(offsetsSentTo(c.d, 1).isEmpty());
        c.remote.joins.takeFirst()(TopicRemote::JoinState{u"e"_s, 5, 0, {}, {}});
        QCOMPARE(replied, QList<qint64>{5});
        QCOMPARE(offsetsSentTo(c.d, 1), QList<qint64>{6});
        // The subscription may still bring what the reply covered: not again.
        c.registry.deliverRemote(topic, 6, 1000, u"six"_s);
        c.registry.deliverRemote(topic, 7, 1000, u"seven"_s);
        QCOMPARE(offsetsSentTo(c.d, 1), (QList<qint64>{6, 7}));
    }

    void clusteredRecoveryGivesTheHistoryThenWhatArrived()
    {
        ChannelSettings settings;
        settings.historyAge = 0ms;
        Clustered c(u"me"_s, settings);
        TopicRegistry::Joined joined;
        c.registry.join(1, u"t"_s, {}, {}, 3, u"e"_s,
                        [&](const TopicRegistry::Joined &j) { joined = j; });
        c.registry.deliverRemote(u"t"_s, 6, 1000, 6);
        c.registry.deliverRemote(u"t"_s, 7, 1000, 7);
        QList<HistoryEntry> history;
        for (qint64 offset = 2; offset <= 6; ++offset)
            history.append({offset, 1000, offset});
        c.remote.joins.takeFirst()(TopicRemote::JoinState{u"e"_s, 6, 0, {}, history});
        QCOMPARE(joined.recovered, std::optional<bool>(true));
        QList<qint64> missed;
        for (const Frame &frame : joined.missed)
            missed.append(offsetOf(frame));
        QCOMPARE(missed, (QList<qint64>{4, 5, 6}));
        QCOMPARE(offsetsSentTo(c.d, 1), QList<qint64>{7}); // 6 came in the history
        // Another epoch (Redis lost the topic): told, not guessed.
        c.registry.join(2, u"t"_s, {}, {}, 3, u"e"_s,
                        [&](const TopicRegistry::Joined &j) { joined = j; });
        c.remote.joins.takeFirst()(TopicRemote::JoinState{u"other"_s, 6, 0, {}, history});
        QCOMPARE(joined.recovered, std::optional<bool>(false));
        QVERIFY(joined.missed.isEmpty());
    }

    void aJoinTheClusterCannotAnswerFailsAndLeaves()
    {
        Clustered c(u"n1"_s);
        std::optional<TopicRegistry::Joined::Status> status;
        c.registry.join(1, u"t"_s, {}, {}, std::nullopt, {},
                        [&](const TopicRegistry::Joined &j) { status = j.status; });
        c.remote.joins.takeFirst()(std::nullopt);
        QCOMPARE(status, std::optional(TopicRegistry::Joined::Status::Unavailable));
        QVERIFY(!c.registry.isSubscribed(1, u"t"_s));
        QCOMPARE(c.remote.leaves, (QList<std::pair<QString, QString>>{{u"t"_s, u"n1:1"_s}}));
        QVERIFY(c.registry.topics().isEmpty());
    }

    void aJoinLeftBeforeTheClusterAnsweredIsAnsweredOnce()
    {
        Clustered c;
        QList<TopicRegistry::Joined> answers;
        c.registry.join(1, u"t"_s, {}, {}, std::nullopt, {},
                        [&](const TopicRegistry::Joined &j) { answers.append(j); });
        QVERIFY(c.registry.leave(1, u"t"_s));
        QCOMPARE(answers.size(), 1);
        QCOMPARE(answers.first().status, TopicRegistry::Joined::Status::Left);
        // The cluster's late answer finds nothing to complete.
        c.remote.joins.takeFirst()(TopicRemote::JoinState{u"e"_s, 3, 0, {}, {}});
        QCOMPARE(answers.size(), 1);
        QVERIFY(!c.registry.isSubscribed(1, u"t"_s));
    }

    void presenceDiffsBeforeTheSnapshotAreSortedOutByVersion()
    {
        Clustered c;
        c.registry.join(1, u"t"_s, {}, {}, std::nullopt, {}, [](const TopicRegistry::Joined &) {});
        const RemotePresence x = remotePresence(u"other"_s, 7, u"x"_s);
        const RemotePresence y = remotePresence(u"other"_s, 8, u"y"_s);
        // From the subscription, before the state: x joined (v3), y joined (v5).
        c.registry.applyRemotePresence(u"t"_s, 3, x, true);
        c.registry.applyRemotePresence(u"t"_s, 5, y, true);
        // The state was read at v4: x is in it, y not yet; this instance's own is ignored.
        c.remote.joins.takeFirst()(TopicRemote::JoinState{
                u"e"_s, 0, 4, {x, remotePresence(u"me"_s, 1, u"me:1"_s)}, {}});
        QCOMPARE(members(c.registry.presence(u"t"_s)), (QStringList{u"me:1"_s, u"x"_s, u"y"_s}));
        // A diff the state already had changes nothing; a newer one does.
        c.registry.applyRemotePresence(u"t"_s, 4, x, false);
        QCOMPARE(members(c.registry.presence(u"t"_s)), (QStringList{u"me:1"_s, u"x"_s, u"y"_s}));
        c.registry.applyRemotePresence(u"t"_s, 6, x, false);
        QCOMPARE(members(c.registry.presence(u"t"_s)), (QStringList{u"me:1"_s, u"y"_s}));
        QCOMPARE(c.d.last().value(u"type").toString(), u"presence_diff"_s);
        QCOMPARE(members(c.d.last().value(u"leaves").toObject()), QStringList{u"x"_s});
        QCOMPARE(c.registry.topic(u"t"_s)->members, 2);
        // Redis came back empty: its versions start over, and its word is taken again.
        c.registry.remoteLost();
        c.registry.applyRemotePresence(u"t"_s, 2, x, true); // before the snapshot: kept for it
        c.registry.applyPresenceSnapshot(u"t"_s, 1, {remotePresence(u"me"_s, 1, u"me:1"_s)});
        QCOMPARE(members(c.registry.presence(u"t"_s)), (QStringList{u"me:1"_s, u"x"_s}));
    }

    void aNodeThatDropsOutLeavesEveryTopic()
    {
        Clustered c;
        for (const QString &topic : {u"a"_s, u"b"_s}) {
            c.registry.join(1, topic, {}, {}, std::nullopt, {},
                            [](const TopicRegistry::Joined &) {});
            c.remote.joins.takeFirst()(TopicRemote::JoinState{
                    u"e"_s,
                    0,
                    1,
                    {remotePresence(u"gone"_s, 2, u"g"_s), remotePresence(u"kept"_s, 3, u"k"_s)},
                    {}});
        }
        c.d.sent.clear();
        c.registry.dropNode(u"gone"_s);
        QCOMPARE(c.d.sent.size(), 2); // one leave diff per topic, to the subscriber here
        for (const QString &topic : {u"a"_s, u"b"_s})
            QCOMPARE(members(c.registry.presence(topic)), (QStringList{u"k"_s, u"me:1"_s}));
        QCOMPARE(members(c.d.last().value(u"leaves").toObject()), QStringList{u"g"_s});
    }
};

QTEST_GUILESS_MAIN(tst_TopicRegistry)
#include "tst_topicregistry.moc"
