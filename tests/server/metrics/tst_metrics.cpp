// The metrics registry and its Prometheus text rendering, without sockets.

#include "metrics/metrics.h"

#include <QtCore/QDateTime>
#include <QtTest/QTest>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

using namespace Switchboard;

class tst_Metrics final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void escapeLabelValue_data();
    void escapeLabelValue();
    void formatNumber_data();
    void formatNumber();
    void rendersHelpTypeAndLabels();
    void sameNameIsOneFamily();
    void histogramBuckets_data();
    void histogramBuckets();
    void standardFamilies();
    void countersFromSeveralThreads();
    void histogramFromSeveralThreads();
    void scrapeHookRunsWhileItsContextLives();
};

namespace {

/*! The lines of \a text that start with \a prefix. */
QList<QByteArray> linesStartingWith(const QByteArray &text, const QByteArray &prefix)
{
    QList<QByteArray> out;
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(prefix))
            out.append(line);
    }
    return out;
}

} // namespace

void tst_Metrics::escapeLabelValue_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QByteArray>("escaped");
    QTest::newRow("plain") << QByteArray("/ws/chat") << QByteArray("/ws/chat");
    QTest::newRow("quote") << QByteArray("a\"b") << QByteArray("a\\\"b");
    QTest::newRow("backslash") << QByteArray("a\\b") << QByteArray("a\\\\b");
    QTest::newRow("newline") << QByteArray("a\nb") << QByteArray("a\\nb");
    QTest::newRow("all") << QByteArray("\\\"\n") << QByteArray("\\\\\\\"\\n");
    QTest::newRow("utf-8 kept") << QByteArray("caf\xc3\xa9") << QByteArray("caf\xc3\xa9");
    QTest::newRow("empty") << QByteArray() << QByteArray();
}

void tst_Metrics::escapeLabelValue()
{
    QFETCH(QByteArray, value);
    QFETCH(QByteArray, escaped);
    QCOMPARE(Metrics::escapeLabelValue(value), escaped);
}

void tst_Metrics::formatNumber_data()
{
    QTest::addColumn<double>("value");
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("integer") << 42.0 << QByteArray("42");
    QTest::newRow("zero") << 0.0 << QByteArray("0");
    QTest::newRow("negative") << -3.0 << QByteArray("-3");
    QTest::newRow("bucket bound") << 0.005 << QByteArray("0.005");
    QTest::newRow("small bucket bound") << 0.0005 << QByteArray("0.0005");
    QTest::newRow("shortest round trip") << 0.1 << QByteArray("0.1");
    QTest::newRow("time stamp") << 1796324466.924 << QByteArray("1796324466.924");
    QTest::newRow("tiny") << 6.412e-05 << QByteArray("6.412e-05");
    QTest::newRow("huge") << 1e20 << QByteArray("1e+20");
    QTest::newRow("+Inf") << std::numeric_limits<double>::infinity() << QByteArray("+Inf");
    QTest::newRow("-Inf") << -std::numeric_limits<double>::infinity() << QByteArray("-Inf");
    QTest::newRow("NaN") << std::numeric_limits<double>::quiet_NaN() << QByteArray("NaN");
}

void tst_Metrics::formatNumber()
{
    QFETCH(double, value);
    QFETCH(QByteArray, text);
    QCOMPARE(Metrics::formatNumber(value), text);
}

void tst_Metrics::rendersHelpTypeAndLabels()
{
    Metrics metrics;
    CounterFamily &requests = metrics.counter(
            "test_requests_total", "Requests, with a \\ and\na newline.", {"path", "status"});
    requests.labels({"/a\"b", "200"}).add(3);
    requests.labels({"/", "404"}).add();
    metrics.gauge("test_level", "A level.").get().set(2.5);

    const QByteArray text = metrics.render();
    QVERIFY(text.endsWith('\n'));
    QVERIFY(text.contains("# HELP test_requests_total Requests, with a \\\\ and\\na newline.\n"));
    QVERIFY(text.contains("# TYPE test_requests_total counter\n"));
    // Children in label order, each value escaped.
    QCOMPARE(linesStartingWith(text, "test_requests_total"),
             (QList<QByteArray>{"test_requests_total{path=\"/\",status=\"404\"} 1",
                                "test_requests_total{path=\"/a\\\"b\",status=\"200\"} 3"}));
    QVERIFY(text.contains("# TYPE test_level gauge\ntest_level 2.5\n"));
    // HELP and TYPE come before the samples of their family.
    QVERIFY(text.indexOf("# TYPE test_requests_total") < text.indexOf("test_requests_total{"));
    QCOMPARE(Metrics::contentType(), QByteArray("text/plain; version=0.0.4; charset=utf-8"));
}

void tst_Metrics::sameNameIsOneFamily()
{
    Metrics metrics;
    CounterFamily &a = metrics.counter("test_total", "First.", {"k"});
    CounterFamily &b = metrics.counter("test_total", "Second.", {"k"});
    QCOMPARE(&a, &b);
    a.labels({"x"}).add(2);
    b.labels({"x"}).add(3);
    QCOMPARE(&a.labels({"x"}), &b.labels({"x"})); // a child is made once, and kept
    const QByteArray text = metrics.render();
    QCOMPARE(text.count("# TYPE test_total counter"), 1);
    QVERIFY(text.contains("test_total{k=\"x\"} 5\n"));
    QVERIFY(text.contains("# HELP test_total First.\n"));
}

void tst_Metrics::histogramBuckets_data()
{
    QTest::addColumn<QList<double>>("observations");
    QTest::addColumn<QList<quint64>>("cumulative"); // le = 1, 2, 5, +Inf
    QTest::addColumn<double>("sum");
    QTest::newRow("none") << QList<double>{} << QList<quint64>{0, 0, 0, 0} << 0.0;
    QTest::newRow("one per bucket")
            << QList<double>{0.5, 1.5, 3, 7} << QList<quint64>{1, 2, 3, 4} << 12.0;
    QTest::newRow("on a bound is in that bucket")
            << QList<double>{1, 2, 5} << QList<quint64>{1, 2, 3, 3} << 8.0;
    QTest::newRow("only over the last bound")
            << QList<double>{6, 100} << QList<quint64>{0, 0, 0, 2} << 106.0;
    QTest::newRow("all in the first")
            << QList<double>{0, 0.25, -1} << QList<quint64>{3, 3, 3, 3} << -0.75;
}

void tst_Metrics::histogramBuckets()
{
    QFETCH(QList<double>, observations);
    QFETCH(QList<quint64>, cumulative);
    QFETCH(double, sum);

    static constexpr double bounds[] = {1, 2, 5};
    Metrics metrics;
    Histogram &histogram
            = metrics.histogram("test_seconds", "Durations.", bounds, {"route"}).labels({"/x"});
    for (const double value : observations)
        histogram.observe(value);

    const QByteArray text = metrics.render();
    QVERIFY(text.contains("# TYPE test_seconds histogram\n"));
    const QList<QByteArray> les{"1", "2", "5", "+Inf"};
    const QList<QByteArray> buckets = linesStartingWith(text, "test_seconds_bucket");
    QCOMPARE(buckets.size(), les.size());
    for (qsizetype i = 0; i < les.size(); ++i)
        QCOMPARE(buckets.at(i),
                 QByteArray("test_seconds_bucket{route=\"/x\",le=\"" + les.at(i) + "\"} "
                            + QByteArray::number(cumulative.at(i))));
    QCOMPARE(linesStartingWith(text, "test_seconds_sum"),
             QList<QByteArray>{
                     QByteArray("test_seconds_sum{route=\"/x\"} " + Metrics::formatNumber(sum))});
    // The count is the +Inf bucket.
    QCOMPARE(linesStartingWith(text, "test_seconds_count"),
             QList<QByteArray>{QByteArray("test_seconds_count{route=\"/x\"} "
                                          + QByteArray::number(cumulative.last()))});
}

void tst_Metrics::standardFamilies()
{
    const double before = double(QDateTime::currentMSecsSinceEpoch()) / 1000.0;
    Metrics metrics("1.2.3");
    const QByteArray text = metrics.render();
    QVERIFY(text.contains("# TYPE process_start_time_seconds gauge\n"));
    const QList<QByteArray> start = linesStartingWith(text, "process_start_time_seconds ");
    QCOMPARE(start.size(), 1);
    const double value = start.first().mid(start.first().indexOf(' ') + 1).toDouble();
    QVERIFY2(std::abs(value - before) < 60, start.first().constData());
    const QByteArray buildInfo
            = "switchboard_build_info{version=\"1.2.3\",qt=\"" + QByteArray(qVersion()) + "\"} 1\n";
    QVERIFY(text.contains(buildInfo));
}

void tst_Metrics::countersFromSeveralThreads()
{
    Metrics metrics;
    Counter &counter = metrics.counter("test_total", "Adds.").get();
    Gauge &gauge = metrics.gauge("test_level", "Ups and downs.").get();
    constexpr int threads = 4;
    constexpr int adds = 100'000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < adds; ++i) {
                counter.add();
                gauge.add(2);
                gauge.sub();
            }
        });
    }
    for (std::thread &worker : workers)
        worker.join();
    QCOMPARE(counter.value(), quint64(threads) * adds);
    QCOMPARE(gauge.value(), double(threads) * adds);
    QVERIFY(metrics.render().contains("test_total 400000\n"));
}

void tst_Metrics::histogramFromSeveralThreads()
{
    static constexpr double bounds[] = {1, 10};
    Metrics metrics;
    HistogramFamily &family = metrics.histogram("test_seconds", "Durations.", bounds, {"t"});
    constexpr int threads = 4;
    constexpr int observations = 50'000;
    // std::thread, not QThread: ThreadSanitizer sees its join (Debian's Qt is not
    // instrumented, so a QThread::wait() would look like no synchronisation at all).
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        // Children looked up concurrently too: all threads share "shared".
        workers.emplace_back([&family] {
            Histogram &histogram = family.labels({"shared"});
            for (int i = 0; i < observations; ++i)
                histogram.observe(i % 2 == 0 ? 0.5 : 5);
        });
    }
    for (std::thread &worker : workers)
        worker.join();
    const Histogram::Snapshot s = family.labels({"shared"}).snapshot();
    QCOMPARE(s.cumulative,
             (QList<quint64>{quint64(threads) * observations / 2, quint64(threads) * observations,
                             quint64(threads) * observations}));
    QCOMPARE(s.sum, (0.5 + 5) * threads * observations / 2);
}

void tst_Metrics::scrapeHookRunsWhileItsContextLives()
{
    Metrics metrics;
    Gauge &gauge = metrics.gauge("test_level", "Set at scrape time.").get();
    int runs = 0;
    {
        QObject context;
        metrics.addScrapeHook(&context, [&] { gauge.set(++runs); });
        QVERIFY(metrics.render().contains("test_level 1\n"));
        QVERIFY(metrics.render().contains("test_level 2\n"));
    }
    QVERIFY(metrics.render().contains("test_level 2\n")); // its context is gone
    QCOMPARE(runs, 2);
}

QTEST_GUILESS_MAIN(tst_Metrics)
#include "tst_metrics.moc"
