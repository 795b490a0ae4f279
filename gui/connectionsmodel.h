#pragma once

#include "cluster/cluster.h"
#include "websocket/sessioninfo.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QTimer>

#include <optional>

namespace Switchboard {

/*!
    The live sessions as a table: this instance's sessions in id order, then
    those of the other cluster instances ordered by node and id.

    The model knows nothing of sockets: it is fed the hub's snapshots through
    addSession(), updateSessions() and removeSession(), which MainWindow
    connects to Hub::sessionOpened, Hub::statsChanged and Hub::sessionClosed,
    and in cluster mode the cluster's remote sessions through
    setRemoteSessions() whenever Cluster::remoteSessionsChanged() fires.
    A one-second timer refreshes only the "connected for" column.
*/
class ConnectionsModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConnectionsModel)

public:
    enum Column {
        IdColumn,
        NodeColumn,
        PeerColumn,
        PathColumn,
        ProtocolColumn, //!< the negotiated subprotocol
        ConnectedForColumn,
        MessagesInColumn,
        MessagesOutColumn,
        BytesInColumn,
        BytesOutColumn,
        CompressionColumn, //!< permessage-deflate and its ratio so far
        PingColumn,
        StateColumn,
        ColumnCount
    };

    enum Role {
        SessionIdRole = Qt::UserRole, //!< a local row's session id (quint64); 0 on remote rows
        SortRole, //!< a number or string that sorts the column naturally
        GlobalIdRole, //!< the id as the admin API takes it: "node:id" in cluster mode
        RemoteRole, //!< true on the rows of sessions on other instances
    };

    /*! A session on another cluster instance, as its last heartbeat described it. */
    struct RemoteSessionInfo
    {
        QString node;
        SessionInfo info; //!< info.id is the session's id on that node

        QString globalId() const { return node + u':' + QString::number(info.id); }
    };

    explicit ConnectionsModel(QObject *parent = nullptr);
    ~ConnectionsModel() override;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    /*! Replaces every local row with \a sessions (used once, to catch up with the hub). */
    void resetSessions(QList<SessionInfo> sessions);
    void addSession(const SessionInfo &info);
    /*! Refreshes the counters of the sessions in \a changed that have a row. */
    void updateSessions(const QList<SessionInfo> &changed);
    void removeSession(quint64 id);

    /*!
        This instance's cluster node name: local rows show it in the Node
        column and their ids as "node:id". Empty (the default) outside cluster
        mode, where the Node column is empty and ids are plain numbers.
    */
    void setNodeName(const QString &name);
    QString nodeName() const { return m_nodeName; }

    /*!
        Replaces the remote rows with \a sessions, as Cluster::remoteSessions()
        lists them. Rows that stay are updated in place, so selections and
        persistent indexes on them survive each heartbeat.
    */
    void setRemoteSessions(const QList<Cluster::RemoteSession> &sessions);
    int remoteCount() const { return int(m_remote.size()); }

    /*! The row of local session \a id, or -1. */
    int rowOf(quint64 id) const;
    /*! The row of session \a id on instance \a node, or -1. */
    int rowOfRemote(const QString &node, quint64 id) const;
    bool isRemote(int row) const { return row >= m_sessions.size() && row < rowCount(); }
    /*! The local session shown in \a row; a default SessionInfo (id 0) for any other row. */
    SessionInfo sessionAt(int row) const;
    /*! The remote session shown in \a row, if it is one. */
    std::optional<RemoteSessionInfo> remoteSessionAt(int row) const;

    static constexpr int RttHistorySize = 20;
    /*!
        The round trips of local session \a id's last pings (at most
        RttHistorySize, oldest first), as its pong count grew in the hub's
        snapshots; empty before the first pong and for unknown ids.
    */
    QList<qint64> rttHistory(quint64 id) const { return m_rttHistory.value(id); }

private:
    void refreshConnectedFor();
    void updateTicker();
    const SessionInfo &infoAt(int row) const;
    QString nodeAt(int row) const;
    QString idText(int row) const;
    QVariant displayData(const SessionInfo &info, int column) const;
    QVariant sortData(int row, int column) const;
    void recordRtt(const SessionInfo &info, quint64 previousPongs);

    QList<SessionInfo> m_sessions; // rows 0..n-1, sorted by id: ids only grow, so rows append
    QList<RemoteSessionInfo> m_remote; // the rows after them, sorted by node, then id
    QHash<quint64, QList<qint64>> m_rttHistory; // local sessions only: by id
    QString m_nodeName;
    QTimer m_ticker;
};

} // namespace Switchboard
