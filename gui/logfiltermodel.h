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

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QSet<quint64> m_sessions;
};

} // namespace Switchboard
