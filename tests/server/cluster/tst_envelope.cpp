// EnvelopeCodec: what a node seals, another with the same secret opens once;
// everything else is refused with the reason the drop counters report.

#include "cluster/envelope.h"

#include <QtCore/QJsonDocument>
#include <QtTest/QTest>

using namespace Switchboard;
using Drop = EnvelopeCodec::Drop;

namespace {

const QByteArray kSecret = "correct horse battery staple";
const QByteArray kChannel = "switchboard:cluster:0";
constexpr qint64 kNow = 1'800'000'000'000; // ms since the epoch

/*! The drop \a opened reports, or -1 if it was accepted. */
int dropOf(const EnvelopeCodec::Opened &opened)
{
    return opened.envelope ? -1 : int(opened.drop);
}

/*! \a wire with its JSON part changed by \a edit, the MAC left as it was. */
QByteArray withJson(const QByteArray &wire, const std::function<void(QJsonObject &)> &edit)
{
    const qsizetype dot = wire.indexOf('.');
    QJsonObject object = QJsonDocument::fromJson(wire.mid(dot + 1)).object();
    edit(object);
    return wire.left(dot + 1) + QJsonDocument(object).toJson(QJsonDocument::Compact);
}

} // namespace

class tst_Envelope : public QObject
{
    Q_OBJECT

private slots:
    void sealedEnvelopeOpensOnceWithEveryField()
    {
        EnvelopeCodec alpha(kSecret, kChannel, QStringLiteral("alpha"), 0x1234);
        EnvelopeCodec beta(kSecret, kChannel, QStringLiteral("beta"), 0x5678);
        const QJsonObject payload{{QStringLiteral("text"), QStringLiteral("hi")}};
        const QByteArray wire
                = alpha.seal(QStringLiteral("send"), QStringLiteral("beta:7"), payload, kNow);

        const auto opened = beta.open(wire, kNow + 5);
        QVERIFY(opened.envelope);
        QCOMPARE(opened.envelope->type, QStringLiteral("send"));
        QCOMPARE(opened.envelope->origin, QStringLiteral("alpha"));
        QCOMPARE(opened.envelope->target, QStringLiteral("beta:7"));
        QCOMPARE(opened.envelope->payload, payload);
        QCOMPARE(opened.envelope->boot, quint64(0x1234));
        QCOMPARE(opened.envelope->seq, quint64(1));
        QCOMPARE(opened.envelope->timeMs, kNow);

        // The same bytes again: a replay.
        QCOMPARE(dropOf(beta.open(wire, kNow + 10)), int(Drop::Replayed));
        // The next one from alpha is fine, and then the older one is a replay too.
        const QByteArray second = alpha.seal(QStringLiteral("heartbeat"), {}, {}, kNow + 20);
        const QByteArray third = alpha.seal(QStringLiteral("heartbeat"), {}, {}, kNow + 30);
        QCOMPARE(dropOf(beta.open(third, kNow + 30)), -1);
        QCOMPARE(dropOf(beta.open(second, kNow + 30)), int(Drop::Replayed));
    }

    void refusesWhatItCannotTrust_data()
    {
        QTest::addColumn<QByteArray>("wire");
        QTest::addColumn<int>("drop");

        EnvelopeCodec alpha(kSecret, kChannel, QStringLiteral("alpha"), 0x1234);
        const QJsonObject payload{{QStringLiteral("code"), 4000}};
        const QByteArray good
                = alpha.seal(QStringLiteral("close"), QStringLiteral("beta:1"), payload, kNow);

        EnvelopeCodec otherSecret("another secret", kChannel, QStringLiteral("alpha"), 0x1234);
        QTest::newRow("another secret") << otherSecret.seal(QStringLiteral("close"),
                                                            QStringLiteral("beta:1"), payload, kNow)
                                        << int(Drop::Forged);
        EnvelopeCodec otherChannel(kSecret, "switchboard:cluster:1", QStringLiteral("alpha"),
                                   0x1234);
        QTest::newRow("another cluster's channel") << otherChannel.seal(
                QStringLiteral("close"), QStringLiteral("beta:1"), payload, kNow)
                                                   << int(Drop::Forged);
        QTest::newRow("target altered") << withJson(good, [](QJsonObject &o) {
            o[QStringLiteral("target")] = QStringLiteral("beta:2");
        }) << int(Drop::Forged);
        QTest::newRow("origin altered") << withJson(good, [](QJsonObject &o) {
            o[QStringLiteral("origin")] = QStringLiteral("gamma");
        }) << int(Drop::Forged);
        QTest::newRow("sequence altered")
                << withJson(good, [](QJsonObject &o) { o[QStringLiteral("seq")] = 99; })
                << int(Drop::Forged);
        QByteArray flipped = good;
        flipped[3] = flipped[3] == 'A' ? 'B' : 'A';
        QTest::newRow("MAC altered") << flipped << int(Drop::Forged);

        EnvelopeCodec insecure({}, kChannel, QStringLiteral("alpha"), 0x1234);
        QTest::newRow("no MAC (an insecure node)")
                << insecure.seal(QStringLiteral("close"), QStringLiteral("beta:1"), payload, kNow)
                << int(Drop::Unauthenticated);
        QTest::newRow("protocol 1 (bare JSON)")
                << QByteArray(R"({"v":1,"type":"close","origin":"x","target":"beta:1"})")
                << int(Drop::Version);
        QTest::newRow("no dot") << QByteArray("garbage") << int(Drop::Malformed);
        QTest::newRow("empty") << QByteArray() << int(Drop::Malformed);
        QTest::newRow("oversize") << QByteArray(EnvelopeCodec::DefaultMaxSize + 1, 'x')
                                  << int(Drop::Oversize);

        EnvelopeCodec early(kSecret, kChannel, QStringLiteral("alpha"), 0x99);
        QTest::newRow("sealed 61 s ago")
                << early.seal(QStringLiteral("heartbeat"), {}, {}, kNow - 61'000)
                << int(Drop::Stale);
        QTest::newRow("sealed 61 s ahead")
                << early.seal(QStringLiteral("heartbeat"), {}, {}, kNow + 61'000)
                << int(Drop::Stale);
    }

    void refusesWhatItCannotTrust()
    {
        QFETCH(QByteArray, wire);
        QFETCH(int, drop);
        EnvelopeCodec beta(kSecret, kChannel, QStringLiteral("beta"), 0x5678);
        QCOMPARE(dropOf(beta.open(wire, kNow)), drop);
    }

    void validMacOverBadFieldsIsMalformed_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::newRow("not JSON") << QByteArray("{");
        QTest::newRow("array") << QByteArray("[]");
        QTest::newRow("no type") << QByteArray(
                R"({"v":2,"origin":"a","boot":"1","seq":1,"ts":0,"target":"","payload":{}})");
        QTest::newRow("payload not an object") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"1","seq":1,"ts":0,"target":"","payload":1})");
        QTest::newRow("boot not hex") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"zz","seq":1,"ts":0,"target":"","payload":{}})");
        QTest::newRow("boot zero") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"0","seq":1,"ts":0,"target":"","payload":{}})");
        QTest::newRow("seq zero") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"1","seq":0,"ts":0,"target":"","payload":{}})");
        QTest::newRow("seq fractional") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"1","seq":1.5,"ts":0,"target":"","payload":{}})");
        QTest::newRow("seq a string") << QByteArray(
                R"({"v":2,"type":"x","origin":"a","boot":"1","seq":"1","ts":0,"target":"","payload":{}})");
        QTest::newRow("empty origin") << QByteArray(
                R"({"v":2,"type":"x","origin":"","boot":"1","seq":1,"ts":0,"target":"","payload":{}})");
    }

    void validMacOverBadFieldsIsMalformed()
    {
        // Insecure codecs on both ends: what a node with the secret (or anyone,
        // without one) could still get wrong past the MAC.
        QFETCH(QByteArray, json);
        EnvelopeCodec beta({}, kChannel, QStringLiteral("beta"), 0x5678);
        QCOMPARE(dropOf(beta.open(QByteArray("-." + json), 0)), int(Drop::Malformed));
    }

    void newBootStartsItsOwnSequence()
    {
        EnvelopeCodec beta(kSecret, kChannel, QStringLiteral("beta"), 0x5678);
        EnvelopeCodec first(kSecret, kChannel, QStringLiteral("alpha"), 1);
        for (int i = 0; i < 3; ++i)
            QCOMPARE(dropOf(beta.open(first.seal(QStringLiteral("heartbeat"), {}, {}, kNow), kNow)),
                     -1);
        // alpha restarts: a new boot, its counter from 1 again.
        EnvelopeCodec restarted(kSecret, kChannel, QStringLiteral("alpha"), 2);
        QCOMPARE(dropOf(beta.open(restarted.seal(QStringLiteral("heartbeat"), {}, {}, kNow), kNow)),
                 -1);
    }

    void oldBootsAreForgottenOnlyOnceStaleCoversThem()
    {
        EnvelopeCodec beta(kSecret, kChannel, QStringLiteral("beta"), 0x5678);
        EnvelopeCodec alpha(kSecret, kChannel, QStringLiteral("alpha"), 1);
        const QByteArray wire = alpha.seal(QStringLiteral("heartbeat"), {}, {}, kNow);
        QCOMPARE(dropOf(beta.open(wire, kNow)), -1);
        // Long after: the boot is forgotten, and the capture is refused as stale.
        EnvelopeCodec other(kSecret, kChannel, QStringLiteral("gamma"), 3);
        const qint64 later = kNow + 5 * 60'000;
        QCOMPARE(dropOf(beta.open(other.seal(QStringLiteral("heartbeat"), {}, {}, later), later)),
                 -1);
        QCOMPARE(dropOf(beta.open(wire, later)), int(Drop::Stale));
    }

    void sendersAndBootsAreBounded()
    {
        // Without a secret anyone can invent senders: the state stays bounded
        // and the newest sender is still protected against replays.
        EnvelopeCodec beta({}, kChannel, QStringLiteral("beta"), 0x5678);
        QByteArray last;
        for (int i = 0; i < 3000; ++i) {
            EnvelopeCodec sender({}, kChannel, QStringLiteral("n%1").arg(i), quint64(i + 1));
            last = sender.seal(QStringLiteral("heartbeat"), {}, {}, kNow);
            QCOMPARE(dropOf(beta.open(last, kNow + i)), -1);
        }
        QCOMPARE(dropOf(beta.open(last, kNow + 3000)), int(Drop::Replayed));
        for (int i = 0; i < 100; ++i) {
            EnvelopeCodec boot({}, kChannel, QStringLiteral("same"), quint64(i + 1));
            last = boot.seal(QStringLiteral("heartbeat"), {}, {}, kNow);
            QCOMPARE(dropOf(beta.open(last, kNow + 4000 + i)), -1);
        }
        QCOMPARE(dropOf(beta.open(last, kNow + 5000)), int(Drop::Replayed));
    }

    void insecureCodecRefusesSealedEnvelopes()
    {
        EnvelopeCodec alpha(kSecret, kChannel, QStringLiteral("alpha"), 1);
        EnvelopeCodec insecure({}, kChannel, QStringLiteral("beta"), 2);
        QCOMPARE(dropOf(insecure.open(alpha.seal(QStringLiteral("heartbeat"), {}, {}, kNow), kNow)),
                 int(Drop::Unauthenticated));
    }
};

QTEST_GUILESS_MAIN(tst_Envelope)
#include "tst_envelope.moc"
