#pragma once

#include <QtCore/QElapsedTimer>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <array>

namespace Switchboard {

/*!
    Counts messages in and out and reports the rates once per second,
    averaged over the last few seconds, so the status bar changes at a fixed
    pace and a client that talks every other second does not read as 1, 0, 1.
*/
class TrafficMeter final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TrafficMeter)

public:
    explicit TrafficMeter(QObject *parent = nullptr);
    ~TrafficMeter() override;

    void countIncoming() { ++m_in; }
    void countOutgoing() { ++m_out; }

    double incomingRate() const { return m_inRate; }
    double outgoingRate() const { return m_outRate; }

Q_SIGNALS:
    void ratesChanged(double incomingPerSecond, double outgoingPerSecond);
    /*!
        Every tick, changed or not: the messages counted since the last one and
        the milliseconds that really passed. The traffic chart takes one point
        from each.
    */
    void sampled(quint64 incoming, quint64 outgoing, qint64 elapsedMs);

private:
    struct Sample
    {
        quint64 in = 0;
        quint64 out = 0;
        qint64 ms = 0;
    };
    static constexpr int kWindow = 5; // seconds averaged

    void sample();

    QTimer m_timer;
    QElapsedTimer m_clock;
    std::array<Sample, kWindow> m_samples{};
    int m_next = 0;
    quint64 m_in = 0;
    quint64 m_out = 0;
    double m_inRate = 0;
    double m_outRate = 0;
};

} // namespace Switchboard
