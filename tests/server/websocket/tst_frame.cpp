#include "websocket/frame.h"

#include <QtTest/QTest>

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

    void textIsUtf8()
    {
        const Frame frame = Frame::text(QStringLiteral("ÄÖ€"));
        QCOMPARE(frame.payload(), QByteArray("\xc3\x84\xc3\x96\xe2\x82\xac"));
        QCOMPARE(frame.toText(), QStringLiteral("ÄÖ€"));
    }
};

QTEST_GUILESS_MAIN(tst_Frame)
#include "tst_frame.moc"
