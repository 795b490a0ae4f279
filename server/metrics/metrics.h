#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QPointer>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

class QObject;

namespace Switchboard {

// Why relaxed atomics and not per-thread shards: every value here is a sum or a level
// that a scrape reads now and then, nothing orders other memory by it, so relaxed
// ordering is enough; an uncontended relaxed add is one locked instruction with no
// allocation and no lock. Shards would save the cache-line traffic of several worker
// threads adding to the same counter, but need a thread registry and a walk over every
// shard at scrape time; with one worker per core and the batching the hub does for
// broadcasts (one add per fan-out, not per recipient) that traffic is small, so the
// simpler exact design wins. Each value sits on its own cache line (alignas(64)) so
// that two hot counters never share one.

/*!
    A monotonically increasing count (Prometheus counter). Safe from any thread.
*/
class alignas(64) Counter final
{
    Q_DISABLE_COPY_MOVE(Counter)

public:
    Counter() = default;
    void add(quint64 n = 1) noexcept { m_value.fetch_add(n, std::memory_order_relaxed); }
    quint64 value() const noexcept { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<quint64> m_value{0};
};

/*!
    A level that goes up and down (Prometheus gauge). Safe from any thread.
*/
class alignas(64) Gauge final
{
    Q_DISABLE_COPY_MOVE(Gauge)

public:
    Gauge() = default;
    void add(double n = 1) noexcept { m_value.fetch_add(n, std::memory_order_relaxed); }
    void sub(double n = 1) noexcept { m_value.fetch_sub(n, std::memory_order_relaxed); }
    void set(double value) noexcept { m_value.store(value, std::memory_order_relaxed); }
    double value() const noexcept { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<double> m_value{0};
};

/*!
    Observations counted into fixed buckets (Prometheus histogram). Safe from
    any thread. Each bucket counts only its own range; rendering makes them
    cumulative, and the count is the sum of the buckets, so a scrape never
    shows a count that disagrees with its +Inf bucket.
*/
class Histogram final
{
    Q_DISABLE_COPY_MOVE(Histogram)

public:
    /*! \a bounds are the buckets' upper bounds, ascending; +Inf is implied. */
    explicit Histogram(std::span<const double> bounds);

    void observe(double value) noexcept;

    struct Snapshot
    {
        QList<double> bounds;
        QList<quint64> cumulative; //!< one per bound, then +Inf
        double sum = 0;
        quint64 count() const { return cumulative.isEmpty() ? 0 : cumulative.last(); }
    };
    Snapshot snapshot() const;

private:
    std::vector<double> m_bounds;
    std::unique_ptr<std::atomic<quint64>[]> m_buckets; // m_bounds.size() + 1 (+Inf)
    std::atomic<double> m_sum{0};
};

/*! Bucket bounds in seconds for request latencies and round trips, 0.5 ms to 10 s. */
std::span<const double> latencyBuckets();

/*!
    All children of one metric name, one per set of label values. Children
    are created once (under a lock) and never removed, so a reference to one
    stays valid as long as the registry: hot paths look a child up once and
    keep the reference.
*/
template<typename T> class Family final
{
    Q_DISABLE_COPY_MOVE(Family)

public:
    Family(QByteArray name, QByteArray help, QList<QByteArray> labelNames,
           std::function<std::unique_ptr<T>()> make)
        : m_name(std::move(name))
        , m_help(std::move(help))
        , m_labelNames(std::move(labelNames))
        , m_make(std::move(make))
    {
    }

    /*! The child with these label values (as many as label names), made if new. */
    T &labels(const QList<QByteArray> &values)
    {
        Q_ASSERT(values.size() == m_labelNames.size());
        const std::lock_guard lock(m_mutex);
        auto &child = m_children[values];
        if (!child)
            child = m_make();
        return *child;
    }
    /*! The one child of a family without labels. */
    T &get() { return labels({}); }

    const QByteArray &name() const { return m_name; }
    const QByteArray &help() const { return m_help; }
    const QList<QByteArray> &labelNames() const { return m_labelNames; }

    /*! Calls \a visit(values, child) for every child, in label order. */
    template<typename Visit> void forEach(Visit &&visit) const
    {
        const std::lock_guard lock(m_mutex);
        for (const auto &[values, child] : m_children)
            visit(values, *child);
    }

private:
    QByteArray m_name;
    QByteArray m_help;
    QList<QByteArray> m_labelNames;
    std::function<std::unique_ptr<T>()> m_make;
    mutable std::mutex m_mutex;
    std::map<QList<QByteArray>, std::unique_ptr<T>> m_children;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

/*!
    The process's metrics, rendered in the Prometheus text exposition format
    0.0.4 for `GET /metrics`.

    Not a singleton: main() makes one and passes it to the Hub, which the
    Server and the Cluster reach it through. Families are registered once
    (registering a name twice returns the first family, so two objects may
    share one); counting is thread-safe and lock-free (see Counter), only
    registering, looking up a child and rendering take a lock.

    Values that are cheaper to read than to keep up to date (a cluster's
    peer count) are refreshed by scrape hooks, which render() calls first on
    its own thread.
*/
class Metrics final
{
    Q_DISABLE_COPY_MOVE(Metrics)

public:
    /*! Registers `process_start_time_seconds` (now) and `switchboard_build_info`. */
    explicit Metrics(const QByteArray &version = QByteArrayLiteral(SWITCHBOARD_VERSION));
    ~Metrics();

    CounterFamily &counter(const QByteArray &name, const QByteArray &help,
                           const QList<QByteArray> &labelNames = {});
    GaugeFamily &gauge(const QByteArray &name, const QByteArray &help,
                       const QList<QByteArray> &labelNames = {});
    HistogramFamily &histogram(const QByteArray &name, const QByteArray &help,
                               std::span<const double> bounds,
                               const QList<QByteArray> &labelNames = {});

    /*!
        Runs \a hook at the start of every render() while \a context lives.
        The hook runs on the rendering thread, so \a context must live there.
    */
    void addScrapeHook(QObject *context, std::function<void()> hook);

    /*! Every family with HELP and TYPE lines, text format 0.0.4. */
    QByteArray render();

    /*! The Content-Type of render()'s output. */
    static QByteArray contentType();
    /*! \a value with backslash, double quote and newline escaped, for a label value. */
    static QByteArray escapeLabelValue(QByteArrayView value);
    /*! \a value as Prometheus writes numbers: shortest round trip, +Inf, -Inf, NaN. */
    static QByteArray formatNumber(double value);

private:
    enum class Type { Counter, Gauge, Histogram };
    struct Entry
    {
        Type type;
        void *family; // CounterFamily, GaugeFamily or HistogramFamily, by type
    };
    struct Hook
    {
        QPointer<QObject> context;
        std::function<void()> run;
    };
    template<typename T>
    Family<T> &add(Type type, const QByteArray &name, const QByteArray &help,
                   const QList<QByteArray> &labelNames, std::function<std::unique_ptr<T>()> make);

    std::mutex m_mutex; // guards the lists below, not the values
    std::vector<Entry> m_entries; // registration order = rendering order
    std::vector<std::unique_ptr<CounterFamily>> m_counters;
    std::vector<std::unique_ptr<GaugeFamily>> m_gauges;
    std::vector<std::unique_ptr<HistogramFamily>> m_histograms;
    std::vector<Hook> m_hooks;
};

} // namespace Switchboard
