#pragma once

#include "channels/topicregistry.h"
#include "cluster/cluster.h"
#include "logging.h"
#include "net/httpguard.h"
#include "websocket/deflate.h"
#include "websocket/hub.h"

#include <QtCore/QByteArray>
#include <QtCore/QMap>
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
    QString configFile; //!< --config or SWITCHBOARD_CONFIG; empty: none read
    ClusterSettings cluster; //!< --cluster and its companions; off unless given
    DeflateSettings deflate; //!< --deflate and --deflate-threshold; off unless given
    ChannelSettings channels; //!< --channel-*: history and limits of /ws/channels
};

/*! The outcome of parsing the command line, the environment and the configuration file. */
struct CommandLine
{
    enum class Action { Run, Help, Version, PrintConfig, Error };
    Action action = Action::Run;
    ServerConfig config;
    //! help text, version line, the effective configuration (--print-config), or
    //! the error with a hint how to fix it
    QString text;
    //! Every option set somewhere other than the defaults, with its values as
    //! given; a reload compares two of these to see what changed.
    QMap<QString, QStringList> given;

    bool isGiven(const QString &option) const { return given.contains(option); }
};

/*!
    Parses \a arguments (argv, program name first) with QCommandLineParser,
    then fills in what they leave unset from \a env (SWITCHBOARD_PORT for
    --port, and so on for every option), then from the configuration file that
    --config or SWITCHBOARD_CONFIG names, then from the defaults. Never exits
    the process; the caller prints CommandLine::text and exits 0 (help,
    version, --print-config) or 2 (error).
*/
CommandLine parseCommandLine(const QStringList &arguments,
                             const QProcessEnvironment &env
                             = QProcessEnvironment::systemEnvironment());

/*!
    The options that differ between \a before and \a after (a reload), split
    into those a running server takes over (\a reloadable) and those that need
    a restart (\a fixed).
*/
void compareForReload(const CommandLine &before, const CommandLine &after, QStringList *reloadable,
                      QStringList *fixed);

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
