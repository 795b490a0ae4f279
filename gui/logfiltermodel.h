#pragma once

#include <QtCore/QSet>
#include <QtCore/QSortFilterProxyModel>

namespace Switchboard {

/*!
    Narrows a MessageLogModel to the lines of some sessions, keeping the
    broadcasts and server events that concern every session. An empty set
    shows everything.
*/
class LogFilterModel final : public QSortFilterProxyModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(LogFilterModel)

public:
    explicit LogFilterModel(QObject *parent = nullptr);
    ~LogFilterModel() override;

    QSet<quint64> sessions() const { return m_sessions; }
    void setSessions(const QSet<quint64> &sessions);

    /*!
        Whether the lines of no one session (broadcasts, server events) stay
        when filtering by session; true by default. The session detail pane
        turns it off to list one session's own lines.
    */
    bool includesShared() const { return m_includeShared; }
    void setIncludeShared(bool include);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QSet<quint64> m_sessions;
    bool m_includeShared = true;
};

} // namespace Switchboard
