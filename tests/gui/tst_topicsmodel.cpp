#include "topicsmodel.h"

#include <QtTest/QAbstractItemModelTester>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace std::chrono_literals;

class tst_TopicsModel : public QObject
{
    Q_OBJECT

private slots:
    void followsTheRegistryInBatches()
    {
        int deliveries = 0;
        TopicRegistry registry([&](const QList<quint64> &, const Frame &) { ++deliveries; });
        registry.join(1, QStringLiteral("room:b"), {}, {});
        TopicsModel model(&registry, 20ms);
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 1); // what was there before the model

        QSignalSpy refreshed(&model, &TopicsModel::topicsRefreshed);
        registry.join(2, QStringLiteral("room:a"), QStringLiteral("ann"), {});
        registry.join(3, QStringLiteral("room:a"), QStringLiteral("ann"), {});
        for (int i = 0; i < 10; ++i)
            registry.publish(QStringLiteral("room:a"), QJsonValue(i));
        QCOMPARE(model.rowCount(), 1); // not yet: batched
        QTRY_COMPARE(refreshed.size(), 1); // one refresh for the whole burst
        QCOMPARE(model.rowCount(), 2);
        const int a = model.rowOf(QStringLiteral("room:a"));
        QCOMPARE(a, 0); // sorted by name
        QCOMPARE(model.index(a, TopicsModel::SubscribersColumn).data().toInt(), 2);
        QCOMPARE(model.index(a, TopicsModel::MembersColumn).data().toInt(), 1);
        QCOMPARE(model.index(a, TopicsModel::OffsetColumn).data().toInt(), 10);
        QCOMPARE(model.index(a, TopicsModel::HistoryColumn).data().toInt(), 10);
        QCOMPARE(model.index(a, 0).data(TopicsModel::TopicRole).toString(),
                 QStringLiteral("room:a"));
        QCOMPARE(model.presenceLines(QStringLiteral("room:a")),
                 QStringList{QStringLiteral("ann — 2 connections (sessions 2, 3)")});

        // A topic with nobody left and nothing kept goes away.
        registry.leave(1, QStringLiteral("room:b"));
        QTRY_COMPARE(model.rowCount(), 1);
        QCOMPARE(model.rowOf(QStringLiteral("room:b")), -1);
        QCOMPARE(model.rowOf(QStringLiteral("room:a")), 0);
    }

    void namesOtherInstancesSessionsByTheirClusterId()
    {
        struct Remote final : TopicRemote
        {
            void join(const QString &, const RemotePresence &, bool,
                      std::function<void(std::optional<JoinState>)> done) override
            {
                done(JoinState{QStringLiteral("e"),
                               0,
                               1,
                               {{QStringLiteral("beta:1"), QStringLiteral("ann"),
                                 QJsonObject{{QStringLiteral("session"), 1},
                                             {QStringLiteral("node"), QStringLiteral("beta")}}},
                                {QStringLiteral("beta:2"), QStringLiteral("bob"),
                                 QJsonObject{{QStringLiteral("session"), 2},
                                             {QStringLiteral("node"), QStringLiteral("beta")}}}},
                               {}});
            }
            void leave(const QString &, const RemotePresence &, bool) override { }
            void publish(const QString &, const QJsonValue &,
                         std::function<void(std::optional<qint64>)>) override
            {
            }
        } remote;
        TopicRegistry registry([](const QList<quint64> &, const Frame &) {});
        registry.setRemote(&remote);
        registry.setNodeName(QStringLiteral("alpha"));
        registry.join(1, QStringLiteral("room:a"), QStringLiteral("ann"), {}, std::nullopt, {},
                      [](const TopicRegistry::Joined &) {});
        TopicsModel model(&registry, 20ms);
        // Session 1 here and session 1 of beta are two connections of one member.
        QCOMPARE(model.presenceLines(QStringLiteral("room:a")),
                 (QStringList{QStringLiteral("ann — 2 connections (sessions 1, beta:1)"),
                              QStringLiteral("bob — session beta:2")}));
        registry.setRemote(nullptr);
    }
};

QTEST_GUILESS_MAIN(tst_TopicsModel)
#include "tst_topicsmodel.moc"
