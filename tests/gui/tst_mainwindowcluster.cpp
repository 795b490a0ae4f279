// The operator console in cluster mode, under QT_QPA_PLATFORM=offscreen: the
// window's instance ("alpha": Hub + Server + Cluster in this process) and a
// real `switchboard` process ("beta") joined through a real redis-server,
// with WebSocket clients on each. A separate executable from tst_mainwindow
// because it needs redis-server and skips as a whole without it.

#include "cluster/cluster.h"
#include "clusterutil.h"
#include "connectionsmodel.h"
#include "guitestutil.h"
#include "mainwindow.h"
#include "messagelogmodel.h"

#include <QtCore/QSettings>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>
#include <QtWidgets/QApplication>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QTableView>

#include <memory>

using namespace Switchboard;
using GuiTest::Client;
using TestUtil::RedisServer;
using TestUtil::SwitchboardProcess;

namespace {

// Heartbeats are a second apart and a silent node drops out after three.
constexpr int kClusterTimeoutMs = 15000;

/*! This process's instance, wired like main() wires one started with --cluster. */
struct ClusterNode
{
    explicit ClusterNode(quint16 redisPort) : server(&hub), cluster(&hub, settings(redisPort))
    {
        ServerConfig config;
        config.adminToken = QByteArrayLiteral("test-token");
        installDefaults(server, config, &cluster);
    }

    static ClusterSettings settings(quint16 redisPort)
    {
        ClusterSettings settings;
        settings.redis.host = QStringLiteral("127.0.0.1");
        settings.redis.port = redisPort;
        settings.secret = TestUtil::kClusterSecret;
        settings.nodeName = QStringLiteral("alpha");
        return settings;
    }
    QString url() const { return QStringLiteral("ws://127.0.0.1:%1/ws").arg(server.serverPort()); }

    Hub hub;
    Server server;
    Cluster cluster;
};

} // namespace

class tst_MainWindowCluster : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();

    void showsRemoteSessionsWithTheirNode();
    void sendToSelectedReachesRemoteSession();
    void disconnectSelectedClosesRemoteSession();
    void broadcastReachesEveryInstance();
    void redisOutageShowsDegraded();

private:
    template<typename T> T *child(const char *name) const
    {
        return GuiTest::child<T>(m_window.get(), name);
    }
    QTableView *connectionsView() const { return child<QTableView>("connectionsView"); }
    QLineEdit *messageEdit() const { return child<QLineEdit>("messageEdit"); }
    QString clusterStatus() const { return child<QLabel>("clusterLabel")->text(); }

    Client *connectToBeta()
    {
        m_clients.push_back(std::make_unique<Client>(m_beta.url()));
        return m_clients.back().get();
    }
    Client *connectToAlpha()
    {
        m_clients.push_back(std::make_unique<Client>(m_alpha->url()));
        return m_clients.back().get();
    }
    /*! The table's row (in the view's model) of \a client's session, on any instance; -1 if none. */
    int rowOf(const Client &client) const
    {
        const QAbstractItemModel *model = connectionsView()->model();
        const QString peer = QStringLiteral("127.0.0.1:%1").arg(client.socket.localPort());
        for (int row = 0; row < model->rowCount(); ++row) {
            if (model->index(row, ConnectionsModel::PeerColumn).data().toString() == peer)
                return row;
        }
        return -1;
    }
    QString cell(const Client &client, int column) const
    {
        const int row = rowOf(client);
        return row < 0 ? QString()
                       : connectionsView()->model()->index(row, column).data().toString();
    }
    void select(const QList<const Client *> &clients)
    {
        QItemSelection selection;
        for (const Client *client : clients) {
            const QModelIndex index = connectionsView()->model()->index(rowOf(*client), 0);
            selection.select(index, index);
        }
        connectionsView()->selectionModel()->select(
                selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    }
    bool logHasSystemLine(const QString &text) const
    {
        const QAbstractItemModel *model = child<QTableView>("logView")->model();
        for (int row = 0; row < model->rowCount(); ++row) {
            if (model->index(row, MessageLogModel::MessageColumn).data().toString() == text)
                return true;
        }
        return false;
    }

    QTemporaryDir m_settingsDir;
    RedisServer m_redis;
    SwitchboardProcess m_beta;
    std::unique_ptr<ClusterNode> m_alpha;
    std::unique_ptr<MainWindow> m_window;
    std::vector<std::unique_ptr<Client>> m_clients;
};

void tst_MainWindowCluster::initTestCase()
{
    QVERIFY(m_settingsDir.isValid());
    GuiTest::isolateSettings(m_settingsDir, QStringLiteral("tst_mainwindowcluster"));

    QVERIFY2(QFile::exists(SwitchboardProcess::binary()),
             "SWITCHBOARD_BINARY must name the built switchboard binary");
    if (!m_redis.isInstalled())
        QSKIP(TestUtil::kNoRedis);
    QVERIFY2(m_redis.start(), "redis-server did not start");
    QVERIFY2(m_beta.start({QStringLiteral("--no-gui"), QStringLiteral("--admin-token"),
                           QStringLiteral("test-token"), QStringLiteral("--cluster"), m_redis.url(),
                           QStringLiteral("--cluster-secret"),
                           QString::fromLatin1(TestUtil::kClusterSecret),
                           QStringLiteral("--node-name"), QStringLiteral("beta")}),
             "instance beta did not start");
}

void tst_MainWindowCluster::cleanupTestCase()
{
    m_beta.stop();
    m_redis.kill();
}

void tst_MainWindowCluster::init()
{
    QSettings().clear();
    m_alpha = std::make_unique<ClusterNode>(m_redis.port());
    QVERIFY(m_alpha->server.listen(QHostAddress(QHostAddress::LocalHost), 0));
    // As in main(): the window exists before the cluster starts and learns its name.
    m_window = std::make_unique<MainWindow>(&m_alpha->hub, &m_alpha->server, &m_alpha->cluster);
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
    m_alpha->cluster.start(QStringLiteral("unused"));
    QTRY_COMPARE_WITH_TIMEOUT(clusterStatus(),
                              QStringLiteral("Cluster: connected as alpha (2 nodes)"),
                              kClusterTimeoutMs);
}

void tst_MainWindowCluster::cleanup()
{
    m_clients.clear();
    m_window.reset();
    m_alpha.reset();
}

void tst_MainWindowCluster::showsRemoteSessionsWithTheirNode()
{
    Client *local = connectToAlpha();
    Client *remote = connectToBeta();
    QVERIFY(local->waitGreeted());
    QVERIFY(remote->waitGreeted());
    QVERIFY(!connectionsView()->isColumnHidden(ConnectionsModel::NodeColumn));

    // The remote row arrives with beta's next heartbeat.
    QTRY_COMPARE_WITH_TIMEOUT(cell(*remote, ConnectionsModel::NodeColumn), QStringLiteral("beta"),
                              kClusterTimeoutMs);
    QVERIFY2(cell(*remote, ConnectionsModel::IdColumn).startsWith(u"beta:"),
             qPrintable(cell(*remote, ConnectionsModel::IdColumn)));
    QCOMPARE(cell(*remote, ConnectionsModel::PathColumn), QStringLiteral("/ws"));
    QCOMPARE(cell(*remote, ConnectionsModel::StateColumn), QStringLiteral("open"));
    QCOMPARE(cell(*local, ConnectionsModel::NodeColumn), QStringLiteral("alpha"));
    QCOMPARE(cell(*local, ConnectionsModel::IdColumn),
             QStringLiteral("alpha:%1").arg(local->sessionId(m_alpha->hub)));
    QTRY_VERIFY(logHasSystemLine(QStringLiteral("cluster: instance beta joined")));
    // The count tells this instance's sessions from the others'.
    QTRY_COMPARE(child<QLabel>("countLabel")->text(),
                 QStringLiteral("1 connection here · 1 on other nodes"));

    remote->socket.close();
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(*remote), -1, kClusterTimeoutMs);
    QVERIFY(rowOf(*local) >= 0);
}

void tst_MainWindowCluster::sendToSelectedReachesRemoteSession()
{
    Client *local = connectToAlpha();
    Client *chosen = connectToBeta();
    Client *bystander = connectToBeta();
    QVERIFY(local->waitGreeted());
    QVERIFY(chosen->waitGreeted());
    QVERIFY(bystander->waitGreeted());
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(*chosen) >= 0 && rowOf(*bystander) >= 0, kClusterTimeoutMs);

    select({local, chosen});
    QTest::keyClicks(messageEdit(), QStringLiteral("to two"));
    QVERIFY(child<QPushButton>("sendButton")->isEnabled());
    QTest::mouseClick(child<QPushButton>("sendButton"), Qt::LeftButton);
    QVERIFY(messageEdit()->text().isEmpty());
    QCOMPARE(m_window->statusBar()->currentMessage(), QStringLiteral("Sent to 2 connections"));
    QTRY_COMPARE(local->texts, (QStringList{QStringLiteral("start"), QStringLiteral("to two")}));
    QTRY_COMPARE(chosen->texts, (QStringList{QStringLiteral("start"), QStringLiteral("to two")}));
    QTRY_VERIFY(logHasSystemLine(QStringLiteral("sent to %1 through the cluster: to two")
                                         .arg(cell(*chosen, ConnectionsModel::IdColumn))));

    // A marker through the same Redis channel, after the send: once the
    // bystander has it, anything sent to it before would have arrived too.
    QVERIFY(m_alpha->hub.broadcast(Frame::text(QStringLiteral("marker"))) == 1);
    QTRY_COMPARE(bystander->texts.size(), 2);
    QCOMPARE(bystander->texts, (QStringList{QStringLiteral("start"), QStringLiteral("marker")}));
}

void tst_MainWindowCluster::disconnectSelectedClosesRemoteSession()
{
    Client *remote = connectToBeta();
    Client *bystander = connectToBeta();
    QVERIFY(remote->waitGreeted());
    QVERIFY(bystander->waitGreeted());
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(*remote) >= 0 && rowOf(*bystander) >= 0, kClusterTimeoutMs);

    select({remote});
    QVERIFY(child<QPushButton>("disconnectButton")->isEnabled());
    QTest::mouseClick(child<QPushButton>("disconnectButton"), Qt::LeftButton);
    QTRY_VERIFY(remote->closed);
    QCOMPARE(remote->closeCode, 4000);
    QCOMPARE(remote->closeReason, QStringLiteral("closed by operator"));
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(*remote), -1, kClusterTimeoutMs);
    QVERIFY(!bystander->closed);
    QVERIFY(rowOf(*bystander) >= 0);
}

void tst_MainWindowCluster::broadcastReachesEveryInstance()
{
    Client *local = connectToAlpha();
    Client *remote = connectToBeta();
    QVERIFY(local->waitGreeted());
    QVERIFY(remote->waitGreeted());
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(*remote) >= 0, kClusterTimeoutMs);

    QTest::keyClicks(messageEdit(), QStringLiteral("hello cluster"));
    QVERIFY(child<QPushButton>("broadcastButton")->isEnabled());
    QTest::mouseClick(child<QPushButton>("broadcastButton"), Qt::LeftButton);
    QCOMPARE(m_window->statusBar()->currentMessage(),
             QStringLiteral("Broadcast to 1 connection here and relayed to the other instances"));
    QTRY_COMPARE(local->texts.count(QStringLiteral("hello cluster")), 1);
    QTRY_COMPARE(remote->texts.count(QStringLiteral("hello cluster")), 1);

    // Once a marker sent after it arrives, a duplicate would have arrived too.
    select({remote});
    QTest::keyClicks(messageEdit(), QStringLiteral("marker"));
    QTest::mouseClick(child<QPushButton>("sendButton"), Qt::LeftButton);
    QTRY_VERIFY(remote->texts.contains(QStringLiteral("marker")));
    QCOMPARE(remote->texts.count(QStringLiteral("hello cluster")), 1);
    QCOMPARE(local->texts.count(QStringLiteral("hello cluster")), 1);
}

void tst_MainWindowCluster::redisOutageShowsDegraded()
{
    Client *local = connectToAlpha();
    Client *remote = connectToBeta();
    QVERIFY(local->waitGreeted());
    QVERIFY(remote->waitGreeted());
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(*remote) >= 0, kClusterTimeoutMs);

    m_redis.kill();
    QTRY_COMPARE_WITH_TIMEOUT(clusterStatus(),
                              QStringLiteral("Cluster: degraded — Redis unreachable"),
                              kClusterTimeoutMs);
    QTRY_VERIFY(logHasSystemLine(QStringLiteral(
            "cluster degraded: Redis unreachable; sessions on other instances cannot be reached")));
    // Beta falls silent, so its sessions drop out of the table; local ones stay.
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(*remote), -1, kClusterTimeoutMs);
    QTRY_VERIFY(logHasSystemLine(QStringLiteral("cluster: instance beta dropped out")));
    QVERIFY(rowOf(*local) >= 0);

    // A broadcast still reaches this instance's sessions, and says it went no further.
    QTest::keyClicks(messageEdit(), QStringLiteral("local only"));
    QTest::mouseClick(child<QPushButton>("broadcastButton"), Qt::LeftButton);
    QCOMPARE(m_window->statusBar()->currentMessage(),
             QStringLiteral("Broadcast to 1 connection here only: Redis unreachable, not relayed"));
    QTRY_VERIFY(local->texts.contains(QStringLiteral("local only")));

    QVERIFY2(m_redis.start(), "redis-server did not restart");
    QTRY_COMPARE_WITH_TIMEOUT(clusterStatus(),
                              QStringLiteral("Cluster: connected as alpha (2 nodes)"),
                              kClusterTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(cell(*remote, ConnectionsModel::NodeColumn), QStringLiteral("beta"),
                              kClusterTimeoutMs);
    QVERIFY(!remote->texts.contains(QStringLiteral("local only")));
}

QTEST_MAIN(tst_MainWindowCluster)
#include "tst_mainwindowcluster.moc"
