#include "metrics/metrics.h"

#include <QtCore/QDateTime>
#include <QtCore/QThread>
#include <QtCore/QtGlobal>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace Switchboard {

Histogram::Histogram(std::span<const double> bounds)
    : m_bounds(bounds.begin(), bounds.end())
    , m_buckets(std::make_unique<std::atomic<quint64>[]>(m_bounds.size() + 1))
{
    Q_ASSERT(std::is_sorted(m_bounds.begin(), m_bounds.end()));
}

void Histogram::observe(double value) noexcept
{
    // "le": a value equal to a bound belongs to that bound's bucket.
    const auto bucket
            = std::lower_bound(m_bounds.begin(), m_bounds.end(), value) - m_bounds.begin();
    m_buckets[size_t(bucket)].fetch_add(1, std::memory_order_relaxed);
    m_sum.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const
{
    Snapshot out;
    out.bounds = QList<double>(m_bounds.begin(), m_bounds.end());
    out.cumulative.reserve(qsizetype(m_bounds.size()) + 1);
    quint64 total = 0;
    for (size_t i = 0; i <= m_bounds.size(); ++i) {
        total += m_buckets[i].load(std::memory_order_relaxed);
        out.cumulative.append(total);
    }
    out.sum = m_sum.load(std::memory_order_relaxed);
    return out;
}

std::span<const double> latencyBuckets()
{
    static constexpr double bounds[]
            = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    return bounds;
}

Metrics::Metrics(const QByteArray &version)
{
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.")
            .get()
            .set(double(QDateTime::currentMSecsSinceEpoch()) / 1000.0);
    gauge("switchboard_build_info", "Switchboard's version and the Qt it runs on; always 1.",
          {"version", "qt"})
            .labels({version, QByteArray(qVersion())})
            .set(1);
}

Metrics::~Metrics() = default;

template<typename T>
Family<T> &Metrics::add(Type type, const QByteArray &name, const QByteArray &help,
                        const QList<QByteArray> &labelNames,
                        std::function<std::unique_ptr<T>()> make)
{
    const std::lock_guard lock(m_mutex);
    for (const Entry &entry : m_entries) {
        auto *family = static_cast<Family<T> *>(entry.family);
        // Only the type is compared before the cast is used: a name is one family.
        if (entry.type == type && family->name() == name)
            return *family;
    }
    auto family = std::make_unique<Family<T>>(name, help, labelNames, std::move(make));
    Family<T> &out = *family;
    m_entries.push_back({type, &out});
    if constexpr (std::is_same_v<T, Counter>)
        m_counters.push_back(std::move(family));
    else if constexpr (std::is_same_v<T, Gauge>)
        m_gauges.push_back(std::move(family));
    else
        m_histograms.push_back(std::move(family));
    return out;
}

CounterFamily &Metrics::counter(const QByteArray &name, const QByteArray &help,
                                const QList<QByteArray> &labelNames)
{
    return add<Counter>(Type::Counter, name, help, labelNames,
                        [] { return std::make_unique<Counter>(); });
}

GaugeFamily &Metrics::gauge(const QByteArray &name, const QByteArray &help,
                            const QList<QByteArray> &labelNames)
{
    return add<Gauge>(Type::Gauge, name, help, labelNames,
                      [] { return std::make_unique<Gauge>(); });
}

HistogramFamily &Metrics::histogram(const QByteArray &name, const QByteArray &help,
                                    std::span<const double> bounds,
                                    const QList<QByteArray> &labelNames)
{
    return add<Histogram>(Type::Histogram, name, help, labelNames,
                          [bounds] { return std::make_unique<Histogram>(bounds); });
}

void Metrics::addScrapeHook(QObject *context, std::function<void()> hook)
{
    const std::lock_guard lock(m_mutex);
    m_hooks.push_back({context, std::move(hook)});
}

QByteArray Metrics::contentType()
{
    return QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8");
}

QByteArray Metrics::escapeLabelValue(QByteArrayView value)
{
    QByteArray out;
    out.reserve(value.size());
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

QByteArray Metrics::formatNumber(double value)
{
    if (std::isnan(value))
        return QByteArrayLiteral("NaN");
    if (std::isinf(value))
        return value > 0 ? QByteArrayLiteral("+Inf") : QByteArrayLiteral("-Inf");
    char buffer[64];
    // Shortest round trip; in fixed notation in the range people read ("0.0005" for a
    // bucket bound, "1796324466.924" for a time stamp), in exponent notation outside it.
    const double magnitude = std::abs(value);
    const auto format = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15)
            ? std::chars_format::fixed
            : std::chars_format::general;
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, format);
    return QByteArray(buffer, result.ptr - buffer);
}

namespace {

QByteArray escapeHelp(QByteArrayView help)
{
    QByteArray out;
    for (const char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

/*! `{a="x",b="y"}` with \a extra (already escaped, e.g. `le="0.5"`) last; empty without labels. */
QByteArray labelSet(const QList<QByteArray> &names, const QList<QByteArray> &values,
                    const QByteArray &extra = {})
{
    if (names.isEmpty() && extra.isEmpty())
        return {};
    QByteArray out = "{";
    for (qsizetype i = 0; i < names.size(); ++i) {
        if (i > 0)
            out += ',';
        out += names.at(i) + "=\"" + Metrics::escapeLabelValue(values.value(i)) + '"';
    }
    if (!extra.isEmpty())
        out += (names.isEmpty() ? "" : ",") + extra;
    out += '}';
    return out;
}

template<typename T> void header(QByteArray &out, const Family<T> &family, const char *type)
{
    out += "# HELP " + family.name() + ' ' + escapeHelp(family.help()) + '\n';
    out += "# TYPE " + family.name() + ' ' + type + '\n';
}

} // namespace

QByteArray Metrics::render()
{
    std::vector<Hook> hooks;
    std::vector<Entry> entries;
    {
        const std::lock_guard lock(m_mutex);
        std::erase_if(m_hooks, [](const Hook &hook) { return hook.context.isNull(); });
        hooks = m_hooks;
        entries = m_entries;
    }
    // Outside the lock: a hook may register or look up children.
    for (const Hook &hook : hooks) {
        Q_ASSERT(!hook.context || hook.context->thread() == QThread::currentThread());
        if (hook.context)
            hook.run();
    }

    QByteArray out;
    out.reserve(8192);
    for (const Entry &entry : entries) {
        switch (entry.type) {
        case Type::Counter: {
            const auto &family = *static_cast<const CounterFamily *>(entry.family);
            header(out, family, "counter");
            family.forEach([&](const QList<QByteArray> &values, const Counter &counter) {
                out += family.name() + labelSet(family.labelNames(), values) + ' '
                        + QByteArray::number(counter.value()) + '\n';
            });
            break;
        }
        case Type::Gauge: {
            const auto &family = *static_cast<const GaugeFamily *>(entry.family);
            header(out, family, "gauge");
            family.forEach([&](const QList<QByteArray> &values, const Gauge &gauge) {
                out += family.name() + labelSet(family.labelNames(), values) + ' '
                        + formatNumber(gauge.value()) + '\n';
            });
            break;
        }
        case Type::Histogram: {
            const auto &family = *static_cast<const HistogramFamily *>(entry.family);
            header(out, family, "histogram");
            family.forEach([&](const QList<QByteArray> &values, const Histogram &histogram) {
                const Histogram::Snapshot s = histogram.snapshot();
                for (qsizetype i = 0; i <= s.bounds.size(); ++i) {
                    const QByteArray le = i < s.bounds.size() ? formatNumber(s.bounds.at(i))
                                                              : QByteArrayLiteral("+Inf");
                    out += family.name() + "_bucket"
                            + labelSet(family.labelNames(), values, "le=\"" + le + '"') + ' '
                            + QByteArray::number(s.cumulative.at(i)) + '\n';
                }
                const QByteArray labels = labelSet(family.labelNames(), values);
                out += family.name() + "_sum" + labels + ' ' + formatNumber(s.sum) + '\n';
                out += family.name() + "_count" + labels + ' ' + QByteArray::number(s.count())
                        + '\n';
            });
            break;
        }
        }
    }
    return out;
}

} // namespace Switchboard
