// The real `switchboard` binary, started as a user would: options, exit codes,
// the start-up line, the admin token and a clean shutdown on SIGTERM/SIGINT.

#include "testutil.h"

#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QTcpServer>
#include <QtTest/QTest>

#include <csignal>

using namespace TestUtil;

class tst_App : public QObject
{
    Q_OBJECT

private:
    static QString binary() { return qEnvironmentVariable("SWITCHBOARD_BINARY"); }

    struct Running
    {
        std::unique_ptr<QProcess> process;
        quint16 port = 0;
        QString firstLine;
        QString output;
    };

    /*! Starts the binary headless on a free port and waits for its listening line. */
    static Running start(QStringList args = {},
                         const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(),
                         bool noGui = true)
    {
        Running r;
        r.process = std::make_unique<QProcess>();
        r.process->setProcessEnvironment(env);
        if (noGui)
            args.prepend(QStringLiteral("--no-gui"));
        r.process->start(binary(),
                         QStringList{QStringLiteral("--port"), QStringLiteral("0")} + args);
        if (!r.process->waitForStarted(5000))
            return r;
        waitFor(
                [&] {
                    r.output += QString::fromUtf8(r.process->readAllStandardOutput());
                    return r.output.contains(u'\n') || r.process->state() == QProcess::NotRunning;
                },
                10000);
        r.firstLine = r.output.section(u'\n', 0, 0);
        static const QRegularExpression line(
                QStringLiteral("^Switchboard listening on http://127\\.0\\.0\\.1:(\\d+) "
                               "\\(WebSocket ws://127\\.0\\.0\\.1:(\\d+)/ws\\)$"));
        const auto match = line.match(r.firstLine);
        if (match.hasMatch() && match.captured(1) == match.captured(2))
            r.port = quint16(match.captured(1).toUInt());
        return r;
    }

    static int runToEnd(const QStringList &args, QString *stdErr = nullptr,
                        QString *stdOut = nullptr)
    {
        QProcess process;
        process.start(binary(), args);
        if (!process.waitForFinished(10000)) {
            process.kill();
            process.waitForFinished();
            return -1;
        }
        if (stdErr)
            *stdErr = QString::fromUtf8(process.readAllStandardError());
        if (stdOut)
            *stdOut = QString::fromUtf8(process.readAllStandardOutput());
        return process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    }

private slots:
    void initTestCase()
    {
        QVERIFY2(QFile::exists(binary()),
                 "SWITCHBOARD_BINARY must name the built switchboard binary");
    }

    void badOptionsExit2_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("unknown") << QStringList{QStringLiteral("--bogus")}
                                 << QStringLiteral("bogus");
        QTest::newRow("port") << QStringList{QStringLiteral("--port"), QStringLiteral("99999")}
                              << QStringLiteral("--port");
        QTest::newRow("size") << QStringList{QStringLiteral("--max-message-size"),
                                             QStringLiteral("big")}
                              << QStringLiteral("--max-message-size");
        QTest::newRow("origin") << QStringList{QStringLiteral("--allowed-origin"),
                                               QStringLiteral("nope")}
                                << QStringLiteral("--allowed-origin");
        QTest::newRow("cluster") << QStringList{QStringLiteral("--cluster"),
                                                QStringLiteral("http://127.0.0.1:6379")}
                                 << QStringLiteral("--cluster");
    }

    void badOptionsExit2()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, mentions);
        QString err;
        QCOMPARE(runToEnd(QStringList{QStringLiteral("--no-gui")} + args, &err), 2);
        QVERIFY2(err.startsWith(u"Error: "), qPrintable(err));
        QVERIFY2(err.contains(mentions), qPrintable(err));
        QVERIFY2(err.contains(u"--help"), qPrintable(err));
    }

    void helpAndVersionExit0()
    {
        QString out;
        QCOMPARE(runToEnd({QStringLiteral("--version")}, nullptr, &out), 0);
        QCOMPARE(out.trimmed(), QStringLiteral("switchboard " SWITCHBOARD_VERSION));
        QCOMPARE(runToEnd({QStringLiteral("--help")}, nullptr, &out), 0);
        QVERIFY(out.contains(u"--idle-timeout"));
        // Read before QCoreApplication exists, yet the usage line names the program.
        QVERIFY2(out.startsWith(u"Usage: switchboard [options]\n"), qPrintable(out.left(80)));
    }

    void portInUseExits1()
    {
        QTcpServer squatter;
        QVERIFY(squatter.listen(QHostAddress::LocalHost, 0));
        QString err;
        QCOMPARE(runToEnd({QStringLiteral("--no-gui"), QStringLiteral("--port"),
                           QString::number(squatter.serverPort())},
                          &err),
                 1);
        QVERIFY2(err.contains(u"already in use"), qPrintable(err));
        QVERIFY2(err.contains(u"--port"), qPrintable(err)); // says what to do
        QCOMPARE(err.count(u"already in use"), 1); // said once, not logged as well
    }

    void addressOfAnotherMachineExits1()
    {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
        QString err;
        QCOMPARE(runToEnd({QStringLiteral("--no-gui"), QStringLiteral("--host"),
                           QStringLiteral("192.0.2.1"), QStringLiteral("--port"),
                           QStringLiteral("0")},
                          &err),
                 1);
        QVERIFY2(err.contains(u"192.0.2.1 is not an address of this machine"), qPrintable(err));
        for (const auto choice : {u"127.0.0.1", u"0.0.0.0", u"::"})
            QVERIFY2(err.contains(choice), qPrintable(err)); // says how to pick one
        QCOMPARE(err.count(u"not an address"), 1);
    }

    void mismatchedTlsKeyExits2()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto make = [&](const QString &cert, const QString &key) {
            QProcess openssl;
            openssl.start(QStringLiteral("openssl"),
                          {QStringLiteral("req"), QStringLiteral("-x509"),
                           QStringLiteral("-newkey"), QStringLiteral("rsa:2048"),
                           QStringLiteral("-nodes"), QStringLiteral("-keyout"), dir.filePath(key),
                           QStringLiteral("-out"), dir.filePath(cert), QStringLiteral("-days"),
                           QStringLiteral("1"), QStringLiteral("-subj"),
                           QStringLiteral("/CN=localhost")});
            return openssl.waitForFinished(30000) && openssl.exitCode() == 0;
        };
        QVERIFY2(make(QStringLiteral("a.crt"), QStringLiteral("a.key")), "openssl failed");
        QVERIFY2(make(QStringLiteral("b.crt"), QStringLiteral("b.key")), "openssl failed");
        QString err;
        QCOMPARE(
                runToEnd({QStringLiteral("--no-gui"), QStringLiteral("--port"), QStringLiteral("0"),
                          QStringLiteral("--tls-cert"), dir.filePath(QStringLiteral("a.crt")),
                          QStringLiteral("--tls-key"), dir.filePath(QStringLiteral("b.key"))},
                         &err),
                2);
        QVERIFY2(err.startsWith(u"Error: the key " + dir.filePath(QStringLiteral("b.key"))
                                + u" does not belong to the certificate "
                                + dir.filePath(QStringLiteral("a.crt"))),
                 qPrintable(err));
    }

    void badTlsFilesExit2()
    {
        QString err;
        QCOMPARE(
                runToEnd({QStringLiteral("--no-gui"), QStringLiteral("--port"), QStringLiteral("0"),
                          QStringLiteral("--tls-cert"), QStringLiteral("/nonexistent/cert.pem"),
                          QStringLiteral("--tls-key"), QStringLiteral("/nonexistent/key.pem")},
                         &err),
                2);
        QVERIFY2(err.startsWith(u"Error: cannot read the TLS certificate /nonexistent/cert.pem"),
                 qPrintable(err));
        QCOMPARE(runToEnd({QStringLiteral("--no-gui"), QStringLiteral("--tls-cert"),
                           QStringLiteral("cert.pem")},
                          &err),
                 2); // one without the other is a usage error
        QVERIFY2(err.contains(u"--tls-key"), qPrintable(err));
    }

    void printsListeningLineAndGeneratedToken()
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"));
        Running app = start({}, env);
        QVERIFY2(app.port != 0, qPrintable(app.firstLine));
        QVERIFY(waitFor([&] {
            app.output += QString::fromUtf8(app.process->readAllStandardOutput());
            return app.output.contains(u"Admin token");
        }));
        static const QRegularExpression tokenLine(QStringLiteral("Admin token [^:]*: (\\S+)"));
        const QString token = tokenLine.match(app.output).captured(1);
        QCOMPARE(token.size(), 32);
        QCOMPARE(request(app.port, "GET", "/api/connections").status, 401);
        QCOMPARE(request(app.port, "GET", "/api/connections",
                         {{"Authorization", "Bearer " + token.toLatin1()}})
                         .status,
                 200);
        app.process->terminate();
        QVERIFY(app.process->waitForFinished(5000));
        QCOMPARE(app.output.count(u"Admin token"), 1);
    }

    void tokenFromEnvironmentIsNotPrinted()
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"), QStringLiteral("env-secret"));
        Running app = start({}, env);
        QVERIFY(app.port != 0);
        QCOMPARE(request(app.port, "GET", "/api/connections",
                         {{"Authorization", "Bearer env-secret"}})
                         .status,
                 200);
        app.process->terminate();
        QVERIFY(app.process->waitForFinished(5000));
        app.output += QString::fromUtf8(app.process->readAllStandardOutput());
        QVERIFY(!app.output.contains(u"env-secret"));
        QVERIFY(!app.output.contains(u"Admin token"));
    }

    void signalClosesSessionsWith1001AndExits0_data()
    {
        QTest::addColumn<int>("signalNumber");
        QTest::newRow("SIGTERM") << int(SIGTERM);
        QTest::newRow("SIGINT") << int(SIGINT);
    }

    void signalClosesSessionsWith1001AndExits0()
    {
        QFETCH(int, signalNumber);
        Running app = start();
        QVERIFY2(app.port != 0, qPrintable(app.firstLine));
        const QString url = QStringLiteral("ws://127.0.0.1:%1/ws").arg(app.port);
        Client a(url);
        Client b(QStringLiteral("ws://127.0.0.1:%1/ws/chat").arg(app.port));
        QVERIFY(a.waitGreeted() && b.waitGreeted());
        QCOMPARE(::kill(pid_t(app.process->processId()), signalNumber), 0);
        QTRY_VERIFY_WITH_TIMEOUT(a.closed && b.closed, 5000);
        QCOMPARE(a.closeCode, 1001);
        QCOMPARE(b.closeCode, 1001);
        QTRY_COMPARE_WITH_TIMEOUT(app.process->state(), QProcess::NotRunning, 5000);
        QCOMPARE(app.process->exitStatus(), QProcess::NormalExit);
        QCOMPARE(app.process->exitCode(), 0);
    }

    void signalRightAfterTheListeningLineExits0()
    {
        // A supervisor may signal as soon as it reads the listening line: the
        // handler must be in place by then (it was not, and SIGTERM killed the
        // process in about half of these runs).
        for (int run = 0; run < 10; ++run) {
            QProcess process;
            process.start(binary(),
                          {QStringLiteral("--no-gui"), QStringLiteral("--port"),
                           QStringLiteral("0"), QStringLiteral("--admin-token"),
                           QStringLiteral("t")});
            // Blocking reads, not the event loop: the signal follows the line at once.
            QByteArray output;
            while (!output.contains('\n') && process.waitForReadyRead(10000))
                output += process.readAllStandardOutput();
            QVERIFY2(output.startsWith("Switchboard listening on "), output.constData());
            QCOMPARE(::kill(pid_t(process.processId()), SIGTERM), 0);
            QVERIFY(process.waitForFinished(5000));
            QCOMPARE(process.exitStatus(), QProcess::NormalExit); // not killed by the signal
            QCOMPARE(process.exitCode(), 0);
        }
    }

    void withoutAUsableDisplayRunsHeadless_data()
    {
        QTest::addColumn<QString>("display");
        QTest::addColumn<QString>("waylandDisplay");
        QTest::addColumn<QString>("says");
        QTest::newRow("both unset")
                << QString() << QString()
                << QStringLiteral("cannot open a display (DISPLAY and WAYLAND_DISPLAY are unset)");
        QTest::newRow("X11 display with no server")
                << QStringLiteral(":77") << QString()
                << QStringLiteral("cannot open display ':77' (X11)");
        QTest::newRow("Wayland display with no compositor")
                << QString() << QStringLiteral("bogus")
                << QStringLiteral("cannot open display 'bogus' (Wayland: ");
    }

    void withoutAUsableDisplayRunsHeadless()
    {
        // Without --no-gui: Qt would abort (exit 134, "could not connect to
        // display") if main() built a QApplication for a display that is not there.
#ifndef SWITCHBOARD_HAVE_GUI
        QSKIP("this build has no operator console");
#endif
        QFETCH(QString, display);
        QFETCH(QString, waylandDisplay);
        QFETCH(QString, says);
        if (QFile::exists(QStringLiteral("/tmp/.X11-unix/X77")))
            QSKIP("an X server runs on :77 here");
        QTemporaryDir runtimeDir; // a Wayland runtime directory without a compositor
        QVERIFY(runtimeDir.isValid());
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        // ctest sets QT_QPA_PLATFORM=offscreen, which needs no display and would hide the case.
        for (const char *name : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET",
                                 "XDG_SESSION_TYPE"})
            env.remove(QLatin1String(name));
        env.insert(QStringLiteral("XDG_RUNTIME_DIR"), runtimeDir.path());
        if (!display.isEmpty())
            env.insert(QStringLiteral("DISPLAY"), display);
        if (!waylandDisplay.isEmpty())
            env.insert(QStringLiteral("WAYLAND_DISPLAY"), waylandDisplay);

        Running app = start({}, env, /*noGui=*/false);
        const auto finish = [&] {
            if (app.process->state() != QProcess::NotRunning) {
                app.process->kill();
                app.process->waitForFinished();
            }
        };
        const QString early = QString::fromUtf8(app.process->readAllStandardError());
        if (app.port == 0) {
            finish();
            QFAIL(qPrintable(QStringLiteral("no listening line; %1 %2, stdout '%3', stderr '%4'")
                                     .arg(app.process->exitStatus() == QProcess::CrashExit
                                                  ? QStringLiteral("killed by signal")
                                                  : QStringLiteral("exit"))
                                     .arg(app.process->exitCode())
                                     .arg(app.output, early)));
        }
        QCOMPARE(request(app.port, "GET", "/api/health").status, 200);
        QCOMPARE(::kill(pid_t(app.process->processId()), SIGTERM), 0);
        QTRY_COMPARE_WITH_TIMEOUT(app.process->state(), QProcess::NotRunning, 5000);
        const QString err = early + QString::fromUtf8(app.process->readAllStandardError());
        QCOMPARE(app.process->exitStatus(), QProcess::NormalExit);
        QCOMPARE(app.process->exitCode(), 0);
        // One line that names the display and says what to do.
        QCOMPARE(err.count(u"cannot open"), 1);
        const qsizetype at = err.indexOf(u"switchboard: cannot open");
        const QString line = err.mid(at, err.indexOf(u'\n', at) - at);
        QVERIFY2(err.contains(u"switchboard: " + says), qPrintable(err));
        QVERIFY2(line.contains(u"running headless") && line.contains(u"--no-gui"), qPrintable(err));
        QVERIFY2(!err.contains(u"could not connect to display"), qPrintable(err));
    }

    void platformWithoutDisplayServerStillOpensTheConsole()
    {
        // QT_QPA_PLATFORM=offscreen needs no display: a dead DISPLAY must not
        // send the console away.
#ifndef SWITCHBOARD_HAVE_GUI
        QSKIP("this build has no operator console");
#endif
        QTemporaryDir home; // the console saves its settings there
        QVERIFY(home.isValid());
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        env.insert(QStringLiteral("DISPLAY"), QStringLiteral(":77"));
        env.insert(QStringLiteral("HOME"), home.path());
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), home.path());
        Running app = start({}, env, /*noGui=*/false);
        QVERIFY2(app.port != 0, qPrintable(app.firstLine));
        QCOMPARE(request(app.port, "GET", "/api/health").status, 200);
        QCOMPARE(::kill(pid_t(app.process->processId()), SIGTERM), 0);
        QTRY_COMPARE_WITH_TIMEOUT(app.process->state(), QProcess::NotRunning, 5000);
        QCOMPARE(app.process->exitCode(), 0);
        const QString err = QString::fromUtf8(app.process->readAllStandardError());
        QVERIFY2(!err.contains(u"cannot open"), qPrintable(err));
    }

    void signalWithAPeerThatNeverClosesStillExits()
    {
        // A peer that ignores the close frame must not hold the process up.
        Running app = start();
        QVERIFY(app.port != 0);
        QTcpSocket raw;
        raw.connectToHost(QHostAddress::LocalHost, app.port);
        QVERIFY(raw.waitForConnected(5000));
        raw.write(
                "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        QVERIFY(waitFor([&] { return raw.bytesAvailable() > 0 || raw.waitForReadyRead(10); }));
        QVERIFY(raw.readAll().startsWith("HTTP/1.1 101"));
        QCOMPARE(::kill(pid_t(app.process->processId()), SIGTERM), 0);
        QTRY_COMPARE_WITH_TIMEOUT(app.process->state(), QProcess::NotRunning, 5000);
        QCOMPARE(app.process->exitCode(), 0);
    }
};

QTEST_GUILESS_MAIN(tst_App)
#include "tst_app.moc"
