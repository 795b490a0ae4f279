// The client frame reader on bytes: what QWebSocket is given for what a client
// sends, and every refusal (1002, 1007, 1009), whole and split at any point.

#include "websocket/framecodec.h"

#include "deflateutil.h"
#include "testutil.h"

#include <QtTest/QTest>

using namespace Switchboard;
using TestUtil::maskedFrame;

namespace {

constexpr qint64 kLimit = 64;

DeflateParameters deflateParameters(bool clientContextTakeover = false)
{
    DeflateParameters parameters;
    parameters.clientNoContextTakeover = !clientContextTakeover;
    return parameters;
}

/*! Feeds \a bytes in pieces of \a piece bytes (all at once for 0) and collects the output. */
StreamFilter::Output readAll(ClientFrameReader &reader, const QByteArray &bytes,
                             qsizetype piece = 0)
{
    StreamFilter::Output all;
    const qsizetype step = piece > 0 ? piece : qMax<qsizetype>(1, bytes.size());
    for (qsizetype at = 0; at < bytes.size(); at += step) {
        StreamFilter::Output out;
        reader.feed(QByteArrayView(bytes).sliced(at, qMin(step, bytes.size() - at)), out);
        all.forReader += out.forReader;
        all.reply += out.reply;
        if (out.closeCode != 0 && all.closeCode == 0) {
            all.closeCode = out.closeCode;
            all.closeReason = out.closeReason;
        }
    }
    return all;
}

/*! An unmasked server-side frame, as QWebSocket is to be given it. */
QByteArray plainFrame(quint8 first, const QByteArray &payload)
{
    QByteArray frame;
    appendFrameHeader(frame, first & 0x0f, quint64(payload.size()), first & 0x80);
    return frame + payload;
}

} // namespace

class tst_FrameCodec : public QObject
{
    Q_OBJECT

private slots:
    void frameHeader_data()
    {
        QTest::addColumn<int>("opcode");
        QTest::addColumn<quint64>("length");
        QTest::addColumn<bool>("fin");
        QTest::addColumn<bool>("rsv1");
        QTest::addColumn<QByteArray>("header");
        QTest::newRow("empty text") << 1 << quint64(0) << true << false << QByteArray("8100");
        QTest::newRow("125 binary") << 2 << quint64(125) << true << false << QByteArray("827d");
        QTest::newRow("126 -> 16 bit")
                << 1 << quint64(126) << true << false << QByteArray("817e007e");
        QTest::newRow("65535") << 2 << quint64(65535) << true << false << QByteArray("827effff");
        QTest::newRow("65536 -> 64 bit")
                << 2 << quint64(65536) << true << false << QByteArray("827f0000000000010000");
        QTest::newRow("compressed") << 1 << quint64(5) << true << true << QByteArray("c105");
        QTest::newRow("first fragment") << 1 << quint64(3) << false << false << QByteArray("0103");
        QTest::newRow("close") << 8 << quint64(2) << true << false << QByteArray("8802");
    }

    void frameHeader()
    {
        QFETCH(int, opcode);
        QFETCH(quint64, length);
        QFETCH(bool, fin);
        QFETCH(bool, rsv1);
        QFETCH(QByteArray, header);
        QByteArray out;
        appendFrameHeader(out, quint8(opcode), length, fin, rsv1);
        QCOMPARE(out.toHex(), header);
    }

    void closeFrameCarriesCodeAndReason()
    {
        QCOMPARE(closeFrame(1002, "no").toHex(), QByteArray("880403ea6e6f"));
        QCOMPARE(closeFrame(1000, QByteArray(200, 'x')).size(), 2 + 125); // reason cut to 123
    }

    void passesFramesThroughUnmasked()
    {
        // A 5000-byte frame goes through whole, unmasked the same whether it arrives at
        // once or in pieces that split the key's cycle anywhere.
        const QByteArray mask = "\x01\x82\x33\xf4";
        QByteArray clear(5000, '\0');
        for (qsizetype i = 0; i < clear.size(); ++i)
            clear[i] = char('a' + i % 23);
        const QByteArray bytes = maskedFrame(0x81, "frame") + maskedFrame(0x82, clear, mask);
        const QByteArray expected = plainFrame(0x81, "frame") + plainFrame(0x82, clear);
        for (const qsizetype piece : {0, 1, 3, 7, 13, 4096}) {
            ClientFrameReader reader(1 << 20, std::nullopt);
            const auto out = readAll(reader, bytes, piece);
            QCOMPARE(out.closeCode, quint16(0));
            QCOMPARE(out.forReader.toHex(), expected.toHex());
            QCOMPARE(reader.wireBytes(), quint64(5 + 5000));
        }
    }

    void fragmentedTextIsJoined()
    {
        // QtWebSockets checks UTF-8 per fragment and would refuse "é" split in two.
        const QByteArray bytes = maskedFrame(0x01, "ab") + maskedFrame(0x89, "p")
                + maskedFrame(0x00, "c\xc3") + maskedFrame(0x80, "\xa9") + maskedFrame(0x02, "b1");
        // The ping between fragments comes first; binary fragments are not joined.
        const QByteArray expected
                = plainFrame(0x89, "p") + plainFrame(0x81, "abc\xc3\xa9") + plainFrame(0x02, "b1");
        for (const qsizetype piece : {0, 1}) {
            ClientFrameReader reader(kLimit, std::nullopt);
            QCOMPARE(readAll(reader, bytes, piece).forReader.toHex(), expected.toHex());
        }
    }

    void refusals_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("deflate");
        QTest::addColumn<int>("code");
        QTest::addColumn<QByteArray>("passed"); // what Qt got before the refusal
        const QByteArray ok = maskedFrame(0x81, "ok");
        const QByteArray okOut = plainFrame(0x81, "ok");
        QTest::newRow("unmasked") << QByteArray(ok + QByteArray::fromHex("8102") + "hi") << false
                                  << 1002 << okOut;
        QTest::newRow("RSV1 without deflate")
                << QByteArray(ok + maskedFrame(0xc1, "x")) << false << 1002 << okOut;
        QTest::newRow("RSV1 on a ping") << maskedFrame(0xc9, "p") << true << 1002 << QByteArray();
        QTest::newRow("RSV1 on a continuation")
                << QByteArray(maskedFrame(0x01, "a") + maskedFrame(0xc0, "b")) << true << 1002
                << QByteArray();
        QTest::newRow("RSV2") << maskedFrame(0xa1, "x") << true << 1002 << QByteArray();
        QTest::newRow("RSV3") << maskedFrame(0x91, "x") << true << 1002 << QByteArray();
        QTest::newRow("reserved opcode 3")
                << maskedFrame(0x83, "x") << false << 1002 << QByteArray();
        QTest::newRow("reserved opcode 0xB")
                << maskedFrame(0x8b, "") << false << 1002 << QByteArray();
        QTest::newRow("fragmented ping") << maskedFrame(0x09, "p") << false << 1002 << QByteArray();
        QTest::newRow("ping over 125")
                << maskedFrame(0x89, QByteArray(126, 'p')) << false << 1002 << QByteArray();
        QTest::newRow("continuation first")
                << maskedFrame(0x80, "x") << false << 1002 << QByteArray();
        QTest::newRow("new message inside a fragmented one")
                << QByteArray(maskedFrame(0x01, "a") + maskedFrame(0x81, "b")) << false << 1002
                << QByteArray();
        QTest::newRow("message over the limit, from the header")
                << QByteArray(ok + maskedFrame(0x82, QByteArray(kLimit + 1, 'x'))) << false << 1009
                << okOut;
        QTest::newRow("fragments over the limit together")
                << QByteArray(maskedFrame(0x02, QByteArray(40, 'x'))
                              + maskedFrame(0x80, QByteArray(40, 'y')))
                << false << 1009 << plainFrame(0x02, QByteArray(40, 'x'));
        QTest::newRow("joined text over the limit") << QByteArray(
                maskedFrame(0x01, QByteArray(40, 'x')) + maskedFrame(0x80, QByteArray(40, 'y')))
                                                    << false << 1009 << QByteArray();
        QTest::newRow("corrupt deflate data") << maskedFrame(0xc1, QByteArray::fromHex("ffffffff"))
                                              << true << 1007 << QByteArray();
    }

    void refusals()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, deflate);
        QFETCH(int, code);
        QFETCH(QByteArray, passed);
        for (const qsizetype piece : {0, 1}) {
            ClientFrameReader reader(kLimit,
                                     deflate ? std::optional(deflateParameters()) : std::nullopt);
            const auto out = readAll(reader, bytes, piece);
            QCOMPARE(out.closeCode, quint16(code));
            QCOMPARE(out.forReader.toHex(), passed.toHex());
            // A close frame with that code, and nothing after it is read.
            QCOMPARE(out.reply.left(4).toHex().left(2), QByteArray("88"));
            QCOMPARE(quint8(out.reply[2]) << 8 | quint8(out.reply[3]), code);
            StreamFilter::Output after;
            reader.feed(maskedFrame(0x81, "more"), after);
            QVERIFY(after.forReader.isEmpty() && after.reply.isEmpty());
        }
    }

    void compressedMessagesAreInflated_data()
    {
        QTest::addColumn<QByteArray>("message");
        QTest::addColumn<int>("fragments");
        QTest::newRow("text, one frame") << QByteArray("hello hello hello hello") << 1;
        QTest::newRow("empty") << QByteArray() << 1;
        QTest::newRow("4 KiB JSON-like, 3 fragments")
                << QByteArray("{\"id\":1,\"name\":\"item\",\"tags\":[\"a\",\"b\"]},").repeated(100)
                << 3;
    }

    void compressedMessagesAreInflated()
    {
        QFETCH(QByteArray, message);
        QFETCH(int, fragments);
        TestUtil::ClientCompressor client;
        const QByteArray compressed = client.compress(message);
        // RSV1 on the first fragment only; a ping in the middle passes at once.
        QByteArray bytes;
        const qsizetype step = qMax<qsizetype>(1, compressed.size() / fragments + 1);
        for (int i = 0; i < fragments; ++i) {
            const QByteArray part = compressed.mid(i * step, step);
            const quint8 first = quint8((i == 0 ? 0x41 : 0x00) | (i == fragments - 1 ? 0x80 : 0));
            bytes += maskedFrame(first, part);
            if (i == 0 && fragments > 1)
                bytes += maskedFrame(0x89, "p");
        }
        const QByteArray expected = (fragments > 1 ? plainFrame(0x89, "p") : QByteArray())
                + plainFrame(0x81, message);
        for (const qsizetype piece : {0, 1, 5}) {
            ClientFrameReader reader(1 << 20, deflateParameters());
            const auto out = readAll(reader, bytes, piece);
            QCOMPARE(out.closeCode, quint16(0));
            QCOMPARE(out.forReader.toHex(), expected.toHex());
            QCOMPARE(reader.wireBytes(), quint64(compressed.size()));
        }
    }

    void contextTakeoverAcross100Messages_data()
    {
        QTest::addColumn<bool>("takeover");
        QTest::newRow("client keeps its context") << true;
        QTest::newRow("no context takeover") << false;
    }

    void contextTakeoverAcross100Messages()
    {
        QFETCH(bool, takeover);
        TestUtil::ClientCompressor client(15, takeover);
        ClientFrameReader reader(1 << 20, deflateParameters(takeover));
        quint64 wire = 0;
        for (int i = 0; i < 100; ++i) {
            const QByteArray message = "{\"type\":\"tick\",\"channel\":\"room:lobby\",\"seq\":"
                    + QByteArray::number(i) + ",\"payload\":\"the same words again\"}";
            const QByteArray compressed = client.compress(message);
            wire += quint64(compressed.size());
            StreamFilter::Output out;
            // Uncompressed messages may come in between (RSV1 clear).
            reader.feed(QByteArray(maskedFrame(0xc1, compressed) + maskedFrame(0x81, "plain")),
                        out);
            QCOMPARE(out.closeCode, quint16(0));
            QCOMPARE(out.forReader, plainFrame(0x81, message) + plainFrame(0x81, "plain"));
        }
        QCOMPARE(reader.wireBytes(), wire + 100 * 5);
    }

    void decompressionBombStopsEarly()
    {
        // 64 MiB of zeros compress to about 64 KiB; the limit is 16 MiB. The reader must
        // refuse with 1009 before it has even been given most of the input, keeping
        // nothing of it for QWebSocket.
        TestUtil::ClientCompressor client(15, false, 9);
        const QByteArray compressed = client.compress(QByteArray(64 * 1024 * 1024, '\0'));
        QVERIFY(compressed.size() < 100 * 1024);
        const QByteArray bytes = maskedFrame(0xc2, compressed);
        ClientFrameReader reader(16 * 1024 * 1024, deflateParameters());
        qsizetype fed = 0;
        StreamFilter::Output out;
        while (fed < bytes.size() && out.closeCode == 0) {
            const qsizetype n = qMin<qsizetype>(4096, bytes.size() - fed);
            reader.feed(QByteArrayView(bytes).sliced(fed, n), out);
            fed += n;
        }
        QCOMPARE(out.closeCode, quint16(1009));
        QVERIFY(out.forReader.isEmpty());
        QVERIFY2(fed < bytes.size() / 2,
                 qPrintable(QStringLiteral("%1 of %2 bytes fed").arg(fed).arg(bytes.size())));
    }
};

QTEST_GUILESS_MAIN(tst_FrameCodec)
#include "tst_framecodec.moc"
