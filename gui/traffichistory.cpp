#include "traffichistory.h"

#include <algorithm>

namespace Switchboard {

TrafficHistory::TrafficHistory(QObject *parent) : QObject(parent)
{
    m_samples.reserve(m_capacity + 1);
}

TrafficHistory::~TrafficHistory() = default;

void TrafficHistory::addSample(qint64 timeMs, int connections, quint64 messages, qint64 elapsedMs)
{
    const double seconds = double(std::max<qint64>(elapsedMs, 1)) / 1000.0;
    m_samples.append({timeMs, std::max(connections, 0), double(messages) / seconds});
    // QList drops its first element without moving the rest.
    while (m_samples.size() > m_capacity)
        m_samples.removeFirst();
    Q_EMIT sampleAdded();
}

void TrafficHistory::clear()
{
    m_samples.clear();
}

void TrafficHistory::setCapacity(int samples)
{
    m_capacity = std::max(samples, 2);
    if (m_samples.size() > m_capacity)
        m_samples.remove(0, m_samples.size() - m_capacity);
}

int TrafficHistory::maxConnections() const
{
    int most = 0;
    for (const Sample &sample : m_samples)
        most = std::max(most, sample.connections);
    return most;
}

double TrafficHistory::maxMessagesPerSecond() const
{
    double most = 0;
    for (const Sample &sample : m_samples)
        most = std::max(most, sample.messagesPerSecond);
    return most;
}

} // namespace Switchboard
