#include "config.h"

#include "cluster/redislink.h"
#include "logging.h"
#include "websocket/originpolicy.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QUrl>

#include <cmath>

namespace Switchboard {

namespace {

// Qt's QWebSocket cannot take messages of 2 GiB or more.
constexpr qint64 kMaxMessageSizeLimit = (qint64(1) << 31) - 1;
// Short secrets can be guessed offline from one captured envelope and its MAC.
constexpr qsizetype kMinClusterSecret = 16;

std::optional<std::chrono::milliseconds> parseSeconds(const QString &text)
{
    bool ok = false;
    const double seconds = text.trimmed().toDouble(&ok);
    if (!ok || !std::isfinite(seconds) || seconds < 0 || seconds > 7 * 24 * 3600)
        return std::nullopt;
    return std::chrono::milliseconds(qint64(std::llround(seconds * 1000)));
}

QString usageHint()
{
    return QStringLiteral("Run '%1 --help' for the list of options.")
            .arg(QCoreApplication::applicationName().isEmpty()
                         ? QStringLiteral("switchboard")
                         : QCoreApplication::applicationName());
}

/*!
    QCommandLineParser's errors read "Unknown option 'bogus'." and
    "Missing value after '--port'."; with our "Error: %1." around them that gave a
    doubled full stop and an option named without its dashes. Say it our way.
*/
QString parserError(const QCommandLineParser &parser)
{
    const QStringList unknown = parser.unknownOptionNames();
    if (!unknown.isEmpty()) {
        QStringList names;
        for (const QString &name : unknown)
            names << (name.size() == 1 ? u"-" : u"--") + name;
        return QStringLiteral("Error: unknown option%1 %2.")
                .arg(names.size() == 1 ? QString() : QStringLiteral("s"), names.join(u", "));
    }
    QString text = parser.errorText().trimmed();
    while (text.endsWith(u'.'))
        text.chop(1);
    text.remove(u'\'');
    if (!text.isEmpty())
        text[0] = text.at(0).toLower();
    return QStringLiteral("Error: %1.").arg(text);
}

CommandLine failure(const QString &message)
{
    CommandLine result;
    result.action = CommandLine::Action::Error;
    result.text = message + u'\n' + usageHint();
    return result;
}

} // namespace

qint64 parseByteSize(const QString &text)
{
    static const QRegularExpression pattern(
            QStringLiteral("^\\s*(\\d{1,12})\\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\\s*$"),
            QRegularExpression::CaseInsensitiveOption);
    const auto match = pattern.match(text);
    if (!match.hasMatch())
        return -1;
    const qint64 number = match.captured(1).toLongLong();
    const QChar unit = match.captured(2).isEmpty() ? u'b' : match.captured(2).at(0).toLower();
    const int shift = unit == u'k' ? 10 : unit == u'm' ? 20 : unit == u'g' ? 30 : 0;
    if (number > (std::numeric_limits<qint64>::max() >> shift))
        return -1;
    return number << shift;
}

std::optional<QByteArray> readSecretFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot be read (%1)").arg(file.errorString());
        return std::nullopt;
    }
    // A secret is one line; anything longer than this is not a secret file.
    constexpr qint64 kMaxSecretFile = 4096;
    QByteArray text = file.read(kMaxSecretFile + 1);
    if (text.size() > kMaxSecretFile) {
        *error = QStringLiteral("is larger than 4 KiB; it should hold one line");
        return std::nullopt;
    }
    const qsizetype newline = text.indexOf('\n');
    if (newline >= 0) {
        if (!text.mid(newline + 1).trimmed().isEmpty()) {
            *error = QStringLiteral("has more than one line");
            return std::nullopt;
        }
        text.truncate(newline);
    }
    if (text.endsWith('\r'))
        text.chop(1);
    if (text.isEmpty()) {
        *error = QStringLiteral("is empty");
        return std::nullopt;
    }
    return text;
}

QByteArray generateToken()
{
    quint32 words[6];
    QRandomGenerator::system()->fillRange(words);
    return QByteArray(reinterpret_cast<const char *>(words), sizeof words)
            .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

namespace {

// QCommandLineParser knows only options; a user (or a unit file's author) also
// needs what the exit status means and which environment variables count.
QString helpEpilogue()
{
    return QStringLiteral(
            "\n"
            "Exit codes:\n"
            "  0  normal exit, also after SIGINT/SIGTERM or closing the console\n"
            "  1  cannot listen (e.g. the port is in use, or --host is not an address\n"
            "     of this machine); the message says what to do\n"
            "  2  a bad option or value, unusable --tls-cert/--tls-key files included;\n"
            "     the message names it\n"
            "\n"
            "Environment:\n"
            "  SWITCHBOARD_ADMIN_TOKEN     admin token when --admin-token is not given\n"
            "  SWITCHBOARD_CLIENT_TOKEN    client token when --client-token is not given\n"
            "  SWITCHBOARD_CLUSTER_SECRET  cluster secret when neither --cluster-secret-file\n"
            "                              nor --cluster-secret is given\n"
            "  DISPLAY, WAYLAND_DISPLAY    the display for the operator console; when both\n"
            "                              are unset or the display cannot be opened,\n"
            "                              Switchboard says so in one line on stderr and runs\n"
            "                              headless, as with --no-gui (exit codes as above)\n"
            "  XDG_SESSION_TYPE, XDG_RUNTIME_DIR\n"
            "                              with WAYLAND_DISPLAY, where Qt looks for Wayland\n"
            "  QT_QPA_PLATFORM             the Qt platform plugin for the console (xcb,\n"
            "                              wayland, offscreen, ...; a ';' list is tried in order)\n"
            "  QT_NO_GLIB                  set to 1 when headless (Qt's own event loop); set\n"
            "                              it yourself to use it with the console too\n"
            "  GLIBC_TUNABLES              when set, Switchboard leaves malloc's tuning to it\n"
            "  SWITCHBOARD_UI_PROBE        for bench/gui_responsiveness.py: report console\n"
            "                              latency on stderr\n");
}

} // namespace

CommandLine parseCommandLine(const QStringList &arguments, const QProcessEnvironment &env)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
            QStringLiteral("Switchboard: one port for HTTP routes and WebSocket sessions, with an "
                           "operator console."));
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help and exit."));
    const QCommandLineOption version({QStringLiteral("v"), QStringLiteral("version")},
                                     QStringLiteral("Show the version and exit."));
    const QCommandLineOption host(QStringLiteral("host"),
                                  QStringLiteral("Address to listen on (default 127.0.0.1; "
                                                 "0.0.0.0 or :: for every interface)."),
                                  QStringLiteral("address"), QStringLiteral("127.0.0.1"));
    const QCommandLineOption port(QStringLiteral("port"),
                                  QStringLiteral("TCP port (default 4040; 0 picks a free one)."),
                                  QStringLiteral("port"), QStringLiteral("4040"));
    const QCommandLineOption noGui(QStringLiteral("no-gui"),
                                   QStringLiteral("Run headless, without the operator console."));
    const QCommandLineOption ping(QStringLiteral("ping-interval"),
                                  QStringLiteral("Seconds between pings to each client "
                                                 "(default 10; 0 = no pings)."),
                                  QStringLiteral("seconds"), QStringLiteral("10"));
    const QCommandLineOption idle(QStringLiteral("idle-timeout"),
                                  QStringLiteral("Close a session after this many seconds with "
                                                 "nothing received (default 60; 0 = never)."),
                                  QStringLiteral("seconds"), QStringLiteral("60"));
    const QCommandLineOption maxMessage(QStringLiteral("max-message-size"),
                                        QStringLiteral("Largest WebSocket message accepted, in "
                                                       "bytes or with K/M/G (default 16M)."),
                                        QStringLiteral("size"), QStringLiteral("16M"));
    const QCommandLineOption adminToken(
            QStringLiteral("admin-token"),
            QStringLiteral("Bearer token for the admin routes (also "
                           "SWITCHBOARD_ADMIN_TOKEN; generated if unset)."),
            QStringLiteral("token"));
    const QCommandLineOption origin(
            QStringLiteral("allowed-origin"),
            QStringLiteral("Browser origin allowed to open /ws, e.g. "
                           "http://localhost:3000; repeatable; * allows any."),
            QStringLiteral("origin"));
    const QCommandLineOption headerTimeout(
            QStringLiteral("header-timeout"),
            QStringLiteral("Seconds a client has to send a whole request head (default 10)."),
            QStringLiteral("seconds"), QStringLiteral("10"));
    const QCommandLineOption keepAliveTimeout(
            QStringLiteral("keepalive-timeout"),
            QStringLiteral("Seconds an idle keep-alive HTTP connection is kept (default 30)."),
            QStringLiteral("seconds"), QStringLiteral("30"));
    const QCommandLineOption bodyTimeout(
            QStringLiteral("body-timeout"),
            QStringLiteral("Seconds a client has to send a request body, plus 1 s for every "
                           "--body-min-rate bytes it sends (default 20)."),
            QStringLiteral("seconds"), QStringLiteral("20"));
    const QCommandLineOption bodyMinRate(
            QStringLiteral("body-min-rate"),
            QStringLiteral("Bytes of a request body that earn it 1 s more (default 500; 0 = "
                           "--body-timeout is a fixed deadline)."),
            QStringLiteral("size"), QStringLiteral("500"));
    const QCommandLineOption maxHeaderSize(
            QStringLiteral("max-header-size"),
            QStringLiteral("Largest request head, 1K to 64K (default 16K); larger -> 431."),
            QStringLiteral("size"), QStringLiteral("16K"));
    const QCommandLineOption maxBodySize(
            QStringLiteral("max-body-size"),
            QStringLiteral("Largest HTTP request body (default 1M); larger -> 413."),
            QStringLiteral("size"), QStringLiteral("1M"));
    const QCommandLineOption maxConnections(
            QStringLiteral("max-connections"),
            QStringLiteral("Open connections allowed, HTTP and WebSocket (default 10000); "
                           "more -> 503."),
            QStringLiteral("count"), QStringLiteral("10000"));
    const QCommandLineOption clientToken(
            QStringLiteral("client-token"),
            QStringLiteral("Token every WebSocket client must send (?token= or Authorization: "
                           "Bearer; also SWITCHBOARD_CLIENT_TOKEN). Default: none required."),
            QStringLiteral("token"));
    const QCommandLineOption maxSendBuffer(
            QStringLiteral("max-send-buffer"),
            QStringLiteral("Unsent bytes a WebSocket client may fall behind before it is closed "
                           "with 1008 (default 8M)."),
            QStringLiteral("size"), QStringLiteral("8M"));
    const QCommandLineOption tlsCert(
            QStringLiteral("tls-cert"),
            QStringLiteral("PEM certificate (chain) file: serve HTTPS and WSS on the same port "
                           "(with --tls-key)."),
            QStringLiteral("file"));
    const QCommandLineOption tlsKey(QStringLiteral("tls-key"),
                                    QStringLiteral("PEM private key file for --tls-cert."),
                                    QStringLiteral("file"));
    const QCommandLineOption logLevel(
            QStringLiteral("log-level"),
            QStringLiteral("debug, info, warning or error (default info)."),
            QStringLiteral("level"), QStringLiteral("info"));
    const QCommandLineOption logFormat(
            QStringLiteral("log-format"),
            QStringLiteral("text, or json for one JSON object per line (default text)."),
            QStringLiteral("format"), QStringLiteral("text"));
    const QCommandLineOption logFile(
            QStringLiteral("log-file"),
            QStringLiteral("Append the log to this file instead of stderr (created mode 0600)."),
            QStringLiteral("file"));
    const QCommandLineOption cluster(
            QStringLiteral("cluster"),
            QStringLiteral("Join a cluster of instances through Redis pub/sub: "
                           "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS; "
                           "/DB selects the cluster. Needs --cluster-secret-file (or "
                           "--cluster-insecure). Default: run alone."),
            QStringLiteral("url"));
    const QCommandLineOption nodeName(
            QStringLiteral("node-name"),
            QStringLiteral("This instance's name in the cluster (default host name:port)."),
            QStringLiteral("name"));
    const QCommandLineOption clusterSecretFile(
            QStringLiteral("cluster-secret-file"),
            QStringLiteral("File whose one line is the cluster's shared secret (at least 16 "
                           "characters), which authenticates every message between instances. "
                           "Also SWITCHBOARD_CLUSTER_SECRET."),
            QStringLiteral("file"));
    const QCommandLineOption clusterSecret(
            QStringLiteral("cluster-secret"),
            QStringLiteral("The cluster's shared secret itself; other users of this machine can "
                           "read it in the process list, so prefer --cluster-secret-file."),
            QStringLiteral("secret"));
    const QCommandLineOption clusterInsecure(
            QStringLiteral("cluster-insecure"),
            QStringLiteral("Run a cluster without a secret: anyone who can publish to its Redis "
                           "channel can then send to and close any session."));
    const QCommandLineOption clusterPasswordFile(
            QStringLiteral("cluster-password-file"),
            QStringLiteral("File whose one line is the Redis password (AUTH), instead of one in "
                           "the --cluster URL."),
            QStringLiteral("file"));
    const QCommandLineOption clusterCaFile(
            QStringLiteral("cluster-ca-file"),
            QStringLiteral("PEM CA certificates that sign a rediss:// server's certificate "
                           "(default: the system's)."),
            QStringLiteral("file"));
    parser.addOptions({help,           version,     host,          port,
                       noGui,          ping,        idle,          maxMessage,
                       adminToken,     origin,      headerTimeout, keepAliveTimeout,
                       bodyTimeout,    bodyMinRate, maxHeaderSize, maxBodySize,
                       maxConnections, clientToken, maxSendBuffer, tlsCert,
                       tlsKey,         logLevel});
    const QCommandLineOption deflate(
            QStringLiteral("deflate"),
            QStringLiteral("Offer permessage-deflate compression to WebSocket clients that ask "
                           "for it (RFC 7692). Default: off."));
    const QCommandLineOption deflateThreshold(
            QStringLiteral("deflate-threshold"),
            QStringLiteral("With --deflate, messages shorter than this are sent uncompressed "
                           "(bytes or with K/M; default 1K)."),
            QStringLiteral("size"), QStringLiteral("1K"));
    parser.addOptions({cluster, nodeName, clusterSecretFile, clusterSecret, clusterInsecure,
                       clusterPasswordFile, clusterCaFile, deflate, deflateThreshold, logFormat,
                       logFile});

    if (!parser.parse(arguments))
        return failure(parserError(parser));
    if (parser.isSet(help))
        return {CommandLine::Action::Help, {}, parser.helpText() + helpEpilogue()};
    if (parser.isSet(version)) {
        return {CommandLine::Action::Version,
                {},
                QStringLiteral("switchboard %1").arg(QStringLiteral(SWITCHBOARD_VERSION))};
    }
    if (!parser.positionalArguments().isEmpty()) {
        return failure(QStringLiteral("Error: unexpected argument '%1'; every setting is an "
                                      "option such as --port 4040.")
                               .arg(parser.positionalArguments().first()));
    }

    CommandLine result;
    ServerConfig &config = result.config;
    config.noGui = parser.isSet(noGui);

    const QString hostText = parser.value(host).trimmed();
    if (hostText.compare(u"localhost", Qt::CaseInsensitive) == 0)
        config.host = QHostAddress(QHostAddress::LocalHost);
    else if (!config.host.setAddress(hostText))
        return failure(QStringLiteral("Error: --host '%1' is not an IP address; use e.g. "
                                      "127.0.0.1, 0.0.0.0 or ::1.")
                               .arg(hostText));

    bool ok = false;
    const uint portValue = parser.value(port).toUInt(&ok);
    if (!ok || portValue > 65535)
        return failure(QStringLiteral("Error: --port '%1' is not a port number; use 0 to 65535 "
                                      "(0 picks a free port).")
                               .arg(parser.value(port)));
    config.port = quint16(portValue);

    const auto pingValue = parseSeconds(parser.value(ping));
    if (!pingValue)
        return failure(QStringLiteral("Error: --ping-interval '%1' is not a number of seconds; "
                                      "use e.g. 10 or 0.5 (0 turns pings off).")
                               .arg(parser.value(ping)));
    config.hub.pingInterval = *pingValue;

    const auto idleValue = parseSeconds(parser.value(idle));
    if (!idleValue)
        return failure(QStringLiteral("Error: --idle-timeout '%1' is not a number of seconds; "
                                      "use e.g. 60 (0 = never).")
                               .arg(parser.value(idle)));
    config.hub.idleTimeout = *idleValue;

    const qint64 maxSize = parseByteSize(parser.value(maxMessage));
    if (maxSize < 1 || maxSize > kMaxMessageSizeLimit)
        return failure(QStringLiteral("Error: --max-message-size '%1' is not a size between 1 "
                                      "byte and 2G-1; use e.g. 16M or 1048576.")
                               .arg(parser.value(maxMessage)));
    config.hub.maxMessageSize = maxSize;

    const auto headerValue = parseSeconds(parser.value(headerTimeout));
    if (!headerValue || headerValue->count() == 0)
        return failure(QStringLiteral("Error: --header-timeout '%1' is not a positive number of "
                                      "seconds; use e.g. 10.")
                               .arg(parser.value(headerTimeout)));
    config.http.headerTimeout = *headerValue;

    const auto keepAliveValue = parseSeconds(parser.value(keepAliveTimeout));
    if (!keepAliveValue || keepAliveValue->count() == 0)
        return failure(QStringLiteral("Error: --keepalive-timeout '%1' is not a positive number "
                                      "of seconds; use e.g. 30.")
                               .arg(parser.value(keepAliveTimeout)));
    config.http.keepAliveTimeout = *keepAliveValue;

    const auto bodyValue = parseSeconds(parser.value(bodyTimeout));
    if (!bodyValue || bodyValue->count() == 0)
        return failure(QStringLiteral("Error: --body-timeout '%1' is not a positive number of "
                                      "seconds; use e.g. 20.")
                               .arg(parser.value(bodyTimeout)));
    config.http.bodyTimeout = *bodyValue;

    const qint64 minRate = parseByteSize(parser.value(bodyMinRate));
    if (minRate < 0 || minRate > kMaxMessageSizeLimit)
        return failure(QStringLiteral("Error: --body-min-rate '%1' is not a number of bytes up "
                                      "to 2G-1; use e.g. 500 or 1K, or 0 for a fixed body "
                                      "deadline.")
                               .arg(parser.value(bodyMinRate)));
    config.http.bodyMinRate = minRate;

    // QtHttpServer 6.4 silently drops every header once one field exceeds ~100 KiB,
    // so the head limit stays well below that.
    const qint64 headerSize = parseByteSize(parser.value(maxHeaderSize));
    if (headerSize < 1024 || headerSize > 64 * 1024)
        return failure(QStringLiteral("Error: --max-header-size '%1' is not a size from 1K to "
                                      "64K; use e.g. 16K.")
                               .arg(parser.value(maxHeaderSize)));
    config.http.maxHeaderSize = qsizetype(headerSize);

    const qint64 bodySize = parseByteSize(parser.value(maxBodySize));
    if (bodySize < 0 || bodySize > kMaxMessageSizeLimit)
        return failure(QStringLiteral("Error: --max-body-size '%1' is not a size up to 2G-1; use "
                                      "e.g. 1M or 0 to refuse bodies.")
                               .arg(parser.value(maxBodySize)));
    config.http.maxBodySize = bodySize;

    const uint connections = parser.value(maxConnections).toUInt(&ok);
    if (!ok || connections < 1 || connections > 1'000'000)
        return failure(QStringLiteral("Error: --max-connections '%1' is not a count from 1 to "
                                      "1000000.")
                               .arg(parser.value(maxConnections)));
    config.http.maxConnections = int(connections);

    if (parser.isSet(tlsCert) != parser.isSet(tlsKey))
        return failure(QStringLiteral("Error: --tls-cert and --tls-key go together; give both "
                                      "files, or neither for plain HTTP."));
    config.tlsCertificate = parser.value(tlsCert);
    config.tlsKey = parser.value(tlsKey);

    const qint64 sendBuffer = parseByteSize(parser.value(maxSendBuffer));
    if (sendBuffer < 64 * 1024 || sendBuffer > kMaxMessageSizeLimit)
        return failure(QStringLiteral("Error: --max-send-buffer '%1' is not a size from 64K to "
                                      "2G-1; use e.g. 8M.")
                               .arg(parser.value(maxSendBuffer)));
    config.hub.maxSendBuffer = sendBuffer;

    const QString client = parser.isSet(clientToken)
            ? parser.value(clientToken)
            : env.value(QStringLiteral("SWITCHBOARD_CLIENT_TOKEN"));
    if (parser.isSet(clientToken) && client.trimmed().isEmpty())
        return failure(QStringLiteral("Error: --client-token is empty; give a token or leave the "
                                      "option out to let clients connect without one."));
    if (client.contains(QRegularExpression(QStringLiteral("[\\s\\x00-\\x1f\\x7f]"))))
        return failure(QStringLiteral("Error: the client token contains whitespace or control "
                                      "characters."));
    config.clientToken = client.toUtf8();

    QString token = parser.value(adminToken);
    if (!parser.isSet(adminToken))
        token = env.value(QStringLiteral("SWITCHBOARD_ADMIN_TOKEN"));
    if (parser.isSet(adminToken) && token.trimmed().isEmpty())
        return failure(QStringLiteral("Error: --admin-token is empty; give a token or leave the "
                                      "option out to have one generated."));
    if (token.contains(QRegularExpression(QStringLiteral("[\\s\\x00-\\x1f\\x7f]"))))
        return failure(
                QStringLiteral("Error: the admin token contains whitespace or control "
                               "characters, which cannot travel in an Authorization header."));
    if (token.isEmpty()) {
        config.adminToken = generateToken();
        config.adminTokenGenerated = true;
    } else {
        config.adminToken = token.toUtf8();
    }

    for (const QString &value : parser.values(origin)) {
        if (value != u"*" && !OriginPolicy::normalize(value))
            return failure(
                    QStringLiteral("Error: --allowed-origin '%1' is not an origin; use "
                                   "scheme://host[:port] such as http://localhost:3000, or *.")
                            .arg(value));
        config.allowedOrigins.append(value);
    }

    const QList<const QCommandLineOption *> clusterOnly{
            &nodeName,        &clusterSecretFile,   &clusterSecret,
            &clusterInsecure, &clusterPasswordFile, &clusterCaFile};
    if (!parser.isSet(cluster)) {
        for (const QCommandLineOption *option : clusterOnly) {
            if (parser.isSet(*option))
                return failure(QStringLiteral("Error: --%1 needs --cluster.")
                                       .arg(option->names().constFirst()));
        }
    } else {
        const QString url = parser.value(cluster);
        if (!RedisLink::isBuiltIn())
            return failure(QStringLiteral("Error: --cluster: this build has no cluster support "
                                          "(configured with -DSWITCHBOARD_WITH_CLUSTER=OFF); "
                                          "rebuild with Debian's libhiredis-dev installed."));
        QString error;
        const auto endpoint = RedisEndpoint::fromUrl(url, &error);
        if (!endpoint)
            return failure(QStringLiteral("Error: --cluster '%1' %2; use "
                                          "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] such as "
                                          "redis://127.0.0.1:6379.")
                                   .arg(url, error));
        ClusterSettings &settings = config.cluster;
        settings.redis = *endpoint;
        if (settings.redis.tls && !RedisLink::supportsTls())
            return failure(QStringLiteral("Error: --cluster '%1': this build's hiredis %2 has no "
                                          "TLS; rediss:// needs hiredis 1.0 or newer with "
                                          "hiredis_ssl (Debian 13's libhiredis-dev). Use "
                                          "redis:// on a network you trust, or a TLS tunnel.")
                                   .arg(settings.redis.displayUrl(), RedisLink::clientVersion()));

        if (parser.isSet(clusterPasswordFile)) {
            if (!settings.redis.password.isEmpty())
                return failure(QStringLiteral("Error: the --cluster URL has a password and "
                                              "--cluster-password-file gives another; use one."));
            const auto password = readSecretFile(parser.value(clusterPasswordFile), &error);
            if (!password)
                return failure(QStringLiteral("Error: --cluster-password-file '%1' %2.")
                                       .arg(parser.value(clusterPasswordFile), error));
            settings.redis.password = *password;
        }
        if (!settings.redis.username.isEmpty() && settings.redis.password.isEmpty())
            return failure(QStringLiteral("Error: --cluster '%1' names user '%2' without a "
                                          "password (AUTH needs both); give it in the URL or "
                                          "with --cluster-password-file.")
                                   .arg(settings.redis.displayUrl(), settings.redis.username));
        if (parser.isSet(clusterCaFile)) {
            if (!settings.redis.tls)
                return failure(QStringLiteral("Error: --cluster-ca-file is for rediss:// URLs; "
                                              "'%1' does not use TLS.")
                                       .arg(settings.redis.displayUrl()));
            const QString caFile = parser.value(clusterCaFile);
            if (!QFileInfo(caFile).isReadable())
                return failure(QStringLiteral("Error: --cluster-ca-file '%1' cannot be read.")
                                       .arg(caFile));
            settings.redis.caFile = caFile;
        }

        // The secret: the option, or its file, or else the environment.
        if (parser.isSet(clusterSecret) && parser.isSet(clusterSecretFile))
            return failure(QStringLiteral("Error: --cluster-secret and --cluster-secret-file "
                                          "both give the secret; use one."));
        QByteArray secret;
        if (parser.isSet(clusterSecretFile)) {
            const auto fromFile = readSecretFile(parser.value(clusterSecretFile), &error);
            if (!fromFile)
                return failure(QStringLiteral("Error: --cluster-secret-file '%1' %2.")
                                       .arg(parser.value(clusterSecretFile), error));
            secret = *fromFile;
        } else if (parser.isSet(clusterSecret)) {
            secret = parser.value(clusterSecret).toUtf8();
        } else {
            secret = env.value(QStringLiteral("SWITCHBOARD_CLUSTER_SECRET")).toUtf8();
        }
        if (parser.isSet(clusterInsecure)) {
            if (!secret.isEmpty())
                return failure(QStringLiteral("Error: --cluster-insecure runs without a secret, "
                                              "but one is given; drop one of them."));
        } else if (secret.isEmpty()) {
            return failure(QStringLiteral(
                    "Error: --cluster needs a shared secret so that instances can tell each "
                    "other's messages from forgeries: give every instance the same one with "
                    "--cluster-secret-file FILE or SWITCHBOARD_CLUSTER_SECRET (make one with "
                    "'head -c 32 /dev/urandom | base64'). To run without, knowing that anyone "
                    "who can publish to this Redis can then send to and close any session, add "
                    "--cluster-insecure."));
        } else if (secret.size() < kMinClusterSecret) {
            return failure(QStringLiteral("Error: the cluster secret has %1 characters; use at "
                                          "least %2 (make one with 'head -c 32 /dev/urandom | "
                                          "base64').")
                                   .arg(secret.size())
                                   .arg(kMinClusterSecret));
        }
        settings.secret = secret;
    }
    if (parser.isSet(nodeName)) {
        const QString name = parser.value(nodeName);
        if (!Cluster::isValidNodeName(name))
            return failure(QStringLiteral("Error: --node-name '%1' must be 1 to 100 letters, "
                                          "digits, '.', '_', '-' or ':'.")
                                   .arg(name));
        config.cluster.nodeName = name;
    }

    config.deflate.enabled = parser.isSet(deflate);
    if (parser.isSet(deflateThreshold) && !config.deflate.enabled)
        return failure(QStringLiteral("Error: --deflate-threshold needs --deflate."));
    const qint64 threshold = parseByteSize(parser.value(deflateThreshold));
    if (threshold < 0 || threshold > kMaxMessageSizeLimit)
        return failure(QStringLiteral("Error: --deflate-threshold '%1' is not a size up to 2G-1; "
                                      "use e.g. 1K, or 0 to compress every message.")
                               .arg(parser.value(deflateThreshold)));
    config.deflate.threshold = qsizetype(threshold);

    config.logLevel = parser.value(logLevel).trimmed().toLower();
    static const QStringList levels{QStringLiteral("debug"), QStringLiteral("info"),
                                    QStringLiteral("warning"), QStringLiteral("error")};
    if (!levels.contains(config.logLevel))
        return failure(QStringLiteral("Error: --log-level '%1' is not one of debug, info, "
                                      "warning, error.")
                               .arg(parser.value(logLevel)));
    const QString format = parser.value(logFormat).trimmed().toLower();
    if (format == u"json")
        config.logFormat = LogFormat::Json;
    else if (format != u"text")
        return failure(QStringLiteral("Error: --log-format '%1' is not one of text, json.")
                               .arg(parser.value(logFormat)));
    if (parser.isSet(logFile) && parser.value(logFile).isEmpty())
        return failure(QStringLiteral("Error: --log-file needs a file name."));
    config.logFile = parser.value(logFile);
    return result;
}

} // namespace Switchboard
