#include "trafficmeter.h"

namespace Switchboard {

TrafficMeter::TrafficMeter(QObject *parent) : QObject(parent)
{
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &TrafficMeter::sample);
    m_timer.start();
    m_clock.start();
}

TrafficMeter::~TrafficMeter() = default;

void TrafficMeter::sample()
{
    // Measure the time that really passed: a busy event loop fires late.
    m_samples[m_next] = {std::exchange(m_in, 0), std::exchange(m_out, 0), m_clock.restart()};
    Q_EMIT sampled(m_samples[m_next].in, m_samples[m_next].out, m_samples[m_next].ms);
    m_next = (m_next + 1) % kWindow;
    Sample total;
    for (const Sample &s : m_samples) {
        total.in += s.in;
        total.out += s.out;
        total.ms += s.ms;
    }
    const double seconds = double(std::max<qint64>(total.ms, 1)) / 1000.0;
    const double in = double(total.in) / seconds;
    const double out = double(total.out) / seconds;
    if (in == m_inRate && out == m_outRate)
        return;
    m_inRate = in;
    m_outRate = out;
    Q_EMIT ratesChanged(in, out);
}

} // namespace Switchboard
