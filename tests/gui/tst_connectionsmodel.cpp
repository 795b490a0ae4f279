// ConnectionsModel fed by a real Hub with real WebSocket clients; no widgets.

#include "connectionsmodel.h"
#include "guitestutil.h"

#include <QtCore/QJsonObject>
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
    // Every test twice: sessions on the main thread, and on two worker threads whose
    // signals reach the model queued.
    void initTestCase_data();
    void init();
    void cleanup();

    void rowsFollowSessions();
    void catchesUpWithExistingSessions();
    void countersUpdate();
    void connectedForTicksOnlyItsColumn();
    void closingStateIsShown();
    void sortsByCounters();
    void remoteRowsFollowTheClusterListing();
    void remoteRowsUpdateInPlace();
    void malformedRemoteEntriesAreSkipped();
    void nodeColumnNamesTheInstance();
    void sortsLocalRowsFirstThenByNode();
    void subprotocolAndCompressionColumns();
    void keepsARoundTripHistoryPerSession();

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

    static SessionInfo localSession(quint64 id)
    {
        SessionInfo info;
        info.id = id;
        info.peerAddress = QHostAddress(QHostAddress::LocalHost);
        info.peerPort = quint16(5000 + id);
        info.path = QByteArrayLiteral("/ws");
        info.connectedAt = QDateTime::currentDateTimeUtc();
        return info;
    }
    // A session as another instance's heartbeat lists it (GET /api/connections?scope=cluster).
    static Cluster::RemoteSession remoteSession(const QString &node, quint64 id,
                                                qint64 messagesIn = 0)
    {
        return {node,
                QJsonObject{
                        {QStringLiteral("subprotocol"), QStringLiteral("chat.v1")},
                        {QStringLiteral("deflate"), true},
                        {QStringLiteral("wire_bytes_in"), 512},
                        {QStringLiteral("wire_bytes_out"), 5},
                        {QStringLiteral("id"), QString(node + u':' + QString::number(id))},
                        {QStringLiteral("node"), node},
                        {QStringLiteral("peer"), QStringLiteral("[::1]:%1").arg(6000 + id)},
                        {QStringLiteral("path"), QStringLiteral("/ws/chat")},
                        {QStringLiteral("connected_at"),
                         QDateTime::currentDateTimeUtc().addSecs(-90).toString(Qt::ISODateWithMs)},
                        {QStringLiteral("messages_in"), messagesIn},
                        {QStringLiteral("messages_out"), 1},
                        {QStringLiteral("bytes_in"), 2048},
                        {QStringLiteral("bytes_out"), 5},
                        {QStringLiteral("last_ping_rtt_ms"), QJsonValue(QJsonValue::Null)},
                        {QStringLiteral("state"), QStringLiteral("open")},
                }};
    }
    static QString text(const QAbstractItemModel &model, int row, int column)
    {
        return model.index(row, column).data().toString();
    }

    std::unique_ptr<GuiTest::TestServer> m_server;
    std::vector<std::unique_ptr<Client>> m_clients;
};

void tst_ConnectionsModel::initTestCase_data()
{
    QTest::addColumn<int>("workers");
    QTest::newRow("1 worker") << 1;
    QTest::newRow("2 workers") << 2;
}

void tst_ConnectionsModel::init()
{
    QFETCH_GLOBAL(int, workers);
    HubSettings settings;
    settings.workers = workers;
    m_server = std::make_unique<GuiTest::TestServer>(settings);
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

void tst_ConnectionsModel::remoteRowsFollowTheClusterListing()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.addSession(localSession(1));
    model.addSession(localSession(2));
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);

    // Listed in any order; shown after the local rows, by node, then id.
    model.setRemoteSessions({remoteSession(QStringLiteral("gamma"), 2),
                             remoteSession(QStringLiteral("beta"), 10, 7),
                             remoteSession(QStringLiteral("beta"), 3)});
    QCOMPARE(model.rowCount(), 5);
    QCOMPARE(model.remoteCount(), 3);
    QCOMPARE(inserted.size(), 1); // one run
    QCOMPARE(text(model, 2, ConnectionsModel::IdColumn), QStringLiteral("beta:3"));
    QCOMPARE(text(model, 3, ConnectionsModel::IdColumn), QStringLiteral("beta:10"));
    QCOMPARE(text(model, 4, ConnectionsModel::IdColumn), QStringLiteral("gamma:2"));
    QCOMPARE(model.rowOfRemote(QStringLiteral("beta"), 10), 3);
    QCOMPARE(model.rowOfRemote(QStringLiteral("beta"), 2), -1);

    // Every column, from the heartbeat's JSON.
    QCOMPARE(text(model, 3, ConnectionsModel::NodeColumn), QStringLiteral("beta"));
    QCOMPARE(text(model, 3, ConnectionsModel::PeerColumn), QStringLiteral("[::1]:6010"));
    QCOMPARE(text(model, 3, ConnectionsModel::PathColumn), QStringLiteral("/ws/chat"));
    QCOMPARE(text(model, 3, ConnectionsModel::ConnectedForColumn), QStringLiteral("1m 30s"));
    QCOMPARE(text(model, 3, ConnectionsModel::MessagesInColumn), QStringLiteral("7"));
    QCOMPARE(text(model, 3, ConnectionsModel::BytesInColumn), QStringLiteral("2.00 KiB"));
    QCOMPARE(text(model, 3, ConnectionsModel::PingColumn), QStringLiteral("–"));
    QCOMPARE(text(model, 3, ConnectionsModel::StateColumn), QStringLiteral("open"));
    const QModelIndex remote = model.index(3, ConnectionsModel::PathColumn);
    QCOMPARE(remote.data(ConnectionsModel::RemoteRole).toBool(), true);
    QCOMPARE(remote.data(ConnectionsModel::GlobalIdRole).toString(), QStringLiteral("beta:10"));
    // Not a local session: nothing may act on it through the hub by this id.
    QCOMPARE(remote.data(ConnectionsModel::SessionIdRole).value<quint64>(), 0ull);
    QCOMPARE(model.sessionAt(3).id, 0ull);
    const auto session = model.remoteSessionAt(3);
    QVERIFY(session);
    QCOMPARE(session->node, QStringLiteral("beta"));
    QCOMPARE(session->info.id, 10ull);
    QVERIFY(!model.remoteSessionAt(1));
    QCOMPARE(model.index(1, 0).data(ConnectionsModel::RemoteRole).toBool(), false);

    // Local sessions come and go before the remote rows.
    model.addSession(localSession(5));
    QCOMPARE(model.rowOf(5), 2);
    QCOMPARE(model.rowOfRemote(QStringLiteral("beta"), 3), 3);
    model.removeSession(1);
    QCOMPARE(model.rowOfRemote(QStringLiteral("beta"), 3), 2);

    // An instance dropping out takes its rows in one removal; the others stay.
    inserted.clear();
    model.setRemoteSessions({remoteSession(QStringLiteral("gamma"), 2)});
    QCOMPARE(removed.size(), 2); // local session 1, then beta's run
    QCOMPARE(removed.last().at(1).toInt(), 2);
    QCOMPARE(removed.last().at(2).toInt(), 3);
    QCOMPARE(inserted.size(), 0);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(text(model, 2, ConnectionsModel::IdColumn), QStringLiteral("gamma:2"));

    model.setRemoteSessions({});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.remoteCount(), 0);
}

void tst_ConnectionsModel::remoteRowsUpdateInPlace()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.addSession(localSession(1));
    model.setRemoteSessions({remoteSession(QStringLiteral("beta"), 1),
                             remoteSession(QStringLiteral("beta"), 2),
                             remoteSession(QStringLiteral("beta"), 3)});
    const QPersistentModelIndex second
            = model.index(model.rowOfRemote(QStringLiteral("beta"), 2), 0);
    const QPersistentModelIndex third
            = model.index(model.rowOfRemote(QStringLiteral("beta"), 3), 0);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);

    // The next heartbeat: only beta:2 talked. A view's selection must survive it.
    model.setRemoteSessions({remoteSession(QStringLiteral("beta"), 1),
                             remoteSession(QStringLiteral("beta"), 2, 4),
                             remoteSession(QStringLiteral("beta"), 3)});
    QCOMPARE(inserted.size(), 0);
    QCOMPARE(removed.size(), 0);
    QCOMPARE(reset.size(), 0);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed.first().at(0).toModelIndex().row(), second.row());
    QCOMPARE(changed.first().at(1).toModelIndex().row(), second.row());
    QCOMPARE(second.sibling(second.row(), ConnectionsModel::MessagesInColumn).data().toString(),
             QStringLiteral("4"));

    // An unchanged heartbeat changes nothing.
    changed.clear();
    model.setRemoteSessions({remoteSession(QStringLiteral("beta"), 1),
                             remoteSession(QStringLiteral("beta"), 2, 4),
                             remoteSession(QStringLiteral("beta"), 3)});
    QCOMPARE(changed.size(), 0);

    // A session leaving and one arriving move the others' rows, not their identity.
    model.setRemoteSessions({remoteSession(QStringLiteral("beta"), 2, 4),
                             remoteSession(QStringLiteral("beta"), 3),
                             remoteSession(QStringLiteral("beta"), 4)});
    QCOMPARE(removed.size(), 1);
    QCOMPARE(inserted.size(), 1);
    QVERIFY(second.isValid());
    QVERIFY(third.isValid());
    QCOMPARE(second.data().toString(), QStringLiteral("beta:2"));
    QCOMPARE(third.data().toString(), QStringLiteral("beta:3"));
    QCOMPARE(model.rowCount(), 4);
}

void tst_ConnectionsModel::malformedRemoteEntriesAreSkipped()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    Cluster::RemoteSession noId = remoteSession(QStringLiteral("beta"), 1);
    noId.info.remove(QStringLiteral("id"));
    Cluster::RemoteSession otherNode = remoteSession(QStringLiteral("beta"), 2);
    otherNode.node = QStringLiteral("gamma"); // an id that is not the reporting node's
    model.setRemoteSessions({noId, otherNode, remoteSession(QStringLiteral("beta"), 3),
                             remoteSession(QStringLiteral("beta"), 3)});
    QCOMPARE(model.rowCount(), 1);
    QCOMPARE(text(model, 0, ConnectionsModel::IdColumn), QStringLiteral("beta:3"));
}

void tst_ConnectionsModel::nodeColumnNamesTheInstance()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.addSession(localSession(7));
    // Outside cluster mode: plain ids, and no node text for the filter box to match.
    QCOMPARE(text(model, 0, ConnectionsModel::IdColumn), QStringLiteral("7"));
    QCOMPARE(text(model, 0, ConnectionsModel::NodeColumn), QString());
    QCOMPARE(model.headerData(ConnectionsModel::NodeColumn, Qt::Horizontal).toString(),
             QStringLiteral("Node"));

    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    model.setNodeName(QStringLiteral("alpha"));
    QCOMPARE(changed.size(), 1);
    QCOMPARE(text(model, 0, ConnectionsModel::IdColumn), QStringLiteral("alpha:7"));
    QCOMPARE(text(model, 0, ConnectionsModel::NodeColumn), QStringLiteral("alpha"));
    QCOMPARE(model.index(0, 0).data(ConnectionsModel::GlobalIdRole).toString(),
             QStringLiteral("alpha:7"));
    QCOMPARE(model.index(0, 0).data(ConnectionsModel::SessionIdRole).value<quint64>(), 7ull);
    model.setNodeName(QStringLiteral("alpha"));
    QCOMPARE(changed.size(), 1);
}

void tst_ConnectionsModel::sortsLocalRowsFirstThenByNode()
{
    ConnectionsModel model;
    model.setNodeName(QStringLiteral("alpha"));
    QSortFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    proxy.setSortRole(ConnectionsModel::SortRole);
    proxy.sort(ConnectionsModel::IdColumn, Qt::AscendingOrder);

    model.setRemoteSessions(
            {remoteSession(QStringLiteral("gamma"), 1), remoteSession(QStringLiteral("beta"), 10)});
    model.addSession(localSession(10));
    model.addSession(localSession(2));
    model.setRemoteSessions({remoteSession(QStringLiteral("gamma"), 1),
                             remoteSession(QStringLiteral("beta"), 10),
                             remoteSession(QStringLiteral("beta"), 9)});
    const auto column = [&](int column) {
        QStringList texts;
        for (int row = 0; row < proxy.rowCount(); ++row)
            texts.append(text(proxy, row, column));
        return texts;
    };
    // Numerically within a node ("9" before "10"), this instance first.
    QCOMPARE(column(ConnectionsModel::IdColumn),
             (QStringList{QStringLiteral("alpha:2"), QStringLiteral("alpha:10"),
                          QStringLiteral("beta:9"), QStringLiteral("beta:10"),
                          QStringLiteral("gamma:1")}));

    proxy.sort(ConnectionsModel::NodeColumn, Qt::DescendingOrder);
    QCOMPARE(column(ConnectionsModel::NodeColumn),
             (QStringList{QStringLiteral("gamma"), QStringLiteral("beta"), QStringLiteral("beta"),
                          QStringLiteral("alpha"), QStringLiteral("alpha")}));
}

void tst_ConnectionsModel::subprotocolAndCompressionColumns()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    SessionInfo plain = localSession(1);
    SessionInfo compressed = localSession(2);
    compressed.protocol = "chat.v1";
    compressed.compressed = true;
    model.addSession(plain);
    model.addSession(compressed);
    QCOMPARE(cell(model, 1, ConnectionsModel::ProtocolColumn).toString(), QStringLiteral("–"));
    QCOMPARE(cell(model, 1, ConnectionsModel::CompressionColumn).toString(), QStringLiteral("–"));
    QCOMPARE(cell(model, 2, ConnectionsModel::ProtocolColumn).toString(),
             QStringLiteral("chat.v1"));
    // Negotiated, nothing sent yet: no ratio to show.
    QCOMPARE(cell(model, 2, ConnectionsModel::CompressionColumn).toString(),
             QStringLiteral("deflate"));

    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    compressed.bytesIn = 4000;
    compressed.wireBytesIn = 900;
    compressed.bytesOut = 4000;
    compressed.wireBytesOut = 100;
    model.updateSessions({compressed});
    QCOMPARE(changed.size(), 1);
    // The batched update covers the ratio's column.
    QVERIFY(changed.first().at(0).toModelIndex().column() <= ConnectionsModel::CompressionColumn);
    QVERIFY(changed.first().at(1).toModelIndex().column() >= ConnectionsModel::CompressionColumn);
    QCOMPARE(cell(model, 2, ConnectionsModel::CompressionColumn).toString(),
             QStringLiteral("deflate 8.0×"));
    QVERIFY(cell(model, 2, ConnectionsModel::CompressionColumn, Qt::ToolTipRole)
                    .toString()
                    .contains(u"permessage-deflate"));
    // Sorted by ratio, uncompressed sessions first.
    QVERIFY(cell(model, 1, ConnectionsModel::CompressionColumn, ConnectionsModel::SortRole)
                    .toDouble()
            < cell(model, 2, ConnectionsModel::CompressionColumn, ConnectionsModel::SortRole)
                      .toDouble());

    // Remote sessions carry the same figures in their heartbeats.
    model.setRemoteSessions({remoteSession(QStringLiteral("beta"), 7)});
    const int row = model.rowOfRemote(QStringLiteral("beta"), 7);
    QCOMPARE(text(model, row, ConnectionsModel::ProtocolColumn), QStringLiteral("chat.v1"));
    // (2048 + 5) payload bytes over (512 + 5) wire bytes.
    QCOMPARE(text(model, row, ConnectionsModel::CompressionColumn), QStringLiteral("deflate 4.0×"));
}

void tst_ConnectionsModel::keepsARoundTripHistoryPerSession()
{
    ConnectionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    SessionInfo a;
    a.id = 1;
    a.connectedAt = QDateTime::currentDateTimeUtc();
    SessionInfo b = a;
    b.id = 2;
    b.lastPingRttMs = 9; // a snapshot taken after a pong already
    b.pongs = 1;
    model.addSession(a);
    model.addSession(b);
    QCOMPARE(model.rttHistory(1), QList<qint64>{});
    QCOMPARE(model.rttHistory(2), QList<qint64>{9});

    // A new pong with the same round trip is a new sample; a batch without one
    // (a message counted) is not.
    a.lastPingRttMs = 5;
    a.pongs = 1;
    model.updateSessions({a});
    a.pongs = 2;
    model.updateSessions({a});
    a.messagesIn = 3;
    model.updateSessions({a});
    a.lastPingRttMs = 7;
    a.pongs = 3;
    model.updateSessions({a});
    QCOMPARE(model.rttHistory(1), (QList<qint64>{5, 5, 7}));
    QCOMPARE(model.rttHistory(2), QList<qint64>{9});

    // Only the last RttHistorySize are kept, oldest first.
    for (int i = 0; i < ConnectionsModel::RttHistorySize + 5; ++i) {
        a.lastPingRttMs = 100 + i;
        ++a.pongs;
        model.updateSessions({a});
    }
    const QList<qint64> history = model.rttHistory(1);
    QCOMPARE(history.size(), ConnectionsModel::RttHistorySize);
    QCOMPARE(history.constFirst(), 105);
    QCOMPARE(history.constLast(), 100 + ConnectionsModel::RttHistorySize + 4);

    // The history leaves with its session, and a reset rebuilds it from the snapshots.
    model.removeSession(1);
    QCOMPARE(model.rttHistory(1), QList<qint64>{});
    model.resetSessions({a, b});
    QCOMPARE(model.rttHistory(1), QList<qint64>{a.lastPingRttMs});
    QCOMPARE(model.rttHistory(2), QList<qint64>{9});
}

QTEST_GUILESS_MAIN(tst_ConnectionsModel)
#include "tst_connectionsmodel.moc"
