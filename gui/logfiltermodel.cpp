#include "logfiltermodel.h"

#include "messagelogmodel.h"

namespace Switchboard {

LogFilterModel::LogFilterModel(QObject *parent) : QSortFilterProxyModel(parent) { }

LogFilterModel::~LogFilterModel() = default;

void LogFilterModel::setSessions(const QSet<quint64> &sessions)
{
    if (sessions == m_sessions)
        return;
    m_sessions = sessions;
    invalidateRowsFilter();
}

void LogFilterModel::setIncludeShared(bool include)
{
    if (include == m_includeShared)
        return;
    m_includeShared = include;
    invalidateRowsFilter();
}

bool LogFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (m_sessions.isEmpty())
        return true;
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    const quint64 id = index.data(MessageLogModel::SessionIdRole).value<quint64>();
    return id == 0 ? m_includeShared : m_sessions.contains(id);
}

} // namespace Switchboard
