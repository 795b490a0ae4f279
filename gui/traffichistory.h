#pragma once

#include <QtCore/QList>
#include <QtCore/QObject>

namespace Switchboard {

/*!
    The last few minutes of traffic, one sample per TrafficMeter tick: open
    connections and messages per second (in and out together). The chart
    paints from it; it knows nothing of widgets, so the series it computes
    are tested from given inputs.
*/
class TrafficHistory final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TrafficHistory)

public:
    struct Sample
    {
        qint64 timeMs = 0; //!< UTC, since the epoch
        int connections = 0;
        double messagesPerSecond = 0;
    };

    static constexpr int DefaultCapacity = 300; //!< five minutes at one sample a second

    explicit TrafficHistory(QObject *parent = nullptr);
    ~TrafficHistory() override;

    /*!
        Records \a messages counted over \a elapsedMs (the time that really
        passed: a busy event loop ticks late) as a rate, with \a connections
        open at \a timeMs.
    */
    void addSample(qint64 timeMs, int connections, quint64 messages, qint64 elapsedMs);
    void clear();

    int capacity() const { return m_capacity; }
    /*! Keeps the newest \a samples; at least 2, so there is a line to draw. */
    void setCapacity(int samples);

    const QList<Sample> &samples() const { return m_samples; }
    int size() const { return int(m_samples.size()); }
    bool isEmpty() const { return m_samples.isEmpty(); }
    /*! The newest sample; a default one while empty. */
    Sample latest() const { return m_samples.isEmpty() ? Sample{} : m_samples.constLast(); }
    int maxConnections() const;
    double maxMessagesPerSecond() const;

Q_SIGNALS:
    void sampleAdded();

private:
    QList<Sample> m_samples; // oldest first
    int m_capacity = DefaultCapacity;
};

} // namespace Switchboard
