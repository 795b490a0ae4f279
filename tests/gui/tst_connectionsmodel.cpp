// ConnectionsModel fed by a real Hub with real WebSocket clients; no widgets.

#include "connectionsmodel.h"
#include "guitestutil.h"

#include <QtCore/QSortFilterProxyModel>
#include <QtTest/QAbstractItemModelTester>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Switchboard;
using GuiTest::Client;

class tst_ConnectionsModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void rowsFollowSessions();
    void catchesUpWithExistingSessions();
    void countersUpdate();
    void connectedForTicksOnlyItsColumn();
    void closingStateIsShown();
    void sortsByCounters();

private:
    // The connections MainWindow::connectCore() makes for this model.
    void wire(ConnectionsModel &model)
    {
        Hub &hub = m_server->hub;
        connect(&hub, &Hub::sessionOpened, &model, &ConnectionsModel::addSession);
        connect(&hub, &Hub::statsChanged, &model, &ConnectionsModel::updateSessions);
        connect(&hub, &Hub::sessionClosed, &model, &ConnectionsModel::removeSession);
    }
    Client *connectClient(const QString &path = QStringLiteral("/ws"))
    {
        m_clients.push_back(std::make_unique<Client>(m_server->url(path)));
        return m_clients.back().get();
    }
    QVariant cell(const ConnectionsModel &model, quint64 id, int column,
                  int role = Qt::DisplayRole) const
    {
        return model.index(model.rowOf(id), column).data(role);
    }

    std::unique_ptr<GuiTest::TestServer> m_server;
    std::vector<std::unique_ptr<Client>> m_clients;
};

void tst_ConnectionsModel::init()
{
    m_server = std::make_unique<GuiTest::TestServer>();
    QVERIFY(m_server->listen());
}

void tst_ConnectionsModel::cleanup()
{
    m_clients.clear();
    m_server.reset();
}

void tst_ConnectionsModel::rowsFollowSessions()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    wire(model);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);

    Client *a = connectClient();
    Client *b = connectClient(QStringLiteral("/ws/chat"));
    Client *c = connectClient();
    QVERIFY(a->waitGreeted());
    QVERIFY(b->waitGreeted());
    QVERIFY(c->waitGreeted());
    QTRY_COMPARE(model.rowCount(), 3);
    QCOMPARE(inserted.size(), 3);
    QCOMPARE(removed.size(), 0);

    const quint64 idB = b->sessionId(m_server->hub);
    QVERIFY(model.rowOf(idB) >= 0);
    QCOMPARE(cell(model, idB, ConnectionsModel::IdColumn).toString(), QString::number(idB));
    QCOMPARE(cell(model, idB, ConnectionsModel::PeerColumn).toString(),
             QStringLiteral("127.0.0.1:%1").arg(b->socket.localPort()));
    QCOMPARE(cell(model, idB, ConnectionsModel::PathColumn).toString(), QStringLiteral("/ws/chat"));
    QCOMPARE(cell(model, idB, ConnectionsModel::StateColumn).toString(), QStringLiteral("open"));
    QCOMPARE(cell(model, idB, ConnectionsModel::PathColumn, ConnectionsModel::SessionIdRole)
                     .value<quint64>(),
             idB);

    b->socket.close();
    QTRY_COMPARE(model.rowCount(), 2);
    QCOMPARE(removed.size(), 1);
    QCOMPARE(model.rowOf(idB), -1);
    QVERIFY(model.rowOf(a->sessionId(m_server->hub)) >= 0);
    QVERIFY(model.rowOf(c->sessionId(m_server->hub)) >= 0);

    a->socket.close();
    c->socket.close();
    QTRY_COMPARE(model.rowCount(), 0);
    QCOMPARE(removed.size(), 3);
}

void tst_ConnectionsModel::catchesUpWithExistingSessions()
{
    Client *a = connectClient();
    Client *b = connectClient();
    QVERIFY(a->waitGreeted());
    QVERIFY(b->waitGreeted());

    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.resetSessions(m_server->hub.sessions());
    wire(model);
    QCOMPARE(model.rowCount(), 2);
    QVERIFY(model.rowOf(a->sessionId(m_server->hub)) >= 0);
    QVERIFY(model.rowOf(b->sessionId(m_server->hub)) >= 0);

    Client *c = connectClient();
    QVERIFY(c->waitGreeted());
    QTRY_COMPARE(model.rowCount(), 3);
}

void tst_ConnectionsModel::countersUpdate()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    wire(model);
    Client *client = connectClient();
    Client *quiet = connectClient();
    QVERIFY(client->waitGreeted());
    QVERIFY(quiet->waitGreeted());
    const quint64 id = client->sessionId(m_server->hub);
    const quint64 quietId = quiet->sessionId(m_server->hub);
    QTRY_COMPARE(model.rowCount(), 2);

    client->socket.sendTextMessage(QStringLiteral("hello")); // 5 bytes, echoed
    client->socket.sendBinaryMessage(QByteArray("\x01\x02\x03", 3)); // 3 bytes, echoed
    QTRY_COMPARE(client->binaries.size(), 1);

    const auto sortValue = [&](quint64 session, int column) {
        return cell(model, session, column, ConnectionsModel::SortRole).toULongLong();
    };
    // The hub batches stats, so the counters arrive a little after the echo.
    QTRY_COMPARE(sortValue(id, ConnectionsModel::MessagesInColumn), 2ull);
    QCOMPARE(sortValue(id, ConnectionsModel::BytesInColumn), 8ull);
    QTRY_COMPARE(sortValue(id, ConnectionsModel::MessagesOutColumn), 3ull); // "start" + 2 echoes
    QCOMPARE(sortValue(id, ConnectionsModel::BytesOutColumn), 13ull);
    QCOMPARE(cell(model, id, ConnectionsModel::MessagesInColumn).toString(), QStringLiteral("2"));
    QCOMPARE(cell(model, id, ConnectionsModel::BytesInColumn).toString(),
             QStringLiteral("8 bytes"));

    // Only the session that talked changed.
    QCOMPARE(sortValue(quietId, ConnectionsModel::MessagesInColumn), 0ull);
    QCOMPARE(sortValue(quietId, ConnectionsModel::MessagesOutColumn), 1ull);
    QCOMPARE(cell(model, quietId, ConnectionsModel::PingColumn).toString(), QStringLiteral("–"));
}

void tst_ConnectionsModel::connectedForTicksOnlyItsColumn()
{
    ConnectionsModel model;
    wire(model);
    Client *a = connectClient();
    Client *b = connectClient();
    QVERIFY(a->waitGreeted());
    QVERIFY(b->waitGreeted());
    QTRY_COMPARE(model.rowCount(), 2);
    // Stats batches change other columns; the timer's changes must touch only its own.
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(QTest::qWaitFor(
            [&] {
                for (const auto &args : std::as_const(changed)) {
                    if (args.at(0).toModelIndex().column() == ConnectionsModel::ConnectedForColumn)
                        return true;
                }
                return false;
            },
            5000));
    for (const auto &args : std::as_const(changed)) {
        const QModelIndex topLeft = args.at(0).toModelIndex();
        const QModelIndex bottomRight = args.at(1).toModelIndex();
        if (topLeft.column() != ConnectionsModel::ConnectedForColumn)
            continue; // a stats batch
        QCOMPARE(bottomRight.column(), int(ConnectionsModel::ConnectedForColumn));
        QCOMPARE(topLeft.row(), 0);
        QCOMPARE(bottomRight.row(), 1);
    }
    QVERIFY(cell(model, a->sessionId(m_server->hub), ConnectionsModel::ConnectedForColumn)
                    .toString()
                    .endsWith(u's'));
}

void tst_ConnectionsModel::closingStateIsShown()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    SessionInfo info;
    info.id = 7;
    info.peerAddress = QHostAddress(QHostAddress::LocalHost);
    info.peerPort = 5000;
    info.path = QByteArrayLiteral("/ws");
    info.connectedAt = QDateTime::currentDateTimeUtc();
    model.addSession(info);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);

    info.state = SessionInfo::State::Closing;
    info.lastPingRttMs = 12;
    model.updateSessions({info});
    QCOMPARE(changed.size(), 1);
    QCOMPARE(model.index(0, ConnectionsModel::StateColumn).data().toString(),
             QStringLiteral("closing"));
    QCOMPARE(model.index(0, ConnectionsModel::PingColumn).data().toString(),
             QStringLiteral("12 ms"));

    // A late batch for a session that already left changes nothing.
    info.id = 8;
    model.updateSessions({info});
    QCOMPARE(changed.size(), 1);
    QCOMPARE(model.rowCount(), 1);
}

void tst_ConnectionsModel::sortsByCounters()
{
    ConnectionsModel model;
    wire(model);
    QSortFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    proxy.setSortRole(ConnectionsModel::SortRole);
    proxy.sort(ConnectionsModel::MessagesInColumn, Qt::DescendingOrder);

    Client *a = connectClient();
    Client *b = connectClient();
    QVERIFY(a->waitGreeted());
    QVERIFY(b->waitGreeted());
    const quint64 idB = b->sessionId(m_server->hub);
    // 10 messages from b against 9 from a: as text, "9" would sort above "10".
    for (int i = 0; i < 9; ++i)
        a->socket.sendTextMessage(QStringLiteral("x"));
    for (int i = 0; i < 10; ++i)
        b->socket.sendTextMessage(QStringLiteral("y"));
    QTRY_COMPARE(proxy.index(1, ConnectionsModel::MessagesInColumn).data().toString(),
                 QStringLiteral("9"));
    QTRY_COMPARE(proxy.index(0, ConnectionsModel::MessagesInColumn).data().toString(),
                 QStringLiteral("10"));
    QCOMPARE(proxy.index(0, 0).data(ConnectionsModel::SessionIdRole).value<quint64>(), idB);
}

QTEST_GUILESS_MAIN(tst_ConnectionsModel)
#include "tst_connectionsmodel.moc"
