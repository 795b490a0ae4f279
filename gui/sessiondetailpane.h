#pragma once

#include <QtWidgets/QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QStackedWidget;
class QTableView;

namespace Switchboard {

class ConnectionsModel;
class LogFilterModel;
class MessageLogModel;

/*!
    Everything about one local session: its peer, path, subprotocol and
    compression, how long it has been connected, its counters, the round
    trips of its last pings and its own lines of the message log.

    It reads the ConnectionsModel and MessageLogModel the window already
    keeps, so it updates whenever they do and costs nothing of its own per
    message. It knows sessions by id only and asks the window to act on
    them (sendRequested(), closeRequested()).
*/
class SessionDetailPane final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(SessionDetailPane)

public:
    SessionDetailPane(ConnectionsModel *connections, MessageLogModel *log,
                      QWidget *parent = nullptr);
    ~SessionDetailPane() override;

    /*! The session shown, or 0. */
    quint64 sessionId() const { return m_id; }
    /*! Shows local session \a id (0: none, with a hint to select one). */
    void setSession(quint64 id);
    /*!
        The hub reported that session \a id ended because of \a reason: if it
        is the one shown, its last figures stay, marked closed, until another
        is selected.
    */
    void markClosed(quint64 id, const QString &reason);
    bool isClosed() const { return m_closed; }

Q_SIGNALS:
    void sendRequested(quint64 id, const QString &text);
    void closeRequested(quint64 id);

private:
    void refresh();
    void onConnectionsChanged(const QModelIndex &topLeft, const QModelIndex &bottomRight);
    void send();
    void updateButtons();
    QString rttText() const;

    ConnectionsModel *m_connections;
    LogFilterModel *m_log;
    quint64 m_id = 0;
    bool m_closed = false;
    bool m_logAtBottom = true;

    QStackedWidget *m_stack = nullptr;
    QLabel *m_title = nullptr;
    QLabel *m_state = nullptr;
    QLabel *m_peer = nullptr;
    QLabel *m_path = nullptr;
    QLabel *m_protocol = nullptr;
    QLabel *m_compression = nullptr;
    QLabel *m_connected = nullptr;
    QLabel *m_messages = nullptr;
    QLabel *m_bytes = nullptr;
    QLabel *m_rtt = nullptr;
    QTableView *m_logView = nullptr;
    QLineEdit *m_messageEdit = nullptr;
    QPushButton *m_sendButton = nullptr;
    QPushButton *m_closeButton = nullptr;
};

} // namespace Switchboard
