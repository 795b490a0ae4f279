// The hub as a registry over several workers: a real Server + Hub with two
// worker threads on 127.0.0.1, port 0, driven by QWebSocket clients on the test's
// (the main) thread. Also built with ThreadSanitizer (tests/tsan/run.sh).

#include "http/listener.h"
#include "http/server.h"
#include "threading.h"
#include "websocket/hub.h"
#include "websocket/sessionhost.h"

#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace Switchboard;
using namespace TestUtil;

namespace {

HubSettings twoWorkers()
{
    HubSettings settings = quietSettings();
    settings.workers = 2;
    return settings;
}

using Clients = std::vector<std::unique_ptr<Client>>;

/*! A server with two workers. */
struct Workers : Fixture
{
    Workers() : Fixture(twoWorkers()) { }

    /*!
        Opens \a count greeted clients on \a path into \a into; true once the hub
        counts that many sessions (the tests open their first clients with it).
    */
    bool open(Clients &into, int count, const QString &path = QStringLiteral("/ws"))
    {
        const size_t first = into.size();
        for (int i = 0; i < count; ++i)
            into.push_back(std::make_unique<Client>(url(path)));
        for (size_t i = first; i < into.size(); ++i) {
            if (!into[i]->waitGreeted())
                return false;
        }
        return waitFor([this, count] { return hub.count() >= count; });
    }
};

/*! How many sessions \a host has, asked on its thread. */
int countOn(SessionHost *host)
{
    return Threading::runAndWait(host, [host] { return host->count(); });
}

} // namespace

class tst_Workers : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { quietLogs(); }

    void everyWorkerHasItsThreadAndListener()
    {
        Workers f;
        QVERIFY(f.listening);
        QCOMPARE(f.hub.hosts().size(), 2);
        QCOMPARE(f.server.listeners().size(), 2);
        QSet<QThread *> threads;
        for (qsizetype i = 0; i < 2; ++i) {
            SessionHost *host = f.hub.hosts().at(i);
            QVERIFY(host->thread() != QThread::currentThread());
            QCOMPARE(f.server.listeners().at(i)->thread(), host->thread());
            threads.insert(host->thread());
        }
        QCOMPARE(threads.size(), 2);
        // The main thread is no host's: it reaches sessions through the hub only.
        QCOMPARE(f.hub.currentHost(), nullptr);
    }

    void connectionsAreSpreadAndCountsAreTrue()
    {
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 40));
        const QList<SessionInfo> sessions = f.hub.sessions();
        QCOMPARE(sessions.size(), 40);
        QSet<quint64> ids;
        for (const SessionInfo &info : sessions)
            ids.insert(info.id);
        QCOMPARE(ids.size(), 40); // unique across the workers
        // The kernel spreads connections by a hash of the client's port: 40 never
        // all land on one worker in practice, and both must take part.
        const int first = countOn(f.hub.hosts().at(0));
        const int second = countOn(f.hub.hosts().at(1));
        QCOMPARE(first + second, 40);
        QVERIFY2(first > 0 && second > 0,
                 qPrintable(QStringLiteral("%1 + %2").arg(first).arg(second)));
        QCOMPARE(f.server.connectionCount(), 40);
    }

    void broadcastReachesEverySessionOnceUnderChurn()
    {
        Workers f;
        Clients steady;
        QVERIFY(f.open(steady, 30));
        QSignalSpy sent(&f.hub, &Hub::broadcastSent);
        const QList<SessionInfo> sessions = f.hub.sessions();
        // Clients come and go on every worker while the broadcasts and sends run.
        Clients churn;
        int broadcasts = 0;
        for (int round = 0; round < 10; ++round) {
            churn.push_back(std::make_unique<Client>(f.url()));
            if (round % 3 == 2)
                churn.erase(churn.begin());
            QTest::qWait(5); // the workers open and close sessions meanwhile
            QVERIFY(f.hub.send(sessions.at(round).id, Frame::text(QStringLiteral("one"))));
            const int delivered
                    = f.hub.broadcast(Frame::text(QStringLiteral("round %1").arg(round)));
            ++broadcasts;
            // Exact on the main thread: every steady session, and some of the churn.
            QVERIFY2(delivered >= 30 && delivered <= 30 + int(churn.size()),
                     qPrintable(QString::number(delivered)));
            QTest::qWait(5);
        }
        int ones = 0;
        for (const auto &client : steady) {
            // The greeting, then each broadcast once, in order; ten of them got a "one" too.
            QTRY_VERIFY(client->texts.size() >= 1 + broadcasts);
            QStringList received = client->texts.mid(1);
            ones += int(received.removeAll(QStringLiteral("one")));
            QCOMPARE(received.size(), broadcasts);
            for (int round = 0; round < broadcasts; ++round)
                QCOMPARE(received.at(round), QStringLiteral("round %1").arg(round));
        }
        QCOMPARE(ones, 10);
        QTRY_COMPARE(sent.size(), broadcasts);
        churn.clear();
        QTRY_COMPARE(f.hub.count(), 30);
        QCOMPARE(f.hub.sessions().size(), 30);
    }

    void registryUnderConcurrentOpensAndCloses()
    {
        // Sessions open and close on both workers while this thread calls into the
        // registry without running its event loop (so nothing orders the two but the
        // registry's own lock: what ThreadSanitizer checks here).
        Workers f;
        Clients steady;
        QVERIFY(f.open(steady, 4));
        const QList<SessionInfo> known = f.hub.sessions();
        const quint16 port = f.port();
        std::atomic<int> upgraded{0};
        std::thread opener([port, &upgraded] {
            for (int i = 0; i < 40; ++i) {
                QTcpSocket socket;
                socket.connectToHost(QHostAddress::LocalHost, port);
                if (!socket.waitForConnected(5000))
                    continue;
                socket.write(upgradeRequest("/ws", port));
                QByteArray head;
                while (!head.contains("\r\n\r\n") && socket.waitForReadyRead(5000))
                    head += socket.readAll();
                if (head.startsWith("HTTP/1.1 101"))
                    ++upgraded;
                socket.abort(); // gone at once: the session closes on its worker
            }
        });
        int sent = 0;
        while (upgraded.load() < 40 && sent < 200'000) {
            for (const SessionInfo &info : known)
                sent += f.hub.send(info.id, Frame::text(QStringLiteral("x"))) ? 1 : 0;
            QVERIFY(f.hub.count() >= 4);
        }
        opener.join();
        QCOMPARE(upgraded.load(), 40);
        // A session whose client left right after the 101 may still be on its way in.
        QTRY_VERIFY(f.hub.count() == 4 && f.hub.sessions().size() == 4);
        for (const auto &client : steady)
            QTRY_COMPARE(client->texts.size(), 1 + sent / 4);
    }

    void sendToOneReachesItsWorker()
    {
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 12));
        // Ids in open order, as the clients were greeted one after the other? No: the
        // workers number them as they come. Ask each session which peer port it has.
        const QList<SessionInfo> sessions = f.hub.sessions();
        for (const SessionInfo &info : sessions)
            QVERIFY(f.hub.send(info.id, Frame::text(QStringLiteral("for %1").arg(info.peerPort))));
        for (const auto &client : clients) {
            const QString expected = QStringLiteral("for %1").arg(client->socket.localPort());
            QTRY_COMPARE(client->texts.size(), 2);
            QCOMPARE(client->texts.at(1), expected);
        }
        QVERIFY(!f.hub.send(999'999, Frame::text(QStringLiteral("nobody"))));
    }

    void closeReachesItsWorker()
    {
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 6));
        const QList<SessionInfo> sessions = f.hub.sessions();
        for (const SessionInfo &info : sessions)
            QVERIFY(f.hub.close(info.id, 4000, QStringLiteral("bye")));
        // Waited for on the main thread: a second close finds it closing.
        QVERIFY(!f.hub.close(sessions.first().id, 4000, QStringLiteral("again")));
        for (const auto &client : clients) {
            QTRY_VERIFY(client->closed);
            QCOMPARE(client->closeCode, 4000);
        }
        QTRY_COMPARE(f.hub.count(), 0);
    }

    void shutdownClosesEverySessionWith1001()
    {
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 20));
        QSignalSpy drained(&f.hub, &Hub::drained);
        QSignalSpy counts(&f.hub, &Hub::countChanged);
        f.server.stopListening();
        f.hub.shutdown();
        for (const auto &client : clients) {
            QTRY_VERIFY(client->closed);
            QCOMPARE(client->closeCode, 1001);
        }
        QTRY_COMPARE(drained.size(), 1);
        QCOMPARE(f.hub.count(), 0);
        // Coalesced on the main thread, and the last one is the truth.
        QTRY_VERIFY(!counts.isEmpty());
        QTRY_COMPARE(counts.last().at(0).toInt(), 0);
    }

    void chatRelayCrossesWorkers()
    {
        // A handler's broadcast from a worker reaches the sessions of the other one.
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 10, QStringLiteral("/ws/chat")));
        clients.front()->socket.sendTextMessage(QStringLiteral("hello"));
        for (size_t i = 1; i < clients.size(); ++i)
            QTRY_COMPARE(clients[i]->texts.size(), 2);
        // Not back to the sender: a copy for it would have been written on its worker
        // while its message was handled, before anything the main thread sends it now.
        const auto sessions = f.hub.sessions();
        const auto sender = std::find_if(sessions.cbegin(), sessions.cend(), [&](const auto &info) {
            return info.peerPort == clients.front()->socket.localPort();
        });
        QVERIFY(sender != sessions.cend());
        QVERIFY(f.hub.send(sender->id, Frame::text(QStringLiteral("marker"))));
        QTRY_COMPARE(clients.front()->texts.size(), 2);
        QCOMPARE(clients.front()->texts.at(1), QStringLiteral("marker"));
    }

    void adminRoutesAnswerFromTheMainThread()
    {
        // GET /api/connections asks every worker; a keep-alive connection's pipelined
        // answers still come in order around it.
        Workers f;
        Clients clients;
        QVERIFY(f.open(clients, 5));
        const QByteArray host = "Host: 127.0.0.1\r\n";
        const QByteArray auth = "Authorization: Bearer " + kToken + "\r\n";
        RawConnection raw(f.port());
        raw.socket.write("GET /api/health HTTP/1.1\r\n" + host
                         + "\r\n"
                           "GET /api/connections HTTP/1.1\r\n"
                         + host + auth
                         + "\r\n"
                           "GET /api/health HTTP/1.1\r\n"
                         + host + "X-Request-Id: last-one\r\n\r\n");
        QTRY_COMPARE(raw.received.count("HTTP/1.1 200"), 3);
        const qsizetype list = raw.received.indexOf("\"connections\":[");
        const qsizetype last = raw.received.indexOf("last-one");
        QVERIFY(list > 0 && last > list);
        QCOMPARE(raw.received.count("\"peer\""), 5);
    }
};

QTEST_GUILESS_MAIN(tst_Workers)
#include "tst_workers.moc"
