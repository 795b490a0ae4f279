// The operator console under QT_QPA_PLATFORM=offscreen, driven like an
// operator would, against a real Server + Hub and real WebSocket clients.

#include "connectionsmodel.h"
#include "guitestutil.h"
#include "mainwindow.h"
#include "messagelogmodel.h"
#include "sessiondetailpane.h"
#include "trafficchart.h"
#include "traffichistory.h"

#include <QtCore/QFile>
#include <QtCore/QSettings>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QTcpServer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>
#include <QtGui/QAction>
#include <QtGui/QClipboard>
#include <QtWidgets/QApplication>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QMenu>
#include <QtWidgets/QMenuBar>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QScrollBar>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QToolButton>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QTableView>
#include <QtWebSockets/QWebSocketHandshakeOptions>

#include <memory>

#include <sys/stat.h>

using namespace Switchboard;
using GuiTest::Client;

namespace {

/*! The permission bits of \a path in octal ("600"), or "missing". */
QString modeOf(const QString &path)
{
    struct stat info = {};
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return QStringLiteral("missing");
    return QString::number(info.st_mode & 07777, 8);
}

} // namespace

class tst_MainWindow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void showsConnectionsAndStatus();
    void sendToSelectedReachesExactlyThose();
    void enterSendsToSelected();
    void broadcastReachesAll();
    void binaryToggleSendsBinaryFrame();
    void disconnectSelectedClosesWith4000();
    void buttonsDisabledWhenTheyWouldDoNothing();
    void logShowsIncomingMessages();
    void logFollowsSelection();
    void filterNarrowsRows();
    void takenPortShowsErrorInWindow();
    void takenPortKeepsPreviousAddress();
    void stopAndStartListening();
    void settingsPersist();
    void savedFilesAreForTheirOwnerOnly_data();
    void savedFilesAreForTheirOwnerOnly();
    void addressDialogValidatesHost();
    void menuActionsHaveTheirShortcuts();
    void quitClosesTheWindowLikeClosingIt();
    void logKeepsFollowingWhenTheBannerAppears();
    void bannerCanBeDismissed();
    void failingBrowserIsExplainedInTheWindow();
    void detailPaneShowsTheSelectedSession();
    void detailPaneFollowsTheSessionsLog();
    void detailPaneActsOnItsSession();
    void detailPaneKeepsTheRoundTrips();
    void chartTakesASamplePerSecond();

private:
    void createWindow();
    Client *connectClient(const QString &path = QStringLiteral("/ws"));
    /*! Connects \a count clients to /ws and waits until the table shows them. */
    QList<Client *> connectClients(int count);
    void select(const QList<Client *> &clients);
    template<typename T> T *child(const char *name) const
    {
        return GuiTest::child<T>(m_window.get(), name);
    }
    QTableView *connectionsView() const { return child<QTableView>("connectionsView"); }
    QTableView *logView() const { return child<QTableView>("logView"); }
    QPushButton *sendButton() const { return child<QPushButton>("sendButton"); }
    QPushButton *broadcastButton() const { return child<QPushButton>("broadcastButton"); }
    QPushButton *disconnectButton() const { return child<QPushButton>("disconnectButton"); }
    QLineEdit *messageEdit() const { return child<QLineEdit>("messageEdit"); }
    bool logHasLine(const QString &direction, quint64 session, const QString &message) const;

    QTemporaryDir m_settingsDir;
    std::unique_ptr<GuiTest::TestServer> m_server;
    std::unique_ptr<MainWindow> m_window;
    std::vector<std::unique_ptr<Client>> m_clients;
};

void tst_MainWindow::initTestCase()
{
    QVERIFY(m_settingsDir.isValid());
    // settingsPersist() closes a window; that must not quit the test's application.
    GuiTest::isolateSettings(m_settingsDir, QStringLiteral("tst_mainwindow"));
}

void tst_MainWindow::init()
{
    QSettings().clear(); // every test starts from a first run
    m_server = std::make_unique<GuiTest::TestServer>();
    QVERIFY(m_server->listen());
    createWindow();
}

void tst_MainWindow::cleanup()
{
    m_clients.clear();
    m_window.reset();
    m_server.reset();
}

void tst_MainWindow::createWindow()
{
    m_window = std::make_unique<MainWindow>(&m_server->hub, &m_server->server);
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
}

Client *tst_MainWindow::connectClient(const QString &path)
{
    m_clients.push_back(std::make_unique<Client>(m_server->url(path)));
    return m_clients.back().get();
}

QList<Client *> tst_MainWindow::connectClients(int count)
{
    QList<Client *> clients;
    for (int i = 0; i < count; ++i)
        clients.append(connectClient());
    for (Client *client : std::as_const(clients)) {
        if (!client->waitGreeted())
            qWarning("client was not greeted");
    }
    const int expected = int(m_clients.size());
    if (!QTest::qWaitFor([&] { return connectionsView()->model()->rowCount() == expected; }))
        qWarning("the table shows %d rows, not %d", connectionsView()->model()->rowCount(),
                 expected);
    return clients;
}

void tst_MainWindow::select(const QList<Client *> &clients)
{
    QSet<quint64> ids;
    for (const Client *client : clients)
        ids.insert(client->sessionId(m_server->hub));
    QTableView *view = connectionsView();
    const QAbstractItemModel *model = view->model();
    QItemSelection selection;
    for (int row = 0; row < model->rowCount(); ++row) {
        const QModelIndex index = model->index(row, 0);
        if (ids.contains(index.data(ConnectionsModel::SessionIdRole).value<quint64>()))
            selection.select(index, index);
    }
    view->selectionModel()->select(selection,
                                   QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

bool tst_MainWindow::logHasLine(const QString &direction, quint64 session,
                                const QString &message) const
{
    const QAbstractItemModel *model = logView()->model();
    for (int row = 0; row < model->rowCount(); ++row) {
        if (model->index(row, MessageLogModel::DirectionColumn).data().toString() == direction
            && model->index(row, 0).data(MessageLogModel::SessionIdRole).value<quint64>() == session
            && model->index(row, MessageLogModel::MessageColumn).data().toString() == message)
            return true;
    }
    return false;
}

void tst_MainWindow::showsConnectionsAndStatus()
{
    const auto clients = connectClients(3);
    QCOMPARE(connectionsView()->model()->rowCount(), 3);
    QTRY_COMPARE(child<QLabel>("countLabel")->text(), QStringLiteral("3 connections"));
    QVERIFY(child<QLabel>("addressLabel")->text().contains(m_server->server.webSocketUrl()));
    QVERIFY(m_window->windowTitle().contains(m_server->server.webSocketUrl()));
    QVERIFY(QFile::exists(QStringLiteral(":/icons/switchboard.png"))); // the resource is linked in
    QVERIFY(!m_window->windowIcon().pixmap(32).isNull());
    // Without a cluster there is no node to show and no cluster state.
    QVERIFY(connectionsView()->isColumnHidden(ConnectionsModel::NodeColumn));
    QVERIFY(!m_window->findChild<QLabel *>(QStringLiteral("clusterLabel")));
    const QModelIndex id = connectionsView()->model()->index(0, ConnectionsModel::IdColumn);
    QCOMPARE(id.data().toString(),
             QString::number(id.data(ConnectionsModel::SessionIdRole).value<quint64>()));

    clients.at(0)->socket.close();
    QTRY_COMPARE(connectionsView()->model()->rowCount(), 2);
    QTRY_COMPARE(child<QLabel>("countLabel")->text(), QStringLiteral("2 connections"));
}

void tst_MainWindow::sendToSelectedReachesExactlyThose()
{
    const auto clients = connectClients(3);
    select({clients.at(0), clients.at(2)});
    QTest::keyClicks(messageEdit(), QStringLiteral("to two"));
    QVERIFY(sendButton()->isEnabled());
    QTest::mouseClick(sendButton(), Qt::LeftButton);

    QTRY_COMPARE(clients.at(0)->texts,
                 (QStringList{QStringLiteral("start"), QStringLiteral("to two")}));
    QTRY_COMPARE(clients.at(2)->texts,
                 (QStringList{QStringLiteral("start"), QStringLiteral("to two")}));
    QVERIFY(messageEdit()->text().isEmpty());

    // The middle client was not selected. Anything sent to it before this
    // marker would arrive before the marker, so seeing only the marker proves it.
    m_server->hub.send(clients.at(1)->sessionId(m_server->hub),
                       Frame::text(QStringLiteral("marker")));
    QTRY_COMPARE(clients.at(1)->texts.size(), 2);
    QCOMPARE(clients.at(1)->texts,
             (QStringList{QStringLiteral("start"), QStringLiteral("marker")}));
}

void tst_MainWindow::enterSendsToSelected()
{
    const auto clients = connectClients(2);
    select({clients.at(1)});
    QTest::keyClicks(messageEdit(), QStringLiteral("via enter"));
    QTest::keyClick(messageEdit(), Qt::Key_Return);
    QTRY_COMPARE(clients.at(1)->texts.value(1), QStringLiteral("via enter"));

    // Without a selection Enter sends nothing, and the text stays for the operator.
    connectionsView()->clearSelection();
    QTest::keyClicks(messageEdit(), QStringLiteral("nowhere"));
    QTest::keyClick(messageEdit(), Qt::Key_Return);
    QCOMPARE(messageEdit()->text(), QStringLiteral("nowhere"));
    m_server->hub.broadcast(Frame::text(QStringLiteral("marker")));
    QTRY_COMPARE(clients.at(0)->texts.size(), 2);
    QCOMPARE(clients.at(0)->texts.value(1), QStringLiteral("marker"));
    QTRY_COMPARE(clients.at(1)->texts.size(), 3);
    QCOMPARE(clients.at(1)->texts.value(2), QStringLiteral("marker"));
}

void tst_MainWindow::broadcastReachesAll()
{
    const auto clients = connectClients(3);
    select({clients.at(0)}); // a selection does not narrow a broadcast
    QTest::keyClicks(messageEdit(), QStringLiteral("hello everyone"));
    QVERIFY(broadcastButton()->isEnabled());
    QTest::mouseClick(broadcastButton(), Qt::LeftButton);
    for (Client *client : clients)
        QTRY_COMPARE(client->texts.value(1), QStringLiteral("hello everyone"));
    QTRY_VERIFY(logHasLine(QStringLiteral("broadcast"), 0, QStringLiteral("hello everyone")));
}

void tst_MainWindow::binaryToggleSendsBinaryFrame()
{
    const auto clients = connectClients(1);
    select({clients.at(0)});
    child<QCheckBox>("binaryCheck")->setChecked(true);
    QTest::keyClicks(messageEdit(), QStringLiteral("raw"));
    QTest::mouseClick(sendButton(), Qt::LeftButton);
    QTRY_COMPARE(clients.at(0)->binaries, (QList<QByteArray>{QByteArrayLiteral("raw")}));
    QCOMPARE(clients.at(0)->texts, QStringList{QStringLiteral("start")});
}

void tst_MainWindow::disconnectSelectedClosesWith4000()
{
    const auto clients = connectClients(3);
    select({clients.at(1)});
    QVERIFY(disconnectButton()->isEnabled());
    QTest::mouseClick(disconnectButton(), Qt::LeftButton);

    QTRY_VERIFY(clients.at(1)->closed);
    QCOMPARE(clients.at(1)->closeCode, 4000);
    QTRY_COMPARE(connectionsView()->model()->rowCount(), 2);
    QVERIFY(!clients.at(0)->closed);
    QVERIFY(!clients.at(2)->closed);
    QCOMPARE(m_server->hub.count(), 2);
    QTRY_VERIFY(!disconnectButton()->isEnabled()); // the selected row went away
}

void tst_MainWindow::buttonsDisabledWhenTheyWouldDoNothing()
{
    QVERIFY(!sendButton()->isEnabled());
    QVERIFY(!broadcastButton()->isEnabled());
    QVERIFY(!disconnectButton()->isEnabled());

    QTest::keyClicks(messageEdit(), QStringLiteral("text"));
    QVERIFY(!broadcastButton()->isEnabled()); // nobody to reach
    QVERIFY(!sendButton()->isEnabled());

    const auto clients = connectClients(2);
    QTRY_VERIFY(broadcastButton()->isEnabled());
    QVERIFY(!sendButton()->isEnabled()); // nothing selected
    QVERIFY(!disconnectButton()->isEnabled());

    select({clients.at(0)});
    QVERIFY(sendButton()->isEnabled());
    QVERIFY(disconnectButton()->isEnabled());

    messageEdit()->clear();
    QVERIFY(!sendButton()->isEnabled());
    QVERIFY(!broadcastButton()->isEnabled());
    QVERIFY(disconnectButton()->isEnabled()); // needs no text
}

void tst_MainWindow::logShowsIncomingMessages()
{
    const auto clients = connectClients(2);
    const quint64 id = clients.at(1)->sessionId(m_server->hub);
    clients.at(1)->socket.sendTextMessage(QStringLiteral("hello from a client"));
    QTRY_VERIFY(logHasLine(QStringLiteral("in"), id, QStringLiteral("hello from a client")));
    // The echo handler answers, and the log shows that too.
    QTRY_VERIFY(logHasLine(QStringLiteral("out"), id, QStringLiteral("hello from a client")));
}

void tst_MainWindow::logFollowsSelection()
{
    const auto clients = connectClients(2);
    const quint64 first = clients.at(0)->sessionId(m_server->hub);
    const quint64 second = clients.at(1)->sessionId(m_server->hub);
    clients.at(0)->socket.sendTextMessage(QStringLiteral("one"));
    clients.at(1)->socket.sendTextMessage(QStringLiteral("two"));
    QTRY_VERIFY(logHasLine(QStringLiteral("in"), first, QStringLiteral("one")));
    QTRY_VERIFY(logHasLine(QStringLiteral("in"), second, QStringLiteral("two")));

    child<QCheckBox>("followSelectionCheck")->setChecked(true);
    select({clients.at(1)});
    QVERIFY(!logHasLine(QStringLiteral("in"), first, QStringLiteral("one")));
    QVERIFY(logHasLine(QStringLiteral("in"), second, QStringLiteral("two")));

    child<QCheckBox>("followSelectionCheck")->setChecked(false);
    QVERIFY(logHasLine(QStringLiteral("in"), first, QStringLiteral("one")));
}

void tst_MainWindow::filterNarrowsRows()
{
    connectClients(2);
    Client *chat = connectClient(QStringLiteral("/ws/chat"));
    QVERIFY(chat->waitGreeted());
    const QAbstractItemModel *model = connectionsView()->model();
    QTRY_COMPARE(model->rowCount(), 3);

    QTest::keyClicks(child<QLineEdit>("filterEdit"), QStringLiteral("CHAT"));
    QCOMPARE(model->rowCount(), 1);
    QCOMPARE(model->index(0, 0).data(ConnectionsModel::SessionIdRole).value<quint64>(),
             chat->sessionId(m_server->hub));

    // Any column: the peer's port picks one client out.
    const QString port = QString::number(m_clients.front()->socket.localPort());
    child<QLineEdit>("filterEdit")->setText(u':' + port);
    QCOMPARE(model->rowCount(), 1);
    QCOMPARE(model->index(0, 0).data(ConnectionsModel::SessionIdRole).value<quint64>(),
             m_clients.front()->sessionId(m_server->hub));

    child<QLineEdit>("filterEdit")->clear();
    QCOMPARE(model->rowCount(), 3);
}

void tst_MainWindow::takenPortShowsErrorInWindow()
{
    // As main() does it: the window exists before the first listen().
    m_window.reset();
    m_server = std::make_unique<GuiTest::TestServer>();
    createWindow();
    QTcpServer squatter;
    QVERIFY(squatter.listen(QHostAddress(QHostAddress::LocalHost), 0));

    QVERIFY(!m_window->startListening(
            {QHostAddress(QHostAddress::LocalHost), squatter.serverPort()}));
    QVERIFY(m_window->isVisible());
    QVERIFY(!m_server->server.isListening());
    auto *banner = child<QWidget>("errorBanner");
    QVERIFY(banner->isVisible());
    const QString error = child<QLabel>("errorLabel")->text();
    QVERIFY2(error.contains(QString::number(squatter.serverPort())), qPrintable(error));
    // In GUI terms: the fix is a button away, not a command-line option.
    QVERIFY2(error.contains(QStringLiteral("Port %1 is in use by another program")
                                    .arg(squatter.serverPort())),
             qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("Change address")), qPrintable(error));
    QVERIFY2(!error.contains(QStringLiteral("--")), qPrintable(error));
    QVERIFY(child<QLabel>("addressLabel")->text().contains(QStringLiteral("Not listening")));

    // Fixing the address clears the error.
    QVERIFY(m_window->startListening({QHostAddress(QHostAddress::LocalHost), 0}));
    QVERIFY(m_server->server.isListening());
    QVERIFY(!banner->isVisible());
    Client *client = connectClient();
    QVERIFY(client->waitGreeted());
}

void tst_MainWindow::takenPortKeepsPreviousAddress()
{
    const quint16 port = m_server->server.serverPort();
    QTcpServer squatter;
    QVERIFY(squatter.listen(QHostAddress(QHostAddress::LocalHost), 0));
    QVERIFY(!m_window->startListening(
            {QHostAddress(QHostAddress::LocalHost), squatter.serverPort()}));
    QVERIFY(child<QWidget>("errorBanner")->isVisible());
    QVERIFY(m_server->server.isListening());
    QCOMPARE(m_server->server.serverPort(), port);
    QVERIFY(child<QLabel>("errorLabel")->text().contains(QStringLiteral("Still listening")));
    Client *client = connectClient();
    QVERIFY(client->waitGreeted());
}

void tst_MainWindow::stopAndStartListening()
{
    const auto clients = connectClients(1);
    auto *action = m_window->findChild<QAction *>(QStringLiteral("listenAction"));
    QVERIFY(action);
    QCOMPARE(action->text(), QStringLiteral("Stop listening"));
    action->trigger();
    QVERIFY(!m_server->server.isListening());
    QCOMPARE(action->text(), QStringLiteral("Start listening"));
    QVERIFY(!clients.at(0)->closed); // live sessions stay
    QVERIFY(!m_window->findChild<QAction *>(QStringLiteral("openClientAction"))->isEnabled());

    action->trigger();
    QVERIFY(m_server->server.isListening());
    QCOMPARE(action->text(), QStringLiteral("Stop listening"));
    Client *late = connectClient();
    QVERIFY(late->waitGreeted());
}

void tst_MainWindow::settingsPersist()
{
    QSettings().clear();
    QVERIFY(!MainWindow::savedListenAddress());
    QVERIFY(m_window->startListening({QHostAddress(QStringLiteral("127.0.0.1")), 0}));
    connectionsView()->setColumnWidth(ConnectionsModel::PeerColumn, 222);
    logView()->setColumnWidth(MessageLogModel::DirectionColumn, 111);
    // Within the offscreen screen (800x600): Qt 6.8 fits a restored window to its screen.
    m_window->resize(720, 540);
    m_window->close();

    m_window.reset();
    createWindow();
    QCOMPARE(connectionsView()->columnWidth(ConnectionsModel::PeerColumn), 222);
    QCOMPARE(logView()->columnWidth(MessageLogModel::DirectionColumn), 111);
    QCOMPARE(m_window->size(), QSize(720, 540));
    const auto saved = MainWindow::savedListenAddress();
    QVERIFY(saved);
    QCOMPARE(saved->host, QHostAddress(QStringLiteral("127.0.0.1")));
    QCOMPARE(saved->port, quint16(0));
}

void tst_MainWindow::savedFilesAreForTheirOwnerOnly_data()
{
    QTest::addColumn<bool>("existed"); // a file left world-readable by an older version
    QTest::newRow("new files") << false;
    QTest::newRow("files already there, 0644") << true;
}

void tst_MainWindow::savedFilesAreForTheirOwnerOnly()
{
    QFETCH(bool, existed);
    QTemporaryDir exports;
    QVERIFY(exports.isValid());
    const QString settingsFile = QSettings().fileName();
    const QString logFile = exports.filePath(QStringLiteral("log.jsonl"));
    QFile::remove(settingsFile);
    if (existed) {
        for (const QString &path : {settingsFile, logFile}) {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly,
                              QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                      | QFileDevice::ReadGroup | QFileDevice::ReadOther));
            QVERIFY(file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                        | QFileDevice::ReadGroup | QFileDevice::ReadOther));
            file.close();
            QCOMPARE(modeOf(path), QStringLiteral("644"));
        }
    }

    // The settings: on listening, and when the window closes.
    QVERIFY(m_window->startListening({QHostAddress(QStringLiteral("127.0.0.1")), 0}));
    QCOMPARE(modeOf(settingsFile), QStringLiteral("600"));
    m_window->close();
    QCOMPARE(modeOf(settingsFile), QStringLiteral("600"));
    QVERIFY(QSettings().contains(QStringLiteral("window/geometry"))); // it was written

    // The message log export.
    const auto clients = connectClients(1);
    clients.first()->socket.sendTextMessage(QStringLiteral("a secret"));
    QTRY_VERIFY(logHasLine(QStringLiteral("in"), clients.first()->sessionId(m_server->hub),
                           QStringLiteral("a secret")));
    QString error;
    QVERIFY2(m_window->saveLogTo(logFile, &error), qPrintable(error));
    QCOMPARE(modeOf(logFile), QStringLiteral("600"));
    QFile saved(logFile);
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QVERIFY(saved.readAll().contains("a secret"));
}

void tst_MainWindow::addressDialogValidatesHost()
{
    ListenAddressDialog dialog({QHostAddress(QHostAddress::LocalHost), 4040});
    auto *host = dialog.findChild<QLineEdit *>(QStringLiteral("hostEdit"));
    auto *port = dialog.findChild<QSpinBox *>(QStringLiteral("portSpinBox"));
    auto *ok = dialog.findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok);
    QVERIFY(host && port && ok);
    QCOMPARE(host->text(), QStringLiteral("127.0.0.1"));
    QCOMPARE(port->value(), 4040);

    host->setText(QStringLiteral("not an address"));
    QVERIFY(!ok->isEnabled());
    host->setText(QStringLiteral("::1"));
    QVERIFY(ok->isEnabled());
    port->setValue(0);
    QCOMPARE(dialog.address().host, QHostAddress(QHostAddress::LocalHostIPv6));
    QCOMPARE(dialog.address().port, quint16(0));
    host->setText(QStringLiteral("localhost"));
    QCOMPARE(dialog.address().host, QHostAddress(QHostAddress::LocalHost));
}

void tst_MainWindow::menuActionsHaveTheirShortcuts()
{
    auto *quit = child<QAction>("quitAction");
    QCOMPARE(quit->shortcut(), QKeySequence(QStringLiteral("Ctrl+Q")));
    QCOMPARE(child<QAction>("saveLogAction")->shortcut(), QKeySequence(QStringLiteral("Ctrl+S")));
    QVERIFY(child<QAction>("aboutAction"));
    QVERIFY(child<QAction>("aboutQtAction"));

    // Every action sits in a menu of the menu bar.
    QStringList inMenus;
    for (QAction *menu : m_window->menuBar()->actions()) {
        for (QAction *action : menu->menu()->actions())
            inMenus.append(action->objectName());
    }
    for (const char *name : {"saveLogAction", "quitAction", "followSelectionAction",
                             "clearLogAction", "aboutAction", "aboutQtAction"})
        QVERIFY2(inMenus.contains(QLatin1String(name)), name);

    // View's items act on the same state as the log's own controls.
    auto *follow = child<QAction>("followSelectionAction");
    follow->trigger();
    QVERIFY(child<QCheckBox>("followSelectionCheck")->isChecked());
    child<QCheckBox>("followSelectionCheck")->setChecked(false);
    QVERIFY(!follow->isChecked());

    connectClients(1);
    QTRY_VERIFY(logView()->model()->rowCount() > 0);
    child<QAction>("clearLogAction")->trigger();
    QCOMPARE(logView()->model()->rowCount(), 0);
}

void tst_MainWindow::quitClosesTheWindowLikeClosingIt()
{
    // main() shuts the server down (1001 to every session, exit 0) when the last
    // window closes; Quit must close the window the way its close button does,
    // with a QCloseEvent (lastWindowClosed itself is only sent inside exec()).
    struct CloseCounter : QObject
    {
        int closes = 0;
        bool eventFilter(QObject *, QEvent *event) override
        {
            closes += event->type() == QEvent::Close ? 1 : 0;
            return false;
        }
    } counter;
    m_window->installEventFilter(&counter);
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));
    QTest::keyClick(m_window.get(), Qt::Key_Q, Qt::ControlModifier);
    QTRY_VERIFY(!m_window->isVisible());
    QCOMPARE(counter.closes, 1);
    // closeEvent() ran: the settings were saved as on a close.
    QVERIFY(QSettings().contains(QStringLiteral("window/geometry")));
}

void tst_MainWindow::logKeepsFollowingWhenTheBannerAppears()
{
    Client *client = connectClients(1).front();
    QTableView *view = logView();
    QScrollBar *bar = view->verticalScrollBar();
    const auto addLines = [&](int count) {
        const int expected = view->model()->rowCount() + 2 * count; // in + echoed out
        for (int i = 0; i < count; ++i)
            client->socket.sendTextMessage(QStringLiteral("line %1").arg(i));
        return QTest::qWaitFor([&] { return view->model()->rowCount() >= expected; });
    };
    const auto lastRowVisible = [view] {
        const QModelIndex last = view->model()->index(view->model()->rowCount() - 1, 0);
        return view->viewport()->rect().contains(view->visualRect(last));
    };

    QVERIFY(addLines(40));
    QTRY_VERIFY(bar->maximum() > 0);
    QTRY_VERIFY(lastRowVisible());

    // The banner takes room from the log; the newest line must stay in sight.
    QTcpServer squatter;
    QVERIFY(squatter.listen(QHostAddress(QHostAddress::LocalHost), 0));
    QVERIFY(!m_window->startListening(
            {QHostAddress(QHostAddress::LocalHost), squatter.serverPort()}));
    QVERIFY(child<QWidget>("errorBanner")->isVisible());
    QTRY_VERIFY(lastRowVisible());
    QVERIFY(addLines(10));
    QTRY_VERIFY(lastRowVisible());

    // Scrolled up to read: new lines and layout changes leave the view where it is.
    bar->setValue(0);
    QVERIFY(addLines(10));
    QTest::qWait(0);
    QCOMPARE(bar->value(), 0);
    child<QToolButton>("errorCloseButton")->click();
    QVERIFY(addLines(5));
    QCOMPARE(bar->value(), 0);

    // Back at the bottom, it follows again.
    bar->setValue(bar->maximum());
    QVERIFY(addLines(10));
    QTRY_VERIFY(lastRowVisible());
}

void tst_MainWindow::bannerCanBeDismissed()
{
    QTcpServer squatter;
    QVERIFY(squatter.listen(QHostAddress(QHostAddress::LocalHost), 0));
    QVERIFY(!m_window->startListening(
            {QHostAddress(QHostAddress::LocalHost), squatter.serverPort()}));
    auto *banner = child<QWidget>("errorBanner");
    QVERIFY(banner->isVisible());
    QTest::mouseClick(child<QToolButton>("errorCloseButton"), Qt::LeftButton);
    QVERIFY(!banner->isVisible());
    // The next failure shows it again.
    QVERIFY(!m_window->startListening(
            {QHostAddress(QHostAddress::LocalHost), squatter.serverPort()}));
    QVERIFY(banner->isVisible());
}

void tst_MainWindow::failingBrowserIsExplainedInTheWindow()
{
    QList<QUrl> opened;
    bool browserStarts = false;
    m_window->setUrlOpener([&](const QUrl &url) {
        opened.append(url);
        return browserStarts;
    });
    const QString url = m_server->server.httpUrl();

    child<QAction>("openClientAction")->trigger();
    QCOMPARE(opened, QList<QUrl>{QUrl(url)});
    const QString message = m_window->statusBar()->currentMessage();
    QVERIFY2(message.contains(QStringLiteral("Could not start a web browser")),
             qPrintable(message));
    QVERIFY2(message.contains(url), qPrintable(message));
    QCOMPARE(QGuiApplication::clipboard()->text(), url);

    // When the browser starts, nothing is said.
    m_window->statusBar()->clearMessage();
    browserStarts = true;
    child<QAction>("openClientAction")->trigger();
    QCOMPARE(opened.size(), 2);
    QVERIFY(m_window->statusBar()->currentMessage().isEmpty());
}

namespace {

// Paint events of one widget: the chart must repaint once per sample, not per message.
class PaintCounter final : public QObject
{
public:
    int paints = 0;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Paint)
            ++paints;
        return QObject::eventFilter(watched, event);
    }
};

QString labelText(const QObject *root, const char *name)
{
    return GuiTest::child<QLabel>(root, name)->text();
}

} // namespace

void tst_MainWindow::detailPaneShowsTheSelectedSession()
{
    auto *pane = child<SessionDetailPane>("sessionDetailPane");
    QCOMPARE(pane->sessionId(), 0u);
    QVERIFY(child<QLabel>("detailPlaceholder")->isVisible());

    // A chat client that speaks the subprotocol, beside a plain one.
    const auto plain = connectClients(1);
    QWebSocket chat;
    QWebSocketHandshakeOptions options;
    options.setSubprotocols({QStringLiteral("chat.v1")});
    chat.open(QUrl(m_server->url(QStringLiteral("/ws/chat"))), options);
    QTRY_COMPARE(chat.state(), QAbstractSocket::ConnectedState);
    QTRY_COMPARE(connectionsView()->model()->rowCount(), 2);
    quint64 chatId = 0;
    for (const SessionInfo &info : m_server->hub.sessions()) {
        if (info.peerPort == chat.localPort())
            chatId = info.id;
    }
    QVERIFY(chatId != 0);

    QTableView *view = connectionsView();
    for (int row = 0; row < view->model()->rowCount(); ++row) {
        if (view->model()->index(row, 0).data(ConnectionsModel::SessionIdRole).value<quint64>()
            == chatId)
            view->selectRow(row);
    }
    QCOMPARE(pane->sessionId(), chatId);
    QVERIFY(child<QLabel>("detailPeer")->isVisible());
    QCOMPARE(labelText(pane, "detailPeer"), QStringLiteral("127.0.0.1:%1").arg(chat.localPort()));
    QCOMPARE(labelText(pane, "detailPath"), QStringLiteral("/ws/chat"));
    QCOMPARE(labelText(pane, "detailProtocol"), QStringLiteral("chat.v1"));
    QCOMPARE(labelText(pane, "detailCompression"), QStringLiteral("none"));
    QCOMPARE(labelText(pane, "detailState"), QStringLiteral("open"));
    QVERIFY(labelText(pane, "detailTitle").contains(QString::number(chatId)));

    // Live: the counters follow the hub's batches.
    chat.sendTextMessage(QStringLiteral("hello"));
    chat.sendTextMessage(QStringLiteral("again"));
    QTRY_VERIFY(labelText(pane, "detailMessages").startsWith(u"2 in"));

    // Two rows selected: no one session to show.
    view->selectAll();
    QCOMPARE(pane->sessionId(), 0u);
    QVERIFY(child<QLabel>("detailPlaceholder")->isVisible());

    // The session ends while shown: its figures stay, marked closed.
    select(plain);
    const quint64 plainId = plain.at(0)->sessionId(m_server->hub);
    QCOMPARE(pane->sessionId(), plainId);
    const QString peer = labelText(pane, "detailPeer");
    plain.at(0)->socket.close();
    QTRY_VERIFY(labelText(pane, "detailState").startsWith(u"closed"));
    QVERIFY(pane->isClosed());
    QCOMPARE(pane->sessionId(), plainId);
    QCOMPARE(labelText(pane, "detailPeer"), peer);
    QVERIFY(!child<QPushButton>("detailCloseButton")->isEnabled());
    QVERIFY(!child<QLineEdit>("detailMessageEdit")->isEnabled());
    chat.close();
}

void tst_MainWindow::detailPaneFollowsTheSessionsLog()
{
    const auto clients = connectClients(2);
    select({clients.at(1)});
    clients.at(0)->socket.sendTextMessage(QStringLiteral("not this one"));
    clients.at(1)->socket.sendTextMessage(QStringLiteral("this one"));
    QTRY_COMPARE(clients.at(1)->texts.size(), 2); // echoed: the hub logged in and out
    QTRY_COMPARE(clients.at(0)->texts.size(), 2);
    // A broadcast reaches it too, but is a line of every session: the main log has it.
    m_server->hub.broadcast(Frame::text(QStringLiteral("to everyone")));
    QTRY_COMPARE(clients.at(1)->texts.size(), 3);
    QTRY_VERIFY(logHasLine(QStringLiteral("broadcast"), 0, QStringLiteral("to everyone")));

    auto *log = child<QTableView>("detailLogView");
    QStringList lines;
    QTRY_VERIFY([&] {
        lines.clear();
        for (int row = 0; row < log->model()->rowCount(); ++row)
            lines << log->model()->index(row, MessageLogModel::MessageColumn).data().toString();
        return lines.contains(QStringLiteral("this one"));
    }());
    QVERIFY(!lines.contains(QStringLiteral("not this one")));
    // Only this session's lines: no server events, no other session.
    const quint64 id = clients.at(1)->sessionId(m_server->hub);
    for (int row = 0; row < log->model()->rowCount(); ++row)
        QCOMPARE(log->model()->index(row, 0).data(MessageLogModel::SessionIdRole).value<quint64>(),
                 id);
    QVERIFY(log->isColumnHidden(MessageLogModel::SessionColumn));
}

void tst_MainWindow::detailPaneActsOnItsSession()
{
    const auto clients = connectClients(2);
    select({clients.at(0)});
    auto *edit = child<QLineEdit>("detailMessageEdit");
    auto *send = child<QPushButton>("detailSendButton");
    QVERIFY(!send->isEnabled()); // nothing to send yet
    QTest::keyClicks(edit, QStringLiteral("just you"));
    QVERIFY(send->isEnabled());
    QTest::mouseClick(send, Qt::LeftButton);
    QTRY_COMPARE(clients.at(0)->texts,
                 (QStringList{QStringLiteral("start"), QStringLiteral("just you")}));
    QVERIFY(edit->text().isEmpty());
    m_server->hub.send(clients.at(1)->sessionId(m_server->hub),
                       Frame::text(QStringLiteral("marker")));
    QTRY_COMPARE(clients.at(1)->texts.size(), 2);
    QCOMPARE(clients.at(1)->texts.at(1), QStringLiteral("marker")); // the other got nothing else

    QTest::mouseClick(child<QPushButton>("detailCloseButton"), Qt::LeftButton);
    QTRY_VERIFY(clients.at(0)->closed);
    QCOMPARE(clients.at(0)->closeCode, 4000);
    QVERIFY(!clients.at(1)->closed);
}

void tst_MainWindow::detailPaneKeepsTheRoundTrips()
{
    // A server that pings every 50 ms, so round trips come quickly.
    m_window.reset();
    Switchboard::HubSettings settings;
    settings.pingInterval = std::chrono::milliseconds(50);
    settings.statsInterval = std::chrono::milliseconds(20);
    m_server = std::make_unique<GuiTest::TestServer>(settings);
    QVERIFY(m_server->listen());
    createWindow();

    const auto clients = connectClients(1);
    select(clients);
    auto *pane = child<SessionDetailPane>("sessionDetailPane");
    QCOMPARE(labelText(pane, "detailRtt"), QStringLiteral("no pong yet"));
    QTRY_VERIFY(labelText(pane, "detailRtt").contains(u"over the last 3 pings"));
    const QList<qint64> history = m_window->findChild<ConnectionsModel *>()->rttHistory(
            clients.at(0)->sessionId(m_server->hub));
    QVERIFY(history.size() >= 3);
}

void tst_MainWindow::chartTakesASamplePerSecond()
{
    auto *chart = child<TrafficChart>("trafficChart");
    QVERIFY(chart->isVisible());
    TrafficHistory *history = chart->history();
    const auto clients = connectClients(2);
    QTRY_COMPARE(history->latest().connections, 2);
    QVERIFY(chart->currentText().startsWith(u"2 connections"));

    // A burst of messages is one sample, and one repaint, per second.
    PaintCounter counter;
    chart->installEventFilter(&counter);
    QSignalSpy samples(history, &TrafficHistory::sampleAdded);
    QVERIFY(samples.wait(3000));
    QTRY_VERIFY(counter.paints > 0); // a sample is painted
    counter.paints = 0;
    samples.clear();
    for (int i = 0; i < 200; ++i)
        clients.at(i % 2)->socket.sendTextMessage(QStringLiteral("burst"));
    QTRY_COMPARE(clients.at(1)->texts.size(), 101);
    QTRY_VERIFY(history->latest().messagesPerSecond > 0);
    QVERIFY(samples.size() >= 1);
    QVERIFY2(counter.paints <= samples.size(),
             qPrintable(QStringLiteral("%1 paints for %2 samples")
                                .arg(counter.paints)
                                .arg(samples.size())));

    // Hidden, it takes samples without painting.
    m_window->hide();
    counter.paints = 0;
    const int before = history->size();
    QTRY_VERIFY(history->size() > before || history->size() == history->capacity());
    QCOMPARE(counter.paints, 0);
}

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
