#include "configfile.h"

#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using namespace Switchboard;

class tst_ConfigFile : public QObject
{
    Q_OBJECT

private slots:
    void splitsKeyValueLines()
    {
        QString error;
        const auto file = parseConfigText(QStringLiteral("a.conf"),
                                          "# comment\n"
                                          "; also a comment\n"
                                          "\n"
                                          "port=4041\n"
                                          "  host   =   0.0.0.0  \n"
                                          "admin-token = ab#cd;ef\n"
                                          "log-file = \"/var/log/with space.log\"\r\n"
                                          "allowed-origin = http://a.example\n"
                                          "allowed-origin = http://b.example\n",
                                          &error);
        QVERIFY2(file, qPrintable(error));
        const QList<ConfigEntry> &e = file->entries;
        QCOMPARE(e.size(), 6);
        QCOMPARE(e[0].key, QStringLiteral("port"));
        QCOMPARE(e[0].value, QStringLiteral("4041"));
        QCOMPARE(e[0].line, 4);
        QCOMPARE(e[1].value, QStringLiteral("0.0.0.0"));
        // No comments after a value: a token may hold '#' and ';'.
        QCOMPARE(e[2].value, QStringLiteral("ab#cd;ef"));
        // Quotes (and a CRLF line end) are dropped.
        QCOMPARE(e[3].value, QStringLiteral("/var/log/with space.log"));
        QCOMPARE(e[5].line, 9);
    }

    void errorsNameFileAndLine_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("error");
        QTest::newRow("section") << QByteArray("port = 1\n[server]\n")
                                 << QStringLiteral("x.conf:2: '[server]': this file has no "
                                                   "sections; write 'key = value' lines only.");
        QTest::newRow("no equals") << QByteArray("\n\nport 4040\n")
                                   << QStringLiteral("x.conf:3: 'port 4040' is not 'key = "
                                                     "value'.");
        QTest::newRow("dashes") << QByteArray("--port = 1\n")
                                << QStringLiteral("x.conf:1: write the key without dashes: "
                                                  "'port = ...'.");
        QTest::newRow("not a key") << QByteArray("the port = 1\n")
                                   << QStringLiteral("x.conf:1: 'the port' is not a key; keys "
                                                     "are option names such as 'port'.");
        QTest::newRow("not UTF-8") << QByteArray("port = 1\nhost = \xff\xfe\n")
                                   << QStringLiteral("x.conf:2: is not UTF-8 text.");
    }

    void errorsNameFileAndLine()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, error);
        QString actual;
        QVERIFY(!parseConfigText(QStringLiteral("x.conf"), text, &actual));
        QCOMPARE(actual, error);
    }

    void unreadableFile()
    {
        QTemporaryDir dir;
        QString error;
        const QString path = dir.filePath(QStringLiteral("missing.conf"));
        QVERIFY(!readConfigFile(path, &error));
        QVERIFY2(error.startsWith(path + u": cannot be read ("), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(tst_ConfigFile)
#include "tst_configfile.moc"
