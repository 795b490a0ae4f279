#include "websocket/frame.h"

#include <QtTest/QTest>

#include <thread>
#include <vector>

using namespace Switchboard;

class tst_Frame : public QObject
{
    Q_OBJECT

private slots:
    void wireBytes_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("size");
        QTest::addColumn<QByteArray>("header");
        QTest::newRow("empty text") << int(Frame::Type::Text) << 0 << QByteArray::fromHex("8100");
        QTest::newRow("short binary")
                << int(Frame::Type::Binary) << 5 << QByteArray::fromHex("8205");
        QTest::newRow("125") << int(Frame::Type::Text) << 125 << QByteArray::fromHex("817d");
        QTest::newRow("126 -> 16 bit")
                << int(Frame::Type::Text) << 126 << QByteArray::fromHex("817e007e");
        QTest::newRow("65535") << int(Frame::Type::Binary) << 65535
                               << QByteArray::fromHex("827effff");
        QTest::newRow("65536 -> 64 bit")
                << int(Frame::Type::Binary) << 65536 << QByteArray::fromHex("827f0000000000010000");
        QTest::newRow("ping") << int(Frame::Type::Ping) << 3 << QByteArray::fromHex("8903");
        QTest::newRow("pong") << int(Frame::Type::Pong) << 0 << QByteArray::fromHex("8a00");
    }

    void wireBytes()
    {
        QFETCH(int, type);
        QFETCH(int, size);
        QFETCH(QByteArray, header);
        const QByteArray payload(size, 'p');
        const Frame frame(Frame::Type(type), payload);
        const QByteArray wire = frame.wireBytes();
        QCOMPARE(wire.left(header.size()).toHex(), header.toHex());
        QCOMPARE(wire.mid(header.size()), payload);
    }

    void copiesShareOneEncoding()
    {
        const Frame original = Frame::text(QStringLiteral("hello"));
        const Frame copy = original;
        const char *first = original.wireBytes().constData();
        QCOMPARE(copy.wireBytes().constData(), first); // encoded once, shared by the copy
    }

    void copiesOnSeveralThreadsShareOneEncoding()
    {
        // What a broadcast over worker threads does: each encodes its copy at once.
        // Run under ThreadSanitizer in ./dev test; here it checks one encoding each.
        for (int round = 0; round < 50; ++round) {
            const Frame original = Frame::text(QByteArray(4096, 'a' + char(round % 26)));
            constexpr int threads = 4;
            std::vector<const char *> plain(threads);
            std::vector<QByteArray> deflated(threads);
            std::vector<std::thread> workers;
            for (int i = 0; i < threads; ++i) {
                workers.emplace_back([&, i, copy = original] {
                    plain[size_t(i)] = copy.wireBytes().constData();
                    deflated[size_t(i)] = copy.deflatedWireBytes(15);
                });
            }
            for (std::thread &worker : workers)
                worker.join();
            for (int i = 1; i < threads; ++i) {
                QCOMPARE(plain[size_t(i)], plain[0]);
                QCOMPARE(deflated[size_t(i)].constData(), deflated[0].constData());
            }
            QVERIFY(deflated[0].size() < 100); // compressed, once
        }
    }

    void anotherWindowIsCompressedButNotCached()
    {
        const Frame frame = Frame::text(QByteArray(1000, 'x'));
        qsizetype size15 = 0;
        qsizetype size9 = 0;
        const QByteArray first = frame.deflatedWireBytes(15, &size15);
        const QByteArray other = frame.deflatedWireBytes(9, &size9);
        QVERIFY(size15 > 0 && size9 > 0);
        QVERIFY(other.constData() != first.constData());
        QCOMPARE(frame.deflatedWireBytes(15).constData(), first.constData());
    }

    void textIsUtf8()
    {
        const Frame frame = Frame::text(QStringLiteral("ÄÖ€"));
        QCOMPARE(frame.payload(), QByteArray("\xc3\x84\xc3\x96\xe2\x82\xac"));
        QCOMPARE(frame.toText(), QStringLiteral("ÄÖ€"));
    }
};

QTEST_GUILESS_MAIN(tst_Frame)
#include "tst_frame.moc"
