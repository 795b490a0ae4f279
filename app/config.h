#pragma once

#include "cluster/cluster.h"
#include "logging.h"
#include "net/httpguard.h"
#include "websocket/deflate.h"
#include "websocket/hub.h"

#include <QtCore/QByteArray>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtNetwork/QHostAddress>

namespace Switchboard {

/*! Everything the command line decides. */
struct ServerConfig
{
    QHostAddress host = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 4040;
    HubSettings hub;
    HttpLimits http;
    QByteArray adminToken;
    QByteArray clientToken; //!< required on WebSocket upgrades when set
    QByteArray metricsToken; //!< also opens GET /metrics (not the other admin routes) when set
    QString tlsCertificate; //!< PEM file; with tlsKey, serve HTTPS and WSS
    QString tlsKey;
    bool adminTokenGenerated = false;
    QStringList allowedOrigins;
    QString logLevel = QStringLiteral("info");
    LogFormat logFormat = LogFormat::Text;
    QString logFile; //!< empty: stderr
    bool noGui = false;
    ClusterSettings cluster; //!< --cluster and its companions; off unless given
    DeflateSettings deflate; //!< --deflate and --deflate-threshold; off unless given
};

/*! The outcome of parsing the command line. */
struct CommandLine
{
    enum class Action { Run, Help, Version, Error };
    Action action = Action::Run;
    ServerConfig config;
    QString text; //!< help text, version line, or the error with a hint how to fix it
};

/*!
    Parses \a arguments (argv, program name first) with QCommandLineParser.
    \a env supplies SWITCHBOARD_ADMIN_TOKEN, SWITCHBOARD_CLIENT_TOKEN and
    SWITCHBOARD_CLUSTER_SECRET. Never exits the process; the caller
    prints CommandLine::text and exits 0 (help, version) or 2 (error).
*/
CommandLine parseCommandLine(const QStringList &arguments,
                             const QProcessEnvironment &env
                             = QProcessEnvironment::systemEnvironment());

/*! Parses "16M", "16MiB", "512k", "1048576" into bytes; -1 if malformed. */
qint64 parseByteSize(const QString &text);

/*!
    The one line of secret file \a path (a trailing newline dropped): a
    cluster secret, a password. nullopt with \a error saying what is wrong if
    it cannot be read, is empty, or holds more than one line.
*/
std::optional<QByteArray> readSecretFile(const QString &path, QString *error);

/*! A random URL-safe token of 32 characters (192 bits). */
QByteArray generateToken();

} // namespace Switchboard
