// TrafficMeter: counts become per-second rates on its own timer.

#include "trafficmeter.h"

#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Switchboard;

class tst_TrafficMeter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void reportsRatesOnItsOwnPace();
    void reportsEveryTicksCounts();
};

void tst_TrafficMeter::reportsRatesOnItsOwnPace()
{
    TrafficMeter meter;
    QSignalSpy rates(&meter, &TrafficMeter::ratesChanged);
    for (int i = 0; i < 50; ++i)
        meter.countIncoming();
    meter.countOutgoing();
    QCOMPARE(rates.size(), 0); // counting alone never signals
    QVERIFY(rates.wait(3000));
    const double in = rates.constLast().at(0).toDouble();
    const double out = rates.constLast().at(1).toDouble();
    QVERIFY2(in > 0 && out > 0 && in > out, qPrintable(QStringLiteral("%1 %2").arg(in).arg(out)));
    QCOMPARE(meter.incomingRate(), in);
    QCOMPARE(meter.outgoingRate(), out);
}

void tst_TrafficMeter::reportsEveryTicksCounts()
{
    TrafficMeter meter;
    QSignalSpy sampled(&meter, &TrafficMeter::sampled);
    for (int i = 0; i < 7; ++i)
        meter.countIncoming();
    meter.countOutgoing();
    QVERIFY(sampled.wait(3000));
    QCOMPARE(sampled.constLast().at(0).value<quint64>(), 7u);
    QCOMPARE(sampled.constLast().at(1).value<quint64>(), 1u);
    QVERIFY(sampled.constLast().at(2).value<qint64>() > 0);
    // A quiet second is a sample too: the chart draws the gap.
    QVERIFY(sampled.wait(3000));
    QCOMPARE(sampled.constLast().at(0).value<quint64>(), 0u);
    QCOMPARE(sampled.constLast().at(1).value<quint64>(), 0u);
}

QTEST_GUILESS_MAIN(tst_TrafficMeter)
#include "tst_trafficmeter.moc"
