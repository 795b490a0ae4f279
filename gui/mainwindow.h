#pragma once

#include "connectionsmodel.h"
#include "listenaddressdialog.h"

#include <QtCore/QList>
#include <QtCore/QStringList>
#include <QtWidgets/QMainWindow>

#include <functional>
#include <optional>

class QAction;
class QCheckBox;
class QFrame;
class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QSplitter;
class QSystemTrayIcon;
class QTableView;
class QUrl;

namespace Switchboard {

class Cluster;
class Hub;
class LogFilterModel;
class MessageLogModel;
class Server;
class SessionDetailPane;
class TrafficChart;
class TrafficHistory;
class TrafficMeter;

/*!
    The operator console: live connections, the message log, a composer and
    the listener controls, for a Hub and Server owned by the caller.

    In cluster mode (a non-null Cluster) the table also lists the sessions of
    the other instances, the composer reaches them through the cluster, and
    the status bar shows the cluster's state.

    It reaches sessions only through the hub's and cluster's public API and
    by session id. Every hub, server and cluster signal the console uses is
    connected in one place, connectCore().
*/
class MainWindow final : public QMainWindow
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindow)

public:
    MainWindow(Hub *hub, Server *server, Cluster *cluster = nullptr, QWidget *parent = nullptr);
    ~MainWindow() override;

    /*!
        Listens on \a address. On failure the error is shown in the window,
        not only on the console; if the server was listening elsewhere it goes
        back to that address. Returns whether \a address is now in use.
    */
    bool startListening(const ListenAddress &address);
    /*! The address the operator last asked for. */
    ListenAddress listenAddress() const { return m_address; }

    /*! The address saved by the last successful startListening(), if any. */
    static std::optional<ListenAddress> savedListenAddress();

    /*!
        Writes the message log to \a path as JSON Lines, readable by its owner
        only (messages may carry secrets); false with \a error set on failure.
        The "Save log" button asks for the path and calls this.
    */
    bool saveLogTo(const QString &path, QString *error = nullptr);

    using UrlOpener = std::function<bool(const QUrl &)>;
    /*!
        Replaces QDesktopServices::openUrl() for "Open test client" (tests use
        it to play a desktop without a browser); a null \a opener restores it.
    */
    void setUrlOpener(UrlOpener opener);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void buildActions();
    void buildWidgets();
    void buildMenus();
    void connectCore();
    void restoreSettings();
    void saveSettings() const;

    void bringToFront();
    void onListeningChanged(bool listening);
    void onCountChanged(int count);
    void onRatesChanged(double in, double out);
    void onRemoteSessionsChanged();
    void updateClusterStatus();
    void updateActions();
    void updateLogFilter();
    void updateDetailPane();
    void sendToSession(quint64 id, const QString &text);
    void closeSession(quint64 id);
    void showError(const QString &message);
    void hideError();
    QString listenErrorMessage(const ListenAddress &address) const;

    QList<quint64> selectedSessionIds(bool openOnly = false) const;
    QList<ConnectionsModel::RemoteSessionInfo> selectedRemoteSessions(bool openOnly = false) const;
    void sendToSelected();
    void broadcast();
    void disconnectSelected();
    void toggleListening();
    void changeAddress();
    void openTestClient();
    void copyWebSocketUrl();
    void saveLog();
    void showAbout();

    Hub *m_hub;
    Server *m_server;
    Cluster *m_cluster;
    ListenAddress m_address;

    ConnectionsModel *m_connections;
    QSortFilterProxyModel *m_connectionsProxy;
    MessageLogModel *m_log;
    LogFilterModel *m_logProxy;
    TrafficMeter *m_traffic;
    TrafficHistory *m_history;

    QAction *m_listenAction = nullptr;
    QAction *m_changeAddressAction = nullptr;
    QAction *m_openClientAction = nullptr;
    QAction *m_saveLogAction = nullptr;
    QAction *m_clearLogAction = nullptr;
    QAction *m_followSelectionAction = nullptr;
    QAction *m_quitAction = nullptr;

    QFrame *m_errorBanner = nullptr;
    QLabel *m_errorLabel = nullptr;
    QSplitter *m_splitter = nullptr;
    QSplitter *m_bottomSplitter = nullptr; // the log | the chart over the session's details
    TrafficChart *m_chart = nullptr;
    SessionDetailPane *m_detail = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QTableView *m_connectionsView = nullptr;
    QTableView *m_logView = nullptr;
    QCheckBox *m_followSelection = nullptr;
    QLineEdit *m_messageEdit = nullptr;
    QCheckBox *m_binary = nullptr;
    QPushButton *m_sendButton = nullptr;
    QPushButton *m_broadcastButton = nullptr;
    QPushButton *m_disconnectButton = nullptr;
    QLabel *m_addressLabel = nullptr;
    QLabel *m_countLabel = nullptr;
    QLabel *m_rateLabel = nullptr;
    QLabel *m_clusterLabel = nullptr;
    QStringList m_remoteNodes; // as last shown, to log instances joining and leaving
    QSystemTrayIcon *m_tray = nullptr;
    bool m_logAtBottom = true;
    UrlOpener m_urlOpener;
};

} // namespace Switchboard
