#include "websocket/deflate.h"

#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include "deflateutil.h"

#include <zlib.h>

#include <limits>
#include <memory>
#include <optional>
#include <tuple>

using namespace Switchboard;
using TestUtil::ClientCompressor;
using TestUtil::zlibInflate;
using TestUtil::ZlibInflated;

namespace Switchboard {
// Found by QTest through ADL, so a failed QCOMPARE names the statuses.
char *toString(Inflater::Status status)
{
    const char *const names[] = {"Ok", "TooBig", "Corrupt"};
    return qstrdup(names[int(status)]);
}
} // namespace Switchboard

namespace {

using Status = Inflater::Status;

constexpr qint64 NoLimit = std::numeric_limits<qint64>::max();
QByteArray randomBytes(qsizetype size, quint32 seed)
{
    QRandomGenerator generator(seed);
    QByteArray bytes(size, Qt::Uninitialized);
    for (char &byte : bytes)
        byte = char(generator.bounded(256));
    return bytes;
}

QByteArray repetitive(qsizetype size)
{
    const QByteArray line("{\"channel\":\"lobby\",\"event\":\"tick\",\"value\":42}\n");
    QByteArray bytes;
    while (bytes.size() < size)
        bytes += line;
    bytes.truncate(size);
    return bytes;
}

// One chat message of a series; consecutive ones share most of their text.
QByteArray chatMessage(int i)
{
    static const char *const names[] = {"alice", "bob", "carol", "dave", "erin"};
    return "{\"type\":\"message\",\"channel\":\"room:general\",\"id\":"
            + QByteArray::number(1000 + i) + ",\"user\":{\"name\":\"" + names[i % 5]
            + "\",\"roles\":[\"member\",\"poster\"]},\"text\":\"status update number "
            + QByteArray::number(i * 37 % 101)
            + "\",\"ts\":" + QByteArray::number(1700000000 + 7 * i) + "}";
}

enum class Feeding { Whole, Bytes, Chunks };
const std::pair<const char *, Feeding> Feedings[] = {
        {"whole", Feeding::Whole}, {"byte by byte", Feeding::Bytes}, {"chunks", Feeding::Chunks}};

struct Inflated
{
    Status fed = Status::Ok; // what the last feed() said
    Status finished = Status::Ok; // what finish() said
    QByteArray data;
    qint64 consumed = 0; // messageConsumed() before finish()
    qsizetype fedBytes = 0; // handed to feed()
};

// Feeds one message's payload as \a feeding cuts it (random pieces, empty
// ones included, for Chunks), stopping at the first failure, then finishes it.
Inflated inflateMessage(Inflater &inflater, QByteArrayView payload, Feeding feeding,
                        qint64 limit = NoLimit, quint32 seed = 1)
{
    Inflated result;
    QRandomGenerator generator(seed);
    for (qsizetype pos = 0; pos < payload.size() && result.fed == Status::Ok;) {
        qsizetype n = payload.size();
        if (feeding == Feeding::Bytes)
            n = 1;
        else if (feeding == Feeding::Chunks)
            n = generator.bounded(0, 3000);
        n = qMin(n, payload.size() - pos);
        result.fed = inflater.feed(payload.sliced(pos, n), result.data, limit);
        result.fedBytes += n;
        pos += n;
    }
    result.consumed = inflater.messageConsumed();
    result.finished = inflater.finish(result.data, limit);
    return result;
}

} // namespace

class tst_Deflate : public QObject
{
    Q_OBJECT

private slots:
    // ---- negotiation ----

    void negotiate_data()
    {
        QTest::addColumn<QList<QByteArray>>("fields");
        QTest::addColumn<bool>("clientContextTakeover");
        QTest::addColumn<int>("clientMaxWindowBits");
        QTest::addColumn<QByteArray>("expected"); // empty: declined
        QTest::addColumn<int>("serverBits"); // the windows the agreement implies
        QTest::addColumn<int>("clientBits");

        const QByteArray base("permessage-deflate; server_no_context_takeover; "
                              "client_no_context_takeover");
        const QByteArray declined;
        auto row = [](const char *name, QList<QByteArray> fields, const QByteArray &expected,
                      int serverBits = 15, int clientBits = 15, bool takeover = false,
                      int settingsBits = 15) {
            QTest::newRow(name) << fields << takeover << settingsBits << expected << serverBits
                                << clientBits;
        };

        row("Firefox: plain offer", {"permessage-deflate"}, base);
        row("Chrome", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("Python websockets 10 default", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("server_no_context_takeover", {"permessage-deflate; server_no_context_takeover"}, base);
        row("client_no_context_takeover", {"permessage-deflate; client_no_context_takeover"}, base);
        row("all four",
            {"permessage-deflate; client_no_context_takeover; server_max_window_bits=12; "
             "server_no_context_takeover; client_max_window_bits=11"},
            base + "; server_max_window_bits=12; client_max_window_bits=11", 12, 11);

        // Our policy on the client's context.
        row("takeover allowed: plain offer", {"permessage-deflate"},
            "permessage-deflate; server_no_context_takeover", 15, 15, true);
        row("takeover allowed: client_no_context_takeover offered",
            {"permessage-deflate; client_no_context_takeover"}, base, 15, 15, true);
        row("takeover allowed: Chrome", {"permessage-deflate; client_max_window_bits"},
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=15", 15, 15,
            true);

        // server_max_window_bits binds our compressor; 8 is more than zlib can honour.
        row("server_max_window_bits=15", {"permessage-deflate; server_max_window_bits=15"},
            base + "; server_max_window_bits=15");
        row("server_max_window_bits=10", {"permessage-deflate; server_max_window_bits=10"},
            base + "; server_max_window_bits=10", 10);
        row("server_max_window_bits=9", {"permessage-deflate; server_max_window_bits=9"},
            base + "; server_max_window_bits=9", 9);
        row("server_max_window_bits=8", {"permessage-deflate; server_max_window_bits=8"}, declined);
        row("server_max_window_bits=16", {"permessage-deflate; server_max_window_bits=16"},
            declined);
        row("server_max_window_bits=7", {"permessage-deflate; server_max_window_bits=7"}, declined);
        row("server_max_window_bits without value", {"permessage-deflate; server_max_window_bits"},
            declined);
        row("server_max_window_bits=010", {"permessage-deflate; server_max_window_bits=010"},
            declined);
        row("server_max_window_bits=1a", {"permessage-deflate; server_max_window_bits=1a"},
            declined);

        // client_max_window_bits: answered only when offered, never above the offer.
        row("client_max_window_bits=10", {"permessage-deflate; client_max_window_bits=10"},
            base + "; client_max_window_bits=10", 15, 10);
        row("client_max_window_bits=8", {"permessage-deflate; client_max_window_bits=8"},
            base + "; client_max_window_bits=8", 15, 8);
        row("client_max_window_bits=15, policy 12",
            {"permessage-deflate; client_max_window_bits=15"}, base + "; client_max_window_bits=12",
            15, 12, false, 12);
        row("client_max_window_bits, policy 10", {"permessage-deflate; client_max_window_bits"},
            base + "; client_max_window_bits=10", 15, 10, false, 10);
        row("client_max_window_bits=9, policy 10", {"permessage-deflate; client_max_window_bits=9"},
            base + "; client_max_window_bits=9", 15, 9, false, 10);
        row("policy 10, not offered", {"permessage-deflate"}, base, 15, 15, false, 10);
        row("client_max_window_bits=16", {"permessage-deflate; client_max_window_bits=16"},
            declined);
        row("client_max_window_bits=7", {"permessage-deflate; client_max_window_bits=7"}, declined);
        row("client_max_window_bits=", {"permessage-deflate; client_max_window_bits="}, declined);

        // Quoted-string values (RFC 6455 §9.1: must unescape to a token).
        row("quoted value", {"permessage-deflate; client_max_window_bits=\"10\""},
            base + "; client_max_window_bits=10", 15, 10);
        row("quoted value with escape", {"permessage-deflate; server_max_window_bits=\"1\\1\""},
            base + "; server_max_window_bits=11", 11);
        row("quoted value, not a token", {"permessage-deflate; client_max_window_bits=\"1 0\""},
            declined);
        row("quoted value, unterminated", {"permessage-deflate; client_max_window_bits=\"10"},
            declined);

        // RFC 7692 §7: offers the server must decline.
        row("value where none is allowed", {"permessage-deflate; server_no_context_takeover=1"},
            declined);
        row("quoted value where none is allowed",
            {"permessage-deflate; client_no_context_takeover=\"x\""}, declined);
        row("duplicate parameter",
            {"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, declined);
        row("duplicate flag",
            {"permessage-deflate; server_no_context_takeover; server_no_context_takeover"},
            declined);
        row("unknown parameter", {"permessage-deflate; x_max_window_bits=10"}, declined);
        row("unknown flag", {"permessage-deflate; foo"}, declined);

        // Several offers: the first acceptable one wins.
        row("first unacceptable, second taken",
            {"permessage-deflate; server_max_window_bits=8, permessage-deflate; "
             "client_max_window_bits"},
            base + "; client_max_window_bits=15");
        row("first has unknown parameter, second plain",
            {"permessage-deflate; foo=bar, permessage-deflate"}, base);
        row("first acceptable wins",
            {"permessage-deflate; client_max_window_bits=9, permessage-deflate"},
            base + "; client_max_window_bits=9", 15, 9);
        row("another extension before", {"x-webkit-deflate-frame, permessage-deflate"}, base);
        row("another extension with parameters",
            {"foo; bar=\"baz\"; qux, permessage-deflate; server_max_window_bits=13"},
            base + "; server_max_window_bits=13", 13);
        row("several fields", {"x-foo", "permessage-deflate; client_max_window_bits=12"},
            base + "; client_max_window_bits=12", 15, 12);
        row("several fields, first declined",
            {"permessage-deflate; server_max_window_bits=8", "permessage-deflate"}, base);
        row("only other extensions", {"x-webkit-deflate-frame; no_context_takeover"}, declined);
        row("no field", {}, declined);
        row("empty field", {""}, declined);
        row("optional whitespace",
            {"  permessage-deflate ;\tclient_max_window_bits = 11 ;server_max_window_bits= 10 "},
            base + "; server_max_window_bits=10; client_max_window_bits=11", 10, 11);
        row("empty list elements", {" , ,permessage-deflate,, "}, base);
        row("names are case-sensitive", {"Permessage-Deflate"}, declined);

        // Bad syntax declines everything, even a good offer before it.
        row("trailing semicolon", {"permessage-deflate;"}, declined);
        row("missing semicolon", {"permessage-deflate client_max_window_bits"}, declined);
        row("parameter without name", {"permessage-deflate; =10"}, declined);
        row("bad character", {"permessage-deflate, x@y"}, declined);
        row("malformed after a good offer", {"permessage-deflate, foo;;"}, declined);
        row("malformed second field", {"permessage-deflate", "foo bar"}, declined);
        row("control character", {QByteArray("permessage-deflate\0", 19)}, declined);
    }

    void negotiate()
    {
        QFETCH(QList<QByteArray>, fields);
        QFETCH(bool, clientContextTakeover);
        QFETCH(int, clientMaxWindowBits);
        QFETCH(QByteArray, expected);
        QFETCH(int, serverBits);
        QFETCH(int, clientBits);

        DeflateSettings settings;
        settings.enabled = true;
        settings.clientContextTakeover = clientContextTakeover;
        settings.clientMaxWindowBits = clientMaxWindowBits;
        const std::optional<DeflateParameters> agreed = negotiateDeflate(fields, settings);
        if (expected.isEmpty()) {
            QVERIFY2(!agreed, agreed ? agreed->responseValue().constData() : "");
            return;
        }
        QVERIFY(agreed);
        QCOMPARE(agreed->responseValue(), expected);
        QVERIFY(agreed->serverNoContextTakeover);
        QCOMPARE(agreed->serverWindowBits(), serverBits);
        QCOMPARE(agreed->clientWindowBits(), clientBits);
        // Our answer, offered back, is accepted as it stands.
        QCOMPARE(negotiateDeflate({agreed->responseValue()}, settings), agreed);

        settings.enabled = false;
        QVERIFY(!negotiateDeflate(fields, settings));
    }

    // ---- Inflater ----

    void rfc7692Examples_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<int>("feeding");
        const QByteArray hello("Hello");
        const std::pair<const char *, QByteArray> examples[] = {
                {"7.2.3.1 one compressed block", QByteArray::fromHex("f248cdc9c90700")},
                {"7.2.3.3 no compression", QByteArray::fromHex("000500faff48656c6c6f00")},
                {"7.2.3.4 BFINAL set", QByteArray::fromHex("f348cdc9c9070000")},
                {"7.2.3.5 two blocks", QByteArray::fromHex("f24805000000ffffcac9c90700")},
        };
        for (const auto &[name, payload] : examples) {
            for (const auto &[how, feeding] : Feedings)
                QTest::addRow("%s, %s", name, how) << payload << hello << int(feeding);
        }
        QTest::newRow("7.2.3.6 empty") << QByteArray::fromHex("00") << QByteArray() << 0;
        // Not in the RFC: no compressed bytes at all is taken as the empty message.
        QTest::newRow("empty payload") << QByteArray() << QByteArray() << 0;
    }

    void rfc7692Examples()
    {
        QFETCH(QByteArray, payload);
        QFETCH(QByteArray, message);
        QFETCH(int, feeding);
        for (const bool takeover : {false, true}) {
            Inflater inflater(15, takeover);
            for (int i = 0; i < 2; ++i) { // twice: the first must leave the state clean
                const Inflated result = inflateMessage(inflater, payload, Feeding(feeding));
                QCOMPARE(result.finished, Status::Ok);
                QCOMPARE(result.data, message);
            }
        }
    }

    void rfc7692SharedWindow()
    {
        // §7.2.3.2: the second "Hello" refers back to the first.
        const QByteArray first = QByteArray::fromHex("f248cdc9c90700");
        const QByteArray second = QByteArray::fromHex("f200110000");
        Inflater takeover(15, true);
        QCOMPARE(inflateMessage(takeover, first, Feeding::Whole).data, QByteArray("Hello"));
        const Inflated shared = inflateMessage(takeover, second, Feeding::Bytes);
        QCOMPARE(shared.finished, Status::Ok);
        QCOMPARE(shared.data, QByteArray("Hello"));

        Inflater noTakeover(15, false);
        QCOMPARE(inflateMessage(noTakeover, first, Feeding::Whole).data, QByteArray("Hello"));
        QCOMPARE(inflateMessage(noTakeover, second, Feeding::Whole).finished, Status::Corrupt);
    }

    void roundTrip_data()
    {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<int>("clientBits"); // the test client's window
        QTest::addColumn<int>("inflaterBits");
        QTest::addColumn<int>("feeding");

        QByteArray binary(256, Qt::Uninitialized);
        for (int i = 0; i < 256; ++i)
            binary[i] = char(i);
        const std::pair<const char *, QByteArray> messages[] = {
                {"text", QByteArray("Hello, Switchboard! \xc3\x84\xc3\x96\xe2\x82\xac")},
                {"binary", binary + binary},
                {"empty", QByteArray()},
                {"one byte", QByteArray("x")},
                {"1 MiB random", randomBytes(1 << 20, 7)},
                {"1 MiB repetitive", repetitive(1 << 20)},
        };
        for (const auto &[name, message] : messages) {
            for (const auto &[how, feeding] : Feedings)
                QTest::addRow("%s, %s", name, how) << message << 15 << 15 << int(feeding);
        }
        // Byte by byte, so that the inflater's window, not its output step,
        // is all it can refer back to (see deflaterWindow()).
        const QByteArray json = repetitive(100 * 1024) + randomBytes(3000, 3) + repetitive(5000);
        QTest::newRow("window 12") << json << 12 << 12 << int(Feeding::Bytes);
        QTest::newRow("window 9") << json << 9 << 9 << int(Feeding::Bytes);
        // zlib has no raw 256-byte window; its 512-byte one never reaches back
        // more than 250 bytes, so a zlib client told 8 still fits our window.
        QTest::newRow("window 8, zlib client at 9") << json << 9 << 8 << int(Feeding::Bytes);
        QTest::newRow("client window smaller") << json << 10 << 15 << int(Feeding::Chunks);
    }

    void roundTrip()
    {
        QFETCH(QByteArray, message);
        QFETCH(int, clientBits);
        QFETCH(int, inflaterBits);
        QFETCH(int, feeding);

        ClientCompressor client(clientBits);
        const QByteArray payload = client.compress(message);
        Inflater inflater(inflaterBits);
        const Inflated result = inflateMessage(inflater, payload, Feeding(feeding));
        QCOMPARE(result.finished, Status::Ok);
        QCOMPARE(result.data.size(), message.size());
        QVERIFY(result.data == message);
        QCOMPARE(result.consumed, payload.size()); // all of it, nothing held back
        QCOMPARE(inflater.memoryUsage(), 0);

        // The next message on the same inflater decodes just as well.
        const QByteArray next = client.compress("and another one");
        QCOMPARE(inflateMessage(inflater, next, Feeding(feeding)).data,
                 QByteArray("and another one"));
    }

    void contextTakeover_data()
    {
        QTest::addColumn<bool>("takeover");
        QTest::addColumn<int>("feeding");
        for (const bool takeover : {true, false}) {
            for (const auto &[how, feeding] : Feedings) {
                QTest::addRow("%s takeover, %s", takeover ? "with" : "without", how)
                        << takeover << int(feeding);
            }
        }
    }

    void contextTakeover()
    {
        QFETCH(bool, takeover);
        QFETCH(int, feeding);

        ClientCompressor client(15, takeover);
        Inflater inflater(15, takeover);
        Inflater independent(15, false); // reads each message as if it stood alone
        int standalone = 0;
        qsizetype compressedTotal = 0;
        qsizetype plainTotal = 0;
        for (int i = 0; i < 100; ++i) {
            const QByteArray message = chatMessage(i);
            const QByteArray payload = client.compress(message);
            compressedTotal += payload.size();
            plainTotal += message.size();
            const Inflated result = inflateMessage(inflater, payload, Feeding(feeding), NoLimit, i);
            QCOMPARE(result.finished, Status::Ok);
            QCOMPARE(result.data, message);
            // The window is kept between messages only with takeover.
            QCOMPARE(inflater.memoryUsage() > 0, takeover);
            const Inflated alone = inflateMessage(independent, payload, Feeding::Whole);
            standalone += alone.finished == Status::Ok && alone.data == message ? 1 : 0;
        }
        if (takeover) {
            // Later messages really do refer to earlier ones: read alone, they
            // fail, and the series compresses far better than without takeover.
            QCOMPARE(standalone, 1);
            QCOMPARE_LT(compressedTotal, plainTotal / 5);
        } else {
            QCOMPARE(standalone, 100);
        }
    }

    void bfinalKeepsWindow()
    {
        // A client that ends each message with a BFINAL block (RFC 7692 §7.2.3.4)
        // and keeps its context starts the next DEFLATE stream with the window
        // preset, so the inflater must keep the window across the stream's end.
        const QByteArray first = chatMessage(1);
        const QByteArray second = chatMessage(2);
        ClientCompressor finalBlock(15, false);
        const QByteArray firstPayload = finalBlock.compress(first, Z_FINISH) + '\0';
        ClientCompressor withDictionary(15, true);
        withDictionary.setDictionary(first);
        const QByteArray secondPayload = withDictionary.compress(second);

        Inflater inflater(15, true);
        QCOMPARE(inflateMessage(inflater, firstPayload, Feeding::Bytes).data, first);
        const Inflated result = inflateMessage(inflater, secondPayload, Feeding::Bytes);
        QCOMPARE(result.finished, Status::Ok);
        QCOMPARE(result.data, second);
    }

    void memoryUsage_data()
    {
        QTest::addColumn<int>("windowBits");
        for (int bits = 8; bits <= 15; ++bits)
            QTest::addRow("window %d", bits) << bits;
    }

    void memoryUsage()
    {
        QFETCH(int, windowBits);
        const QByteArray payload = ClientCompressor(qMax(windowBits, 9)).compress(chatMessage(1));
        QByteArray out;

        Inflater inflater(windowBits);
        QCOMPARE(inflater.memoryUsage(), 0); // idle: nothing allocated
        QCOMPARE(inflater.feed({}, out, NoLimit), Status::Ok);
        QCOMPARE(inflater.finish(out, NoLimit), Status::Ok);
        QCOMPARE(inflater.memoryUsage(), 0); // an empty message allocates nothing

        QCOMPARE(inflater.feed(payload, out, NoLimit), Status::Ok);
        // zlib's inflate state (about 7 KiB) plus the window once output appeared.
        const qsizetype live = inflater.memoryUsage();
        QCOMPARE_GE(live, (qsizetype(1) << windowBits) + 6 * 1024);
        QCOMPARE_LE(live, (qsizetype(1) << windowBits) + 9 * 1024);
        QCOMPARE(inflater.finish(out, NoLimit), Status::Ok);
        QCOMPARE(out, chatMessage(1));
        QCOMPARE(inflater.memoryUsage(), 0); // released with the message

        Inflater takeover(windowBits, true);
        out.clear();
        QCOMPARE(takeover.feed(payload, out, NoLimit), Status::Ok);
        QCOMPARE(takeover.finish(out, NoLimit), Status::Ok);
        QCOMPARE(takeover.memoryUsage(), live); // kept: the next message may refer to it
    }

    void move()
    {
        const QByteArray message = repetitive(100000) + randomBytes(5000, 5);
        const QByteArray payload = ClientCompressor().compress(message);
        QByteArray out;
        Inflater first;
        QCOMPARE(first.feed(payload.first(payload.size() / 2), out, NoLimit), Status::Ok);
        Inflater second(std::move(first)); // mid-message
        QCOMPARE(second.feed(payload.sliced(payload.size() / 2), out, NoLimit), Status::Ok);
        // The moved-from one is idle, as if new, and still works.
        QCOMPARE(first.memoryUsage(), 0);
        QCOMPARE(first.messageSize(), 0);
        QCOMPARE(inflateMessage(first, QByteArray::fromHex("f248cdc9c90700"), Feeding::Whole).data,
                 QByteArray("Hello"));
        auto third = std::make_unique<Inflater>(9, true);
        *third = std::move(second);
        QCOMPARE(third->finish(out, NoLimit), Status::Ok);
        QVERIFY(out == message);
    }

    void limit_data()
    {
        QTest::addColumn<qint64>("size"); // of the inflated message: zeros
        QTest::addColumn<qint64>("limit");
        QTest::addColumn<int>("feeding");
        QTest::addColumn<int>("expected");

        // The bomb: about 64 KiB of input inflating to 64 MiB.
        for (const auto &[how, feeding] : Feedings) {
            if (feeding != Feeding::Bytes)
                QTest::addRow("64 MiB bomb, 16 MiB limit, %s", how)
                        << qint64(64 << 20) << qint64(16 << 20) << int(feeding)
                        << int(Status::TooBig);
        }
        QTest::newRow("at the limit")
                << qint64(1 << 20) << qint64(1 << 20) << int(Feeding::Whole) << int(Status::Ok);
        QTest::newRow("one byte over") << qint64(1 << 20) << qint64((1 << 20) - 1)
                                       << int(Feeding::Whole) << int(Status::TooBig);
        QTest::newRow("one byte over, in chunks") << qint64(1 << 20) << qint64((1 << 20) - 1)
                                                  << int(Feeding::Chunks) << int(Status::TooBig);
        QTest::newRow("one byte, limit 0")
                << qint64(1) << qint64(0) << int(Feeding::Whole) << int(Status::TooBig);
        QTest::newRow("empty, limit 0")
                << qint64(0) << qint64(0) << int(Feeding::Whole) << int(Status::Ok);
    }

    void limit()
    {
        QFETCH(qint64, size);
        QFETCH(qint64, limit);
        QFETCH(int, feeding);
        QFETCH(int, expected);

        const QByteArray payload = ClientCompressor(15, false, 9).compress(QByteArray(size, '\0'));
        Inflater inflater;
        const Inflated result = inflateMessage(inflater, payload, Feeding(feeding), limit);
        QCOMPARE(result.finished, Status(expected));
        if (Status(expected) == Status::Ok) {
            QCOMPARE(result.data.size(), size);
            return;
        }
        QCOMPARE(result.fed, Status::TooBig); // found while feeding, not at the end
        // Stopped one byte past the limit, within one output step...
        QCOMPARE_LE(result.data.size(), limit + Inflater::OutputStep);
        QCOMPARE(result.data.size(), limit + 1);
        // ...having read only the input those bytes needed: the bomb's first quarter.
        if (size > (1 << 20)) {
            QCOMPARE_LT(result.consumed, payload.size() / 3);
            if (Feeding(feeding) == Feeding::Chunks)
                QCOMPARE_LT(result.fedBytes, payload.size() / 2); // and was given no more
        }
        QCOMPARE(inflater.memoryUsage(), 0);
    }

    void limitLoweredMidMessage()
    {
        const QByteArray payload = ClientCompressor().compress(repetitive(100000));
        QByteArray out;
        Inflater inflater;
        QCOMPARE(inflater.feed(payload.first(payload.size() / 2), out, NoLimit), Status::Ok);
        QCOMPARE_GT(out.size(), 1000);
        const qsizetype before = out.size();
        QCOMPARE(inflater.feed(payload.sliced(payload.size() / 2), out, 1000), Status::TooBig);
        QCOMPARE(out.size(), before); // nothing more once past the limit
        QCOMPARE(inflater.finish(out, 1000), Status::TooBig);

        QCOMPARE(inflater.feed(payload, out, NoLimit), Status::Ok);
        QCOMPARE(inflater.finish(out, 1000), Status::TooBig); // at the tail as well
    }

    void corrupt_data()
    {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<int>("feeding");
        QTest::addColumn<bool>("whileFeeding"); // feed() can tell; else only finish() can

        const QByteArray json
                = ClientCompressor().compress(QByteArray(chatMessage(3) + chatMessage(4)));
        QByteArray reservedType = json;
        reservedType[0] = char(reservedType[0] | 0x06); // BTYPE 11
        QByteArray flipped = json;
        flipped[1] = char(flipped[1] ^ 0x08); // a bit of the dynamic Huffman header
        const QByteArray stored = QByteArray::fromHex("000500faff48656c6c6f00");
        QByteArray badLength = stored;
        badLength[3] = char(0xfb); // NLEN is no longer LEN's complement
        const QByteArray bfinal = QByteArray::fromHex("f348cdc9c90700");

        const std::tuple<const char *, QByteArray, bool> rows[] = {
                {"random bytes, seed 1", randomBytes(1000, 1), true},
                {"random bytes, seed 2", randomBytes(1000, 2), true},
                {"random bytes, seed 3", randomBytes(17, 3), true},
                {"reserved block type", reservedType, true},
                {"flipped bit in the Huffman header", flipped, true},
                {"stored block length mismatch", badLength, true},
                {"reference before any output", QByteArray::fromHex("f200110000"), true},
                {"data after the end of the stream", bfinal + QByteArray::fromHex("ff"), true},
                {"BFINAL then garbage", bfinal + QByteArray::fromHex("00ff13"), false},
                // §7.2.3.4 says the 0x00 after a BFINAL block is necessary: without
                // it the tail cannot complete a block.
                {"BFINAL without the 0x00", bfinal, false},
                {"truncated", json.first(json.size() / 2), false},
                {"tail left in by the sender", json + TestUtil::kDeflateTail, false},
        };
        for (const auto &[name, payload, whileFeeding] : rows) {
            for (const auto &[how, feeding] : Feedings)
                QTest::addRow("%s, %s", name, how) << payload << int(feeding) << whileFeeding;
        }
    }

    void corrupt()
    {
        QFETCH(QByteArray, payload);
        QFETCH(int, feeding);
        QFETCH(bool, whileFeeding);

        for (const bool takeover : {false, true}) {
            Inflater inflater(15, takeover);
            const Inflated result = inflateMessage(inflater, payload, Feeding(feeding));
            QCOMPARE(result.fed, whileFeeding ? Status::Corrupt : Status::Ok);
            QCOMPARE(result.finished, Status::Corrupt);
            QCOMPARE(inflater.memoryUsage(), 0);
            // A new message starts clean without takeover; with it, the shared
            // window is lost and nothing can be read any more.
            const Inflated next = inflateMessage(inflater, QByteArray::fromHex("f248cdc9c90700"),
                                                 Feeding::Whole);
            QCOMPARE(next.finished, takeover ? Status::Corrupt : Status::Ok);
            QCOMPARE(next.data, takeover ? QByteArray() : QByteArray("Hello"));
        }
    }

    void flippedBits()
    {
        // DEFLATE carries no checksum: a flipped bit is caught only where it
        // breaks the structure (about half of them here); elsewhere it decodes
        // to other data, which no receiver can tell. What the inflater must do
        // is agree with zlib on every one, however the payload is cut.
        const QByteArray payload = ClientCompressor().compress(
                QByteArray(chatMessage(1) + chatMessage(2) + chatMessage(3)));
        int caught = 0;
        int compared = 0;
        for (qsizetype bit = 0; bit < payload.size() * 8; ++bit) {
            QByteArray damaged = payload;
            damaged[bit / 8] = char(damaged[bit / 8] ^ (1 << (bit % 8)));
            Inflater inflater;
            const Inflated whole = inflateMessage(inflater, damaged, Feeding::Whole);
            QVERIFY(whole.finished != Status::TooBig);
            const Inflated bytes = inflateMessage(inflater, damaged, Feeding::Bytes);
            QCOMPARE(bytes.finished, whole.finished);
            QCOMPARE(bytes.data, whole.data);
            caught += whole.finished == Status::Corrupt ? 1 : 0;

            // A flip that sets BFINAL makes zlib stop where we read on (§7.2.1).
            const ZlibInflated zlib = zlibInflate(damaged);
            if (zlib.streamEnded)
                continue;
            ++compared;
            QCOMPARE(whole.finished, zlib.ok ? Status::Ok : Status::Corrupt);
            if (zlib.ok)
                QCOMPARE(whole.data, zlib.data);
        }
        QCOMPARE_GT(compared, payload.size() * 8 * 9 / 10);
        QCOMPARE_GT(caught, payload.size() * 8 * 4 / 10);
    }

    void sticky()
    {
        const QByteArray good = ClientCompressor().compress(chatMessage(1));
        QByteArray out;
        Inflater inflater;
        QCOMPARE(inflater.feed(QByteArray::fromHex("ff"), out, NoLimit), Status::Corrupt);
        QCOMPARE(inflater.status(), Status::Corrupt);
        const qint64 consumed = inflater.messageConsumed();
        QCOMPARE(inflater.feed(good, out, NoLimit), Status::Corrupt); // ignored
        QCOMPARE(inflater.messageConsumed(), consumed);
        QVERIFY(out.isEmpty());
        QCOMPARE(inflater.finish(out, NoLimit), Status::Corrupt);
        QCOMPARE(inflater.status(), Status::Ok); // the next message
        QCOMPARE(inflater.feed(good, out, NoLimit), Status::Ok);
        QCOMPARE(inflater.finish(out, NoLimit), Status::Ok);
        QCOMPARE(out, chatMessage(1));

        // TooBig sticks the same way, also for the tail.
        out.clear();
        QCOMPARE(inflater.feed(good, out, 10), Status::TooBig);
        QCOMPARE(inflater.feed(good, out, NoLimit), Status::TooBig);
        QCOMPARE(inflater.finish(out, NoLimit), Status::TooBig);
        QCOMPARE(out.size(), 11);
    }

    // ---- MessageDeflater ----

    void deflater_data()
    {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<int>("windowBits");
        QTest::addColumn<int>("level");
        QTest::addColumn<bool>("compressible");

        const std::tuple<const char *, QByteArray, bool> messages[] = {
                {"empty", QByteArray(), false},
                {"one byte", QByteArray("x"), false},
                {"chat message", chatMessage(1), false},
                {"1 MiB random", randomBytes(1 << 20, 11), false},
                {"1 MiB repetitive", repetitive(1 << 20), true},
        };
        for (const auto &[name, message, compressible] : messages) {
            for (const int bits : {15, 9}) {
                QTest::addRow("%s, window %d", name, bits)
                        << message << bits << DeflateSettings().level << compressible;
            }
        }
        QTest::newRow("level 0") << repetitive(70000) << 15 << 0 << false;
        QTest::newRow("level 9") << repetitive(70000) << 15 << 9 << true;
    }

    void deflater()
    {
        QFETCH(QByteArray, message);
        QFETCH(int, windowBits);
        QFETCH(int, level);
        QFETCH(bool, compressible);

        MessageDeflater deflater(windowBits, level);
        const std::optional<QByteArray> payload = deflater.compress(message);
        QVERIFY(payload);
        QVERIFY(!payload->isEmpty());
        QVERIFY(!payload->endsWith(TestUtil::kDeflateTail)); // §7.2.1: removed
        if (message.isEmpty())
            QCOMPARE(*payload, QByteArray(1, '\0')); // §7.2.3.6
        if (compressible)
            QCOMPARE_LT(payload->size(), message.size() / 10);

        // Both our inflater and plain zlib read it back.
        Inflater inflater(windowBits);
        const Inflated result = inflateMessage(inflater, *payload, Feeding::Chunks);
        QCOMPARE(result.finished, Status::Ok);
        QVERIFY(result.data == message);
        const ZlibInflated zlib = zlibInflate(*payload, windowBits);
        QVERIFY(zlib.ok);
        QVERIFY(zlib.data == message);

        // The same message gives the same bytes: after another message, and
        // from another deflater, so one payload serves every recipient.
        QVERIFY(deflater.compress(QByteArray(repetitive(5000) + randomBytes(100, 1))));
        QVERIFY(deflater.compress(message) == *payload);
        QVERIFY(MessageDeflater(windowBits, level).compress(message) == *payload);
    }

    void deflaterWindow()
    {
        // A random block repeated 1000 bytes later: a 32 KiB window reaches it,
        // a 512-byte one cannot. zlib's inflate also reaches back into the
        // output of the current call, so only fed byte by byte (a few hundred
        // bytes out per call at most) does a 512-byte window refuse the first.
        const QByteArray block = randomBytes(600, 21);
        const QByteArray message = block + randomBytes(1000, 22) + block;
        const std::optional<QByteArray> wide = MessageDeflater(15).compress(message);
        const std::optional<QByteArray> narrow = MessageDeflater(9).compress(message);
        QVERIFY(wide && narrow);
        QCOMPARE_LT(wide->size(), narrow->size());
        Inflater small(9);
        QCOMPARE(inflateMessage(small, *wide, Feeding::Bytes).finished, Status::Corrupt);
        const Inflated fits = inflateMessage(small, *narrow, Feeding::Bytes);
        QCOMPARE(fits.finished, Status::Ok);
        QVERIFY(fits.data == message);
    }

    void deflaterBadLevel()
    {
        MessageDeflater deflater(15, 42);
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("zlib refused a compressor")));
        QVERIFY(!deflater.compress("hello"));
        QVERIFY(!deflater.compress("hello")); // not logged again
        QCOMPARE(deflater.memoryUsage(), 0);
    }

    void forThread()
    {
        MessageDeflater &mine = MessageDeflater::forThread(15);
        QCOMPARE(&MessageDeflater::forThread(15), &mine);
        QCOMPARE(mine.windowBits(), 15);
        QVERIFY(&MessageDeflater::forThread(12) != &mine);
        QCOMPARE(&MessageDeflater::forThread(8), &MessageDeflater::forThread(9));
        QCOMPARE(MessageDeflater::forThread(8).windowBits(), 9);
        QVERIFY(&MessageDeflater::forThread(15, 6) != &mine);

        const std::optional<QByteArray> here = mine.compress(chatMessage(5));
        QVERIFY(here);
        QVERIFY(mine.memoryUsage() > 0);
        MessageDeflater *theirs = nullptr;
        std::optional<QByteArray> there;
        std::unique_ptr<QThread> thread(QThread::create([&] {
            theirs = &MessageDeflater::forThread(15);
            there = theirs->compress(chatMessage(5));
        }));
        thread->start();
        QVERIFY(thread->wait(10000));
        QVERIFY(theirs != &mine); // each thread has its own
        QCOMPARE(there, here);
    }
};

QTEST_GUILESS_MAIN(tst_Deflate)
#include "tst_deflate.moc"
