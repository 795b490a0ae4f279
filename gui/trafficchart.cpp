#include "trafficchart.h"

#include "traffichistory.h"

#include <QtCore/QDateTime>
#include <QtCore/QLocale>
#include <QtGui/QMouseEvent>
#include <QtGui/QPainter>
#include <QtWidgets/QToolTip>

#include <cmath>

namespace Switchboard {

namespace {

constexpr int kDivisions = 4; // horizontal grid lines, shared by both axes

// A round step (1, 2, 2.5 or 5 times a power of ten) so that kDivisions steps cover \a max.
double niceStep(double max, bool integral)
{
    const double raw = std::max(max, integral ? double(kDivisions) : 1.0) / kDivisions;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / magnitude;
    double step = (norm <= 1             ? 1
                           : norm <= 2   ? 2
                           : norm <= 2.5 ? 2.5
                           : norm <= 5   ? 5
                                         : 10)
            * magnitude;
    if (integral)
        step = std::max(1.0, std::ceil(step));
    return step;
}

// Short enough for the axis: 950, 1.5k, 12k.
QString compact(double value)
{
    const QLocale locale;
    if (value >= 10'000)
        return locale.toString(value / 1000, 'f', 0) + u'k';
    if (value >= 1000)
        return locale.toString(value / 1000, 'f', 1) + u'k';
    return locale.toString(value, 'f', value < 10 && value != std::floor(value) ? 1 : 0);
}

QString rateText(double perSecond)
{
    return TrafficChart::tr("%1 msg/s").arg(QLocale().toString(perSecond, 'f', 1));
}

QString connectionsText(int count)
{
    return count == 1 ? TrafficChart::tr("1 connection")
                      : TrafficChart::tr("%1 connections").arg(count);
}

bool isDark(const QPalette &palette)
{
    return palette.color(QPalette::Window).lightness() < 128;
}

} // namespace

TrafficChart::TrafficChart(TrafficHistory *history, QWidget *parent)
    : QWidget(parent), m_history(history)
{
    setMouseTracking(true); // the tooltip follows the pointer
    setAttribute(Qt::WA_OpaquePaintEvent); // paints every pixel: nothing beneath to draw first
    connect(m_history, &TrafficHistory::sampleAdded, this, &TrafficChart::onSampleAdded);
}

TrafficChart::~TrafficChart() = default;

QColor TrafficChart::connectionsColor(const QPalette &palette)
{
    return isDark(palette) ? QColor(0x58, 0xa6, 0xff) : QColor(0x09, 0x69, 0xda);
}

QColor TrafficChart::messagesColor(const QPalette &palette)
{
    return isDark(palette) ? QColor(0xf0, 0x88, 0x3e) : QColor(0xbc, 0x4c, 0x00);
}

QString TrafficChart::currentText() const
{
    if (m_history->isEmpty())
        return tr("no samples yet");
    const TrafficHistory::Sample last = m_history->latest();
    return connectionsText(last.connections) + QStringLiteral(" · ")
            + rateText(last.messagesPerSecond);
}

QSize TrafficChart::sizeHint() const
{
    return {420, fontMetrics().height() * 10};
}

QSize TrafficChart::minimumSizeHint() const
{
    // The legend, four grid rows that can hold their labels, the time axis.
    return {220, fontMetrics().height() * 6 + 12};
}

void TrafficChart::onSampleAdded()
{
    // update() on a hidden widget does nothing already; a minimised window is
    // still "visible", and repaints everything when it is shown again.
    if (isVisible() && !window()->isMinimized())
        update();
}

void TrafficChart::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange)
        update();
    QWidget::changeEvent(event);
}

qint64 TrafficChart::spanMs() const
{
    return qint64(m_history->capacity()) * 1000;
}

TrafficChart::Layout TrafficChart::layoutFor(const QFontMetrics &metrics) const
{
    Layout layout;
    layout.connectionsStep = niceStep(m_history->maxConnections(), true);
    layout.messagesStep = niceStep(m_history->maxMessagesPerSecond(), false);
    const int left = metrics.horizontalAdvance(compact(layout.connectionsStep * kDivisions)) + 8;
    const int right = metrics.horizontalAdvance(compact(layout.messagesStep * kDivisions)) + 8;
    const int line = metrics.height();
    layout.legendBaseline = metrics.ascent() + 2;
    layout.plot = QRect(QPoint(std::max(left, 24), line + 8),
                        QPoint(width() - 1 - std::max(right, 24), height() - 1 - line - 4));
    return layout;
}

void TrafficChart::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    const QPalette pal = palette();
    painter.fillRect(rect(), pal.color(QPalette::Base));
    painter.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics metrics = fontMetrics();
    const Layout layout = layoutFor(metrics);
    const QRect plot = layout.plot;
    if (plot.width() < 20 || plot.height() < 20)
        return;
    const QColor text = pal.color(QPalette::Text);
    const QColor connections = connectionsColor(pal);
    const QColor messages = messagesColor(pal);
    QColor grid = text;
    grid.setAlpha(40);

    // Legend: the current values, in the colour of their series.
    const TrafficHistory::Sample last = m_history->latest();
    int x = plot.left();
    const auto legend = [&](const QColor &colour, const QString &label) {
        const int box = metrics.ascent() - 2;
        painter.fillRect(QRect(x, layout.legendBaseline - box, box, box), colour);
        x += box + 4;
        painter.setPen(text);
        painter.drawText(x, layout.legendBaseline, label);
        x += metrics.horizontalAdvance(label) + 14;
    };
    legend(connections, tr("Open: %1").arg(last.connections));
    legend(messages, tr("Messages in+out: %1").arg(rateText(last.messagesPerSecond)));

    // Grid and both value axes: the same lines, each axis labelled in its series' colour.
    for (int i = 0; i <= kDivisions; ++i) {
        const int y = plot.bottom() - int(std::lround(double(plot.height()) * i / kDivisions));
        painter.setPen(grid);
        painter.drawLine(plot.left(), y, plot.right(), y);
        const QRect leftLabel(0, y - metrics.height() / 2, plot.left() - 4, metrics.height());
        const QRect rightLabel(plot.right() + 4, y - metrics.height() / 2,
                               width() - plot.right() - 4, metrics.height());
        painter.setPen(connections);
        painter.drawText(leftLabel, Qt::AlignRight | Qt::AlignVCenter,
                         compact(layout.connectionsStep * i));
        painter.setPen(messages);
        painter.drawText(rightLabel, Qt::AlignLeft | Qt::AlignVCenter,
                         compact(layout.messagesStep * i));
    }
    // Time axis: a line and a label per minute, "now" at the right edge.
    const qint64 span = spanMs();
    const int minutes = int(span / 60'000);
    for (int m = 0; m <= minutes; ++m) {
        const int lx = plot.right() - int(std::lround(double(plot.width()) * m * 60'000 / span));
        painter.setPen(grid);
        painter.drawLine(lx, plot.top(), lx, plot.bottom());
        const QString label = m == 0 ? tr("now") : tr("−%1 min").arg(m);
        const int w = metrics.horizontalAdvance(label);
        const int tx = std::clamp(lx - w / 2, 0, width() - w);
        painter.setPen(text);
        painter.drawText(tx, plot.bottom() + 4 + metrics.ascent(), label);
    }

    const QList<TrafficHistory::Sample> &samples = m_history->samples();
    if (samples.isEmpty()) {
        painter.setPen(text);
        painter.drawText(plot, Qt::AlignCenter, tr("Waiting for the first sample…"));
        return;
    }
    // The newest sample sits at "now": the line moves once a second, not in between.
    const qint64 now = last.timeMs;
    const auto xOf = [&](qint64 timeMs) {
        return plot.right() - double(plot.width()) * double(now - timeMs) / double(span);
    };
    const double connectionsTop = layout.connectionsStep * kDivisions;
    const double messagesTop = layout.messagesStep * kDivisions;
    // Polygons rather than paths: the antialiased stroke of a 300-point path costs
    // several times more, and this runs every second.
    QPolygonF connectionsLine;
    QPolygonF messagesLine;
    connectionsLine.reserve(samples.size() * 2 + 2);
    messagesLine.reserve(samples.size());
    for (const TrafficHistory::Sample &s : samples) {
        const double sx = std::max(xOf(s.timeMs), double(plot.left()));
        const double cy = plot.bottom() - plot.height() * s.connections / connectionsTop;
        const double my = plot.bottom() - plot.height() * s.messagesPerSecond / messagesTop;
        // Connections change in steps: a corner where the count changes, no
        // point where it does not (fewer segments to stroke).
        if (connectionsLine.isEmpty()) {
            connectionsLine.append({sx, cy});
        } else if (cy != connectionsLine.constLast().y()) {
            connectionsLine.append({sx, connectionsLine.constLast().y()});
            connectionsLine.append({sx, cy});
        }
        messagesLine.append({sx, my});
    }
    connectionsLine.append({messagesLine.constLast().x(), connectionsLine.constLast().y()});
    painter.setClipRect(plot.adjusted(0, -2, 1, 1));
    QPolygonF area = connectionsLine;
    area.append({connectionsLine.constLast().x(), double(plot.bottom())});
    area.append({connectionsLine.constFirst().x(), double(plot.bottom())});
    QColor fill = connections;
    fill.setAlpha(50);
    painter.setPen(Qt::NoPen);
    painter.setBrush(fill);
    painter.drawPolygon(area);
    painter.setBrush(Qt::NoBrush);
    painter.setPen(QPen(connections, 1.5));
    painter.drawPolyline(connectionsLine);
    painter.setPen(QPen(messages, 1.5));
    painter.drawPolyline(messagesLine);
}

void TrafficChart::mouseMoveEvent(QMouseEvent *event)
{
    const QList<TrafficHistory::Sample> &samples = m_history->samples();
    const Layout layout = layoutFor(fontMetrics());
    const QPoint pos = event->position().toPoint();
    if (samples.isEmpty() || !layout.plot.adjusted(-4, 0, 4, 0).contains(pos)) {
        QToolTip::hideText();
        return;
    }
    // The sample nearest the pointer's time.
    const qint64 now = samples.constLast().timeMs;
    const qint64 at
            = now - qint64(double(layout.plot.right() - pos.x()) / layout.plot.width() * spanMs());
    const auto nearest = std::min_element(
            samples.cbegin(), samples.cend(), [at](const auto &a, const auto &b) {
                return std::abs(a.timeMs - at) < std::abs(b.timeMs - at);
            });
    const QString time = QDateTime::fromMSecsSinceEpoch(nearest->timeMs).toString(u"HH:mm:ss");
    QToolTip::showText(event->globalPosition().toPoint(),
                       tr("%1\n%2\n%3 in+out")
                               .arg(time, connectionsText(nearest->connections),
                                    rateText(nearest->messagesPerSecond)),
                       this);
}

} // namespace Switchboard
