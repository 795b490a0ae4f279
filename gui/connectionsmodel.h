#pragma once

#include "sessioninfo.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QList>
#include <QtCore/QTimer>

namespace Switchboard {

/*!
    The live sessions as a table, one row per session id, in id order.

    The model knows nothing of sockets: it is fed the hub's snapshots through
    addSession(), updateSessions() and removeSession(), which MainWindow
    connects to Hub::sessionOpened, Hub::statsChanged and Hub::sessionClosed.
    A one-second timer refreshes only the "connected for" column.
*/
class ConnectionsModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ConnectionsModel)

public:
    enum Column {
        IdColumn,
        PeerColumn,
        PathColumn,
        ConnectedForColumn,
        MessagesInColumn,
        MessagesOutColumn,
        BytesInColumn,
        BytesOutColumn,
        PingColumn,
        StateColumn,
        ColumnCount
    };

    enum Role {
        SessionIdRole = Qt::UserRole, //!< the row's session id (quint64), any column
        SortRole, //!< a number or string that sorts the column naturally
    };

    explicit ConnectionsModel(QObject *parent = nullptr);
    ~ConnectionsModel() override;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    /*! Replaces every row with \a sessions (used once, to catch up with the hub). */
    void resetSessions(QList<SessionInfo> sessions);
    void addSession(const SessionInfo &info);
    /*! Refreshes the counters of the sessions in \a changed that have a row. */
    void updateSessions(const QList<SessionInfo> &changed);
    void removeSession(quint64 id);

    /*! The row of session \a id, or -1. */
    int rowOf(quint64 id) const;
    /*! The session shown in \a row; a default SessionInfo (id 0) if there is none. */
    SessionInfo sessionAt(int row) const;

private:
    void refreshConnectedFor();
    QVariant displayData(const SessionInfo &info, int column) const;
    QVariant sortData(const SessionInfo &info, int column) const;

    QList<SessionInfo> m_sessions; // sorted by id: ids only grow, so rows append
    QTimer m_ticker;
};

} // namespace Switchboard
