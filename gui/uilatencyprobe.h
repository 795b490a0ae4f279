#pragma once

#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <cstdio>

class QWidget;

namespace Switchboard {

/*!
    Measures how quickly the console reacts while the server is busy, for the
    benchmark (not for tests): ten times a second it posts an event, as a click
    would be posted, and asks \a widget to repaint, and it records how long each
    waited. Once a second it writes one JSON line with p50/p99/max of both to
    \a out. main() creates one only when SWITCHBOARD_UI_PROBE is set.
*/
class UiLatencyProbe final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(UiLatencyProbe)

public:
    UiLatencyProbe(QWidget *widget, FILE *out, QObject *parent = nullptr);

protected:
    bool event(QEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void probe();
    void report();

    QWidget *m_widget;
    FILE *m_out;
    QElapsedTimer m_clock;
    QTimer m_probeTimer;
    QTimer m_reportTimer;
    qint64 m_eventPostedNs = -1;
    qint64 m_repaintAskedNs = -1;
    QList<double> m_eventMs;
    QList<double> m_repaintMs;
};

} // namespace Switchboard
