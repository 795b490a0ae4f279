#include "connectionsmodel.h"

#include <QtCore/QDateTime>
#include <QtCore/QLocale>

#include <algorithm>

namespace Switchboard {

namespace {

QString formatDuration(qint64 seconds)
{
    seconds = std::max<qint64>(seconds, 0);
    if (seconds < 60)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 3600)
        return QStringLiteral("%1m %2s").arg(seconds / 60).arg(seconds % 60, 2, 10, QChar(u'0'));
    return QStringLiteral("%1h %2m")
            .arg(seconds / 3600)
            .arg((seconds % 3600) / 60, 2, 10, QChar(u'0'));
}

qint64 connectedSeconds(const SessionInfo &info)
{
    return info.connectedAt.secsTo(QDateTime::currentDateTimeUtc());
}

auto byId(quint64 id)
{
    return [id](const SessionInfo &info) {
        return info.id < id;
    };
}

} // namespace

ConnectionsModel::ConnectionsModel(QObject *parent) : QAbstractTableModel(parent)
{
    m_ticker.setInterval(1000);
    connect(&m_ticker, &QTimer::timeout, this, &ConnectionsModel::refreshConnectedFor);
}

ConnectionsModel::~ConnectionsModel() = default;

int ConnectionsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_sessions.size());
}

int ConnectionsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ConnectionsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const SessionInfo &info = m_sessions.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
        return displayData(info, index.column());
    case SortRole:
        return sortData(info, index.column());
    case SessionIdRole:
        return QVariant::fromValue(info.id);
    case Qt::TextAlignmentRole:
        if (index.column() == PeerColumn || index.column() == PathColumn
            || index.column() == StateColumn)
            return QVariant::fromValue(Qt::AlignLeft | Qt::AlignVCenter);
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ToolTipRole:
        if (index.column() == ConnectedForColumn)
            return QLocale().toString(info.connectedAt.toLocalTime(), QLocale::LongFormat);
        return {};
    default:
        return {};
    }
}

QVariant ConnectionsModel::displayData(const SessionInfo &info, int column) const
{
    const QLocale locale;
    switch (column) {
    case IdColumn:
        return QString::number(info.id);
    case PeerColumn:
        return info.peer();
    case PathColumn:
        return QString::fromUtf8(info.path);
    case ConnectedForColumn:
        return formatDuration(connectedSeconds(info));
    case MessagesInColumn:
        return locale.toString(info.messagesIn);
    case MessagesOutColumn:
        return locale.toString(info.messagesOut);
    case BytesInColumn:
        return locale.formattedDataSize(qint64(info.bytesIn));
    case BytesOutColumn:
        return locale.formattedDataSize(qint64(info.bytesOut));
    case PingColumn:
        return info.lastPingRttMs < 0 ? QStringLiteral("–")
                                      : QStringLiteral("%1 ms").arg(info.lastPingRttMs);
    case StateColumn:
        return info.state == SessionInfo::State::Open ? tr("open") : tr("closing");
    default:
        return {};
    }
}

QVariant ConnectionsModel::sortData(const SessionInfo &info, int column) const
{
    switch (column) {
    case IdColumn:
        return QVariant::fromValue(info.id);
    case PeerColumn:
        // Group by address, then order ports numerically.
        return QString(info.peerAddress.toString() + u'|'
                       + QStringLiteral("%1").arg(info.peerPort, 5, 10, QChar(u'0')));
    case PathColumn:
        return QString::fromUtf8(info.path);
    case ConnectedForColumn:
        return connectedSeconds(info);
    case MessagesInColumn:
        return QVariant::fromValue(info.messagesIn);
    case MessagesOutColumn:
        return QVariant::fromValue(info.messagesOut);
    case BytesInColumn:
        return QVariant::fromValue(info.bytesIn);
    case BytesOutColumn:
        return QVariant::fromValue(info.bytesOut);
    case PingColumn:
        return info.lastPingRttMs;
    case StateColumn:
        return int(info.state);
    default:
        return {};
    }
}

QVariant ConnectionsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case IdColumn:
        return tr("ID");
    case PeerColumn:
        return tr("Peer");
    case PathColumn:
        return tr("Path");
    case ConnectedForColumn:
        return tr("Connected for");
    case MessagesInColumn:
        return tr("Msgs in");
    case MessagesOutColumn:
        return tr("Msgs out");
    case BytesInColumn:
        return tr("Bytes in");
    case BytesOutColumn:
        return tr("Bytes out");
    case PingColumn:
        return tr("Ping RTT");
    case StateColumn:
        return tr("State");
    default:
        return {};
    }
}

void ConnectionsModel::resetSessions(QList<SessionInfo> sessions)
{
    beginResetModel();
    m_sessions = std::move(sessions);
    std::sort(m_sessions.begin(), m_sessions.end(),
              [](const SessionInfo &a, const SessionInfo &b) { return a.id < b.id; });
    endResetModel();
    if (m_sessions.isEmpty())
        m_ticker.stop();
    else
        m_ticker.start();
}

void ConnectionsModel::addSession(const SessionInfo &info)
{
    const auto it = std::partition_point(m_sessions.cbegin(), m_sessions.cend(), byId(info.id));
    if (it != m_sessions.cend() && it->id == info.id)
        return;
    const int row = int(it - m_sessions.cbegin());
    beginInsertRows({}, row, row);
    m_sessions.insert(row, info);
    endInsertRows();
    if (!m_ticker.isActive())
        m_ticker.start();
}

void ConnectionsModel::updateSessions(const QList<SessionInfo> &changed)
{
    // One dataChanged over the span of touched rows: a view repaints once per
    // batch however many sessions moved.
    int first = -1;
    int last = -1;
    for (const SessionInfo &info : changed) {
        const int row = rowOf(info.id);
        if (row < 0)
            continue;
        m_sessions[row] = info;
        first = first < 0 ? row : std::min(first, row);
        last = std::max(last, row);
    }
    if (first >= 0)
        Q_EMIT dataChanged(index(first, MessagesInColumn), index(last, StateColumn));
}

void ConnectionsModel::removeSession(quint64 id)
{
    const int row = rowOf(id);
    if (row < 0)
        return;
    beginRemoveRows({}, row, row);
    m_sessions.removeAt(row);
    endRemoveRows();
    if (m_sessions.isEmpty())
        m_ticker.stop();
}

int ConnectionsModel::rowOf(quint64 id) const
{
    const auto it = std::partition_point(m_sessions.cbegin(), m_sessions.cend(), byId(id));
    return it != m_sessions.cend() && it->id == id ? int(it - m_sessions.cbegin()) : -1;
}

SessionInfo ConnectionsModel::sessionAt(int row) const
{
    return row >= 0 && row < m_sessions.size() ? m_sessions.at(row) : SessionInfo();
}

void ConnectionsModel::refreshConnectedFor()
{
    if (!m_sessions.isEmpty())
        Q_EMIT dataChanged(index(0, ConnectedForColumn),
                           index(int(m_sessions.size()) - 1, ConnectedForColumn),
                           {Qt::DisplayRole, SortRole, Qt::ToolTipRole});
}

} // namespace Switchboard
