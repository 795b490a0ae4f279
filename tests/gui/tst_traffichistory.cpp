// TrafficHistory: the chart's two series computed from given samples; no widgets.

#include "traffichistory.h"

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Switchboard;

class tst_TrafficHistory : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void ratesComeFromCountsAndRealTime_data();
    void ratesComeFromCountsAndRealTime();
    void keepsTheNewestSamples();
    void maximaScaleTheAxes();
};

void tst_TrafficHistory::ratesComeFromCountsAndRealTime_data()
{
    QTest::addColumn<quint64>("messages");
    QTest::addColumn<qint64>("elapsedMs");
    QTest::addColumn<double>("rate");
    QTest::newRow("one second") << quint64(30) << qint64(1000) << 30.0;
    QTest::newRow("late tick") << quint64(30) << qint64(1500) << 20.0; // a busy loop ticks late
    QTest::newRow("early tick") << quint64(9) << qint64(900) << 10.0;
    QTest::newRow("quiet") << quint64(0) << qint64(1000) << 0.0;
    QTest::newRow("no time passed") << quint64(2) << qint64(0) << 2000.0; // no division by zero
}

void tst_TrafficHistory::ratesComeFromCountsAndRealTime()
{
    QFETCH(quint64, messages);
    QFETCH(qint64, elapsedMs);
    QFETCH(double, rate);
    TrafficHistory history;
    QSignalSpy added(&history, &TrafficHistory::sampleAdded);
    history.addSample(1'000'000, 4, messages, elapsedMs);
    QCOMPARE(added.size(), 1);
    QCOMPARE(history.size(), 1);
    QCOMPARE(history.latest().timeMs, 1'000'000);
    QCOMPARE(history.latest().connections, 4);
    QCOMPARE(history.latest().messagesPerSecond, rate);
}

void tst_TrafficHistory::keepsTheNewestSamples()
{
    TrafficHistory history;
    QCOMPARE(history.capacity(), 300); // five minutes at one sample a second
    history.setCapacity(3);
    QSignalSpy added(&history, &TrafficHistory::sampleAdded);
    for (int i = 1; i <= 5; ++i)
        history.addSample(i * 1000, i, quint64(i * 10), 1000);
    QCOMPARE(added.size(), 5); // one signal per sample: one repaint per sample
    QCOMPARE(history.size(), 3);
    QCOMPARE(history.samples().constFirst().connections, 3);
    QCOMPARE(history.samples().constFirst().timeMs, 3000);
    QCOMPARE(history.latest().connections, 5);
    QCOMPARE(history.latest().messagesPerSecond, 50.0);

    history.setCapacity(2); // shrinking drops the oldest now
    QCOMPARE(history.size(), 2);
    QCOMPARE(history.samples().constFirst().connections, 4);
    history.clear();
    QVERIFY(history.isEmpty());
    QCOMPARE(history.latest().connections, 0);
}

void tst_TrafficHistory::maximaScaleTheAxes()
{
    TrafficHistory history;
    QCOMPARE(history.maxConnections(), 0);
    QCOMPARE(history.maxMessagesPerSecond(), 0.0);
    history.addSample(1000, 2, 500, 1000);
    history.addSample(2000, 7, 100, 1000);
    history.addSample(3000, -1, 0, 1000); // never below zero
    QCOMPARE(history.maxConnections(), 7);
    QCOMPARE(history.maxMessagesPerSecond(), 500.0);
    QCOMPARE(history.latest().connections, 0);
}

QTEST_GUILESS_MAIN(tst_TrafficHistory)
#include "tst_traffichistory.moc"
