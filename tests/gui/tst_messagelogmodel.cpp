// MessageLogModel and LogFilterModel, fed directly and by a real Hub; no widgets.

#include "guitestutil.h"
#include "logfiltermodel.h"
#include "messagelogmodel.h"

#include <QtCore/QBuffer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtGui/QTextDocument>
#include <QtTest/QAbstractItemModelTester>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Switchboard;
using Direction = MessageLogModel::Direction;
using GuiTest::Client;

class tst_MessageLogModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void appendsInBatches();
    void dropsOldestBeyondCapacity();
    // With the sessions on the main thread, and on two workers whose signals come queued.
    void showsFramesFromRealClients_data() { workersData(); }
    void showsFramesFromRealClients();
    void foldsBroadcastIntoOneLine_data() { workersData(); }
    void foldsBroadcastIntoOneLine();
    void binaryShowsSizeAndHex();
    void textIsOneLineAndCut();
    void toolTipShowsClientTextAsText_data();
    void toolTipShowsClientTextAsText();
    void clears();
    void savesJsonLines();
    void filtersBySession();

private:
    static void workersData()
    {
        QTest::addColumn<int>("workers");
        QTest::newRow("1 worker") << 1;
        QTest::newRow("2 workers") << 2;
    }
    static HubSettings workers()
    {
        QFETCH(int, workers);
        HubSettings settings;
        settings.workers = workers;
        return settings;
    }
    static QString text(const QAbstractItemModel &model, int row, int column)
    {
        return model.index(row, column).data().toString();
    }
    static void wire(Hub &hub, MessageLogModel &log)
    {
        // The connections MainWindow::connectCore() makes for the log.
        connect(&hub, &Hub::frameReceived, &log, &MessageLogModel::addIncoming);
        connect(&hub, &Hub::frameSent, &log, &MessageLogModel::addOutgoing);
        connect(&hub, &Hub::broadcastSent, &log, &MessageLogModel::addBroadcast);
    }
};

void tst_MessageLogModel::appendsInBatches()
{
    MessageLogModel log;
    QAbstractItemModelTester tester(&log, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy inserted(&log, &QAbstractItemModel::rowsInserted);
    for (int i = 0; i < 500; ++i)
        log.addIncoming(1, Frame::text(QStringLiteral("message %1").arg(i)));
    // Nothing reaches a view per message...
    QCOMPARE(log.rowCount(), 0);
    QCOMPARE(inserted.size(), 0);
    // ...the whole burst arrives as one insertion.
    QTRY_COMPARE(log.rowCount(), 500);
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(text(log, 0, MessageLogModel::MessageColumn), QStringLiteral("message 0"));
    QCOMPARE(text(log, 499, MessageLogModel::MessageColumn), QStringLiteral("message 499"));
}

void tst_MessageLogModel::dropsOldestBeyondCapacity()
{
    MessageLogModel log;
    QCOMPARE(log.capacity(), 10'000);
    for (int i = 0; i < 10'050; ++i)
        log.addSystem(QStringLiteral("line %1").arg(i));
    log.flush();
    QCOMPARE(log.rowCount(), 10'000);
    QCOMPARE(text(log, 0, MessageLogModel::MessageColumn), QStringLiteral("line 50"));

    QAbstractItemModelTester tester(&log, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy removed(&log, &QAbstractItemModel::rowsRemoved);
    for (int i = 10'050; i < 10'060; ++i)
        log.addSystem(QStringLiteral("line %1").arg(i));
    log.flush();
    QCOMPARE(log.rowCount(), 10'000);
    QCOMPARE(removed.size(), 1);
    QCOMPARE(text(log, 0, MessageLogModel::MessageColumn), QStringLiteral("line 60"));
    QCOMPARE(text(log, 9'999, MessageLogModel::MessageColumn), QStringLiteral("line 10059"));
}

void tst_MessageLogModel::showsFramesFromRealClients()
{
    GuiTest::TestServer server(workers());
    QVERIFY(server.listen());
    MessageLogModel log;
    QAbstractItemModelTester tester(&log, QAbstractItemModelTester::FailureReportingMode::QtTest);
    wire(server.hub, log);

    Client client(server.url());
    QVERIFY(client.waitGreeted());
    const quint64 id = client.sessionId(server.hub);
    client.socket.sendTextMessage(QStringLiteral("ping from client"));
    QTRY_COMPARE(client.texts.size(), 2); // the greeting and the echo

    // greeting out, message in, echo out
    QTRY_COMPARE(log.rowCount(), 3);
    const QStringList directions{text(log, 0, MessageLogModel::DirectionColumn),
                                 text(log, 1, MessageLogModel::DirectionColumn),
                                 text(log, 2, MessageLogModel::DirectionColumn)};
    QCOMPARE(directions,
             (QStringList{QStringLiteral("out"), QStringLiteral("in"), QStringLiteral("out")}));
    QCOMPARE(text(log, 1, MessageLogModel::SessionColumn), QString::number(id));
    QCOMPARE(text(log, 1, MessageLogModel::MessageColumn), QStringLiteral("ping from client"));
    QCOMPARE(log.index(1, 0).data(MessageLogModel::SessionIdRole).value<quint64>(), id);
    QCOMPARE(log.index(1, 0).data(MessageLogModel::DirectionRole).toInt(), int(Direction::In));
    QVERIFY(QTime::fromString(text(log, 1, MessageLogModel::TimeColumn), u"hh:mm:ss.zzz")
                    .isValid());
}

void tst_MessageLogModel::foldsBroadcastIntoOneLine()
{
    GuiTest::TestServer server(workers());
    QVERIFY(server.listen());
    Client a(server.url());
    Client b(server.url());
    Client c(server.url());
    QVERIFY(a.waitGreeted());
    QVERIFY(b.waitGreeted());
    QVERIFY(c.waitGreeted());

    MessageLogModel log;
    wire(server.hub, log);
    const quint64 idB = b.sessionId(server.hub);
    server.hub.send(idB, Frame::text(QStringLiteral("just b")));
    QCOMPARE(server.hub.broadcast(Frame::text(QStringLiteral("to all"))), 3);
    QTRY_COMPARE(c.texts.size(), 2);
    QTRY_COMPARE(log.rowCount(), 2);

    QCOMPARE(text(log, 0, MessageLogModel::DirectionColumn), QStringLiteral("out"));
    QCOMPARE(text(log, 0, MessageLogModel::SessionColumn), QString::number(idB));
    QCOMPARE(text(log, 1, MessageLogModel::DirectionColumn), QStringLiteral("broadcast"));
    QCOMPARE(text(log, 1, MessageLogModel::SessionColumn), QStringLiteral("to 3"));
    QCOMPARE(text(log, 1, MessageLogModel::MessageColumn), QStringLiteral("to all"));
}

void tst_MessageLogModel::binaryShowsSizeAndHex()
{
    MessageLogModel log;
    QByteArray data;
    for (int i = 0; i < 100; ++i)
        data.append(char(i));
    log.addIncoming(3, Frame::binary(data));
    log.addOutgoing(3, Frame::binary(QByteArray("\xff\x00", 2)));
    log.addIncoming(3, Frame::ping()); // control frames are not messages
    log.flush();
    QCOMPARE(log.rowCount(), 2);
    QCOMPARE(text(log, 0, MessageLogModel::MessageColumn),
             QStringLiteral(
                     "[binary, 100 bytes] 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f …"));
    QCOMPARE(text(log, 1, MessageLogModel::MessageColumn),
             QStringLiteral("[binary, 2 bytes] ff 00"));
}

void tst_MessageLogModel::textIsOneLineAndCut()
{
    MessageLogModel log;
    log.addIncoming(1, Frame::text(QStringLiteral("two\nlines")));
    log.addIncoming(1, Frame::text(QByteArray(100'000, 'x')));
    log.flush();
    QCOMPARE(text(log, 0, MessageLogModel::MessageColumn), QStringLiteral("two⏎lines"));
    const QString cut = text(log, 1, MessageLogModel::MessageColumn);
    QVERIFY(cut.size() < 10'000);
    QVERIFY(cut.endsWith(u'…'));
}

void tst_MessageLogModel::toolTipShowsClientTextAsText_data()
{
    QTest::addColumn<QString>("sent");
    QTest::newRow("image") << QStringLiteral("<img src=\"file:///etc/hostname\" width=\"9999\">");
    QTest::newRow("markup after text") << QStringLiteral("hi <b>operator</b> & <a href=x>y</a>");
    QTest::newRow("lines") << QStringLiteral("two\nlines");
    QTest::newRow("plain") << QStringLiteral("just text");
}

void tst_MessageLogModel::toolTipShowsClientTextAsText()
{
    // What QToolTip shows: rich text when Qt::mightBeRichText() says so, else the string.
    QFETCH(QString, sent);
    MessageLogModel log;
    log.addIncoming(1, Frame::text(sent));
    log.flush();
    const QString tip
            = log.data(log.index(0, MessageLogModel::MessageColumn), Qt::ToolTipRole).toString();
    QString shown = tip;
    if (Qt::mightBeRichText(tip)) {
        QTextDocument document;
        document.setHtml(tip);
        shown = document.toPlainText();
    }
    QCOMPARE(shown, sent);
}

void tst_MessageLogModel::clears()
{
    MessageLogModel log;
    QAbstractItemModelTester tester(&log, QAbstractItemModelTester::FailureReportingMode::QtTest);
    log.addSystem(QStringLiteral("shown"));
    log.flush();
    log.addSystem(QStringLiteral("still pending"));
    log.clear();
    QCOMPARE(log.rowCount(), 0);
    log.flush(); // the pending line went too
    QCOMPARE(log.rowCount(), 0);
}

void tst_MessageLogModel::savesJsonLines()
{
    MessageLogModel log;
    log.addIncoming(4, Frame::text(QStringLiteral("héllo")));
    log.addOutgoing(4, Frame::binary(QByteArray("\x01\x02", 2)));
    log.addBroadcast(Frame::text(QStringLiteral("all")), 2);
    log.addSystem(QStringLiteral("listening"));
    // Saving includes lines the timer has not flushed yet.
    QBuffer buffer;
    QVERIFY(buffer.open(QIODevice::WriteOnly));
    QVERIFY(log.writeJsonLines(&buffer));

    const QList<QByteArray> lines = buffer.data().split('\n');
    QCOMPARE(lines.size(), 5); // four lines and the empty rest after the last '\n'
    QVERIFY(lines.last().isEmpty());
    QList<QJsonObject> objects;
    for (qsizetype i = 0; i < 4; ++i) {
        QJsonParseError error;
        const QJsonDocument document = QJsonDocument::fromJson(lines.at(i), &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        objects.append(document.object());
    }
    QCOMPARE(objects.at(0).value(u"direction").toString(), QStringLiteral("in"));
    QCOMPARE(objects.at(0).value(u"session").toInteger(), 4);
    QCOMPARE(objects.at(0).value(u"type").toString(), QStringLiteral("text"));
    QCOMPARE(objects.at(0).value(u"text").toString(), QStringLiteral("héllo"));
    QCOMPARE(objects.at(0).value(u"size").toInteger(), 6);
    QVERIFY(QDateTime::fromString(objects.at(0).value(u"time").toString(), Qt::ISODateWithMs)
                    .isValid());
    QCOMPARE(objects.at(1).value(u"direction").toString(), QStringLiteral("out"));
    QCOMPARE(objects.at(1).value(u"hex").toString(), QStringLiteral("0102"));
    QCOMPARE(objects.at(2).value(u"direction").toString(), QStringLiteral("broadcast"));
    QCOMPARE(objects.at(2).value(u"recipients").toInt(), 2);
    QCOMPARE(objects.at(3).value(u"direction").toString(), QStringLiteral("system"));
    QCOMPARE(objects.at(3).value(u"text").toString(), QStringLiteral("listening"));
}

void tst_MessageLogModel::filtersBySession()
{
    MessageLogModel log;
    LogFilterModel filter;
    filter.setSourceModel(&log);
    QAbstractItemModelTester tester(&filter,
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    log.addIncoming(1, Frame::text(QStringLiteral("from 1")));
    log.addIncoming(2, Frame::text(QStringLiteral("from 2")));
    log.addBroadcast(Frame::text(QStringLiteral("to all")), 2);
    log.addSystem(QStringLiteral("server event"));
    log.addSystem(QStringLiteral("session 2 event"), 2);
    log.flush();
    QCOMPARE(filter.rowCount(), 5);

    filter.setSessions({1});
    QStringList shown;
    for (int row = 0; row < filter.rowCount(); ++row)
        shown << text(filter, row, MessageLogModel::MessageColumn);
    QCOMPARE(shown,
             (QStringList{QStringLiteral("from 1"), QStringLiteral("to all"),
                          QStringLiteral("server event")}));

    // New lines are filtered as they arrive.
    log.addIncoming(2, Frame::text(QStringLiteral("more from 2")));
    log.addIncoming(1, Frame::text(QStringLiteral("more from 1")));
    log.flush();
    QCOMPARE(filter.rowCount(), 4);
    QCOMPARE(text(filter, 3, MessageLogModel::MessageColumn), QStringLiteral("more from 1"));

    filter.setSessions({});
    QCOMPARE(filter.rowCount(), 7);

    // The session detail pane lists one session's own lines only.
    filter.setIncludeShared(false);
    filter.setSessions({2});
    shown.clear();
    for (int row = 0; row < filter.rowCount(); ++row)
        shown << text(filter, row, MessageLogModel::MessageColumn);
    QCOMPARE(shown,
             (QStringList{QStringLiteral("from 2"), QStringLiteral("session 2 event"),
                          QStringLiteral("more from 2")}));
}

QTEST_GUILESS_MAIN(tst_MessageLogModel)
#include "tst_messagelogmodel.moc"
