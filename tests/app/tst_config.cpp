#include "config.h"

#include "cluster/redislink.h"

#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using namespace Switchboard;
using namespace std::chrono_literals;

namespace {
const QString kSecret = QStringLiteral("0123456789abcdef-test");

/*! Writes \a text to \a name in \a dir; its path. */
QString writeFile(const QTemporaryDir &dir, const QString &name, const QByteArray &text)
{
    QFile file(dir.filePath(name));
    if (!file.open(QIODevice::WriteOnly) || file.write(text) != text.size())
        qFatal("cannot write %s", qPrintable(file.fileName()));
    return file.fileName();
}
} // namespace

class tst_Config : public QObject
{
    Q_OBJECT

private:
    static CommandLine parse(QStringList args,
                             const QProcessEnvironment &env = QProcessEnvironment())
    {
        args.prepend(QStringLiteral("switchboard"));
        return parseCommandLine(args, env);
    }

private slots:
    void defaults()
    {
        const CommandLine cli = parse({});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        const ServerConfig &c = cli.config;
        QCOMPARE(c.host, QHostAddress(QHostAddress::LocalHost));
        QCOMPARE(c.port, quint16(4040));
        QCOMPARE(c.hub.pingInterval, 10s);
        QCOMPARE(c.hub.idleTimeout, 60s);
        QCOMPARE(c.hub.maxMessageSize, 16 * 1024 * 1024);
        QVERIFY(c.adminTokenGenerated);
        QCOMPARE(c.adminToken.size(), 32);
        QVERIFY(c.allowedOrigins.isEmpty());
        QCOMPARE(c.logFormat, LogFormat::Text);
        QVERIFY(c.logFile.isEmpty());
        QCOMPARE(c.logLevel, QStringLiteral("info"));
        QVERIFY(!c.noGui);
        QCOMPARE(c.http.headerTimeout, 10s);
        QCOMPARE(c.http.keepAliveTimeout, 30s);
        QCOMPARE(c.http.bodyTimeout, 20s);
        QCOMPARE(c.http.bodyMinRate, 500);
        QCOMPARE(c.http.maxHeaderSize, 16 * 1024);
        QCOMPARE(c.http.maxHeaderFields, 100);
        QCOMPARE(c.http.maxBodySize, 1024 * 1024);
        QCOMPARE(c.http.maxConnections, 10000);
        QVERIFY(!c.cluster.enabled()); // standalone unless --cluster is given
    }

    void cluster_data()
    {
        QTest::addColumn<QString>("url");
        QTest::addColumn<QString>("host");
        QTest::addColumn<int>("port");
        QTest::addColumn<int>("db");
        QTest::newRow("full") << QStringLiteral("redis://10.0.0.5:6380/3")
                              << QStringLiteral("10.0.0.5") << 6380 << 3;
        QTest::newRow("default port")
                << QStringLiteral("redis://localhost") << QStringLiteral("localhost") << 6379 << 0;
        QTest::newRow("trailing slash") << QStringLiteral("redis://127.0.0.1:7000/")
                                        << QStringLiteral("127.0.0.1") << 7000 << 0;
    }

    void cluster()
    {
        QFETCH(QString, url);
        QFETCH(QString, host);
        QFETCH(int, port);
        QFETCH(int, db);
        const CommandLine cli
                = parse({QStringLiteral("--cluster"), url, QStringLiteral("--node-name"),
                         QStringLiteral("alpha"), QStringLiteral("--cluster-secret"), kSecret});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        const ClusterSettings &c = cli.config.cluster;
        QVERIFY(c.enabled());
        QCOMPARE(c.redis.host, host);
        QCOMPARE(c.redis.port, quint16(port));
        QCOMPARE(c.redis.db, db);
        QCOMPARE(c.secret, kSecret.toUtf8());
        QCOMPARE(c.nodeName, QStringLiteral("alpha"));
        QCOMPARE(c.channel(), "switchboard:cluster:" + QByteArray::number(db));
    }

    void clusterSecretsAndCredentials()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString url = QStringLiteral("redis://127.0.0.1");
        // The secret from a file (one line, its newline dropped) or the environment.
        const QString secretFile
                = writeFile(dir, QStringLiteral("secret"), kSecret.toUtf8() + '\n');
        CommandLine cli = parse({QStringLiteral("--cluster"), url,
                                 QStringLiteral("--cluster-secret-file"), secretFile});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.cluster.secret, kSecret.toUtf8());
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_CLUSTER_SECRET"), kSecret);
        cli = parse({QStringLiteral("--cluster"), url}, env);
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.cluster.secret, kSecret.toUtf8());
        // --cluster-insecure: no secret, said explicitly.
        cli = parse({QStringLiteral("--cluster"), url, QStringLiteral("--cluster-insecure")});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QVERIFY(cli.config.cluster.secret.isEmpty());

        // Redis credentials: user and password in the URL (percent-encoded), or a file.
        cli = parse({QStringLiteral("--cluster"),
                     QStringLiteral("redis://app:p%40ss@127.0.0.1:6380/2"),
                     QStringLiteral("--cluster-insecure")});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.cluster.redis.username, QStringLiteral("app"));
        QCOMPARE(cli.config.cluster.redis.password, QByteArray("p@ss"));
        QCOMPARE(cli.config.cluster.redis.displayUrl(),
                 QStringLiteral("redis://app@127.0.0.1:6380/2")); // never the password
        const QString passwordFile = writeFile(dir, QStringLiteral("pw"), "from file\n");
        cli = parse({QStringLiteral("--cluster"), QStringLiteral("redis://app@127.0.0.1"),
                     QStringLiteral("--cluster-insecure"),
                     QStringLiteral("--cluster-password-file"), passwordFile});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.cluster.redis.username, QStringLiteral("app"));
        QCOMPARE(cli.config.cluster.redis.password, QByteArray("from file"));

        // rediss://: accepted where this build's hiredis has TLS, refused clearly otherwise.
        cli = parse({QStringLiteral("--cluster"), QStringLiteral("rediss://127.0.0.1:6380"),
                     QStringLiteral("--cluster-insecure")});
        if (RedisLink::supportsTls()) {
            QCOMPARE(cli.action, CommandLine::Action::Run);
            QVERIFY(cli.config.cluster.redis.tls);
        } else {
            QCOMPARE(cli.action, CommandLine::Action::Error);
            QVERIFY2(cli.text.contains(u"no TLS") && cli.text.contains(RedisLink::clientVersion()),
                     qPrintable(cli.text));
        }
    }

    void httpLimits()
    {
        const CommandLine cli
                = parse({QStringLiteral("--header-timeout"), QStringLiteral("2.5"),
                         QStringLiteral("--keepalive-timeout"), QStringLiteral("5"),
                         QStringLiteral("--body-timeout"), QStringLiteral("1.5"),
                         QStringLiteral("--body-min-rate"), QStringLiteral("2K"),
                         QStringLiteral("--max-header-size"), QStringLiteral("8K"),
                         QStringLiteral("--max-body-size"), QStringLiteral("0"),
                         QStringLiteral("--max-connections"), QStringLiteral("20000")});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.http.headerTimeout, 2500ms);
        QCOMPARE(cli.config.http.keepAliveTimeout, 5s);
        QCOMPARE(cli.config.http.bodyTimeout, 1500ms);
        QCOMPARE(cli.config.http.bodyMinRate, 2048);
        QCOMPARE(cli.config.http.maxHeaderSize, 8 * 1024);
        QCOMPARE(cli.config.http.maxBodySize, 0);
        QCOMPARE(cli.config.http.maxConnections, 20000);
        // 0: the body timeout is a fixed deadline, whatever arrives.
        QCOMPARE(parse({QStringLiteral("--body-min-rate"), QStringLiteral("0")})
                         .config.http.bodyMinRate,
                 0);
    }

    void everyOption()
    {
        const CommandLine cli = parse(
                {QStringLiteral("--host"), QStringLiteral("::1"), QStringLiteral("--port"),
                 QStringLiteral("0"), QStringLiteral("--no-gui"), QStringLiteral("--ping-interval"),
                 QStringLiteral("0.25"), QStringLiteral("--idle-timeout"), QStringLiteral("0"),
                 QStringLiteral("--max-message-size"), QStringLiteral("64k"),
                 QStringLiteral("--admin-token"), QStringLiteral("tok"),
                 QStringLiteral("--allowed-origin"), QStringLiteral("http://a:1"),
                 QStringLiteral("--allowed-origin"), QStringLiteral("*"),
                 QStringLiteral("--log-level"), QStringLiteral("DEBUG")});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        const ServerConfig &c = cli.config;
        QCOMPARE(c.host, QHostAddress(QStringLiteral("::1")));
        QCOMPARE(c.port, quint16(0));
        QVERIFY(c.noGui);
        QCOMPARE(c.hub.pingInterval, 250ms);
        QCOMPARE(c.hub.idleTimeout, 0ms);
        QCOMPARE(c.hub.maxMessageSize, 64 * 1024);
        QCOMPARE(c.adminToken, QByteArray("tok"));
        QVERIFY(!c.adminTokenGenerated);
        QCOMPARE(c.allowedOrigins,
                 QStringList({QStringLiteral("http://a:1"), QStringLiteral("*")}));
        QCOMPARE(c.logLevel, QStringLiteral("debug"));
    }

    void logOptions()
    {
        const CommandLine cli
                = parse({QStringLiteral("--log-format"), QStringLiteral("JSON"),
                         QStringLiteral("--log-file"), QStringLiteral("/var/log/sb.log")});
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.logFormat, LogFormat::Json);
        QCOMPARE(cli.config.logFile, QStringLiteral("/var/log/sb.log"));
        QCOMPARE(parse({QStringLiteral("--log-format"), QStringLiteral("text")}).config.logFormat,
                 LogFormat::Text);
        const QString help = parse({QStringLiteral("--help")}).text;
        QVERIFY(help.contains(u"--log-format"));
        QVERIFY(help.contains(u"--log-file"));
    }

    void adminTokenFromEnvironment()
    {
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"), QStringLiteral("from-env"));
        QCOMPARE(parse({}, env).config.adminToken, QByteArray("from-env"));
        QVERIFY(!parse({}, env).config.adminTokenGenerated);
        // The option wins over the environment.
        QCOMPARE(parse({QStringLiteral("--admin-token=cli")}, env).config.adminToken,
                 QByteArray("cli"));
    }

    void clientTokenAndSendBuffer()
    {
        QVERIFY(parse({}).config.clientToken.isEmpty()); // no client token unless asked for
        QCOMPARE(parse({}).config.hub.maxSendBuffer, 8 * 1024 * 1024);
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_CLIENT_TOKEN"), QStringLiteral("env-client"));
        QCOMPARE(parse({}, env).config.clientToken, QByteArray("env-client"));
        const CommandLine cli
                = parse({QStringLiteral("--client-token"), QStringLiteral("cli-client"),
                         QStringLiteral("--max-send-buffer"), QStringLiteral("1M")},
                        env);
        QCOMPARE(cli.config.clientToken, QByteArray("cli-client"));
        QCOMPARE(cli.config.hub.maxSendBuffer, 1024 * 1024);
    }

    void generatedTokensDiffer()
    {
        QVERIFY(parse({}).config.adminToken != parse({}).config.adminToken);
    }

    void helpAndVersion()
    {
        const CommandLine help = parse({QStringLiteral("--help")});
        QCOMPARE(help.action, CommandLine::Action::Help);
        for (const char *option :
             {"--host", "--port", "--no-gui", "--ping-interval", "--idle-timeout",
              "--max-message-size", "--admin-token", "--allowed-origin", "--log-level",
              "--header-timeout", "--keepalive-timeout", "--max-header-size", "--max-body-size",
              "--max-connections", "--client-token", "--max-send-buffer", "--body-timeout",
              "--body-min-rate"})
            QVERIFY2(help.text.contains(QLatin1String(option)), option);
        const CommandLine version = parse({QStringLiteral("--version")});
        QCOMPARE(version.action, CommandLine::Action::Version);
        QCOMPARE(version.text, QStringLiteral("switchboard " SWITCHBOARD_VERSION));
    }

    void helpListsExitCodesAndEnvironment_data()
    {
        QTest::addColumn<QString>("line");
        // Each exit code main() returns, at the start of its own line.
        QTest::newRow("exit 0") << QStringLiteral("\n  0  normal exit");
        QTest::newRow("exit 1") << QStringLiteral("\n  1  cannot listen");
        QTest::newRow("exit 2") << QStringLiteral(
                "\n  2  a bad option or value, unusable --tls-cert");
        // Every variable the program reads (grep qEnvironmentVariable, env.value, getenv).
        for (const char *variable :
             {"SWITCHBOARD_ADMIN_TOKEN", "SWITCHBOARD_CLIENT_TOKEN", "SWITCHBOARD_CLUSTER_SECRET",
              "DISPLAY, WAYLAND_DISPLAY", "XDG_SESSION_TYPE, XDG_RUNTIME_DIR", "QT_QPA_PLATFORM",
              "QT_NO_GLIB", "GLIBC_TUNABLES", "SWITCHBOARD_UI_PROBE", "SWITCHBOARD_CONFIG",
              "NOTIFY_SOCKET", "SWITCHBOARD_<OPTION>"})
            QTest::newRow(variable) << QStringLiteral("\n  ") + QLatin1String(variable);
    }

    void helpListsExitCodesAndEnvironment()
    {
        QFETCH(QString, line);
        const CommandLine help = parse({QStringLiteral("--help")});
        QCOMPARE(help.action, CommandLine::Action::Help);
        QVERIFY(help.text.contains(u"\nExit codes:\n"));
        QVERIFY(help.text.contains(u"\nEnvironment:\n"));
        QVERIFY2(help.text.contains(line), qPrintable(help.text));
    }

    void badValues_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("mentions");
        const auto L = [](std::initializer_list<const char *> list) {
            QStringList out;
            for (const char *s : list)
                out << QString::fromLatin1(s);
            return out;
        };
        QTest::newRow("unknown option") << L({"--frobnicate"}) << QStringLiteral("frobnicate");
        QTest::newRow("missing value") << L({"--port"}) << QStringLiteral("port");
        QTest::newRow("port text") << L({"--port", "http"}) << QStringLiteral("--port 'http'");
        QTest::newRow("port too big") << L({"--port", "70000"}) << QStringLiteral("0 to 65535");
        QTest::newRow("port negative") << L({"--port", "-1"}) << QStringLiteral("--port '-1'");
        QTest::newRow("host name") << L({"--host", "example.com"}) << QStringLiteral("--host");
        QTest::newRow("ping text")
                << L({"--ping-interval", "soon"}) << QStringLiteral("--ping-interval");
        QTest::newRow("ping negative")
                << L({"--ping-interval", "-1"}) << QStringLiteral("--ping-interval");
        QTest::newRow("ping nan") << L({"--ping-interval", "nan"})
                                  << QStringLiteral("--ping-interval");
        QTest::newRow("idle text")
                << L({"--idle-timeout", "1m"}) << QStringLiteral("--idle-timeout");
        QTest::newRow("size zero")
                << L({"--max-message-size", "0"}) << QStringLiteral("--max-message-size");
        QTest::newRow("size unit")
                << L({"--max-message-size", "16X"}) << QStringLiteral("--max-message-size");
        QTest::newRow("size too big") << L({"--max-message-size", "2G"}) << QStringLiteral("2G-1");
        QTest::newRow("empty token") << L({"--admin-token", ""}) << QStringLiteral("--admin-token");
        QTest::newRow("token with space")
                << L({"--admin-token", "a b"}) << QStringLiteral("whitespace");
        QTest::newRow("origin path")
                << L({"--allowed-origin", "http://a/b"}) << QStringLiteral("--allowed-origin");
        QTest::newRow("log level") << L({"--log-level", "loud"}) << QStringLiteral("--log-level");
        QTest::newRow("log format")
                << L({"--log-format", "xml"}) << QStringLiteral("--log-format 'xml'");
        QTest::newRow("log file empty") << L({"--log-file", ""}) << QStringLiteral("--log-file");
        QTest::newRow("positional") << L({"4040"}) << QStringLiteral("unexpected argument");
        QTest::newRow("header timeout 0")
                << L({"--header-timeout", "0"}) << QStringLiteral("--header-timeout");
        QTest::newRow("keepalive text")
                << L({"--keepalive-timeout", "x"}) << QStringLiteral("--keepalive-timeout");
        QTest::newRow("body timeout 0")
                << L({"--body-timeout", "0"}) << QStringLiteral("--body-timeout");
        QTest::newRow("body timeout text")
                << L({"--body-timeout", "soon"}) << QStringLiteral("--body-timeout");
        QTest::newRow("body min rate negative")
                << L({"--body-min-rate", "-1"}) << QStringLiteral("--body-min-rate");
        QTest::newRow("body min rate unit")
                << L({"--body-min-rate", "5 per s"}) << QStringLiteral("--body-min-rate");
        QTest::newRow("body min rate too big")
                << L({"--body-min-rate", "2G"}) << QStringLiteral("2G-1");
        QTest::newRow("header size small")
                << L({"--max-header-size", "100"}) << QStringLiteral("1K to 64K");
        QTest::newRow("header size big")
                << L({"--max-header-size", "1M"}) << QStringLiteral("1K to 64K");
        QTest::newRow("body size text")
                << L({"--max-body-size", "lots"}) << QStringLiteral("--max-body-size");
        QTest::newRow("connections 0")
                << L({"--max-connections", "0"}) << QStringLiteral("--max-connections");
        QTest::newRow("connections text")
                << L({"--max-connections", "many"}) << QStringLiteral("--max-connections");
        QTest::newRow("cluster scheme")
                << L({"--cluster", "http://127.0.0.1:6379"}) << QStringLiteral("redis://");
        QTest::newRow("cluster no host") << L({"--cluster", "redis://"}) << QStringLiteral("host");
        QTest::newRow("cluster port")
                << L({"--cluster", "redis://127.0.0.1:99999"}) << QStringLiteral("--cluster");
        QTest::newRow("cluster db")
                << L({"--cluster", "redis://127.0.0.1:6379/x"}) << QStringLiteral("database");
        QTest::newRow("node name alone") << L({"--node-name", "a"}) << QStringLiteral("--cluster");
        QTest::newRow("node name space")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--node-name", "a b"})
                << QStringLiteral("--node-name");
        QTest::newRow("node name markup") << L(
                {"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--node-name", "<b>x</b>"})
                                          << QStringLiteral("--node-name");
        QTest::newRow("node name slash")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--node-name", "a/b"})
                << QStringLiteral("--node-name");
        QTest::newRow("node name newline") << L(
                {"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--node-name", "a\nb"})
                                           << QStringLiteral("--node-name");
        QTest::newRow("secret alone")
                << L({"--cluster-secret", "0123456789abcdef"}) << QStringLiteral("needs --cluster");
        QTest::newRow("insecure alone")
                << L({"--cluster-insecure"}) << QStringLiteral("needs --cluster");
        QTest::newRow("no secret")
                << L({"--cluster", "redis://127.0.0.1"}) << QStringLiteral("--cluster-insecure");
        QTest::newRow("short secret")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-secret", "short"})
                << QStringLiteral("at least 16");
        QTest::newRow("secret and insecure")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--cluster-secret",
                      "0123456789abcdef"})
                << QStringLiteral("--cluster-insecure");
        QTest::newRow("secret twice")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-secret", "0123456789abcdef",
                      "--cluster-secret-file", "/nonexistent"})
                << QStringLiteral("use one");
        QTest::newRow("secret file missing")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-secret-file", "/nonexistent/s"})
                << QStringLiteral("/nonexistent/s");
        QTest::newRow("password twice")
                << L({"--cluster", "redis://:pw@127.0.0.1", "--cluster-insecure",
                      "--cluster-password-file", "/nonexistent"})
                << QStringLiteral("use one");
        QTest::newRow("user without password")
                << L({"--cluster", "redis://app@127.0.0.1", "--cluster-insecure"})
                << QStringLiteral("without a password");
        QTest::newRow("ca file without tls")
                << L({"--cluster", "redis://127.0.0.1", "--cluster-insecure", "--cluster-ca-file",
                      "/etc/hostname"})
                << QStringLiteral("rediss://");
    }

    void parserErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("firstLine");
        QTest::newRow("unknown") << QStringList{QStringLiteral("--bogus")}
                                 << QStringLiteral("Error: unknown option --bogus.");
        QTest::newRow("unknown, one dash") << QStringList{QStringLiteral("-bogus")}
                                           << QStringLiteral("Error: unknown option --bogus.");
        QTest::newRow("two unknown")
                << QStringList{QStringLiteral("--bogus"), QStringLiteral("--frob")}
                << QStringLiteral("Error: unknown options --bogus, --frob.");
        QTest::newRow("missing value") << QStringList{QStringLiteral("--port")}
                                       << QStringLiteral("Error: missing value after --port.");
        QTest::newRow("unexpected value")
                << QStringList{QStringLiteral("--no-gui=yes")}
                << QStringLiteral("Error: unexpected value after --no-gui.");
    }

    void parserErrors()
    {
        // QCommandLineParser's own wording, fitted to ours: one full stop, dashes shown.
        QFETCH(QStringList, args);
        QFETCH(QString, firstLine);
        const CommandLine cli = parse(args);
        QCOMPARE(cli.action, CommandLine::Action::Error);
        QCOMPARE(cli.text.section(u'\n', 0, 0), firstLine);
    }

    void badValues()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, mentions);
        const CommandLine cli = parse(args);
        QCOMPARE(cli.action, CommandLine::Action::Error);
        QVERIFY2(cli.text.startsWith(u"Error: "), qPrintable(cli.text));
        QVERIFY2(cli.text.contains(mentions), qPrintable(cli.text));
        QVERIFY2(cli.text.contains(u"--help"), qPrintable(cli.text)); // says how to find out more
    }

    void byteSizes_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<qint64>("bytes");
        QTest::newRow("plain") << QStringLiteral("1048576") << qint64(1048576);
        QTest::newRow("k") << QStringLiteral("512k") << qint64(512 * 1024);
        QTest::newRow("MiB") << QStringLiteral("16MiB") << qint64(16 * 1024 * 1024);
        QTest::newRow("M spaced") << QStringLiteral(" 16 M ") << qint64(16 * 1024 * 1024);
        QTest::newRow("G") << QStringLiteral("1G") << qint64(1) * 1024 * 1024 * 1024;
        QTest::newRow("garbage") << QStringLiteral("lots") << qint64(-1);
        QTest::newRow("fraction") << QStringLiteral("1.5M") << qint64(-1);
        QTest::newRow("negative") << QStringLiteral("-5") << qint64(-1);
    }

    void byteSizes()
    {
        QFETCH(QString, text);
        QFETCH(qint64, bytes);
        QCOMPARE(parseByteSize(text), bytes);
    }

    // --- The configuration file and the environment ---------------------------

    /*! Every option's name as --help lists it (without the command-line-only ones). */
    static QStringList optionsInHelp()
    {
        static const QRegularExpression option(QStringLiteral("^  (?:-\\w, )?--([a-z-]+)"),
                                               QRegularExpression::MultilineOption);
        QStringList names;
        auto it = option.globalMatch(parse({QStringLiteral("--help")}).text);
        while (it.hasNext())
            names << it.next().captured(1);
        for (const char *commandOnly : {"help", "version", "config", "print-config"})
            names.removeAll(QLatin1String(commandOnly));
        return names;
    }

    void fileAndEnvironmentMirrorEveryOption()
    {
        const QStringList names = optionsInHelp();
        QVERIFY(names.size() > 30);
        const QString example = parse({QStringLiteral("--print-config")}).text;
        QTemporaryDir dir;
        for (const QString &name : names) {
            // The example names every option, commented out...
            QVERIFY2(example.contains(u'#' + name + u" ="), qPrintable(name));
            // ...the file knows it (a bad value is reported for it, not an unknown key)...
            const QString path
                    = writeFile(dir, QStringLiteral("one.conf"), (name + u" = \x01bad").toUtf8());
            const CommandLine fromFile = parse({QStringLiteral("--config"), path});
            QVERIFY2(!fromFile.text.contains(u"unknown key"), qPrintable(fromFile.text));
            // ...and so does the environment: setting it there changes what is given.
            QProcessEnvironment env;
            env.insert(u"SWITCHBOARD_" + name.toUpper().replace(u'-', u'_'),
                       QStringLiteral("\x01bad"));
            const CommandLine fromEnv = parse({}, env);
            QVERIFY2(fromEnv.action == CommandLine::Action::Error || fromEnv.isGiven(name),
                     qPrintable(name));
        }
    }

    void theShippedExampleIsTheGeneratedOne()
    {
        // packaging/switchboard.conf is `switchboard --print-config` with nothing
        // set; regenerate it with: env -i build/bin/switchboard --print-config
        QFile shipped(qEnvironmentVariable("SWITCHBOARD_SOURCE_DIR")
                      + u"/packaging/switchboard.conf");
        QVERIFY2(shipped.open(QIODevice::ReadOnly), qPrintable(shipped.fileName()));
        QCOMPARE(QString::fromUtf8(shipped.readAll()),
                 parse({QStringLiteral("--print-config")}).text + u'\n');
        // And it is a valid configuration that changes nothing.
        const CommandLine fromExample = parse({QStringLiteral("--config"), shipped.fileName()});
        QCOMPARE(fromExample.action, CommandLine::Action::Run);
        QVERIFY(fromExample.given.isEmpty());
    }

    void precedence_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("envPort");
        QTest::addColumn<int>("port");
        QTest::newRow("file over default") << QStringList() << QString() << 5001;
        QTest::newRow("environment over file") << QStringList() << QStringLiteral("5002") << 5002;
        QTest::newRow("command line over both")
                << QStringList{QStringLiteral("--port"), QStringLiteral("5003")}
                << QStringLiteral("5002") << 5003;
    }

    void precedence()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, envPort);
        QFETCH(int, port);
        QTemporaryDir dir;
        const QString path
                = writeFile(dir, QStringLiteral("s.conf"), "port = 5001\nhost = 0.0.0.0\n");
        QProcessEnvironment env;
        if (!envPort.isEmpty())
            env.insert(QStringLiteral("SWITCHBOARD_PORT"), envPort);
        const CommandLine cli = parse(args << QStringLiteral("--config") << path, env);
        QCOMPARE(cli.action, CommandLine::Action::Run);
        QCOMPARE(cli.config.port, quint16(port));
        QCOMPARE(cli.config.host, QHostAddress(QHostAddress::AnyIPv4)); // from the file
        QCOMPARE(cli.config.configFile, path);
        // SWITCHBOARD_CONFIG names the file when --config does not.
        env.insert(QStringLiteral("SWITCHBOARD_CONFIG"), path);
        args.removeLast();
        args.removeLast();
        QCOMPARE(parse(args, env).config.port, quint16(port));
    }

    void fileValues()
    {
        QTemporaryDir dir;
        writeFile(dir, QStringLiteral("admin.token"), "from-a-file\n");
        const QString path = writeFile(dir, QStringLiteral("s.conf"),
                                       "# comment\n"
                                       "no-gui = yes\n"
                                       "deflate = on\n"
                                       "cluster-insecure = false\n"
                                       "allowed-origin = http://a.example\n"
                                       "allowed-origin = http://b.example:8080\n"
                                       "admin-token-file = admin.token\n"
                                       "log-file = logs/switchboard.log\n"
                                       "max-message-size = 1M\n");
        const CommandLine cli = parse({QStringLiteral("--config"), path});
        QVERIFY2(cli.action == CommandLine::Action::Run, qPrintable(cli.text));
        const ServerConfig &c = cli.config;
        QVERIFY(c.noGui);
        QVERIFY(c.deflate.enabled);
        QCOMPARE(c.allowedOrigins,
                 QStringList({QStringLiteral("http://a.example"),
                              QStringLiteral("http://b.example:8080")}));
        // Relative file names are relative to the configuration file.
        QCOMPARE(c.adminToken, QByteArray("from-a-file"));
        QCOMPARE(c.logFile, dir.filePath(QStringLiteral("logs/switchboard.log")));
        QCOMPARE(c.hub.maxMessageSize, 1024 * 1024);
        // The environment's list form: separated by spaces or commas.
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_ALLOWED_ORIGIN"),
                   QStringLiteral("http://c.example, http://d.example"));
        env.insert(QStringLiteral("SWITCHBOARD_NO_GUI"), QStringLiteral("false"));
        const CommandLine overridden = parse({QStringLiteral("--config"), path}, env);
        QCOMPARE(overridden.config.allowedOrigins,
                 QStringList(
                         {QStringLiteral("http://c.example"), QStringLiteral("http://d.example")}));
        QVERIFY(!overridden.config.noGui);
    }

    void secretsFromFiles()
    {
        QTemporaryDir dir;
        const QString admin = writeFile(dir, QStringLiteral("admin"), "admin-secret\n");
        const QString client = writeFile(dir, QStringLiteral("client"), "client-secret");
        const QString metrics = writeFile(dir, QStringLiteral("metrics"), "metrics-secret\n");
        const CommandLine cli = parse({QStringLiteral("--admin-token-file"), admin,
                                       QStringLiteral("--client-token-file"), client,
                                       QStringLiteral("--metrics-token-file"), metrics});
        QVERIFY2(cli.action == CommandLine::Action::Run, qPrintable(cli.text));
        QCOMPARE(cli.config.adminToken, QByteArray("admin-secret"));
        QVERIFY(!cli.config.adminTokenGenerated);
        QCOMPARE(cli.config.clientToken, QByteArray("client-secret"));
        QCOMPARE(cli.config.metricsToken, QByteArray("metrics-secret"));
        // The stronger source wins: the environment's token over a file named in the file.
        const QString conf = writeFile(dir, QStringLiteral("s.conf"),
                                       (u"admin-token-file = " + admin).toUtf8());
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"), QStringLiteral("env-secret"));
        QCOMPARE(parse({QStringLiteral("--config"), conf}, env).config.adminToken,
                 QByteArray("env-secret"));
        QCOMPARE(parse({QStringLiteral("--config"), conf}).config.adminToken,
                 QByteArray("admin-secret"));
    }

    void fileErrors_data()
    {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("error"); // after "Error: <file>:"
        QTest::newRow("unknown key") << QByteArray("port = 1\nprot = 2\n")
                                     << QStringLiteral("2: unknown key 'prot'; did you mean "
                                                       "'port'?");
        QTest::newRow("no suggestion") << QByteArray("frobnicate = 2\n")
                                       << QStringLiteral("1: unknown key 'frobnicate'; "
                                                         "'switchboard --help' lists the "
                                                         "options.");
        QTest::newRow("twice") << QByteArray("port = 1\n\nport = 2\n")
                               << QStringLiteral("3: port is set again (first on line 1); keep "
                                                 "one.");
        QTest::newRow("bad value") << QByteArray("# x\nport = 70000\n")
                                   << QStringLiteral("2: port '70000' is not a port number");
        QTest::newRow("bad flag") << QByteArray("deflate = sometimes\n")
                                  << QStringLiteral("1: deflate 'sometimes' is not true or "
                                                    "false.");
        QTest::newRow("empty") << QByteArray("host =\n")
                               << QStringLiteral("1: host has no value; remove the line to use "
                                                 "the default.");
        QTest::newRow("command only") << QByteArray("print-config = true\n")
                                      << QStringLiteral("1: 'print-config' is for the command "
                                                        "line, not for a configuration file.");
        QTest::newRow("needs another") << QByteArray("deflate-threshold = 2K\n")
                                       << QStringLiteral("1: deflate-threshold needs --deflate.");
        QTest::newRow("missing secret file") << QByteArray("admin-token-file = nowhere\n")
                                             << QStringLiteral("1: admin-token-file '");
    }

    void fileErrors()
    {
        QFETCH(QByteArray, text);
        QFETCH(QString, error);
        QTemporaryDir dir;
        const QString path = writeFile(dir, QStringLiteral("bad.conf"), text);
        const CommandLine cli = parse({QStringLiteral("--config"), path});
        QCOMPARE(cli.action, CommandLine::Action::Error);
        QVERIFY2(cli.text.startsWith(u"Error: " + path + u':' + error), qPrintable(cli.text));
    }

    void environmentErrorsNameTheVariable()
    {
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_MAX_BODY_SIZE"), QStringLiteral("huge"));
        const CommandLine cli = parse({}, env);
        QCOMPARE(cli.action, CommandLine::Action::Error);
        QVERIFY2(cli.text.startsWith(u"Error: SWITCHBOARD_MAX_BODY_SIZE 'huge' is not a size"),
                 qPrintable(cli.text));
        QCOMPARE(parse({QStringLiteral("--config"), QStringLiteral("/nonexistent/s.conf")})
                         .text.section(u'\n', 0, 0),
                 QStringLiteral("Error: /nonexistent/s.conf: cannot be read (No such file or "
                                "directory)."));
    }

    void printConfigShowsSourcesAndHidesSecrets()
    {
        QTemporaryDir dir;
        const QString path = writeFile(dir, QStringLiteral("s.conf"),
                                       "port = 5001\n"
                                       "client-token = file-secret-value\n"
                                       "cluster = redis://user:redis-password@127.0.0.1:6379/2\n"
                                       "cluster-insecure = true\n");
        QProcessEnvironment env;
        env.insert(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"), QStringLiteral("env-secret-value"));
        const CommandLine cli
                = parse({QStringLiteral("--config"), path, QStringLiteral("--print-config"),
                         QStringLiteral("--metrics-token"), QStringLiteral("cli-secret-value"),
                         QStringLiteral("--log-level"), QStringLiteral("debug")},
                        env);
        if (!RedisLink::isBuiltIn())
            QSKIP("built without cluster support");
        QCOMPARE(cli.action, CommandLine::Action::PrintConfig);
        const QString &text = cli.text;
        for (const char *secret :
             {"file-secret-value", "env-secret-value", "cli-secret-value", "redis-password"})
            QVERIFY2(!text.contains(QLatin1String(secret)), secret);
        QVERIFY2(text.contains(u"# Set by " + path + u":1.\nport = 5001\n"), qPrintable(text));
        QVERIFY(text.contains(u"# Set by the command line.\nlog-level = debug\n"));
        QVERIFY(text.contains(u"#admin-token = (set by SWITCHBOARD_ADMIN_TOKEN, not shown)\n"));
        QVERIFY(text.contains(u"#client-token = (set by " + path + u":2, not shown)\n"));
        QVERIFY(text.contains(u"#host = 127.0.0.1\n")); // not set: the default, commented out
    }
};

QTEST_GUILESS_MAIN(tst_Config)
#include "tst_config.moc"
