#include "logging.h"
#include "platform/logoutput.h"

#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QScopeGuard>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <cstdlib>
#include <ctime>

using namespace Switchboard;

namespace {

// Sets TZ (a null value: leaves it as it is) until the returned guard goes.
auto useZone(const QByteArray &zone)
{
    const QByteArray saved = qgetenv("TZ");
    const bool wasSet = qEnvironmentVariableIsSet("TZ");
    if (!zone.isNull())
        qputenv("TZ", zone);
    ::tzset();
    return qScopeGuard([saved, wasSet] {
        if (wasSet)
            qputenv("TZ", saved);
        else
            qunsetenv("TZ");
        ::tzset();
    });
}

} // namespace

class tst_Logging : public QObject
{
    Q_OBJECT

private slots:
    void localTimeHasOffset_data();
    void localTimeHasOffset();
    void offsetMatchesQt_data();
    void offsetMatchesQt();
    void textLine();
    void jsonEscaping_data();
    void jsonEscaping();
    void logFile();
};

void tst_Logging::localTimeHasOffset_data()
{
    QTest::addColumn<QByteArray>("zone");
    QTest::addColumn<qint64>("seconds");
    QTest::addColumn<QByteArray>("expected");
    const qint64 winter = 1'767'225'600; // 2026-01-01T00:00:00Z
    const qint64 summer = 1'782'864'000; // 2026-07-01T00:00:00Z
    QTest::newRow("UTC") << QByteArray("UTC") << winter << QByteArray("2026-01-01T00:00:00+00:00");
    QTest::newRow("Berlin winter")
            << QByteArray("Europe/Berlin") << winter << QByteArray("2026-01-01T01:00:00+01:00");
    QTest::newRow("Berlin summer")
            << QByteArray("Europe/Berlin") << summer << QByteArray("2026-07-01T02:00:00+02:00");
    QTest::newRow("St John's, half hours")
            << QByteArray("America/St_Johns") << winter << QByteArray("2025-12-31T20:30:00-03:30");
}

void tst_Logging::localTimeHasOffset()
{
    QFETCH(QByteArray, zone);
    QFETCH(qint64, seconds);
    QFETCH(QByteArray, expected);
    const auto zoneGuard = useZone(zone);
    QCOMPARE(LogOutput::localTimeText(seconds), expected);
}

void tst_Logging::offsetMatchesQt_data()
{
    QTest::addColumn<QByteArray>("zone");
    QTest::newRow("this machine's") << QByteArray();
    QTest::newRow("Berlin") << QByteArray("Europe/Berlin");
    QTest::newRow("St John's") << QByteArray("America/St_Johns");
}

void tst_Logging::offsetMatchesQt()
{
    QFETCH(QByteArray, zone);
    const auto zoneGuard = useZone(zone);
    const qint64 seconds = QDateTime::currentSecsSinceEpoch();
    const int offset = QDateTime::fromSecsSinceEpoch(seconds).offsetFromUtc();
    const int minutes = qAbs(offset) / 60;
    const QString expected = QStringLiteral("%1%2:%3")
                                     .arg(offset < 0 ? QLatin1Char('-') : QLatin1Char('+'))
                                     .arg(minutes / 60, 2, 10, QLatin1Char('0'))
                                     .arg(minutes % 60, 2, 10, QLatin1Char('0'));
    const QByteArray text = LogOutput::localTimeText(seconds);
    QCOMPARE(text.size(), 25);
    QCOMPARE(QString::fromLatin1(text.mid(19)), expected);
}

void tst_Logging::textLine()
{
    QByteArray line;
    appendLogLine(line, LogFormat::Text, "2026-12-03T16:19:10.309+01:00", QtInfoMsg,
                  "switchboard.http", QStringLiteral("GET / -> 200"));
    QCOMPARE(line, "2026-12-03T16:19:10.309+01:00 info switchboard.http: GET / -> 200\n");
}

void tst_Logging::jsonEscaping_data()
{
    QTest::addColumn<QString>("message");
    QTest::addColumn<QByteArray>("escaped");
    QTest::newRow("plain") << QStringLiteral("GET / -> 200") << QByteArray(R"("GET / -> 200")");
    QTest::newRow("quotes") << QStringLiteral("say \"hi\"") << QByteArray(R"("say \"hi\"")");
    QTest::newRow("backslash") << QStringLiteral("C:\\dir") << QByteArray(R"("C:\\dir")");
    QTest::newRow("newline") << QStringLiteral("one\ntwo\r\n") << QByteArray(R"("one\ntwo\r\n")");
    QTest::newRow("tab") << QStringLiteral("a\tb") << QByteArray(R"("a\tb")");
    QTest::newRow("control") << QString::fromUtf8("nul\0 bell\a esc\x1b", 15)
                             << QByteArray(R"("nul\u0000 bell\u0007 esc\u001b")");
    QTest::newRow("non-ASCII") << QStringLiteral("café ✓") << QByteArray("\"café ✓\"");
    QTest::newRow("invalid UTF-8")
            << QString::fromUtf8("bad \xff\xfe end") << QByteArray("\"bad \uFFFD\uFFFD end\"");
    QTest::newRow("lone surrogate") << QString(QChar(0xd800)) << QByteArray();
}

void tst_Logging::jsonEscaping()
{
    QFETCH(QString, message);
    QFETCH(QByteArray, escaped);
    QByteArray line;
    appendLogLine(line, LogFormat::Json, "2026-12-03T16:19:10.309+01:00", QtWarningMsg,
                  "switchboard.ws", message);
    // One event, one line.
    QVERIFY(line.endsWith('\n'));
    QCOMPARE(line.count('\n'), 1);
    if (!escaped.isEmpty())
        QCOMPARE(line,
                 R"({"ts":"2026-12-03T16:19:10.309+01:00","level":"warning",)"
                 R"("category":"switchboard.ws","msg":)"
                         + escaped + "}\n");
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(line, &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    const QJsonObject object = document.object();
    QCOMPARE(object.value(u"level").toString(), u"warning");
    QCOMPARE(object.value(u"category").toString(), u"switchboard.ws");
    if (message.isValidUtf16())
        QCOMPARE(object.value(u"msg").toString(), message);
    else
        QVERIFY(!object.value(u"msg").toString().isEmpty()); // replaced, not dropped
}

void tst_Logging::logFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("switchboard.log"));
    QVERIFY(applyLogLevel(QStringLiteral("info")));
    setLogFormat(LogFormat::Json);
    QString error;
    QVERIFY2(openLogFile(path, &error), qPrintable(error));
    const QFile::Permissions others
            = QFile::ReadGroup | QFile::WriteGroup | QFile::ReadOther | QFile::WriteOther;
    QCOMPARE(QFile::permissions(path) & others, QFile::Permissions());
    qCInfo(lcHttp, "first");
    flushLog();

    // A rotation moves the file away; reopening starts a new one at the name.
    QVERIFY(QFile::rename(path, path + u".1"));
    QVERIFY(reopenLogFile(&error));
    qCInfo(lcHttp, "second");
    flushLog();

    QFile rotated(path + u".1");
    QVERIFY(rotated.open(QIODevice::ReadOnly));
    const QByteArray first = rotated.readAll();
    QCOMPARE(first.count('\n'), 1);
    QCOMPARE(QJsonDocument::fromJson(first).object().value(u"msg").toString(), u"first");
    const QString ts = QJsonDocument::fromJson(first).object().value(u"ts").toString();
    QVERIFY2(QDateTime::fromString(ts, Qt::ISODateWithMs).isValid(), qPrintable(ts));
    QCOMPARE(ts.size(), 29);

    QFile current(path);
    QVERIFY(current.open(QIODevice::ReadOnly));
    QCOMPARE(QJsonDocument::fromJson(current.readAll()).object().value(u"msg").toString(),
             u"second");

    QVERIFY(!openLogFile(dir.filePath(QStringLiteral("no/such/folder/x.log")), &error));
    QVERIFY(!error.isEmpty());
}

QTEST_GUILESS_MAIN(tst_Logging)
#include "tst_logging.moc"
