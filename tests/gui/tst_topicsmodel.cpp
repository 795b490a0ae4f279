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
};

QTEST_GUILESS_MAIN(tst_TopicsModel)
#include "tst_topicsmodel.moc"
