#include "channels/protocol.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace Switchboard::Channels;

namespace {
QJsonObject parsed(const QByteArray &json)
{
    return QJsonDocument::fromJson(json).object();
}
} // namespace

class tst_Protocol : public QObject
{
    Q_OBJECT

private slots:
    void topicNames_data()
    {
        QTest::addColumn<QString>("topic");
        QTest::addColumn<bool>("valid");
        QTest::newRow("room") << QStringLiteral("room:lobby") << true;
        QTest::newRow("all allowed") << QStringLiteral("a-Z_0.9:x@y") << true;
        QTest::newRow("longest") << QString(kMaxTopicLength, u'a') << true;
        QTest::newRow("too long") << QString(kMaxTopicLength + 1, u'a') << false;
        QTest::newRow("empty") << QString() << false;
        QTest::newRow("space") << QStringLiteral("room lobby") << false;
        QTest::newRow("slash") << QStringLiteral("a/b") << false;
        QTest::newRow("wildcard") << QStringLiteral("room:*") << false;
        QTest::newRow("non-ASCII") << QStringLiteral("caf\u00e9") << false;
    }

    void topicNames()
    {
        QFETCH(QString, topic);
        QFETCH(bool, valid);
        QCOMPARE(isValidTopic(topic), valid);
    }

    void decodesJoin()
    {
        const QByteArray text = R"({"type":"join","ref":"r1","topic":"room:a",)"
                                R"("member":"ann","meta":{"name":"Ann"},"params":{"k":1},)"
                                R"("since":41,"epoch":"e"})";
        const auto decoded = decodeRequest(text);
        const Request *r = std::get_if<Request>(&decoded);
        QVERIFY(r);
        QCOMPARE(r->type, Request::Type::Join);
        QCOMPARE(r->ref, QJsonValue(QStringLiteral("r1")));
        QCOMPARE(r->topic, QStringLiteral("room:a"));
        QCOMPARE(r->member, QStringLiteral("ann"));
        QCOMPARE(r->meta.value(u"name").toString(), QStringLiteral("Ann"));
        QCOMPARE(r->params.value(u"k").toInt(), 1);
        QCOMPARE(r->since, std::optional<qint64>(41));
        QCOMPARE(r->epoch, QStringLiteral("e"));
    }

    void decodesLeaveAndPublish()
    {
        const auto leave = decodeRequest(R"({"type":"leave","topic":"t"})");
        QVERIFY(std::holds_alternative<Request>(leave));
        QCOMPARE(std::get<Request>(leave).type, Request::Type::Leave);
        QVERIFY(std::get<Request>(leave).ref.isUndefined());
        const auto publish = decodeRequest(R"({"type":"publish","ref":7,"topic":"t","data":[1]})");
        const Request &r = std::get<Request>(publish);
        QCOMPARE(r.type, Request::Type::Publish);
        QCOMPARE(r.ref, QJsonValue(7));
        QCOMPARE(r.data, QJsonValue(QJsonArray{1}));
        // A publish of JSON null is data too.
        QVERIFY(std::holds_alternative<Request>(
                decodeRequest(R"({"type":"publish","topic":"t","data":null})")));
    }

    void errors_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("code");
        QTest::addColumn<QJsonValue>("ref");
        const QJsonValue none(QJsonValue::Undefined);
        QTest::newRow("not JSON") << QByteArray("hello") << "bad_request" << none;
        QTest::newRow("array") << QByteArray("[1]") << "bad_request" << none;
        QTest::newRow("bad ref") << QByteArray(R"({"ref":{},"type":"join","topic":"t"})")
                                 << "bad_request" << none;
        QTest::newRow("long ref") << ("{\"type\":\"join\",\"topic\":\"t\",\"ref\":\""
                                      + QByteArray(kMaxRefLength + 1, 'r') + "\"}")
                                  << "bad_request" << none;
        QTest::newRow("no type") << QByteArray(R"({"ref":1,"topic":"t"})") << "bad_request"
                                 << QJsonValue(1);
        QTest::newRow("unknown type") << QByteArray(R"({"ref":1,"type":"shout","topic":"t"})")
                                      << "unknown_type" << QJsonValue(1);
        QTest::newRow("no topic") << QByteArray(R"({"ref":"a","type":"join"})") << "bad_request"
                                  << QJsonValue(QStringLiteral("a"));
        QTest::newRow("bad topic") << QByteArray(R"({"ref":1,"type":"join","topic":"a b"})")
                                   << "invalid_topic" << QJsonValue(1);
        QTest::newRow("meta not object")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","meta":3})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("meta too large")
                << ("{\"ref\":1,\"type\":\"join\",\"topic\":\"t\",\"meta\":{\"x\":\""
                    + QByteArray(kMaxMetaBytes, 'x') + "\"}}")
                << "too_large" << QJsonValue(1);
        QTest::newRow("params not object")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","params":[]})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("empty member")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","member":""})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("negative since")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","since":-1})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("fractional since")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","since":1.5})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("since as text")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","since":"4"})") << "bad_request"
                << QJsonValue(1);
        QTest::newRow("epoch not text")
                << QByteArray(R"({"ref":1,"type":"join","topic":"t","since":4,"epoch":4})")
                << "bad_request" << QJsonValue(1);
        QTest::newRow("publish without data")
                << QByteArray(R"({"ref":1,"type":"publish","topic":"t"})") << "bad_request"
                << QJsonValue(1);
    }

    void errors()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, code);
        QFETCH(QJsonValue, ref);
        const auto decoded = decodeRequest(text);
        const DecodeError *error = std::get_if<DecodeError>(&decoded);
        QVERIFY(error);
        QCOMPARE(QString(error->code), code);
        QCOMPARE(error->ref, ref);
        QVERIFY(!error->message.isEmpty());
        // And the error message the client gets carries all of it.
        const QJsonObject sent = parsed(encodeError(error->ref, error->code, error->message));
        QCOMPARE(sent.value(u"type").toString(), QStringLiteral("error"));
        QCOMPARE(sent.value(u"code").toString(), code);
        QCOMPARE(sent.value(u"ref"), ref);
    }

    void encodesServerMessages()
    {
        const QJsonObject reply = parsed(
                encodeReply(QJsonValue(5), QStringLiteral("t"), {{QStringLiteral("offset"), 3}}));
        QCOMPARE(reply.value(u"type").toString(), QStringLiteral("reply"));
        QCOMPARE(reply.value(u"status").toString(), QStringLiteral("ok"));
        QCOMPARE(reply.value(u"ref").toInt(), 5);
        QCOMPARE(reply.value(u"topic").toString(), QStringLiteral("t"));
        QCOMPARE(reply.value(u"offset").toInt(), 3);
        QVERIFY(!parsed(encodeReply(QJsonValue::Undefined, QStringLiteral("t"))).contains(u"ref"));

        const QJsonObject message = parsed(encodeMessage(QStringLiteral("t"), 9, 1000,
                                                         QJsonObject{{QStringLiteral("a"), true}}));
        QCOMPARE(message.value(u"type").toString(), QStringLiteral("message"));
        QCOMPARE(message.value(u"offset").toInt(), 9);
        QCOMPARE(message.value(u"ts").toInt(), 1000);
        QCOMPARE(message.value(u"data").toObject().value(u"a").toBool(), true);

        const QJsonObject diff = parsed(encodePresenceDiff(
                QStringLiteral("t"), {{QStringLiteral("ann"), QJsonObject()}}, {}));
        QCOMPARE(diff.value(u"type").toString(), QStringLiteral("presence_diff"));
        QVERIFY(diff.value(u"joins").toObject().contains(u"ann"));
        QVERIFY(diff.value(u"leaves").toObject().isEmpty());

        const QJsonObject hello = parsed(encodeHello(12, QStringLiteral("n1")));
        QCOMPARE(hello.value(u"session").toInt(), 12);
        QCOMPARE(hello.value(u"node").toString(), QStringLiteral("n1"));
        QCOMPARE(hello.value(u"protocol").toString(), QStringLiteral("switchboard.v1"));
    }
};

QTEST_GUILESS_MAIN(tst_Protocol)
#include "tst_protocol.moc"
