// The WebSocket upgrade on a real listener: who decides it (the front door, never
// QtHttpServer), subprotocols, permessage-deflate, and the handshake's bytes.

#include "websocket/upgrade.h"

#include "http/listener.h"

#include "deflateutil.h"
#include "serverfixture.h"
#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtCore/QRegularExpression>
#include <QtTest/QSignalSpy>
#include <QtWebSockets/QWebSocketHandshakeOptions>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace TestUtil;

namespace {

/*! A handler whose init() picks a subprotocol the way a row of a test asks. */
class ProtocolHandler final : public WebSocketHandler
{
public:
    enum class Mode { Require, ChooseUnoffered };
    explicit ProtocolHandler(Mode mode) : m_mode(mode) { }
    InitResult init(const UpgradeRequest &request) override
    {
        if (m_mode == Mode::ChooseUnoffered)
            return InitResult::accept("never.offered");
        if (!request.offers("need.v1"))
            return InitResult::refuse(400, QStringLiteral("this endpoint speaks need.v1 only"));
        return InitResult::accept("need.v1");
    }
    Reply handle(SessionContext &, const Frame &frame) override { return Reply::frame(frame); }

private:
    Mode m_mode;
};

void addProtocolEndpoints(Fixture &f)
{
    f.server.addWebSocketEndpoint("/ws/need", [] {
        return std::make_unique<ProtocolHandler>(ProtocolHandler::Mode::Require);
    });
    f.server.addWebSocketEndpoint("/ws/wrong", [] {
        return std::make_unique<ProtocolHandler>(ProtocolHandler::Mode::ChooseUnoffered);
    });
}

QList<QByteArray> headerValues(const HttpResponse &response, QByteArrayView name)
{
    QList<QByteArray> values;
    for (const auto &[key, value] : response.headers) {
        if (key == name)
            values.append(value);
    }
    return values;
}

DeflateSettings deflateOn()
{
    DeflateSettings settings;
    settings.enabled = true;
    return settings;
}

} // namespace

class tst_Upgrade : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { quietLogs(); }

    void qtHttpServerNeverUpgrades_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<int>("status");
        const QByteArray key = "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                               "dGhlIHNhbXBsZSBub25jZQ==\r\n";
        QTest::newRow("a real upgrade") << QByteArray("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: "
                                                      "Upgrade\r\nUpgrade: websocket\r\n"
                                                      + key + "\r\n")
                                        << 101;
        // QtHttpServer takes "upgrade" anywhere in Connection, with Upgrade: websocket,
        // for an upgrade of its own.
        QTest::newRow("x-upgrade") << QByteArray("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: "
                                                 "x-upgrade\r\nUpgrade: websocket\r\n"
                                                 + key + "\r\n")
                                   << 426;
        QTest::newRow("no Connection") << QByteArray("GET /ws HTTP/1.1\r\nHost: a\r\n"
                                                     "Upgrade: websocket\r\n"
                                                     + key + "\r\n")
                                       << 426;
        QTest::newRow("two Upgrade fields")
                << QByteArray("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: "
                              "websocket\r\nUpgrade: h2c\r\n"
                              + key + "\r\n")
                << 426;
        QTest::newRow("h2c") << QByteArray("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, "
                                           "HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n")
                             << 426;
    }

    void qtHttpServerNeverUpgrades()
    {
        // With a slot connected, QtHttpServer (6.4 and 6.8) would upgrade through its own
        // internal QWebSocketServer any request it took for one. It must never see one.
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        Fixture f(quietSettings());
        Listener *listener = f.server.listeners().first();
        QSignalSpy internal(listener, &QAbstractHttpServer::newWebSocketConnection);
        RawConnection raw(f.port());
        QTcpSocket &socket = raw.socket;
        QByteArray &received = raw.received;
        socket.write(request);
        QTRY_VERIFY(parseResponse(received).complete);
        QCOMPARE(parseResponse(received).status, status);
        if (status == 101) {
            QTRY_COMPARE(f.hub.count(), 1);
        } else {
            // Served as plain HTTP, and the connection is still ours: had Qt taken the
            // request for an upgrade, its own handshake code would now own the socket
            // (and answer 400 or 101 on it).
            received.clear();
            socket.write("GET /api/health HTTP/1.1\r\nHost: a\r\n\r\n");
            QTRY_VERIFY(parseResponse(received).complete);
            QCOMPARE(parseResponse(received).status, 200);
            QVERIFY2(!received.contains("HTTP/1.1 400") && !received.contains("HTTP/1.1 101"),
                     received.constData());
        }
        QCOMPARE(internal.size(), 0);
        QVERIFY(!listener->hasPendingWebSocketConnections());
    }

    void handshakeAnswer()
    {
        // RFC 6455 §1.3's example key, and nothing in the 101 this server did not choose.
        Fixture f(quietSettings());
        const HttpResponse r = rawRequest(f.port(), upgradeRequest("/ws", f.port()));
        QCOMPARE(r.status, 101);
        QCOMPARE(r.header("sec-websocket-accept"), QByteArray("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        QCOMPARE(r.header("upgrade").toLower(), QByteArray("websocket"));
        QVERIFY(headerValues(r, "sec-websocket-protocol").isEmpty());
        QVERIFY(headerValues(r, "sec-websocket-extensions").isEmpty());
    }

    void subprotocols_data()
    {
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<QByteArray>("offered"); // Sec-WebSocket-Protocol fields, '|'-separated
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("chosen"); // empty = the 101 names none
        QTest::newRow("chat offered last") << QByteArray("/ws/chat") << QByteArray("x.v0, chat.v1")
                                           << 101 << QByteArray("chat.v1");
        QTest::newRow("chat in a second field")
                << QByteArray("/ws/chat") << QByteArray("x.v0|chat.v1") << 101
                << QByteArray("chat.v1");
        QTest::newRow("chat not offered")
                << QByteArray("/ws/chat") << QByteArray("x.v0") << 101 << QByteArray();
        QTest::newRow("nothing offered")
                << QByteArray("/ws/chat") << QByteArray() << 101 << QByteArray();
        QTest::newRow("echo accepts none")
                << QByteArray("/ws") << QByteArray("chat.v1") << 101 << QByteArray();
        QTest::newRow("required and offered") << QByteArray("/ws/need") << QByteArray("a, need.v1")
                                              << 101 << QByteArray("need.v1");
        QTest::newRow("required, not offered: refused")
                << QByteArray("/ws/need") << QByteArray("a") << 400 << QByteArray();
        QTest::newRow("handler chose one not offered")
                << QByteArray("/ws/wrong") << QByteArray("a") << 500 << QByteArray();
        QTest::newRow("empty element")
                << QByteArray("/ws/chat") << QByteArray("a,,chat.v1") << 400 << QByteArray();
        QTest::newRow("duplicate")
                << QByteArray("/ws/chat") << QByteArray("chat.v1, chat.v1") << 400 << QByteArray();
        QTest::newRow("separator in a name")
                << QByteArray("/ws/chat") << QByteArray("chat/v1") << 400 << QByteArray();
    }

    void subprotocols()
    {
        QFETCH(QByteArray, path);
        QFETCH(QByteArray, offered);
        QFETCH(int, status);
        QFETCH(QByteArray, chosen);
        Fixture f(quietSettings());
        addProtocolEndpoints(f);
        QByteArray fields;
        if (!offered.isEmpty()) {
            for (const QByteArray &field : offered.split('|'))
                fields += "Sec-WebSocket-Protocol: " + field + "\r\n";
        }
        if (path == "/ws/wrong")
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral(".*did not offer")));
        RawWebSocket raw(f.port(), upgradeRequest(path, f.port(), fields));
        QVERIFY(raw.waitAnswered());
        const HttpResponse &r = raw.response;
        QCOMPARE(r.status, status);
        const QList<QByteArray> named = headerValues(r, "sec-websocket-protocol");
        QCOMPARE(named, chosen.isEmpty() ? QList<QByteArray>() : QList<QByteArray>{chosen});
        if (status != 101) {
            QTRY_VERIFY(raw.closed);
            QCOMPARE(f.hub.count(), 0);
            return;
        }
        QTRY_COMPARE(f.hub.count(), 1);
        QCOMPARE(f.hub.sessions().first().protocol, chosen);
        const QJsonObject listed = request(f.port(), "GET", "/api/connections", kAdmin)
                                           .json()
                                           .value(QStringLiteral("connections"))
                                           .toArray()
                                           .first()
                                           .toObject();
        QCOMPARE(listed.value(QStringLiteral("subprotocol")),
                 chosen.isEmpty() ? QJsonValue(QJsonValue::Null)
                                  : QJsonValue(QString::fromLatin1(chosen)));
    }

    void qtClientGetsTheChosenSubprotocol()
    {
        Fixture f(quietSettings());
        QWebSocket client;
        QWebSocketHandshakeOptions options;
        options.setSubprotocols({QStringLiteral("x.v0"), QStringLiteral("chat.v1")});
        QSignalSpy connected(&client, &QWebSocket::connected);
        client.open(QUrl(f.url(QStringLiteral("/ws/chat"))), options);
        QVERIFY(connected.wait());
        QCOMPARE(client.subprotocol(), QStringLiteral("chat.v1"));
    }

    void deflateNegotiation_data()
    {
        QTest::addColumn<bool>("enabled");
        QTest::addColumn<QByteArray>("offer");
        QTest::addColumn<QByteArray>("answer"); // empty: the 101 names no extension
        const QByteArray both = "permessage-deflate; server_no_context_takeover; "
                                "client_no_context_takeover";
        QTest::newRow("off by default")
                << false << QByteArray("permessage-deflate; client_max_window_bits")
                << QByteArray();
        QTest::newRow("no offer") << true << QByteArray() << QByteArray();
        QTest::newRow("Firefox") << true << QByteArray("permessage-deflate") << both;
        QTest::newRow("Chromium, Python websockets")
                << true << QByteArray("permessage-deflate; client_max_window_bits")
                << QByteArray(both + "; client_max_window_bits=15");
        QTest::newRow("server_no_context_takeover")
                << true << QByteArray("permessage-deflate; server_no_context_takeover") << both;
        QTest::newRow("client_no_context_takeover")
                << true << QByteArray("permessage-deflate; client_no_context_takeover") << both;
        QTest::newRow("server_max_window_bits=10")
                << true << QByteArray("permessage-deflate; server_max_window_bits=10")
                << QByteArray(both + "; server_max_window_bits=10");
        QTest::newRow("client_max_window_bits=9")
                << true << QByteArray("permessage-deflate; client_max_window_bits=9")
                << QByteArray(both + "; client_max_window_bits=9");
        QTest::newRow("unknown parameter declined")
                << true << QByteArray("permessage-deflate; x=1") << QByteArray();
        QTest::newRow("first offer declined, second taken")
                << true
                << QByteArray("permessage-deflate; server_max_window_bits=8, "
                              "permessage-deflate")
                << both;
        QTest::newRow("other extension only")
                << true << QByteArray("x-webkit-deflate-frame") << QByteArray();
    }

    void deflateNegotiation()
    {
        QFETCH(bool, enabled);
        QFETCH(QByteArray, offer);
        QFETCH(QByteArray, answer);
        DeflateSettings deflate;
        deflate.enabled = enabled;
        Fixture f(quietSettings(), {}, {}, deflate);
        const QByteArray field
                = offer.isEmpty() ? QByteArray() : "Sec-WebSocket-Extensions: " + offer + "\r\n";
        const HttpResponse r = rawRequest(f.port(), upgradeRequest("/ws", f.port(), field));
        QCOMPARE(r.status, 101);
        QCOMPARE(headerValues(r, "sec-websocket-extensions"),
                 answer.isEmpty() ? QList<QByteArray>() : QList<QByteArray>{answer});
        QTRY_COMPARE(f.hub.count(), 1);
        QCOMPARE(f.hub.sessions().first().compressed, !answer.isEmpty());
    }

    void compressedEcho_data()
    {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<bool>("compressedBack");
        QTest::newRow("under the threshold: sent plain") << QByteArray("short one") << false;
        QTest::newRow("4 KiB JSON-like: compressed")
                << QByteArray("{\"id\":7,\"name\":\"sensor\",\"value\":21.5},").repeated(110)
                << true;
    }

    void compressedEcho()
    {
        QFETCH(QByteArray, message);
        QFETCH(bool, compressedBack);
        Fixture f(quietSettings(), {}, {}, deflateOn());
        RawWebSocket raw(f.port(),
                         upgradeRequest("/ws", f.port(),
                                        "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        QVERIFY(raw.waitAnswered());
        QTRY_COMPARE(raw.frames.size(), 1); // "start", too short to compress
        QCOMPARE(raw.frames.first().payload, QByteArray("start"));
        QVERIFY(!raw.frames.first().rsv1());
        // The client compresses whatever it likes; the handler sees the plain text.
        ClientCompressor client;
        const QByteArray compressed = client.compress(message);
        raw.send(maskedFrame(0xc1, compressed));
        QTRY_COMPARE(raw.frames.size(), 2);
        const ServerFrame echo = raw.frames.at(1);
        QCOMPARE(echo.opcode(), quint8(1));
        QCOMPARE(echo.rsv1(), compressedBack);
        QCOMPARE(compressedBack ? zlibInflate(echo.payload).data : echo.payload, message);
        const SessionInfo info = f.hub.sessions().first();
        QCOMPARE(info.bytesIn, quint64(message.size()));
        QCOMPARE(info.wireBytesIn, quint64(compressed.size()));
        QCOMPARE(info.wireBytesOut, quint64(5 + echo.payload.size()));
        if (compressedBack)
            QVERIFY(info.compressionRatio().value_or(0) > 3.0);
    }

    void compressedBroadcastIsTheSameBytesForEveryone()
    {
        Fixture f(quietSettings(), {}, {}, deflateOn());
        std::vector<std::unique_ptr<RawWebSocket>> clients;
        for (int i = 0; i < 5; ++i) {
            clients.push_back(std::make_unique<RawWebSocket>(
                    f.port(),
                    upgradeRequest("/ws", f.port(),
                                   "Sec-WebSocket-Extensions: permessage-deflate\r\n")));
            QVERIFY(clients.back()->waitAnswered());
        }
        QTRY_COMPARE(f.hub.count(), 5);
        const QByteArray message = QByteArray("broadcast to everyone; ").repeated(100);
        QCOMPARE(f.hub.broadcast(Frame::text(message)), 5);
        for (auto &client : clients) {
            QTRY_COMPARE(client->frames.size(), 2);
            QVERIFY(client->frames.at(1).rsv1());
            QCOMPARE(client->frames.at(1).payload, clients.front()->frames.at(1).payload);
            QCOMPARE(zlibInflate(client->frames.at(1).payload).data, message);
        }
    }

    void badCompressedDataClosesOnlyThatSession_data()
    {
        QTest::addColumn<QByteArray>("frame");
        QTest::addColumn<int>("code");
        QTest::addColumn<int>("kind");
        QTest::newRow("corrupt") << maskedFrame(0xc1, QByteArray::fromHex("ffffff")) << 1007
                                 << int(TerminateReason::Kind::Error);
        QTest::newRow("RSV1 on a ping")
                << maskedFrame(0xc9, "p") << 1002 << int(TerminateReason::Kind::Error);
        QTest::newRow("inflates past the limit")
                << maskedFrame(0xc2, ClientCompressor().compress(QByteArray(300'000, 'z'))) << 1009
                << int(TerminateReason::Kind::TooBig);
    }

    void badCompressedDataClosesOnlyThatSession()
    {
        QFETCH(QByteArray, frame);
        QFETCH(int, code);
        QFETCH(int, kind);
        HubSettings settings = quietSettings();
        settings.maxMessageSize = 64 * 1024;
        Fixture f(settings, {}, {}, deflateOn());
        QSignalSpy closed(&f.hub, &Hub::sessionClosed);
        Client bystander(f.url());
        QVERIFY(bystander.waitGreeted());
        RawWebSocket raw(f.port(),
                         upgradeRequest("/ws", f.port(),
                                        "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        QVERIFY(raw.waitAnswered());
        QTRY_COMPARE(f.hub.count(), 2);
        raw.send(frame);
        QTRY_VERIFY(raw.closed);
        QVERIFY(!raw.frames.isEmpty());
        const ServerFrame last = raw.frames.last();
        QCOMPARE(last.opcode(), quint8(8));
        QCOMPARE(quint8(last.payload[0]) << 8 | quint8(last.payload[1]), code);
        QTRY_COMPARE(closed.size(), 1);
        const auto reason = closed.first().at(1).value<TerminateReason>();
        QCOMPARE(int(reason.kind), kind);
        QCOMPARE(reason.code, quint16(code));
        bystander.socket.sendTextMessage(QStringLiteral("still here"));
        QTRY_COMPARE(bystander.texts.size(), 2);
    }

    void pipelinedRequestsThenUpgrade()
    {
        // Plain requests, the upgrade and a first frame in one packet: each request is
        // answered in order, then the 101, then the session's greeting and the echo.
        Fixture f(quietSettings());
        RawConnection raw(f.port());
        const QByteArray health = "GET /api/health HTTP/1.1\r\nHost: a\r\n\r\n";
        raw.socket.write(health + health + upgradeRequest("/ws", f.port())
                         + maskedFrame(0x81, "first"));
        QByteArray &received = raw.received;
        QTRY_VERIFY(received.contains("first"));
        const qsizetype first = received.indexOf("HTTP/1.1 200");
        const qsizetype second = received.indexOf("HTTP/1.1 200", first + 1);
        const qsizetype switching = received.indexOf("HTTP/1.1 101");
        QVERIFY2(first == 0 && second > first && switching > second, received.constData());
        QByteArray frames = received.mid(received.indexOf("\r\n\r\n", switching) + 4);
        const QList<ServerFrame> echoed = takeServerFrames(frames);
        QCOMPARE(echoed.size(), 2);
        QCOMPARE(echoed.at(0).payload, QByteArray("start"));
        QCOMPARE(echoed.at(1).payload, QByteArray("first"));
        QCOMPARE(f.hub.count(), 1);
    }

    void upgradeAfterKeepAliveRequests()
    {
        Fixture f(quietSettings());
        RawConnection raw(f.port());
        QByteArray &received = raw.received;
        raw.socket.write("GET /api/health HTTP/1.1\r\nHost: a\r\n\r\n");
        QTRY_VERIFY(parseResponse(received).complete);
        QCOMPARE(parseResponse(received).status, 200);
        received.clear();
        raw.socket.write(upgradeRequest("/ws", f.port()));
        QTRY_VERIFY(received.contains("start"));
        QCOMPARE(parseResponse(received).status, 101);
        QCOMPARE(f.hub.count(), 1);
        QCOMPARE(f.server.connectionCount(), 1); // one connection, HTTP then WebSocket
    }
};

QTEST_GUILESS_MAIN(tst_Upgrade)
#include "tst_upgrade.moc"
