#pragma once

#include <QtWidgets/QWidget>

namespace Switchboard {

class TrafficHistory;

/*!
    A painted chart of a TrafficHistory: open connections (left axis, filled)
    and messages per second in and out (right axis) over the history's span,
    with the current values in its legend and any sample's values in a
    tooltip.

    It repaints once per sample and only while it can be seen: samples that
    arrive while the window is hidden or minimised cost a list append, and
    the next expose paints the whole history anyway. Why not Qt Charts: see
    the README ("Traffic chart").
*/
class TrafficChart final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TrafficChart)

public:
    explicit TrafficChart(TrafficHistory *history, QWidget *parent = nullptr);
    ~TrafficChart() override;

    TrafficHistory *history() const { return m_history; }
    /*! The legend's words for the newest sample: "3 connections · 12.5 msg/s". */
    QString currentText() const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

    /*! The series' colours, chosen for contrast on \a palette's window colour. */
    static QColor connectionsColor(const QPalette &palette);
    static QColor messagesColor(const QPalette &palette);

protected:
    void paintEvent(QPaintEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    struct Layout
    {
        QRect plot;
        int legendBaseline = 0;
        double connectionsStep = 1;
        double messagesStep = 1;
    };

    void onSampleAdded();
    Layout layoutFor(const QFontMetrics &metrics) const;
    qint64 spanMs() const;

    TrafficHistory *m_history;
};

} // namespace Switchboard
