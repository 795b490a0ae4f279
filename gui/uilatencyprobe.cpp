#include "uilatencyprobe.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QEvent>
#include <QtWidgets/QWidget>

#include <algorithm>

namespace Switchboard {

namespace {

const QEvent::Type kProbeEvent = static_cast<QEvent::Type>(QEvent::registerEventType());

double percentile(QList<double> values, double p)
{
    if (values.isEmpty())
        return -1;
    std::sort(values.begin(), values.end());
    const auto index = qsizetype(p * double(values.size() - 1) + 0.5);
    return values.at(std::clamp<qsizetype>(index, 0, values.size() - 1));
}

} // namespace

UiLatencyProbe::UiLatencyProbe(QWidget *widget, FILE *out, QObject *parent)
    : QObject(parent), m_widget(widget), m_out(out)
{
    m_clock.start();
    m_widget->installEventFilter(this);
    m_probeTimer.setInterval(100);
    connect(&m_probeTimer, &QTimer::timeout, this, &UiLatencyProbe::probe);
    m_reportTimer.setInterval(1000);
    connect(&m_reportTimer, &QTimer::timeout, this, &UiLatencyProbe::report);
    m_probeTimer.start();
    m_reportTimer.start();
}

void UiLatencyProbe::probe()
{
    const qint64 now = m_clock.nsecsElapsed();
    if (m_eventPostedNs < 0) {
        m_eventPostedNs = now;
        // Queued behind whatever the loop already has to do, like a mouse click.
        QCoreApplication::postEvent(this, new QEvent(kProbeEvent));
    }
    if (m_repaintAskedNs < 0) {
        m_repaintAskedNs = now;
        m_widget->update();
    }
}

bool UiLatencyProbe::event(QEvent *event)
{
    if (event->type() == kProbeEvent && m_eventPostedNs >= 0) {
        m_eventMs.append(double(m_clock.nsecsElapsed() - m_eventPostedNs) / 1e6);
        m_eventPostedNs = -1;
        return true;
    }
    return QObject::event(event);
}

bool UiLatencyProbe::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_widget && event->type() == QEvent::Paint && m_repaintAskedNs >= 0) {
        m_repaintMs.append(double(m_clock.nsecsElapsed() - m_repaintAskedNs) / 1e6);
        m_repaintAskedNs = -1;
    }
    return false;
}

void UiLatencyProbe::report()
{
    std::fprintf(m_out,
                 "{\"ui_probe\":true,\"t_s\":%.1f,\"events\":%lld,\"event_p50_ms\":%.2f,"
                 "\"event_p99_ms\":%.2f,\"event_max_ms\":%.2f,\"repaints\":%lld,"
                 "\"repaint_p50_ms\":%.2f,\"repaint_p99_ms\":%.2f,\"repaint_max_ms\":%.2f}\n",
                 double(m_clock.elapsed()) / 1000.0, static_cast<long long>(m_eventMs.size()),
                 percentile(m_eventMs, 0.5), percentile(m_eventMs, 0.99),
                 percentile(m_eventMs, 1.0), static_cast<long long>(m_repaintMs.size()),
                 percentile(m_repaintMs, 0.5), percentile(m_repaintMs, 0.99),
                 percentile(m_repaintMs, 1.0));
    std::fflush(m_out);
    m_eventMs.clear();
    m_repaintMs.clear();
}

} // namespace Switchboard
