// End to end: a real Server + Hub on 127.0.0.1, port 0, driven by real
// QWebSocket clients and raw QTcpSocket clients for bytes Qt would not send.

#include "config.h"
#include "websocket/hub.h"
#include "routes.h"
#include "http/listener.h"
#include "http/server.h"
#include "net/frontdoor.h"

#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtCore/QLoggingCategory>
#include <QtCore/QThread>
#include <QtNetwork/QTcpServer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace Switchboard;
using namespace TestUtil;
using namespace std::chrono_literals;

namespace {

/*! A handler for the tests' own endpoints: refuses, throws or records on demand. */
class ProbeHandler final : public WebSocketHandler
{
public:
    enum class Mode { RefuseInit, ThrowOnMessage, Record };
    explicit ProbeHandler(Mode mode, QList<TerminateReason> *reasons = nullptr)
        : m_mode(mode), m_reasons(reasons)
    {
    }
    InitResult init(const UpgradeRequest &request) override
    {
        if (m_mode == Mode::RefuseInit)
            return InitResult::refuse(
                    401, QStringLiteral("token required: ") + request.query.toString());
        return InitResult::accept();
    }
    Reply handle(SessionContext &, const Frame &frame) override
    {
        if (m_mode == Mode::ThrowOnMessage && !frame.isControl())
            throw std::runtime_error("handler bug");
        if (frame.isText() && frame.payload() == "stop")
            return Reply::text(QStringLiteral("bye"))
                    .thenClose(4001, QStringLiteral("asked to stop"));
        return Reply::none();
    }
    Reply info(SessionContext &, const QVariant &message) override
    {
        return Reply::text(QStringLiteral("info:") + message.toString());
    }
    void terminate(SessionContext &, const TerminateReason &reason) override
    {
        if (m_reasons)
            m_reasons->append(reason);
    }

private:
    Mode m_mode;
    QList<TerminateReason> *m_reasons;
};

/*! Serves a ProbeHandler in \a mode on \a path, recording terminate reasons in \a reasons. */
void addProbe(Fixture &f, const char *path, ProbeHandler::Mode mode,
              QList<TerminateReason> *reasons = nullptr)
{
    f.server.addWebSocketEndpoint(
            path, [mode, reasons] { return std::make_unique<ProbeHandler>(mode, reasons); });
}

/*! The value of \a series (name and labels, as rendered) in a /metrics body; -1 if absent. */
double metricValue(const QByteArray &body, const QByteArray &series)
{
    for (const QByteArray &line : body.split('\n')) {
        if (line.startsWith(QByteArray(series + ' ')))
            return line.mid(series.size() + 1).toDouble();
    }
    return -1;
}

/*! GET /metrics with the test's admin token. */
QByteArray scrape(quint16 port)
{
    const HttpResponse response = request(port, "GET", "/metrics", kAdmin);
    return response.status == 200 ? response.body : QByteArray();
}

QStringList g_lines;

void captureLines(QtMsgType, const QMessageLogContext &context, const QString &message)
{
    g_lines << QString::fromLatin1(context.category) + u' ' + message;
}

} // namespace

class tst_Server : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { quietLogs(); }

    void greetsWithStart()
    {
        Fixture f(quietSettings());
        QVERIFY(f.listening);
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        QCOMPARE(f.hub.count(), 1);
    }

    void echoes_data()
    {
        QTest::addColumn<bool>("binary");
        QTest::addColumn<int>("size");
        QTest::newRow("text 0 B") << false << 0;
        QTest::newRow("text 5 B") << false << 5;
        QTest::newRow("text 1 MiB") << false << 1024 * 1024;
        QTest::newRow("binary 0 B") << true << 0;
        QTest::newRow("binary 7 B") << true << 7;
        QTest::newRow("binary 1 MiB") << true << 1024 * 1024;
    }

    void echoes()
    {
        QFETCH(bool, binary);
        QFETCH(int, size);
        Fixture f(quietSettings());
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        QByteArray payload(size, Qt::Uninitialized);
        for (int i = 0; i < size; ++i)
            payload[i] = binary ? char(i * 31) : char('a' + i % 26);
        if (binary)
            client.socket.sendBinaryMessage(payload);
        else
            client.socket.sendTextMessage(QString::fromLatin1(payload));
        if (binary) {
            QTRY_COMPARE_WITH_TIMEOUT(client.binaries.size(), 1, 10000);
            QCOMPARE(client.binaries.first(), payload);
        } else {
            QTRY_COMPARE_WITH_TIMEOUT(client.texts.size(), 2, 10000);
            QCOMPARE(client.texts.at(1), QString::fromLatin1(payload));
        }
        QCOMPARE(f.hub.sessions().first().messagesIn, quint64(1));
        QCOMPARE(f.hub.sessions().first().bytesIn, quint64(size));
        QCOMPARE(f.hub.sessions().first().bytesOut, quint64(5 + size)); // "start" + the echo
    }

    void upgradeOnOtherPathIs404WithoutSwitching_data()
    {
        QTest::addColumn<QByteArray>("path");
        QTest::newRow("api route") << QByteArray("/api/health");
        QTest::newRow("root") << QByteArray("/");
        QTest::newRow("unknown") << QByteArray("/nope");
        QTest::newRow("ws prefix") << QByteArray("/ws/other");
    }

    void upgradeOnOtherPathIs404WithoutSwitching()
    {
        QFETCH(QByteArray, path);
        Fixture f(quietSettings());
        bool closed = false;
        const HttpResponse r = rawRequest(f.port(), upgradeRequest(path, f.port()), false, &closed);
        QCOMPARE(r.status, 404);
        QVERIFY2(!r.raw.contains("HTTP/1.1 101"), r.raw.constData());
        QVERIFY(closed);
        QCOMPARE(f.hub.count(), 0);
    }

    void plainGetOnWsIs426()
    {
        Fixture f(quietSettings());
        for (const QByteArray &path : {QByteArray("/ws"), QByteArray("/ws/chat")}) {
            const HttpResponse r = request(f.port(), "GET", path);
            QCOMPARE(r.status, 426);
            QCOMPARE(r.header("upgrade"), QByteArray("websocket"));
        }
    }

    void malformedUpgradesAreRefused_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<int>("status");
        const QByteArray head = "Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
        QTest::newRow("no key") << QByteArray("GET /ws HTTP/1.1\r\n" + head
                                              + "Sec-WebSocket-Version: 13\r\n\r\n")
                                << 400;
        QTest::newRow("short key")
                << QByteArray("GET /ws HTTP/1.1\r\n" + head
                              + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc=\r\n\r\n")
                << 400;
        QTest::newRow("version 8") << QByteArray(
                "GET /ws HTTP/1.1\r\n" + head
                + "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                                   << 426;
        QTest::newRow("POST") << QByteArray(
                "POST /ws HTTP/1.1\r\n" + head
                + "Content-Length: 0\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                  "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                              << 405;
    }

    void malformedUpgradesAreRefused()
    {
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        Fixture f(quietSettings());
        const HttpResponse r = rawRequest(f.port(), request);
        QCOMPARE(r.status, status);
        QVERIFY(!r.raw.contains("HTTP/1.1 101"));
        QCOMPARE(f.hub.count(), 0);
    }

    void originPolicy_data()
    {
        QTest::addColumn<QStringList>("allowed");
        QTest::addColumn<QByteArray>("origin");
        QTest::addColumn<bool>("opens");
        QTest::newRow("no origin") << QStringList() << QByteArray() << true;
        QTest::newRow("same origin")
                << QStringList() << QByteArray("http://127.0.0.1:PORT") << true;
        QTest::newRow("foreign") << QStringList() << QByteArray("http://evil.example") << false;
        QTest::newRow("foreign but listed") << QStringList{QStringLiteral("http://evil.example")}
                                            << QByteArray("http://evil.example") << true;
    }

    void originPolicy()
    {
        QFETCH(QStringList, allowed);
        QFETCH(QByteArray, origin);
        QFETCH(bool, opens);
        Fixture f(quietSettings(), allowed);
        origin.replace("PORT", QByteArray::number(f.port()));
        const QByteArray extra = origin.isEmpty() ? QByteArray() : "Origin: " + origin + "\r\n";
        const HttpResponse r = rawRequest(f.port(), upgradeRequest("/ws", f.port(), extra));
        QCOMPARE(r.status, opens ? 101 : 403);
        if (!opens)
            QVERIFY(r.json().value(QStringLiteral("error"))
                            .toObject()
                            .value(QStringLiteral("message"))
                            .toString()
                            .contains(u"--allowed-origin"));
        // And with a real client:
        Client client(f.url(), origin);
        if (opens) {
            QVERIFY(client.waitGreeted());
        } else {
            QTRY_VERIFY(client.closed);
            QVERIFY(client.texts.isEmpty());
        }
    }

    void refusedInitAnswersItsStatus()
    {
        Fixture f(quietSettings());
        addProbe(f, "/ws/private", ProbeHandler::Mode::RefuseInit);
        const HttpResponse r = rawRequest(f.port(), upgradeRequest("/ws/private?x=1", f.port()));
        QCOMPARE(r.status, 401);
        QCOMPARE(r.json().value(QStringLiteral("error"))
                         .toObject()
                         .value(QStringLiteral("message"))
                         .toString(),
                 QStringLiteral("token required: x=1"));
        QVERIFY(!r.raw.contains("HTTP/1.1 101"));
        QVERIFY(!r.header("x-request-id").isEmpty()); // went through the plugs
        QCOMPARE(f.hub.count(), 0);
    }

    void adminRoutesNeedTheToken_data()
    {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<QByteArray>("authorization");
        for (const auto &[method, path] :
             QList<std::pair<QByteArray, QByteArray>>{{"GET", "/api/connections"},
                                                      {"POST", "/api/broadcast"},
                                                      {"POST", "/api/connections/1/send"},
                                                      {"DELETE", "/api/connections/1"}}) {
            QTest::addRow("%s %s no token", method.constData(), path.constData())
                    << method << path << QByteArray();
            QTest::addRow("%s %s wrong token", method.constData(), path.constData())
                    << method << path << QByteArray("Bearer test-tokeN");
        }
    }

    void adminRoutesNeedTheToken()
    {
        QFETCH(QByteArray, method);
        QFETCH(QByteArray, path);
        QFETCH(QByteArray, authorization);
        Fixture f(quietSettings());
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        QList<std::pair<QByteArray, QByteArray>> headers{{"Content-Type", "text/plain"}};
        if (!authorization.isEmpty())
            headers.emplaceBack("Authorization", authorization);
        const HttpResponse r = request(f.port(), method, path, headers, "x");
        QCOMPARE(r.status, 401);
        QVERIFY(r.header("www-authenticate").startsWith("Bearer"));
        QCOMPARE(client.texts, QStringList{QStringLiteral("start")}); // nothing was sent
        QVERIFY(!client.closed);
    }

    void healthIsPublic()
    {
        Fixture f(quietSettings());
        Client a(f.url());
        Client b(f.url());
        QVERIFY(a.waitGreeted() && b.waitGreeted());
        const HttpResponse r = request(f.port(), "GET", "/api/health");
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("content-type"), QByteArray("application/json"));
        const QJsonObject health = r.json();
        QCOMPARE(health.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        QCOMPARE(health.value(QStringLiteral("version")).toString(),
                 QStringLiteral(SWITCHBOARD_VERSION));
        QCOMPARE(health.value(QStringLiteral("connections")).toInt(), 2);
        QVERIFY(health.value(QStringLiteral("uptime_s")).isDouble());
        QVERIFY(!r.body.contains(' ') && !r.body.contains('\n')); // compact JSON
    }

    void broadcastReachesAllFifty_data()
    {
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("binary");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("text/plain") << QByteArray("text/plain; charset=utf-8")
                                    << QByteArray("hello all") << false << QByteArray("hello all");
        QTest::newRow("json text")
                << QByteArray("application/json") << QByteArray(R"({"text":"héllo"})") << false
                << QByteArray("h\xc3\xa9llo");
        QTest::newRow("json binary")
                << QByteArray("application/json") << QByteArray(R"({"binary_base64":"AAEC/w=="})")
                << true << QByteArray("\x00\x01\x02\xff", 4);
        QTest::newRow("octet-stream")
                << QByteArray("application/octet-stream") << QByteArray("\x00raw", 4) << true
                << QByteArray("\x00raw", 4);
    }

    void broadcastReachesAllFifty()
    {
        QFETCH(QByteArray, contentType);
        QFETCH(QByteArray, body);
        QFETCH(bool, binary);
        QFETCH(QByteArray, expected);
        Fixture f(quietSettings());
        std::vector<std::unique_ptr<Client>> clients;
        for (int i = 0; i < 50; ++i)
            clients.push_back(
                    std::make_unique<Client>(i % 2 ? f.url() : f.url(QStringLiteral("/ws/chat"))));
        for (auto &client : clients)
            QVERIFY(client->waitGreeted());
        auto headers = kAdmin;
        headers.emplaceBack("Content-Type", contentType);
        const HttpResponse r = request(f.port(), "POST", "/api/broadcast", headers, body);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body, QByteArray(R"({"delivered":50})"));
        for (auto &client : clients) {
            if (binary) {
                QTRY_COMPARE(client->binaries.size(), 1);
                QCOMPARE(client->binaries.first(), expected);
            } else {
                QTRY_COMPARE(client->texts.size(), 2);
                QCOMPARE(client->texts.at(1).toUtf8(), expected);
            }
        }
    }

    void badBroadcastBodies_data()
    {
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::newRow("malformed json") << QByteArray("application/json") << QByteArray("{") << 400;
        QTest::newRow("json without text")
                << QByteArray("application/json") << QByteArray(R"({"x":1})") << 400;
        QTest::newRow("json both") << QByteArray("application/json")
                                   << QByteArray(R"({"text":"a","binary_base64":"AA=="})") << 400;
        QTest::newRow("json text not string")
                << QByteArray("application/json") << QByteArray(R"({"text":5})") << 400;
        QTest::newRow("bad base64")
                << QByteArray("application/json") << QByteArray(R"({"binary_base64":"!!"})") << 400;
        QTest::newRow("invalid utf-8") << QByteArray("text/plain") << QByteArray("\xff\xfe") << 400;
        QTest::newRow("form") << QByteArray("application/x-www-form-urlencoded")
                              << QByteArray("a=1") << 415;
    }

    void badBroadcastBodies()
    {
        QFETCH(QByteArray, contentType);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        Fixture f(quietSettings());
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        auto headers = kAdmin;
        headers.emplaceBack("Content-Type", contentType);
        const HttpResponse r = request(f.port(), "POST", "/api/broadcast", headers, body);
        QCOMPARE(r.status, status);
        QCOMPARE(r.header("content-type"), QByteArray("application/json"));
        QCOMPARE(r.json().value(QStringLiteral("error"))
                         .toObject()
                         .value(QStringLiteral("status"))
                         .toInt(),
                 status);
        QCOMPARE(client.texts.size(), 1); // nothing was broadcast
    }

    void sendToOneReachesOnlyThatClient()
    {
        Fixture f(quietSettings());
        Client a(f.url());
        Client b(f.url());
        Client c(f.url());
        QVERIFY(a.waitGreeted() && b.waitGreeted() && c.waitGreeted());
        const HttpResponse list = request(f.port(), "GET", "/api/connections", kAdmin);
        QCOMPARE(list.status, 200);
        const QJsonArray sessions = list.json().value(QStringLiteral("connections")).toArray();
        QCOMPARE(sessions.size(), 3);
        // Find b's id by its local port.
        qint64 bId = 0;
        for (const QJsonValue &s : sessions) {
            if (s[QStringLiteral("peer")].toString().endsWith(
                        u':' + QString::number(b.socket.localPort())))
                bId = s[QStringLiteral("id")].toInteger();
        }
        QVERIFY(bId > 0);
        auto headers = kAdmin;
        headers.emplaceBack("Content-Type", "text/plain");
        const HttpResponse r
                = request(f.port(), "POST", "/api/connections/" + QByteArray::number(bId) + "/send",
                          headers, "just you");
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body, QByteArray(R"({"delivered":1})"));
        QTRY_COMPARE(b.texts.size(), 2);
        QCOMPARE(b.texts.at(1), QStringLiteral("just you"));
        // Make sure a and c would have had it by now: a round trip on each.
        a.socket.sendTextMessage(QStringLiteral("sync"));
        c.socket.sendTextMessage(QStringLiteral("sync"));
        QTRY_COMPARE(a.texts.size(), 2);
        QTRY_COMPARE(c.texts.size(), 2);
        QCOMPARE(a.texts.at(1), QStringLiteral("sync"));
        QCOMPARE(c.texts.at(1), QStringLiteral("sync"));

        const HttpResponse gone
                = request(f.port(), "POST", "/api/connections/999/send", headers, "x");
        QCOMPARE(gone.status, 404);
        const HttpResponse notNumber
                = request(f.port(), "POST", "/api/connections/abc/send", headers, "x");
        QCOMPARE(notNumber.status, 404);
    }

    void deliveredCountsOnlySessionsReached_data()
    {
        QTest::addColumn<bool>("peerSendsClose"); // else the frame reader refuses the peer
        QTest::newRow("peer sent Close") << true;
        QTest::newRow("frame reader refused the peer") << false;
    }

    void deliveredCountsOnlySessionsReached()
    {
        // Three sessions: one reading, one the operator closes, and one whose connection
        // is closing while a backlog waits for its peer to read (the peer sent a Close, or
        // the frame reader refused it). `delivered` must count only the sessions whose
        // client then actually gets the message.
        QFETCH(bool, peerSendsClose);
        HubSettings s = quietSettings();
        s.maxSendBuffer = 64 * 1024 * 1024;
        s.maxMessageSize = 1024 * 1024;
        s.closeGrace = 30s; // the closing peer stays until the test reads its backlog
        Fixture f(s);
        Client reader(f.url());
        Client closedByOperator(f.url());
        QVERIFY(reader.waitGreeted() && closedByOperator.waitGreeted());
        QTcpSocket stalled;
        QVERIFY(openStalledSession(stalled, f.port()));
        QTRY_COMPARE(f.hub.count(), 3);
        const auto idOf = [&f](quint16 port) {
            for (const SessionInfo &info : f.hub.sessions()) {
                if (info.peerPort == port)
                    return info.id;
            }
            return quint64(0);
        };
        const quint64 stalledId = idOf(stalled.localPort());
        const quint64 operatorId = idOf(closedByOperator.socket.localPort());
        QVERIFY(stalledId != 0 && operatorId != 0);
        // More than the kernel buffers of both ends hold on loopback (a few MiB): the rest
        // waits in the connection's backlog, so its closing cannot finish yet.
        const Frame filler = Frame::binary(QByteArray(1024 * 1024, 'f'));
        for (int i = 0; i < 24; ++i)
            QVERIFY(f.hub.send(stalledId, filler));
        if (peerSendsClose) {
            stalled.write(maskedFrame(0x88, QByteArrayView("\x03\xe8", 2)));
            QTRY_COMPARE(f.hub.session(stalledId)->state, SessionInfo::State::Closing);
        } else {
            // A text frame and, in the same write (so in the same read), the head of a
            // frame over maxMessageSize: by the time the text is handled, the frame
            // reader has refused the connection with 1009.
            QSignalSpy received(&f.hub, &Hub::frameReceived);
            QByteArray tooBig("\x82\xff", 2);
            for (int shift = 56; shift >= 0; shift -= 8)
                tooBig.append(char((quint64(2 * 1024 * 1024) >> shift) & 0xff));
            stalled.write(maskedFrame(0x81, "last words") + tooBig + "mask");
            QVERIFY(received.wait());
        }
        auto headers = kAdmin;
        headers.emplaceBack("Content-Type", "text/plain");
        const HttpResponse news = request(f.port(), "POST", "/api/broadcast", headers, "news");
        QCOMPARE(news.status, 200);
        const int newsDelivered = news.json().value(QStringLiteral("delivered")).toInt();
        // In one event-loop turn: the operator closes a session, then a broadcast.
        QVERIFY(f.hub.close(operatorId));
        const int lateDelivered = f.hub.broadcast(Frame::text(QStringLiteral("late")));

        // What each client actually got.
        QTRY_COMPARE(reader.texts.size(), 3);
        QTRY_VERIFY(closedByOperator.closed);
        QCOMPARE(closedByOperator.closeCode, 4000);
        QByteArray wire;
        bool gone = false;
        connect(&stalled, &QTcpSocket::readyRead, &stalled, [&] { wire += stalled.readAll(); });
        connect(&stalled, &QTcpSocket::disconnected, &stalled, [&] { gone = true; });
        stalled.setReadBufferSize(0);
        wire += stalled.readAll();
        QTRY_VERIFY_WITH_TIMEOUT(gone, 20000);
        wire += stalled.readAll();
        QVERIFY(wire.startsWith("HTTP/1.1 101"));
        wire.remove(0, wire.indexOf("\r\n\r\n") + 4);
        const QList<ServerFrame> frames = takeServerFrames(wire);
        QVERIFY(!frames.isEmpty());
        QCOMPARE(frames.last().opcode(), quint8(0x8)); // it ends with the Close, nothing after
        const auto stalledGot = [&frames](QByteArrayView text) {
            return int(std::count_if(frames.cbegin(), frames.cend(), [text](const ServerFrame &f) {
                return f.opcode() == 0x1 && f.payload == text;
            }));
        };
        const auto got = [](const Client &client, const QString &text) {
            return int(client.texts.count(text));
        };
        QCOMPARE(newsDelivered,
                 got(reader, QStringLiteral("news")) + got(closedByOperator, QStringLiteral("news"))
                         + stalledGot("news"));
        QCOMPARE(lateDelivered,
                 got(reader, QStringLiteral("late")) + got(closedByOperator, QStringLiteral("late"))
                         + stalledGot("late"));
        QCOMPARE(newsDelivered, 2);
        QCOMPARE(lateDelivered, 1);
    }

    void deleteClosesWith4000()
    {
        Fixture f(quietSettings());
        Client a(f.url());
        Client b(f.url());
        QVERIFY(a.waitGreeted() && b.waitGreeted());
        const quint64 aId = f.hub.sessions().first().id;
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        const HttpResponse r = request(f.port(), "DELETE",
                                       "/api/connections/" + QByteArray::number(aId), kAdmin);
        QCOMPARE(r.status, 200);
        QTRY_VERIFY(a.closed);
        QCOMPARE(a.closeCode, 4000);
        QCOMPARE(a.closeReason, QStringLiteral("closed by operator"));
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(closed.first().at(1).value<TerminateReason>().kind,
                 TerminateReason::Kind::Operator);
        QVERIFY(!b.closed);
        QCOMPARE(f.hub.count(), 1);
        const HttpResponse again = request(f.port(), "DELETE",
                                           "/api/connections/" + QByteArray::number(aId), kAdmin);
        QCOMPARE(again.status, 404);
    }

    void chatRelaysToTheOthersOnly()
    {
        Fixture f(quietSettings());
        Client alice(f.url(QStringLiteral("/ws/chat")));
        Client bob(f.url(QStringLiteral("/ws/chat")));
        Client carol(f.url(QStringLiteral("/ws/chat")));
        Client echo(f.url());
        QVERIFY(alice.waitGreeted() && bob.waitGreeted() && carol.waitGreeted()
                && echo.waitGreeted());
        alice.socket.sendTextMessage(QStringLiteral("hi from alice"));
        QTRY_COMPARE(bob.texts.size(), 2);
        QTRY_COMPARE(carol.texts.size(), 2);
        QCOMPARE(bob.texts.at(1), QStringLiteral("hi from alice"));
        QCOMPARE(carol.texts.at(1), QStringLiteral("hi from alice"));
        bob.socket.sendBinaryMessage(QByteArray("\x01\x02", 2));
        QTRY_COMPARE(alice.binaries.size(), 1);
        QTRY_COMPARE(carol.binaries.size(), 1);
        // Echo on its own path still answers, and saw none of the chat.
        echo.socket.sendTextMessage(QStringLiteral("ping?"));
        QTRY_COMPARE(echo.texts.size(), 2);
        QCOMPARE(echo.texts.at(1), QStringLiteral("ping?"));
        QCOMPARE(alice.texts.size(), 1); // her own message did not come back
        QCOMPARE(bob.binaries.size(), 0);
    }

    void pingRoundTripIsRecorded()
    {
        HubSettings s = quietSettings();
        s.pingInterval = 50ms;
        s.statsInterval = 20ms;
        Fixture f(s);
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        QSignalSpy stats(&f.hub, &Hub::statsChanged);
        QTRY_VERIFY(f.hub.sessions().first().lastPingRttMs >= 0);
        // Every pong counts, so equal round trips still read as new ones.
        QTRY_VERIFY(f.hub.sessions().first().pongs >= 2);
        QVERIFY(stats.size() > 0 || stats.wait());
        const HttpResponse r = request(f.port(), "GET", "/api/connections", kAdmin);
        const QJsonObject session
                = r.json().value(QStringLiteral("connections")).toArray().first().toObject();
        QVERIFY(session.value(QStringLiteral("last_ping_rtt_ms")).isDouble());
        QVERIFY(!client.closed); // Qt's client answers pings: it is not dropped
    }

    void deadPeerIsDropped()
    {
        HubSettings s = quietSettings();
        s.pingInterval = 50ms;
        Fixture f(s);
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        // A raw client that completes the handshake and then never reads or answers.
        QTcpSocket raw;
        raw.connectToHost(QHostAddress::LocalHost, f.port());
        QVERIFY(raw.waitForConnected(5000));
        raw.write(upgradeRequest("/ws", f.port()));
        QTRY_COMPARE(f.hub.count(), 1);
        QVERIFY(closed.wait(5000));
        QCOMPARE(closed.first().at(1).value<TerminateReason>().kind,
                 TerminateReason::Kind::PingTimeout);
        QCOMPARE(f.hub.count(), 0);
        QTRY_COMPARE(raw.state(), QAbstractSocket::UnconnectedState);
        // It received pings before being dropped: opcode 0x89 frames after the 101.
        const QByteArray bytes = raw.readAll();
        QVERIFY(bytes.contains("\x89\x00"));
    }

    void aPeerThatSendsIsAliveEvenWithoutPongs()
    {
        HubSettings s = quietSettings();
        s.pingInterval = 50ms;
        Fixture f(s);
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        QTcpSocket raw; // never answers pings, but keeps talking
        raw.connectToHost(QHostAddress::LocalHost, f.port());
        QVERIFY(raw.waitForConnected(5000));
        raw.write(upgradeRequest("/ws", f.port()));
        QTRY_COMPARE(f.hub.count(), 1);
        for (int i = 0; i < 10; ++i) { // 10 x 50 ms: five ping intervals
            raw.write(QByteArray::fromHex("8182") + QByteArray(4, '\0') + "hi");
            QTest::qWait(50);
        }
        QCOMPARE(closed.size(), 0);
        QCOMPARE(f.hub.count(), 1);
    }

    void idleSessionIsClosed()
    {
        HubSettings s = quietSettings();
        s.idleTimeout = 200ms;
        Fixture f(s);
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        Client idle(f.url());
        QVERIFY(idle.waitGreeted());
        QTRY_VERIFY(idle.closed);
        QCOMPARE(idle.closeCode, 1001);
        QCOMPARE(idle.closeReason, QStringLiteral("idle timeout"));
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(closed.first().at(1).value<TerminateReason>().kind,
                 TerminateReason::Kind::IdleTimeout);
    }

    void pongsKeepAnIdleClientOpen()
    {
        // Like Cowboy: anything received, pongs included, resets the idle timer,
        // so the heartbeat keeps a quiet but live client connected.
        HubSettings s = quietSettings();
        s.pingInterval = 40ms;
        s.idleTimeout = 200ms;
        Fixture f(s);
        Client quiet(f.url());
        QVERIFY(quiet.waitGreeted());
        QTest::qWait(600); // three idle periods
        QVERIFY(!quiet.closed);
        QCOMPARE(f.hub.count(), 1);
    }

    void oversizedMessageIs1009AndOthersContinue()
    {
        HubSettings s = quietSettings();
        s.maxMessageSize = 1024;
        Fixture f(s);
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        Client big(f.url());
        Client other(f.url());
        QVERIFY(big.waitGreeted() && other.waitGreeted());
        big.socket.sendBinaryMessage(QByteArray(1024, 'x')); // at the limit: fine
        QTRY_COMPARE(big.binaries.size(), 1);
        big.socket.sendBinaryMessage(QByteArray(1025, 'x'));
        QTRY_VERIFY(big.closed);
        QCOMPARE(big.closeCode, 1009);
        QTRY_COMPARE(closed.size(), 1);
        QCOMPARE(closed.first().at(1).value<TerminateReason>().kind, TerminateReason::Kind::TooBig);
        other.socket.sendTextMessage(QStringLiteral("still here"));
        QTRY_COMPARE(other.texts.size(), 2);
        QCOMPARE(other.texts.at(1), QStringLiteral("still here"));
    }

    void handlerCanStopTheSession()
    {
        Fixture f(quietSettings());
        QList<TerminateReason> reasons;
        addProbe(f, "/ws/probe", ProbeHandler::Mode::Record, &reasons);
        Client client(f.url(QStringLiteral("/ws/probe")));
        QTRY_COMPARE(f.hub.count(), 1);
        client.socket.sendTextMessage(QStringLiteral("stop"));
        QTRY_VERIFY(client.closed);
        QCOMPARE(client.texts, QStringList{QStringLiteral("bye")}); // frames first, then close
        QCOMPARE(client.closeCode, 4001);
        QCOMPARE(client.closeReason, QStringLiteral("asked to stop"));
        QTRY_COMPARE(reasons.size(), 1);
        QCOMPARE(reasons.first().kind, TerminateReason::Kind::LocalClose);
    }

    void remoteCloseIsReportedWithItsCode()
    {
        Fixture f(quietSettings());
        QList<TerminateReason> reasons;
        addProbe(f, "/ws/probe", ProbeHandler::Mode::Record, &reasons);
        Client client(f.url(QStringLiteral("/ws/probe")));
        QTRY_COMPARE(f.hub.count(), 1);
        client.socket.close(QWebSocketProtocol::CloseCodeNormal, QStringLiteral("done"));
        QTRY_COMPARE(reasons.size(), 1);
        QCOMPARE(reasons.first().kind, TerminateReason::Kind::RemoteClose);
        QCOMPARE(reasons.first().code, quint16(1000));
        QTRY_COMPARE(f.hub.count(), 0);
    }

    void throwingHandlerClosesWith1011()
    {
        Fixture f(quietSettings());
        addProbe(f, "/ws/buggy", ProbeHandler::Mode::ThrowOnMessage);
        Client buggy(f.url(QStringLiteral("/ws/buggy")));
        Client fine(f.url());
        QVERIFY(fine.waitGreeted());
        QTRY_COMPARE(f.hub.count(), 2);
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral(".*handler threw.*")));
        buggy.socket.sendTextMessage(QStringLiteral("boom"));
        QTRY_VERIFY(buggy.closed);
        QCOMPARE(buggy.closeCode, 1011);
        fine.socket.sendTextMessage(QStringLiteral("ok"));
        QTRY_COMPARE(fine.texts.size(), 2);
    }

    void infoFromAnotherThread()
    {
        Fixture f(quietSettings());
        addProbe(f, "/ws/probe", ProbeHandler::Mode::Record);
        Client client(f.url(QStringLiteral("/ws/probe")));
        QTRY_COMPARE(f.hub.count(), 1);
        const quint64 id = f.hub.sessions().first().id;
        QThread *worker = QThread::create([&f, id] {
            for (int i = 0; i < 3; ++i)
                f.hub.post(id, QStringLiteral("n%1").arg(i));
        });
        worker->start();
        QVERIFY(worker->wait(5000));
        delete worker;
        QTRY_COMPARE(client.texts.size(), 3);
        QCOMPARE(client.texts,
                 QStringList({QStringLiteral("info:n0"), QStringLiteral("info:n1"),
                              QStringLiteral("info:n2")}));
    }

    void httpBasics()
    {
        Fixture f(quietSettings());
        f.server.router().get(QStringLiteral("/boom"),
                              [](Conn &) { throw std::runtime_error("bug"); });

        const HttpResponse page = request(f.port(), "GET", "/");
        QCOMPARE(page.status, 200);
        QVERIFY(page.header("content-type").startsWith("text/html"));
        QVERIFY(page.body.contains("new WebSocket("));

        const HttpResponse head = request(f.port(), "HEAD", "/");
        QCOMPARE(head.status, 200);
        QCOMPARE(head.header("content-length").toInt(), page.body.size());
        QVERIFY(head.raw.endsWith("\r\n\r\n"));

        const HttpResponse wrong = request(f.port(), "PUT", "/api/health", {}, "x");
        QCOMPARE(wrong.status, 405);
        QCOMPARE(wrong.header("allow"), QByteArray("GET, HEAD"));

        const HttpResponse missing = request(f.port(), "GET", "/missing");
        QCOMPARE(missing.status, 404);
        QCOMPARE(missing.header("content-type"), QByteArray("application/json"));

        const HttpResponse echoed
                = request(f.port(), "GET", "/api/health", {{"X-Request-Id", "abc-123"}});
        QCOMPARE(echoed.header("x-request-id"), QByteArray("abc-123"));

        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral(".*/boom failed: bug")));
        const HttpResponse boom = request(f.port(), "GET", "/boom");
        QCOMPARE(boom.status, 500);
        QCOMPARE(request(f.port(), "GET", "/api/health").status, 200); // still serving
    }

    void keepAliveServesSeveralRequests()
    {
        Fixture f(quietSettings());
        const QByteArray one = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
        QTcpSocket socket;
        QByteArray received;
        connect(&socket, &QTcpSocket::readyRead, &socket, [&] { received += socket.readAll(); });
        socket.connectToHost(QHostAddress::LocalHost, f.port());
        QVERIFY(socket.waitForConnected(5000));
        socket.write(one + one + one);
        QTRY_COMPARE(received.count("HTTP/1.1 200 OK"), 3);
        QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
    }

    void connectionsListShowsCounters()
    {
        Fixture f(quietSettings());
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        client.socket.sendTextMessage(QStringLiteral("abc"));
        client.socket.sendBinaryMessage(QByteArray(10, 'z'));
        QTRY_COMPARE(client.binaries.size(), 1);
        const HttpResponse r = request(f.port(), "GET", "/api/connections", kAdmin);
        const QJsonObject s
                = r.json().value(QStringLiteral("connections")).toArray().first().toObject();
        QCOMPARE(s.value(QStringLiteral("path")).toString(), QStringLiteral("/ws"));
        QCOMPARE(s.value(QStringLiteral("peer")).toString(),
                 QStringLiteral("127.0.0.1:%1").arg(client.socket.localPort()));
        QCOMPARE(s.value(QStringLiteral("messages_in")).toInt(), 2);
        QCOMPARE(s.value(QStringLiteral("messages_out")).toInt(), 3); // start + 2 echoes
        QCOMPARE(s.value(QStringLiteral("bytes_in")).toInt(), 13);
        QCOMPARE(s.value(QStringLiteral("bytes_out")).toInt(), 18);
        QVERIFY(QDateTime::fromString(s.value(QStringLiteral("connected_at")).toString(),
                                      Qt::ISODateWithMs)
                        .isValid());
        QVERIFY(s.value(QStringLiteral("last_ping_rtt_ms")).isNull()); // no pings in this fixture
    }

    void shutdownClosesEveryoneWith1001()
    {
        Fixture f(quietSettings());
        Client a(f.url());
        Client b(f.url(QStringLiteral("/ws/chat")));
        QVERIFY(a.waitGreeted() && b.waitGreeted());
        QSignalSpy drained(&f.hub, &Hub::drained);
        f.server.stopListening();
        f.hub.shutdown();
        QVERIFY(drained.wait(3000));
        QTRY_VERIFY(a.closed && b.closed);
        QCOMPARE(a.closeCode, 1001);
        QCOMPARE(b.closeCode, 1001);
    }

    void closedSessionsReleaseTheirSockets()
    {
        // The listener's QTcpServer parents every accepted socket; a closed session
        // must not leave its socket (and buffers) behind until the server dies.
        Fixture f(quietSettings());
        for (int i = 0; i < 5; ++i) {
            Client client(f.url());
            QVERIFY(client.waitGreeted());
            client.socket.close();
            QTRY_VERIFY(client.closed);
        }
        for (int i = 0; i < 5; ++i) {
            QCOMPARE(request(f.port(), "GET", "/api/health").status, 200);
            QCOMPARE(rawRequest(f.port(), upgradeRequest("/nope", f.port())).status, 404);
        }
        QTRY_COMPARE(f.hub.count(), 0);
        QTcpServer *listener = f.server.listeners().first()->frontDoor();
        QTRY_COMPARE(listener->findChildren<QTcpSocket *>().size(), 0);
    }

    void slowConsumerIsClosedWith1008()
    {
        HubSettings s = quietSettings();
        s.maxSendBuffer = 256 * 1024;
        s.closeGrace = 200ms;
        Fixture f(s);
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        Client reader(f.url());
        QVERIFY(reader.waitGreeted());
        // A client that completes the handshake and then stops reading.
        QTcpSocket stalled;
        QVERIFY(openStalledSession(stalled, f.port()));
        QTRY_COMPARE(f.hub.count(), 2);
        const Frame chunk = Frame::binary(QByteArray(64 * 1024, 'b'));
        int sent = 0;
        while (closed.isEmpty() && sent < 400) { // 25 MiB at most, far over any kernel buffer
            f.hub.broadcast(chunk);
            ++sent;
            QTRY_COMPARE(reader.binaries.size(), sent); // the reader keeps up with every one
        }
        QTRY_COMPARE(closed.size(), 1);
        const auto reason = closed.first().at(1).value<TerminateReason>();
        QCOMPARE(reason.kind, TerminateReason::Kind::SlowConsumer);
        QCOMPARE(reason.code, quint16(1008));
        QCOMPARE(f.hub.count(), 1);
        // Broadcasts go on to the reader alone.
        QCOMPARE(f.hub.broadcast(Frame::text(QStringLiteral("after"))), 1);
        QTRY_COMPARE(reader.texts.last(), QStringLiteral("after"));
        QVERIFY(!reader.closed);
        // /metrics says why it went.
        QCOMPARE(metricValue(scrape(f.port()),
                             "switchboard_websocket_closes_total{reason=\"slow_consumer\","
                             "code=\"1008\"}"),
                 1.0);
    }

    void clientTokenIsRequiredWhenSet_data()
    {
        QTest::addColumn<QString>("query");
        QTest::addColumn<QByteArray>("authorization");
        QTest::addColumn<bool>("opens");
        QTest::newRow("none") << QString() << QByteArray() << false;
        QTest::newRow("wrong query") << QStringLiteral("?token=nope") << QByteArray() << false;
        QTest::newRow("prefix of the token")
                << QStringLiteral("?token=sesa") << QByteArray() << false;
        QTest::newRow("query") << QStringLiteral("?token=sesame") << QByteArray() << true;
        QTest::newRow("bearer") << QString() << QByteArray("Bearer sesame") << true;
        QTest::newRow("wrong bearer") << QString() << QByteArray("Bearer sesam") << false;
    }

    void clientTokenIsRequiredWhenSet()
    {
        QFETCH(QString, query);
        QFETCH(QByteArray, authorization);
        QFETCH(bool, opens);
        Fixture f(quietSettings());
        f.server.setClientToken("sesame");
        const QByteArray extra = authorization.isEmpty()
                ? QByteArray()
                : "Authorization: " + authorization + "\r\n";
        const HttpResponse r
                = rawRequest(f.port(), upgradeRequest("/ws" + query.toLatin1(), f.port(), extra));
        QCOMPARE(r.status, opens ? 101 : 401);
        if (!opens) {
            QVERIFY(r.header("www-authenticate").startsWith("Bearer"));
            QVERIFY(!r.raw.contains("HTTP/1.1 101"));
        }
        QCOMPARE(request(f.port(), "GET", "/api/health").status, 200); // HTTP needs no client token
    }

    void wrongAdminTokensGet429()
    {
        Fixture f(quietSettings());
        qint64 now = 0;
        f.server.adminThrottle().setClock([&now] { return now; });
        const QList<std::pair<QByteArray, QByteArray>> wrong{{"Authorization", "Bearer guess"}};
        for (int i = 0; i < 10; ++i)
            QCOMPARE(request(f.port(), "GET", "/api/connections", wrong).status, 401);
        const HttpResponse eleventh = request(f.port(), "GET", "/api/connections", wrong);
        QCOMPARE(eleventh.status, 429);
        QCOMPARE(eleventh.header("retry-after"), QByteArray("6"));
        QCOMPARE(eleventh.header("content-type"), QByteArray("application/json"));
        QCOMPARE(eleventh.json()
                         .value(QStringLiteral("error"))
                         .toObject()
                         .value(QStringLiteral("status"))
                         .toInt(),
                 429);
        // The token is not looked at: the right one is refused too, on every admin route.
        QCOMPARE(request(f.port(), "GET", "/api/connections", kAdmin).status, 429);
        auto broadcast = kAdmin;
        broadcast.emplaceBack("Content-Type", "text/plain");
        QCOMPARE(request(f.port(), "POST", "/api/broadcast", broadcast, "x").status, 429);
        // Public routes and WebSocket clients are not affected.
        QCOMPARE(request(f.port(), "GET", "/api/health").status, 200);
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        now += 6'000;
        QCOMPARE(request(f.port(), "GET", "/api/connections", kAdmin).status, 200);
    }

    void wrongClientTokensGet429()
    {
        Fixture f(quietSettings());
        f.server.setClientToken("sesame");
        qint64 now = 0;
        f.server.clientThrottle().setClock([&now] { return now; });
        const auto upgrade = [&f](const QByteArray &query) {
            return rawRequest(f.port(), upgradeRequest("/ws" + query, f.port()));
        };
        for (int i = 0; i < 9; ++i)
            QCOMPARE(upgrade("?token=guess").status, 401);
        QCOMPARE(upgrade("").status, 401); // without a token: nothing guessed, not counted
        QCOMPARE(upgrade("?token=guess").status, 401);
        const HttpResponse eleventh = upgrade("?token=guess");
        QCOMPARE(eleventh.status, 429);
        QCOMPARE(eleventh.header("retry-after"), QByteArray("6"));
        QVERIFY(!eleventh.raw.contains("HTTP/1.1 101"));
        QCOMPARE(eleventh.json()
                         .value(QStringLiteral("error"))
                         .toObject()
                         .value(QStringLiteral("status"))
                         .toInt(),
                 429);
        QCOMPARE(upgrade("?token=sesame").status, 429);
        QCOMPARE(request(f.port(), "GET", "/api/connections", kAdmin).status, 200);
        now += 6'000;
        QCOMPARE(upgrade("?token=sesame").status, 101);
    }

    void tokensNeverReachTheLog()
    {
        // Every switchboard category at debug, through right and wrong tokens of both
        // kinds, the lockouts included: no line carries a token.
        Fixture f(quietSettings());
        f.server.setClientToken("sesame");
        QLoggingCategory::setFilterRules(QStringLiteral("switchboard.*=true"));
        g_lines.clear();
        const QtMessageHandler previous = qInstallMessageHandler(captureLines);
        const QList<std::pair<QByteArray, QByteArray>> wrong{{"Authorization", "Bearer guess"}};
        for (int i = 0; i < 12; ++i)
            request(f.port(), "GET", "/api/connections", wrong);
        request(f.port(), "GET", "/api/connections?token=test-token", kAdmin);
        for (int i = 0; i < 12; ++i)
            rawRequest(f.port(), upgradeRequest("/ws?token=guess", f.port()));
        Client client(f.url(QStringLiteral("/ws?token=sesame")));
        client.waitGreeted();
        qInstallMessageHandler(previous);
        quietLogs();
        QVERIFY(g_lines.size() > 10); // it did log
        for (const QString &line : std::as_const(g_lines)) {
            QVERIFY2(!line.contains(u"test-token") && !line.contains(u"sesame")
                             && !line.contains(u"guess"),
                     qPrintable(line));
        }
    }

    void utf8SplitAcrossFragments()
    {
        // QtWebSockets 6.4.2 checks UTF-8 per fragment and would close with 1007;
        // the front door joins the fragments first, so "café" arrives whole.
        Fixture f(quietSettings());
        QTcpSocket raw;
        QByteArray received;
        connect(&raw, &QTcpSocket::readyRead, &raw, [&] { received += raw.readAll(); });
        raw.connectToHost(QHostAddress::LocalHost, f.port());
        QVERIFY(raw.waitForConnected(5000));
        raw.write(upgradeRequest("/ws", f.port()));
        QTRY_VERIFY(received.contains("start"));
        // "caf\xc3" + a ping between the fragments + "\xa9": é is split in two.
        raw.write(maskedFrame(0x01, "caf\xc3") + maskedFrame(0x89, "p")
                  + maskedFrame(0x80, "\xa9"));
        QTRY_VERIFY2(received.contains("\x81\x05"
                                       "caf\xc3\xa9"),
                     received.toHex().constData());
        QVERIFY(received.contains("\x8a\x01p")); // the ping in the middle was answered
        QVERIFY(!received.contains(char(0x88))); // and nothing was closed
        QCOMPARE(f.hub.sessions().first().messagesIn, quint64(1));
    }

    void metricsCountWebSocketTraffic()
    {
        Fixture f(quietSettings());
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        constexpr int n = 7;
        for (int i = 0; i < n; ++i)
            client.socket.sendTextMessage(QStringLiteral("hello"));
        QTRY_COMPARE(client.texts.size(), 1 + n); // the greeting, then the echoes
        const QByteArray body = scrape(f.port());
        QCOMPARE(metricValue(body, "switchboard_websocket_messages_received_total{path=\"/ws\"}"),
                 double(n));
        QCOMPARE(metricValue(body, "switchboard_websocket_received_bytes_total{path=\"/ws\"}"),
                 double(n * 5));
        QCOMPARE(metricValue(body, "switchboard_websocket_messages_sent_total{path=\"/ws\"}"),
                 double(1 + n));
        QCOMPARE(metricValue(body, "switchboard_websocket_sent_bytes_total{path=\"/ws\"}"),
                 double(5 + n * 5)); // "start" and the echoes
        QCOMPARE(metricValue(body, "switchboard_websocket_sessions_open{path=\"/ws\"}"), 1.0);
        QCOMPARE(metricValue(body,
                             "switchboard_websocket_sessions_opened_total{path=\"/ws\","
                             "subprotocol=\"\"}"),
                 1.0);
        QCOMPARE(metricValue(body, "switchboard_connections_open{protocol=\"websocket\"}"), 1.0);
        // The scrape itself is the one HTTP connection open while it is rendered.
        QCOMPARE(metricValue(body, "switchboard_connections_open{protocol=\"http\"}"), 1.0);

        client.socket.close(QWebSocketProtocol::CloseCodeNormal);
        QTRY_COMPARE(f.hub.count(), 0);
        const QByteArray after = scrape(f.port());
        QCOMPARE(metricValue(after, "switchboard_websocket_sessions_open{path=\"/ws\"}"), 0.0);
        QCOMPARE(metricValue(after,
                             "switchboard_websocket_closes_total{reason=\"remote_close\","
                             "code=\"1000\"}"),
                 1.0);
        QTRY_COMPARE(metricValue(scrape(f.port()),
                                 "switchboard_connections_open{protocol=\"websocket\"}"),
                     0.0);
        QVERIFY(metricValue(after,
                            "switchboard_http_requests_total{method=\"GET\",route=\"/metrics\","
                            "status=\"200\"}")
                >= 1);
    }

    void metricsCountABroadcastOnce()
    {
        Fixture f(quietSettings());
        constexpr int k = 3;
        std::vector<std::unique_ptr<Client>> clients;
        for (int i = 0; i < k; ++i) {
            clients.push_back(std::make_unique<Client>(f.url()));
            QVERIFY(clients.back()->waitGreeted());
        }
        const double sentBefore = metricValue(
                scrape(f.port()), "switchboard_websocket_messages_sent_total{path=\"/ws\"}");
        QCOMPARE(sentBefore, double(k)); // the greetings
        const HttpResponse response = request(
                f.port(), "POST", "/api/broadcast",
                kAdmin + QList<std::pair<QByteArray, QByteArray>>{{"Content-Type", "text/plain"}},
                "news");
        QCOMPARE(response.status, 200);
        const QByteArray body = scrape(f.port());
        QCOMPARE(metricValue(body, "switchboard_broadcasts_total"), 1.0);
        QCOMPARE(metricValue(body, "switchboard_broadcast_recipients_total"), double(k));
        QCOMPARE(metricValue(body, "switchboard_websocket_messages_sent_total{path=\"/ws\"}"),
                 double(2 * k));
        QCOMPARE(metricValue(body, "switchboard_websocket_sent_bytes_total{path=\"/ws\"}"),
                 double(k * 5 + k * 4));
    }

    void metricsCountRefusals()
    {
        HttpLimits limits;
        limits.maxHeaderSize = 1024;
        Fixture f(quietSettings(), {}, limits);
        f.server.setClientToken("client-secret");
        // An upgrade without the client token: 401 from the upgrade.
        RawConnection upgrade(f.port());
        upgrade.socket.write(upgradeRequest("/ws", f.port()));
        QTRY_COMPARE(upgrade.status(), 401);
        // A head over the limit: 431 from the front door.
        const HttpResponse big
                = request(f.port(), "GET", "/api/health", {{"X-Filler", QByteArray(2048, 'x')}});
        QCOMPARE(big.status, 431);
        const QByteArray body = scrape(f.port());
        QCOMPARE(metricValue(body, "switchboard_refusals_total{stage=\"upgrade\",status=\"401\"}"),
                 1.0);
        QCOMPARE(metricValue(body,
                             "switchboard_refusals_total{stage=\"front_door\",status=\"431\"}"),
                 1.0);
        QCOMPARE(metricValue(body, "switchboard_websocket_sessions_open{path=\"/ws\"}"), -1.0);
    }

    void metricsCountConnectionsOverTheCap()
    {
        HttpLimits limits;
        limits.maxConnections = 1;
        Fixture f(quietSettings(), {}, limits);
        Client client(f.url());
        QVERIFY(client.waitGreeted());
        // The cap is reached: the next connection gets 503 (before it sends anything,
        // so that the close cannot reset a request in flight and lose the answer).
        RawConnection over(f.port());
        QTRY_VERIFY(over.closed);
        QCOMPARE(over.status(), 503);
        client.socket.close();
        QTRY_COMPARE(f.server.connectionCount(), 0);
        const QByteArray body = scrape(f.port());
        QCOMPARE(metricValue(body,
                             "switchboard_refusals_total{stage=\"front_door\",status=\"503\"}"),
                 1.0);
        // The client and the scrape; the refused connection is not one accepted.
        QCOMPARE(metricValue(body, "switchboard_connections_accepted_total"), 2.0);
    }

    void metricsNeedAToken_data()
    {
        QTest::addColumn<QByteArray>("metricsToken");
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<QByteArray>("bearer");
        QTest::addColumn<int>("status");
        QTest::newRow("no token") << QByteArray("scrape") << QByteArray("/metrics") << QByteArray()
                                  << 401;
        QTest::newRow("wrong token")
                << QByteArray("scrape") << QByteArray("/metrics") << QByteArray("nope") << 401;
        QTest::newRow("admin token") << QByteArray("scrape") << QByteArray("/metrics")
                                     << QByteArray("test-token") << 200;
        QTest::newRow("scrape token")
                << QByteArray("scrape") << QByteArray("/metrics") << QByteArray("scrape") << 200;
        QTest::newRow("scrape token elsewhere")
                << QByteArray("scrape") << QByteArray("/api/connections") << QByteArray("scrape")
                << 401;
        QTest::newRow("no scrape token set: empty bearer")
                << QByteArray() << QByteArray("/metrics") << QByteArray("") << 401;
        QTest::newRow("HEAD with the scrape token")
                << QByteArray("scrape") << QByteArray("HEAD /metrics") << QByteArray("scrape")
                << 200;
    }

    void metricsNeedAToken()
    {
        QFETCH(QByteArray, metricsToken);
        QFETCH(QByteArray, path);
        QFETCH(QByteArray, bearer);
        QFETCH(int, status);
        Hub hub(quietSettings());
        Server server(&hub);
        ServerConfig config;
        config.adminToken = kToken;
        config.metricsToken = metricsToken;
        installDefaults(server, config);
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const QByteArray method = path.startsWith("HEAD ") ? "HEAD" : "GET";
        const QByteArray target = path.startsWith("HEAD ") ? path.mid(5) : path;
        QList<std::pair<QByteArray, QByteArray>> headers;
        if (!bearer.isNull())
            headers.append({"Authorization", "Bearer " + bearer});
        const HttpResponse response = request(server.serverPort(), method, target, headers);
        QCOMPARE(response.status, status);
        if (status == 200 && target == "/metrics") {
            QCOMPARE(response.header("content-type"),
                     QByteArray("text/plain; version=0.0.4; charset=utf-8"));
            if (method == "GET")
                QVERIFY(response.body.contains("# TYPE switchboard_build_info gauge"));
        }
    }

    void metricsTokenFollowsAReload()
    {
        Hub hub(quietSettings());
        Server server(&hub);
        ServerConfig config;
        config.adminToken = kToken;
        config.metricsToken = "first";
        const auto tokens = installDefaults(server, config).tokens;
        QVERIFY(server.listen(QHostAddress::LocalHost, 0));
        const auto status = [&](const QByteArray &token) {
            return request(server.serverPort(), "GET", "/metrics",
                           {{"Authorization", "Bearer " + token}})
                    .status;
        };
        QCOMPARE(status("first"), 200);
        tokens->metrics = "second"; // what a SIGHUP reload does
        QCOMPARE(status("first"), 401);
        QCOMPARE(status("second"), 200);
        tokens->metrics.clear();
        QCOMPARE(status("second"), 401);
        QCOMPARE(status(kToken), 200);
    }

    void listenOnTakenPortFails()
    {
        Fixture f(quietSettings());
        Hub hub;
        Server second(&hub);
        QVERIFY(!second.listen(QHostAddress::LocalHost, f.port()));
        QVERIFY(second.errorString().contains(u"already in use"));
        QVERIFY(!second.isListening());
    }
};

QTEST_GUILESS_MAIN(tst_Server)
#include "tst_server.moc"
