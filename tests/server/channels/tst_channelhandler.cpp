#include "channels/channelhandler.h"
#include "channels/protocol.h"
#include "http/server.h"
#include "routes.h"
#include "serverfixture.h"
#include "testutil.h"
#include "websocket/hub.h"

#include <QtCore/QJsonDocument>
#include <QtTest/QTest>
#include <QtWebSockets/QWebSocketHandshakeOptions>

using namespace Switchboard;
using namespace TestUtil;

namespace {

/*! A channels client: a real QWebSocket offering switchboard.v1, collecting what it gets. */
class ChannelClient
{
public:
    explicit ChannelClient(quint16 port, const QByteArray &query = {})
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &text) {
                             received.append(QJsonDocument::fromJson(text.toUtf8()).object());
                         });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket, [this] {
            closed = true;
            closeCode = int(socket.closeCode());
        });
        QWebSocketHandshakeOptions options;
        options.setSubprotocols({QStringLiteral("switchboard.v1")});
        socket.open(QUrl(QStringLiteral("ws://127.0.0.1:%1/ws/channels%2")
                                 .arg(port)
                                 .arg(QString::fromLatin1(query))),
                    options);
    }

    bool waitHello()
    {
        return waitFor([this] { return !received.isEmpty() || closed; })
                && received.value(0).value(u"type").toString() == u"hello";
    }
    void send(const QJsonObject &request)
    {
        socket.sendTextMessage(
                QString::fromUtf8(QJsonDocument(request).toJson(QJsonDocument::Compact)));
    }
    /*! The answer to \a ref (a reply or an error), once it arrives. */
    QJsonObject answer(int ref)
    {
        QJsonObject found;
        waitFor([&] {
            for (const QJsonObject &message : std::as_const(received)) {
                if (message.value(u"ref") == QJsonValue(ref)) {
                    found = message;
                    return true;
                }
            }
            return closed;
        });
        return found;
    }
    QJsonObject request(int ref, QJsonObject request)
    {
        request.insert(QStringLiteral("ref"), ref);
        send(request);
        return answer(ref);
    }
    QList<QJsonObject> ofType(QStringView type) const
    {
        QList<QJsonObject> list;
        for (const QJsonObject &message : received) {
            if (message.value(u"type").toString() == type)
                list.append(message);
        }
        return list;
    }

    QWebSocket socket;
    QList<QJsonObject> received;
    bool closed = false;
    int closeCode = -1;
};

QJsonObject join(const QString &topic)
{
    return {{QStringLiteral("type"), QStringLiteral("join")}, {QStringLiteral("topic"), topic}};
}

QJsonObject publish(const QString &topic, const QJsonValue &data)
{
    return {{QStringLiteral("type"), QStringLiteral("publish")},
            {QStringLiteral("topic"), topic},
            {QStringLiteral("data"), data}};
}

// The README's example policy, as it is there.
// room:* is open; private:NAME only for the user NAME; user names come from
// ?user= here, in a real app from a token your login service signed.
class RoomsPolicy final : public Switchboard::ChannelPolicy
{
public:
    ChannelDecision mayJoin(const UpgradeRequest &request, const QString &topic,
                            const QJsonObject &) const override
    {
        if (topic.startsWith(u"room:"))
            return ChannelDecision::allow();
        if (topic == u"private:" + user(request))
            return ChannelDecision::allow();
        return ChannelDecision::deny(QStringLiteral("not your topic"));
    }
    ChannelDecision mayPublish(const UpgradeRequest &request, const QString &topic) const override
    {
        return mayJoin(request, topic, {});
    }
    // Presence shows who the credentials name, whatever the client claims.
    QString member(const UpgradeRequest &request, const QString &) const override
    {
        return user(request);
    }

private:
    static QString user(const UpgradeRequest &request)
    {
        return request.query.queryItemValue(QStringLiteral("user"));
    }
};

/*! news:* can be read by all and published to by none (but the admin API). */
class ReadOnlyNews final : public ChannelPolicy
{
public:
    ChannelDecision mayPublish(const UpgradeRequest &, const QString &topic) const override
    {
        return topic.startsWith(u"news:") ? ChannelDecision::deny(QStringLiteral("read-only"))
                                          : ChannelDecision::allow();
    }
};

struct ChannelServer
{
    explicit ChannelServer(ChannelSettings channels = {},
                           std::shared_ptr<const ChannelPolicy> policy = {})
        : hub(quietSettings()), server(&hub)
    {
        config.adminToken = kToken;
        config.channels = channels;
        topics = installDefaults(server, config, nullptr, std::move(policy)).topics;
        listening = server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return server.serverPort(); }

    ServerConfig config;
    Hub hub;
    Server server;
    TopicRegistry *topics = nullptr;
    bool listening = false;
};

} // namespace

class tst_ChannelHandler : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { quietLogs(); }

    void refusesClientsWithoutTheSubprotocol()
    {
        ChannelServer s;
        QVERIFY(s.listening);
        const HttpResponse response
                = rawRequest(s.port(), upgradeRequest("/ws/channels", s.port()));
        QCOMPARE(response.status, 400);
        QVERIFY(response.body.contains("switchboard.v1"));
        QCOMPARE(s.hub.count(), 0);
    }

    void joinPublishLeave()
    {
        ChannelServer s;
        ChannelClient a(s.port()), b(s.port());
        QVERIFY(a.waitHello());
        QVERIFY(b.waitHello());
        QCOMPARE(a.socket.subprotocol(), QStringLiteral("switchboard.v1"));
        QCOMPARE(a.request(1, join(QStringLiteral("room:1"))).value(u"status").toString(),
                 QStringLiteral("ok"));
        QCOMPARE(b.request(1, join(QStringLiteral("room:1"))).value(u"offset").toInt(), 0);
        const QJsonObject published = b.request(2, publish(QStringLiteral("room:1"), 42));
        QCOMPARE(published.value(u"offset").toInt(), 1);
        // Both subscribers, the publisher included, get the message once.
        QTRY_COMPARE(a.ofType(u"message").size(), 1);
        QTRY_COMPARE(b.ofType(u"message").size(), 1);
        QCOMPARE(a.ofType(u"message").first().value(u"data").toInt(), 42);
        QCOMPARE(s.topics->subscribers(QStringLiteral("room:1")), QList<quint64>({1, 2}));

        QCOMPARE(a.request(3,
                           {{QStringLiteral("type"), QStringLiteral("leave")},
                            {QStringLiteral("topic"), QStringLiteral("room:1")}})
                         .value(u"status")
                         .toString(),
                 QStringLiteral("ok"));
        b.request(4, publish(QStringLiteral("room:1"), 43));
        QTRY_COMPARE(b.ofType(u"message").size(), 2);
        QCOMPARE(a.ofType(u"message").size(), 1); // left: no more
        // A closed connection leaves its topics.
        b.socket.close();
        QTRY_VERIFY(s.topics->subscribers(QStringLiteral("room:1")).isEmpty());
    }

    void requestErrors_data()
    {
        QTest::addColumn<QJsonObject>("request");
        QTest::addColumn<QString>("code");
        QTest::newRow("publish before join") << publish(QStringLiteral("t"), 1) << "not_joined";
        QTest::newRow("leave before join")
                << QJsonObject{{QStringLiteral("type"), QStringLiteral("leave")},
                               {QStringLiteral("topic"), QStringLiteral("t")}}
                << "not_joined";
        QTest::newRow("join twice") << join(QStringLiteral("joined")) << "already_joined";
        QTest::newRow("bad topic") << join(QStringLiteral("a b")) << "invalid_topic";
        QTest::newRow("unknown type")
                << QJsonObject{{QStringLiteral("type"), QStringLiteral("shout")},
                               {QStringLiteral("topic"), QStringLiteral("t")}}
                << "unknown_type";
    }

    void requestErrors()
    {
        QFETCH(QJsonObject, request);
        QFETCH(QString, code);
        ChannelServer s;
        ChannelClient client(s.port());
        QVERIFY(client.waitHello());
        client.request(1, join(QStringLiteral("joined")));
        const QJsonObject answer = client.request(2, request);
        QCOMPARE(answer.value(u"type").toString(), QStringLiteral("error"));
        QCOMPARE(answer.value(u"code").toString(), code);
        // An error is an answer, not a disconnect.
        QVERIFY(!client.closed);
        QCOMPARE(client.request(3, publish(QStringLiteral("joined"), 1)).value(u"status"),
                 QJsonValue(QStringLiteral("ok")));
    }

    void binaryIsAnError()
    {
        ChannelServer s;
        ChannelClient client(s.port());
        QVERIFY(client.waitHello());
        client.socket.sendBinaryMessage("\x01\x02");
        QTRY_COMPARE(client.ofType(u"error").size(), 1);
        QCOMPARE(client.ofType(u"error").first().value(u"code").toString(),
                 QStringLiteral("bad_request"));
    }

    void policyDecides()
    {
        ChannelServer s({}, std::make_shared<RoomsPolicy>());
        ChannelClient ann(s.port(), "?user=ann"), bob(s.port(), "?user=bob");
        QVERIFY(ann.waitHello());
        QVERIFY(bob.waitHello());
        const QJsonObject denied = bob.request(1, join(QStringLiteral("private:ann")));
        QCOMPARE(denied.value(u"code").toString(), QStringLiteral("forbidden"));
        QCOMPARE(denied.value(u"message").toString(), QStringLiteral("not your topic"));
        QCOMPARE(s.topics->subscribers(QStringLiteral("private:ann")), QList<quint64>());
        QCOMPARE(ann.request(1, join(QStringLiteral("private:ann"))).value(u"status"),
                 QJsonValue(QStringLiteral("ok")));
        // Not joined comes first: a publish does not reveal what the policy would say.
        QCOMPARE(bob.request(2, publish(QStringLiteral("private:ann"), 1)).value(u"code"),
                 QJsonValue(QStringLiteral("not_joined")));
        // The member is the one the credentials name, not the one the client claims.
        QJsonObject claim = join(QStringLiteral("room:1"));
        claim.insert(QStringLiteral("member"), QStringLiteral("ann"));
        const QJsonObject joined = bob.request(3, claim);
        QVERIFY2(joined.value(u"presence").toObject().contains(u"bob"),
                 QJsonDocument(joined).toJson().constData());
        QVERIFY(!joined.value(u"presence").toObject().contains(u"ann"));
    }

    void policyDecidesPublishes()
    {
        ChannelServer s({}, std::make_shared<ReadOnlyNews>());
        ChannelClient client(s.port());
        QVERIFY(client.waitHello());
        QCOMPARE(client.request(1, join(QStringLiteral("news:today"))).value(u"status"),
                 QJsonValue(QStringLiteral("ok")));
        const QJsonObject refused = client.request(2, publish(QStringLiteral("news:today"), 1));
        QCOMPARE(refused.value(u"code"), QJsonValue(QStringLiteral("forbidden")));
        QCOMPARE(refused.value(u"message"), QJsonValue(QStringLiteral("read-only")));
        QCOMPARE(s.topics->topic(QStringLiteral("news:today"))->offset, 0);
    }

    void topicLimit()
    {
        ChannelSettings settings;
        settings.maxTopicsPerConnection = 2;
        ChannelServer s(settings);
        ChannelClient client(s.port());
        QVERIFY(client.waitHello());
        client.request(1, join(QStringLiteral("a")));
        client.request(2, join(QStringLiteral("b")));
        QCOMPARE(client.request(3, join(QStringLiteral("c"))).value(u"code"),
                 QJsonValue(QStringLiteral("too_many_topics")));
        client.request(4,
                       {{QStringLiteral("type"), QStringLiteral("leave")},
                        {QStringLiteral("topic"), QStringLiteral("a")}});
        QCOMPARE(client.request(5, join(QStringLiteral("c"))).value(u"status"),
                 QJsonValue(QStringLiteral("ok")));
    }

    void publishRateLimitThenAbuseCloses()
    {
        ChannelSettings settings;
        settings.publishRate = 2;
        ChannelServer s(settings);
        ChannelClient client(s.port());
        QVERIFY(client.waitHello());
        client.request(1, join(QStringLiteral("t")));
        // A burst of 2 goes through; the next gets an error, and the connection stays.
        for (int ref = 10; ref < 13; ++ref) {
            QJsonObject request = publish(QStringLiteral("t"), ref);
            request.insert(QStringLiteral("ref"), ref);
            client.send(request);
        }
        QCOMPARE(client.answer(10).value(u"status"), QJsonValue(QStringLiteral("ok")));
        QCOMPARE(client.answer(11).value(u"status"), QJsonValue(QStringLiteral("ok")));
        QCOMPARE(client.answer(12).value(u"code"), QJsonValue(QStringLiteral("rate_limited")));
        QVERIFY(!client.closed);
        // Far past the rate (over 100 refusals within a second): closed with 1008.
        for (int i = 0; i < 150; ++i)
            client.send(publish(QStringLiteral("t"), i));
        QTRY_VERIFY(client.closed);
        QCOMPARE(client.closeCode, 1008);
    }
};

QTEST_GUILESS_MAIN(tst_ChannelHandler)
#include "tst_channelhandler.moc"
