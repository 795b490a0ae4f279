#include "connectionsmodel.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonObject>
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

QString compressionToolTip(const SessionInfo &info)
{
    if (!info.compressed)
        return ConnectionsModel::tr("No compression negotiated");
    const QLocale locale;
    return ConnectionsModel::tr("permessage-deflate: %1 of messages crossed the wire as %2")
            .arg(locale.formattedDataSize(qint64(info.bytesIn + info.bytesOut)),
                 locale.formattedDataSize(qint64(info.wireBytesIn + info.wireBytesOut)));
}

// Remote rows are ordered by node, then by the id on that node.
bool remoteLess(const QString &nodeA, quint64 idA, const QString &nodeB, quint64 idB)
{
    const int order = nodeA.compare(nodeB);
    return order < 0 || (order == 0 && idA < idB);
}

// Sort keys above every local id put remote rows after local ones when sorted by id.
constexpr quint64 kRemoteSortBase = quint64(1) << 63;

// The figures a heartbeat refreshes; returns whether any changed.
bool updateCounters(SessionInfo &info, const QJsonObject &json)
{
    SessionInfo fresh = SessionInfo::fromJson(json);
    if (!fresh.countersDiffer(info))
        return false;
    fresh.id = info.id;
    info = fresh;
    return true;
}

// A session as GET /api/connections describes it (which heartbeats carry).
SessionInfo sessionFromJson(quint64 id, const QJsonObject &json)
{
    SessionInfo info = SessionInfo::fromJson(json);
    info.id = id;
    return info;
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
    return parent.isValid() ? 0 : int(m_sessions.size() + m_remote.size());
}

int ConnectionsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ConnectionsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const int row = index.row();
    const SessionInfo &info = infoAt(row);
    switch (role) {
    case Qt::DisplayRole:
        if (index.column() == IdColumn)
            return idText(row);
        if (index.column() == NodeColumn)
            return nodeAt(row);
        return displayData(info, index.column());
    case SortRole:
        return sortData(row, index.column());
    case SessionIdRole:
        return QVariant::fromValue(isRemote(row) ? quint64(0) : info.id);
    case GlobalIdRole:
        return idText(row);
    case RemoteRole:
        return isRemote(row);
    case Qt::TextAlignmentRole:
        // Plain numbers align right; "node:id" reads like a name.
        if (index.column() == NodeColumn || index.column() == PeerColumn
            || index.column() == PathColumn || index.column() == ProtocolColumn
            || index.column() == StateColumn
            || (index.column() == IdColumn && (isRemote(row) || !m_nodeName.isEmpty())))
            return QVariant::fromValue(Qt::AlignLeft | Qt::AlignVCenter);
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ToolTipRole:
        if (index.column() == ConnectedForColumn)
            return QLocale().toString(info.connectedAt.toLocalTime(), QLocale::LongFormat);
        if (index.column() == NodeColumn)
            return isRemote(row) ? tr("On instance %1; its figures are as of its last heartbeat")
                                           .arg(nodeAt(row))
                                 : tr("On this instance");
        if (index.column() == CompressionColumn)
            return compressionToolTip(info);
        return {};
    default:
        return {};
    }
}

const SessionInfo &ConnectionsModel::infoAt(int row) const
{
    return row < m_sessions.size() ? m_sessions.at(row) : m_remote.at(row - m_sessions.size()).info;
}

QString ConnectionsModel::nodeAt(int row) const
{
    // Outside cluster mode the column is empty, so that it matches no filter text.
    return isRemote(row) ? m_remote.at(row - m_sessions.size()).node : m_nodeName;
}

QString ConnectionsModel::idText(int row) const
{
    if (isRemote(row))
        return m_remote.at(row - m_sessions.size()).globalId();
    const QString id = QString::number(m_sessions.at(row).id);
    return m_nodeName.isEmpty() ? id : m_nodeName + u':' + id;
}

QVariant ConnectionsModel::displayData(const SessionInfo &info, int column) const
{
    const QLocale locale;
    switch (column) {
    case PeerColumn:
        return info.peer();
    case PathColumn:
        return QString::fromUtf8(info.path);
    case ProtocolColumn:
        return info.protocol.isEmpty() ? QStringLiteral("–") : QString::fromLatin1(info.protocol);
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
    case CompressionColumn:
        if (!info.compressed)
            return QStringLiteral("–");
        if (const auto ratio = info.compressionRatio())
            return tr("deflate %1×").arg(locale.toString(*ratio, 'f', 1));
        return tr("deflate");
    case PingColumn:
        return info.lastPingRttMs < 0 ? QStringLiteral("–")
                                      : QStringLiteral("%1 ms").arg(info.lastPingRttMs);
    case StateColumn:
        return info.state == SessionInfo::State::Open ? tr("open") : tr("closing");
    default:
        return {};
    }
}

QVariant ConnectionsModel::sortData(int row, int column) const
{
    const SessionInfo &info = infoAt(row);
    switch (column) {
    case IdColumn:
        // Numbers for speed. Remote rows are kept in (node, id) order, so
        // their position in that list orders them; it shifts as rows come and
        // go, but never changes their order relative to each other.
        if (isRemote(row))
            return QVariant::fromValue(kRemoteSortBase + quint64(row - m_sessions.size()));
        return QVariant::fromValue(info.id);
    case NodeColumn:
        return nodeAt(row);
    case PeerColumn:
        // Group by address, then order ports numerically.
        return QString(info.peerAddress.toString() + u'|'
                       + QStringLiteral("%1").arg(info.peerPort, 5, 10, QChar(u'0')));
    case PathColumn:
        return QString::fromUtf8(info.path);
    case ProtocolColumn:
        return QString::fromLatin1(info.protocol);
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
    case CompressionColumn:
        // Uncompressed sessions first, then by ratio.
        return info.compressed ? info.compressionRatio().value_or(0.0) : -1.0;
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
    case NodeColumn:
        return tr("Node");
    case PeerColumn:
        return tr("Peer");
    case PathColumn:
        return tr("Path");
    case ProtocolColumn:
        return tr("Protocol");
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
    case CompressionColumn:
        return tr("Compression");
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
    m_rttHistory.clear();
    for (const SessionInfo &info : std::as_const(m_sessions))
        recordRtt(info, 0);
    endResetModel();
    updateTicker();
}

void ConnectionsModel::addSession(const SessionInfo &info)
{
    const auto it = std::partition_point(m_sessions.cbegin(), m_sessions.cend(), byId(info.id));
    if (it != m_sessions.cend() && it->id == info.id)
        return;
    const int row = int(it - m_sessions.cbegin());
    beginInsertRows({}, row, row);
    m_sessions.insert(row, info);
    recordRtt(info, 0);
    endInsertRows();
    updateTicker();
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
        recordRtt(info, m_sessions.at(row).pongs);
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
    m_rttHistory.remove(id);
    endRemoveRows();
    updateTicker();
}

void ConnectionsModel::recordRtt(const SessionInfo &info, quint64 previousPongs)
{
    // A snapshot carries only the last round trip; the pong count says whether it
    // is a new one (equal round trips are common on a LAN). Pongs that came and
    // went between two snapshots (statsInterval apart, pings seconds apart) are
    // not seen: one sample per snapshot is close enough for a history.
    if (info.pongs <= previousPongs || info.lastPingRttMs < 0)
        return;
    QList<qint64> &history = m_rttHistory[info.id];
    history.append(info.lastPingRttMs);
    if (history.size() > RttHistorySize)
        history.removeFirst();
}

int ConnectionsModel::rowOf(quint64 id) const
{
    const auto it = std::partition_point(m_sessions.cbegin(), m_sessions.cend(), byId(id));
    return it != m_sessions.cend() && it->id == id ? int(it - m_sessions.cbegin()) : -1;
}

int ConnectionsModel::rowOfRemote(const QString &node, quint64 id) const
{
    const auto it = std::partition_point(
            m_remote.cbegin(), m_remote.cend(), [&](const RemoteSessionInfo &remote) {
                return remoteLess(remote.node, remote.info.id, node, id);
            });
    if (it == m_remote.cend() || it->node != node || it->info.id != id)
        return -1;
    return int(m_sessions.size() + (it - m_remote.cbegin()));
}

SessionInfo ConnectionsModel::sessionAt(int row) const
{
    return row >= 0 && row < m_sessions.size() ? m_sessions.at(row) : SessionInfo();
}

std::optional<ConnectionsModel::RemoteSessionInfo> ConnectionsModel::remoteSessionAt(int row) const
{
    if (!isRemote(row))
        return std::nullopt;
    return m_remote.at(row - m_sessions.size());
}

void ConnectionsModel::setNodeName(const QString &name)
{
    if (name == m_nodeName)
        return;
    m_nodeName = name;
    if (!m_sessions.isEmpty())
        Q_EMIT dataChanged(index(0, IdColumn), index(int(m_sessions.size()) - 1, NodeColumn));
}

void ConnectionsModel::setRemoteSessions(const QList<Cluster::RemoteSession> &sessions)
{
    struct Incoming
    {
        QString node;
        quint64 id;
        const QJsonObject *json;
    };
    QList<Incoming> incoming;
    incoming.reserve(sessions.size());
    for (const Cluster::RemoteSession &session : sessions) {
        const auto id = Cluster::splitGlobalId(session.info.value(QStringLiteral("id")).toString());
        if (id && id->first == session.node)
            incoming.append({session.node, id->second, &session.info});
    }
    const auto less = [](const Incoming &a, const Incoming &b) {
        return remoteLess(a.node, a.id, b.node, b.id);
    };
    std::sort(incoming.begin(), incoming.end(), less);
    incoming.erase(std::unique(incoming.begin(), incoming.end(),
                               [](const Incoming &a, const Incoming &b) {
                                   return a.node == b.node && a.id == b.id;
                               }),
                   incoming.end());

    // Merge the two sorted lists: rows that stay are updated in place, and
    // rows that come or go do so in contiguous runs (a whole instance joining
    // or dropping out is one insert or one removal).
    const auto before = [](const RemoteSessionInfo &row, const Incoming &in) {
        return remoteLess(row.node, row.info.id, in.node, in.id);
    };
    const auto after = [](const RemoteSessionInfo &row, const Incoming &in) {
        return remoteLess(in.node, in.id, row.node, row.info.id);
    };
    const int base = int(m_sessions.size());
    qsizetype i = 0; // in m_remote
    qsizetype n = 0; // in incoming
    qsizetype changedFirst = -1;
    qsizetype changedLast = -1;
    while (i < m_remote.size() || n < incoming.size()) {
        qsizetype end = i;
        while (end < m_remote.size()
               && (n == incoming.size() || before(m_remote.at(end), incoming.at(n))))
            ++end;
        if (end > i) {
            beginRemoveRows({}, int(base + i), int(base + end - 1));
            m_remote.remove(i, end - i);
            endRemoveRows();
            continue;
        }
        if (n == incoming.size())
            break;
        if (i < m_remote.size() && !after(m_remote.at(i), incoming.at(n))) {
            // The same session: only its figures move.
            if (updateCounters(m_remote[i].info, *incoming.at(n).json)) {
                changedFirst = changedFirst < 0 ? i : changedFirst;
                changedLast = i;
            }
            ++i;
            ++n;
            continue;
        }
        end = n;
        while (end < incoming.size()
               && (i == m_remote.size() || after(m_remote.at(i), incoming.at(end))))
            ++end;
        beginInsertRows({}, int(base + i), int(base + i + (end - n) - 1));
        m_remote.insert(i, end - n, RemoteSessionInfo());
        for (qsizetype k = n; k < end; ++k, ++i)
            m_remote[i] = {incoming.at(k).node,
                           sessionFromJson(incoming.at(k).id, *incoming.at(k).json)};
        endInsertRows();
        n = end;
    }
    // Rows are only inserted or removed after the updated ones, so their indexes hold.
    if (changedFirst >= 0)
        Q_EMIT dataChanged(index(int(base + changedFirst), MessagesInColumn),
                           index(int(base + changedLast), StateColumn));
    updateTicker();
}

void ConnectionsModel::updateTicker()
{
    if (rowCount() == 0)
        m_ticker.stop();
    else if (!m_ticker.isActive())
        m_ticker.start();
}

void ConnectionsModel::refreshConnectedFor()
{
    if (rowCount() > 0)
        Q_EMIT dataChanged(index(0, ConnectedForColumn), index(rowCount() - 1, ConnectedForColumn),
                           {Qt::DisplayRole, SortRole, Qt::ToolTipRole});
}

} // namespace Switchboard
