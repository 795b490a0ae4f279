#include "config.h"

#include "cluster/redislink.h"
#include "configfile.h"
#include "logging.h"
#include "websocket/originpolicy.h"

#include <QtCore/QThread>
#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QHash>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QUrl>

#include <algorithm>
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

enum class Kind { Value, Flag, List };

enum Trait : unsigned {
    Secret = 1, //!< --print-config does not show it
    Path = 2, //!< a file name; relative ones in a configuration file are relative to it
    Reloadable = 4, //!< a running server takes a new value on SIGHUP
};

/*!
    One option, the single place that knows its name, value, default and
    help: the command line, the environment (SWITCHBOARD_<NAME>), the
    configuration file and --print-config are all made from this table.
*/
struct OptionSpec
{
    const char *name;
    const char *valueName; //!< nullptr for a flag
    const char *defaultValue; //!< nullptr: none
    const char *help;
    Kind kind = Kind::Value;
    unsigned traits = 0;
};

// clang-format off
constexpr OptionSpec kOptions[] = {
    {"host", "address", "127.0.0.1",
     "Address to listen on; 0.0.0.0 or :: for every interface."},
    {"port", "port", "4040", "TCP port; 0 picks a free one."},
    {"no-gui", nullptr, nullptr, "Run headless, without the operator console.", Kind::Flag},
    {"ping-interval", "seconds", "10", "Seconds between pings to each client; 0 = no pings."},
    {"idle-timeout", "seconds", "60",
     "Close a session after this many seconds with nothing received; 0 = never."},
    {"max-message-size", "size", "16M",
     "Largest WebSocket message accepted, in bytes or with K/M/G."},
    {"admin-token", "token", nullptr,
     "Bearer token for the admin routes; generated at each start if none is set.",
     Kind::Value, Secret | Reloadable},
    {"admin-token-file", "file", nullptr,
     "File whose one line is the admin token (e.g. a systemd credential).",
     Kind::Value, Path | Reloadable},
    {"allowed-origin", "origin", nullptr,
     "Browser origin allowed to open /ws, e.g. http://localhost:3000; repeatable; * allows "
     "any.", Kind::List, Reloadable},
    {"header-timeout", "seconds", "10", "Seconds a client has to send a whole request head."},
    {"keepalive-timeout", "seconds", "30",
     "Seconds an idle keep-alive HTTP connection is kept."},
    {"body-timeout", "seconds", "20",
     "Seconds a client has to send a request body, plus 1 s for every --body-min-rate bytes "
     "it sends."},
    {"body-min-rate", "size", "500",
     "Bytes of a request body that earn it 1 s more; 0 = --body-timeout is a fixed deadline."},
    {"max-header-size", "size", "16K", "Largest request head, 1K to 64K; larger -> 431."},
    {"max-body-size", "size", "1M", "Largest HTTP request body; larger -> 413."},
    {"max-connections", "count", "10000",
     "Open connections allowed, HTTP and WebSocket; more -> 503."},
    {"workers", "count", "auto",
     "Event loops (threads) that accept connections and run their sessions; auto = one per "
     "core; 1 = all on the main thread."},
    {"client-token", "token", nullptr,
     "Token every WebSocket client must send (?token= or Authorization: Bearer). Default: "
     "none required.", Kind::Value, Secret | Reloadable},
    {"client-token-file", "file", nullptr, "File whose one line is the client token.",
     Kind::Value, Path | Reloadable},
    {"metrics-token", "token", nullptr,
     "Bearer token that opens GET /metrics (and nothing else) for a Prometheus scraper; the "
     "admin token opens it too.", Kind::Value, Secret | Reloadable},
    {"metrics-token-file", "file", nullptr, "File whose one line is the metrics token.",
     Kind::Value, Path | Reloadable},
    {"max-send-buffer", "size", "8M",
     "Unsent bytes a WebSocket client may fall behind before it is closed with 1008."},
    {"tls-cert", "file", nullptr,
     "PEM certificate (chain) file: serve HTTPS and WSS on the same port (with --tls-key). "
     "Both files are read again on SIGHUP.", Kind::Value, Path | Reloadable},
    {"tls-key", "file", nullptr, "PEM private key file for --tls-cert.", Kind::Value,
     Path | Reloadable},
    {"log-level", "level", "info", "debug, info, warning or error.", Kind::Value, Reloadable},
    {"log-format", "format", "text", "text, or json for one JSON object per line.",
     Kind::Value, Reloadable},
    {"log-file", "file", nullptr,
     "Append the log to this file instead of stderr (created mode 0600; reopened on SIGHUP, "
     "for logrotate).", Kind::Value, Path | Reloadable},
    {"cluster", "url", nullptr,
     "Join a cluster of instances through Redis pub/sub: "
     "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS; /DB selects the "
     "cluster. Needs --cluster-secret-file (or --cluster-insecure). Default: run alone.",
     Kind::Value, Secret},
    {"node-name", "name", nullptr,
     "This instance's name in the cluster. Default: host name:port."},
    {"cluster-secret-file", "file", nullptr,
     "File whose one line is the cluster's shared secret (at least 16 characters), which "
     "authenticates every message between instances.", Kind::Value, Path},
    {"cluster-secret", "secret", nullptr,
     "The cluster's shared secret itself; other users of this machine can read it in the "
     "process list, so prefer --cluster-secret-file.", Kind::Value, Secret},
    {"cluster-insecure", nullptr, nullptr,
     "Run a cluster without a secret: anyone who can publish to its Redis channel can then "
     "send to and close any session.", Kind::Flag},
    {"cluster-password-file", "file", nullptr,
     "File whose one line is the Redis password (AUTH), instead of one in the --cluster URL.",
     Kind::Value, Path},
    {"cluster-ca-file", "file", nullptr,
     "PEM CA certificates that sign a rediss:// server's certificate. Default: the system's.",
     Kind::Value, Path},
    {"deflate", nullptr, nullptr,
     "Offer permessage-deflate compression to WebSocket clients that ask for it (RFC 7692). "
     "Default: off.", Kind::Flag},
    {"deflate-threshold", "size", "1K",
     "With --deflate, messages shorter than this are sent uncompressed (bytes or with K/M)."},
    {"channel-history", "count", "100",
     "Messages each topic of /ws/channels keeps for clients that rejoin with \"since\"; 0 = "
     "none."},
    {"channel-history-age", "seconds", "300",
     "Older messages are dropped from a topic's history; 0 = kept until --channel-history "
     "pushes them out."},
    {"channel-max-topics", "count", "100", "Topics one connection may join at a time."},
    {"channel-publish-rate", "count", "50",
     "Publishes per second one connection may make (in bursts of as many); more get an "
     "error, and ten times more closes the connection with 1008."},
};
// clang-format on

const OptionSpec *findSpec(const QString &name)
{
    for (const OptionSpec &spec : kOptions) {
        if (name == QLatin1String(spec.name))
            return &spec;
    }
    return nullptr;
}

QString envName(const OptionSpec &spec)
{
    return u"SWITCHBOARD_" + QString::fromLatin1(spec.name).toUpper().replace(u'-', u'_');
}

QString helpFor(const OptionSpec &spec)
{
    QString text = QString::fromUtf8(spec.help);
    if (spec.defaultValue)
        text += QStringLiteral(" Default: %1.").arg(QLatin1String(spec.defaultValue));
    return text;
}

/*! Edit distance, for "did you mean" on a mistyped key. */
int editDistance(QStringView a, QStringView b)
{
    QList<int> row(b.size() + 1);
    for (qsizetype j = 0; j <= b.size(); ++j)
        row[j] = int(j);
    for (qsizetype i = 1; i <= a.size(); ++i) {
        int diagonal = row[0];
        row[0] = int(i);
        for (qsizetype j = 1; j <= b.size(); ++j) {
            const int above = row[j];
            row[j] = std::min(
                    {row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

QString suggestion(const QString &key)
{
    const OptionSpec *best = nullptr;
    int bestDistance = 3; // further than two edits is another word
    for (const OptionSpec &spec : kOptions) {
        const int distance = editDistance(key, QString::fromLatin1(spec.name));
        if (distance < bestDistance) {
            best = &spec;
            bestDistance = distance;
        }
    }
    return best ? QStringLiteral("; did you mean '%1'?").arg(QLatin1String(best->name))
                : QStringLiteral("; 'switchboard --help' lists the options.");
}

std::optional<bool> parseBool(const QString &text)
{
    const QString value = text.trimmed().toLower();
    for (const char *yes : {"true", "yes", "on", "1"}) {
        if (value == QLatin1String(yes))
            return true;
    }
    for (const char *no : {"false", "no", "off", "0"}) {
        if (value == QLatin1String(no))
            return false;
    }
    return std::nullopt;
}

/*! Where an option's value came from, strongest last. */
enum class From { Default, File, Environment, CommandLine };

struct Setting
{
    QStringList values; //!< as given; flags as "true"/"false"; empty for a default
    From from = From::Default;
    QString where; //!< how messages name it: "--port", "SWITCHBOARD_PORT", "FILE:LINE: port"
};

/*!
    Every option's effective value after the command line, the environment and
    the file have had their say, with where each came from.
*/
class Settings
{
public:
    const Setting &operator[](const char *name) const
    {
        const auto it = m_settings.constFind(QLatin1String(name));
        Q_ASSERT(it != m_settings.cend());
        return *it;
    }
    void set(const QString &name, Setting setting) { m_settings.insert(name, std::move(setting)); }

    bool isSet(const char *name) const { return (*this)[name].from != From::Default; }
    bool isOn(const char *name) const { return value(name) == u"true"; }
    QStringList values(const char *name) const { return (*this)[name].values; }
    QString value(const char *name) const
    {
        const Setting &setting = (*this)[name];
        if (!setting.values.isEmpty())
            return setting.values.constLast();
        const OptionSpec *spec = findSpec(QString::fromLatin1(name));
        return spec && spec->defaultValue ? QString::fromLatin1(spec->defaultValue) : QString();
    }
    QString where(const char *name) const { return (*this)[name].where; }

    /*! "Error: WHERE 'VALUE' WHAT" for the option \a name. */
    CommandLine bad(const char *name, const QString &what) const
    {
        return failure(QStringLiteral("Error: %1 '%2' %3").arg(where(name), value(name), what));
    }

    /*!
        A secret given either as \a valueName itself or in the file \a fileName
        names: the one from the stronger source; both from the same source is an
        error. Empty when neither is set.
    */
    std::optional<QByteArray> secret(const char *valueName, const char *fileName,
                                     CommandLine *error) const
    {
        const Setting &direct = (*this)[valueName];
        const Setting &file = (*this)[fileName];
        if (direct.from != From::Default && direct.from == file.from) {
            *error = failure(QStringLiteral("Error: %1 and %2 both give the secret; use one.")
                                     .arg(direct.where, file.where));
            return std::nullopt;
        }
        if (file.from > direct.from) {
            QString why;
            const auto text = readSecretFile(value(fileName), &why);
            if (!text) {
                *error = bad(fileName, why + u'.');
                return std::nullopt;
            }
            return text;
        }
        return value(valueName).toUtf8();
    }

    QMap<QString, QStringList> given() const
    {
        QMap<QString, QStringList> result;
        for (auto it = m_settings.cbegin(); it != m_settings.cend(); ++it) {
            if (it->from != From::Default)
                result.insert(it.key(), it->values);
        }
        return result;
    }

private:
    QHash<QString, Setting> m_settings;
};

/*!
    Reads the file \a path names and fills \a entries with what it sets, by
    option; nullopt on success, else the failure naming file, line and key.
*/
std::optional<CommandLine> readEntries(const QString &path,
                                       QHash<QString, QList<ConfigEntry>> *entries)
{
    QString error;
    const auto file = readConfigFile(path, &error);
    if (!file)
        return failure(u"Error: " + error);
    const auto at = [&](const ConfigEntry &entry, const QString &what) {
        return failure(QStringLiteral("Error: %1:%2: %3").arg(path).arg(entry.line).arg(what));
    };
    for (const ConfigEntry &entry : file->entries) {
        const OptionSpec *spec = findSpec(entry.key);
        if (!spec) {
            for (const char *command : {"config", "print-config", "help", "version"}) {
                if (entry.key == QLatin1String(command))
                    return at(entry,
                              QStringLiteral("'%1' is for the command line, not for a "
                                             "configuration file.")
                                      .arg(entry.key));
            }
            return at(entry,
                      QStringLiteral("unknown key '%1'%2").arg(entry.key, suggestion(entry.key)));
        }
        if (entry.value.isEmpty())
            return at(entry,
                      QStringLiteral("%1 has no value; remove the line to use the default.")
                              .arg(entry.key));
        QList<ConfigEntry> &list = (*entries)[entry.key];
        if (!list.isEmpty() && spec->kind != Kind::List)
            return at(entry,
                      QStringLiteral("%1 is set again (first on line %2); keep one.")
                              .arg(entry.key)
                              .arg(list.constFirst().line));
        list.append(entry);
    }
    return std::nullopt;
}

/*!
    Decides every option's value: the command line, else the environment,
    else the configuration file, else the default. nullopt on success.
*/
std::optional<CommandLine> resolve(const QCommandLineParser &parser, const QProcessEnvironment &env,
                                   const QString &configFile, Settings *settings)
{
    QHash<QString, QList<ConfigEntry>> fileEntries;
    if (!configFile.isEmpty()) {
        if (auto error = readEntries(configFile, &fileEntries))
            return error;
    }
    const QDir configDir = QFileInfo(configFile).absoluteDir();
    for (const OptionSpec &spec : kOptions) {
        const QString name = QString::fromLatin1(spec.name);
        const QString variable = envName(spec);
        Setting setting;
        if (parser.isSet(name)) {
            setting = {spec.kind == Kind::Flag ? QStringList{QStringLiteral("true")}
                                               : parser.values(name),
                       From::CommandLine, u"--" + name};
        } else if (!env.value(variable).isEmpty()) {
            const QString value = env.value(variable);
            setting = {spec.kind == Kind::List ? value.split(
                               QRegularExpression(QStringLiteral("[\\s,]+")), Qt::SkipEmptyParts)
                                               : QStringList{value},
                       From::Environment, variable};
        } else if (const auto it = fileEntries.constFind(name); it != fileEntries.cend()) {
            setting.from = From::File;
            setting.where = QStringLiteral("%1:%2: %3")
                                    .arg(configFile)
                                    .arg(it->constLast().line)
                                    .arg(name);
            for (const ConfigEntry &entry : *it) {
                setting.values.append((spec.traits & Path) ? configDir.absoluteFilePath(entry.value)
                                                           : entry.value);
            }
        }
        if (spec.kind == Kind::Flag && setting.from != From::Default
            && setting.from != From::CommandLine) {
            const auto on = parseBool(setting.values.constLast());
            if (!on)
                return failure(QStringLiteral("Error: %1 '%2' is not true or false.")
                                       .arg(setting.where, setting.values.constLast()));
            setting.values = {*on ? QStringLiteral("true") : QStringLiteral("false")};
        }
        if (setting.from == From::Default)
            setting.where = u"--" + name;
        settings->set(name, setting);
    }
    return std::nullopt;
}

/*! "# " + \a text wrapped to fit 78 columns. */
QString commentLines(const QString &text)
{
    QString out;
    QString line;
    for (const QString &word : text.split(u' ', Qt::SkipEmptyParts)) {
        if (!line.isEmpty() && line.size() + 1 + word.size() > 76) {
            out += u"# " + line + u'\n';
            line.clear();
        }
        line += (line.isEmpty() ? QString() : QStringLiteral(" ")) + word;
    }
    if (!line.isEmpty())
        out += u"# " + line + u'\n';
    return out;
}

/*!
    The configuration file that gives \a settings, every option with its help:
    what is set is written out with where it came from, the rest is commented
    out with its default. With nothing set, this is the example file that is
    installed to /etc.
*/
QString configurationText(const Settings &settings)
{
    QString text = QStringLiteral(
            "# Switchboard configuration.\n"
            "#\n"
            "# One \"key = value\" per line; the keys are the long command-line options\n"
            "# without their dashes (switchboard --help, man switchboard). Lines starting\n"
            "# with # are comments: each setting below shows its default, and removing\n"
            "# the # sets it. A value needs no quotes; a list such as allowed-origin takes\n"
            "# one line per value. Relative file names are relative to this file.\n"
            "#\n"
            "# What wins: the command line, then the environment (SWITCHBOARD_PORT for\n"
            "# port, and so on), then this file, then the defaults.\n"
            "# 'switchboard --config FILE --print-config' shows the result, secrets hidden.\n"
            "# Settings marked \"reloadable\" take effect on SIGHUP (systemctl reload\n"
            "# switchboard); the others need a restart.\n");
    for (const OptionSpec &spec : kOptions) {
        const QString name = QString::fromLatin1(spec.name);
        const Setting &setting = settings[spec.name];
        text += u'\n' + commentLines(QString::fromUtf8(spec.help));
        if (spec.traits & Reloadable)
            text += QStringLiteral("# Reloadable.\n");
        if (setting.from == From::Default) {
            text += QStringLiteral("#%1 =").arg(name);
            if (spec.defaultValue)
                text += u' ' + QLatin1String(spec.defaultValue);
            else if (spec.kind == Kind::Flag)
                text += QStringLiteral(" false");
            text += u'\n';
            continue;
        }
        const QString source = setting.from == From::CommandLine
                ? QStringLiteral("the command line")
                : setting.from == From::Environment ? setting.where
                                                    : setting.where.section(u':', 0, -2);
        if (spec.traits & Secret) {
            text += QStringLiteral("#%1 = (set by %2, not shown)\n").arg(name, source);
            continue;
        }
        text += QStringLiteral("# Set by %1.\n").arg(source);
        for (const QString &value : setting.values)
            text += QStringLiteral("%1 = %2\n").arg(name, value);
    }
    return text;
}

// QCommandLineParser knows only options; a user (or a unit file's author) also
// needs what the exit status means and which environment variables count.
QString helpEpilogue()
{
    return QStringLiteral(
            "\n"
            "Configuration:\n"
            "  Every option can also be set in the environment, as SWITCHBOARD_ and the\n"
            "  option's name in capitals with '_' for '-' (SWITCHBOARD_PORT=8080,\n"
            "  SWITCHBOARD_NO_GUI=true), or in the file given with --config, one\n"
            "  'key = value' per line (port = 8080). The command line wins over the\n"
            "  environment, which wins over the file. --print-config shows the result.\n"
            "  SIGHUP reopens the log file and rereads the reloadable settings.\n"
            "\n"
            "Exit codes:\n"
            "  0  normal exit, also after SIGINT/SIGTERM or closing the console\n"
            "  1  cannot listen (e.g. the port is in use, or --host is not an address\n"
            "     of this machine); the message says what to do\n"
            "  2  a bad option or value, unusable --tls-cert/--tls-key files included,\n"
            "     on the command line, in the environment or in the configuration file;\n"
            "     the message names it\n"
            "\n"
            "Environment:\n"
            "  SWITCHBOARD_<OPTION>        any option, as above; for secrets, prefer the\n"
            "                              -file options or these to the command line:\n"
            "  SWITCHBOARD_ADMIN_TOKEN     the admin token\n"
            "  SWITCHBOARD_CLIENT_TOKEN    the client token\n"
            "  SWITCHBOARD_CLUSTER_SECRET  the cluster secret\n"
            "  SWITCHBOARD_CONFIG          the configuration file, when --config is not given\n"
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
            "  NOTIFY_SOCKET               set by systemd (Type=notify): Switchboard reports\n"
            "                              ready, reloading and stopping there\n"
            "  SWITCHBOARD_UI_PROBE        for bench/gui_responsiveness.py: report console\n"
            "                              latency on stderr\n");
}

bool hasBadTokenCharacters(const QByteArray &token)
{
    return std::any_of(token.cbegin(), token.cend(),
                       [](char c) { return c == ' ' || c == '\x7f' || (c >= '\0' && c < ' '); });
}

} // namespace

void compareForReload(const CommandLine &before, const CommandLine &after, QStringList *reloadable,
                      QStringList *fixed)
{
    for (const OptionSpec &spec : kOptions) {
        const QString name = QString::fromLatin1(spec.name);
        if (before.given.value(name) == after.given.value(name)
            && before.isGiven(name) == after.isGiven(name))
            continue;
        ((spec.traits & Reloadable) ? reloadable : fixed)->append(name);
    }
}

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
    const QCommandLineOption config(
            QStringLiteral("config"),
            QStringLiteral("Read settings from this file ('key = value' lines; also "
                           "SWITCHBOARD_CONFIG). The command line and the environment win over "
                           "it."),
            QStringLiteral("file"));
    const QCommandLineOption printConfig(
            QStringLiteral("print-config"),
            QStringLiteral("Show the effective configuration, from every source, as a "
                           "configuration file (secrets hidden), and exit."));
    parser.addOptions({help, version, config, printConfig});
    for (const OptionSpec &spec : kOptions) {
        parser.addOption(QCommandLineOption(QString::fromLatin1(spec.name), helpFor(spec),
                                            spec.valueName ? QString::fromLatin1(spec.valueName)
                                                           : QString()));
    }

    if (!parser.parse(arguments))
        return failure(parserError(parser));
    if (parser.isSet(help)) {
        // The command line is read before QCoreApplication exists, so Qt's usage
        // line would name "<executable_name>": write our own.
        const QString help = parser.helpText();
        const QString program = arguments.isEmpty() ? QStringLiteral("switchboard")
                                                    : QFileInfo(arguments.first()).fileName();
        return {CommandLine::Action::Help,
                {},
                QStringLiteral("Usage: %1 [options]").arg(program) + help.mid(help.indexOf(u'\n'))
                        + helpEpilogue(),
                {}};
    }
    if (parser.isSet(version)) {
        return {CommandLine::Action::Version,
                {},
                QStringLiteral("switchboard %1").arg(QStringLiteral(SWITCHBOARD_VERSION)),
                {}};
    }
    if (!parser.positionalArguments().isEmpty()) {
        return failure(QStringLiteral("Error: unexpected argument '%1'; every setting is an "
                                      "option such as --port 4040.")
                               .arg(parser.positionalArguments().first()));
    }

    CommandLine result;
    ServerConfig &c = result.config;
    c.configFile = parser.isSet(config) ? parser.value(config)
                                        : env.value(QStringLiteral("SWITCHBOARD_CONFIG"));
    if (parser.isSet(config) && c.configFile.isEmpty())
        return failure(QStringLiteral("Error: --config needs a file name."));
    Settings s;
    if (auto error = resolve(parser, env, c.configFile, &s))
        return *error;
    result.given = s.given();
    c.noGui = s.isOn("no-gui");

    const QString hostText = s.value("host").trimmed();
    if (hostText.compare(u"localhost", Qt::CaseInsensitive) == 0)
        c.host = QHostAddress(QHostAddress::LocalHost);
    else if (!c.host.setAddress(hostText))
        return s.bad("host",
                     QStringLiteral("is not an IP address; use e.g. 127.0.0.1, 0.0.0.0 "
                                    "or ::1."));

    bool ok = false;
    const uint portValue = s.value("port").toUInt(&ok);
    if (!ok || portValue > 65535)
        return s.bad("port",
                     QStringLiteral("is not a port number; use 0 to 65535 (0 picks a "
                                    "free port)."));
    c.port = quint16(portValue);

    const auto pingValue = parseSeconds(s.value("ping-interval"));
    if (!pingValue)
        return s.bad("ping-interval",
                     QStringLiteral("is not a number of seconds; use e.g. 10 "
                                    "or 0.5 (0 turns pings off)."));
    c.hub.pingInterval = *pingValue;

    const auto idleValue = parseSeconds(s.value("idle-timeout"));
    if (!idleValue)
        return s.bad("idle-timeout",
                     QStringLiteral("is not a number of seconds; use e.g. 60 (0 = never)."));
    c.hub.idleTimeout = *idleValue;

    const qint64 maxSize = parseByteSize(s.value("max-message-size"));
    if (maxSize < 1 || maxSize > kMaxMessageSizeLimit)
        return s.bad("max-message-size",
                     QStringLiteral("is not a size between 1 byte and 2G-1; "
                                    "use e.g. 16M or 1048576."));
    c.hub.maxMessageSize = maxSize;

    // The HTTP deadlines: each a positive number of seconds.
    const struct
    {
        const char *name;
        std::chrono::milliseconds HttpLimits::*field;
        const char *example;
    } deadlines[] = {{"header-timeout", &HttpLimits::headerTimeout, "10"},
                     {"keepalive-timeout", &HttpLimits::keepAliveTimeout, "30"},
                     {"body-timeout", &HttpLimits::bodyTimeout, "20"}};
    for (const auto &deadline : deadlines) {
        const auto value = parseSeconds(s.value(deadline.name));
        if (!value || value->count() == 0)
            return s.bad(deadline.name,
                         QStringLiteral("is not a positive number of seconds; use e.g. %1.")
                                 .arg(QLatin1String(deadline.example)));
        c.http.*deadline.field = *value;
    }

    const qint64 minRate = parseByteSize(s.value("body-min-rate"));
    if (minRate < 0 || minRate > kMaxMessageSizeLimit)
        return s.bad("body-min-rate",
                     QStringLiteral("is not a number of bytes up to 2G-1; use "
                                    "e.g. 500 or 1K, or 0 for a fixed body "
                                    "deadline."));
    c.http.bodyMinRate = minRate;

    // QtHttpServer 6.4 silently drops every header once one field exceeds ~100 KiB,
    // so the head limit stays well below that.
    const qint64 headerSize = parseByteSize(s.value("max-header-size"));
    if (headerSize < 1024 || headerSize > 64 * 1024)
        return s.bad("max-header-size",
                     QStringLiteral("is not a size from 1K to 64K; use e.g. 16K."));
    c.http.maxHeaderSize = qsizetype(headerSize);

    const qint64 bodySize = parseByteSize(s.value("max-body-size"));
    if (bodySize < 0 || bodySize > kMaxMessageSizeLimit)
        return s.bad("max-body-size",
                     QStringLiteral("is not a size up to 2G-1; use e.g. 1M or "
                                    "0 to refuse bodies."));
    c.http.maxBodySize = bodySize;

    const uint connections = s.value("max-connections").toUInt(&ok);
    if (!ok || connections < 1 || connections > 1'000'000)
        return s.bad("max-connections", QStringLiteral("is not a count from 1 to 1000000."));
    c.http.maxConnections = int(connections);

    if (s.value("workers") == u"auto") {
        // One per core: a connection's work never leaves its worker, so more would only
        // take turns on the same cores.
        c.hub.workers = std::max(1, QThread::idealThreadCount());
    } else {
        const uint workers = s.value("workers").toUInt(&ok);
        if (!ok || workers < 1 || workers > 256)
            return s.bad("workers", QStringLiteral("is not a count from 1 to 256, or auto."));
        c.hub.workers = int(workers);
    }

    if (s.isSet("tls-cert") != s.isSet("tls-key"))
        return failure(QStringLiteral("Error: --tls-cert and --tls-key go together; give both "
                                      "files, or neither for plain HTTP."));
    c.tlsCertificate = s.value("tls-cert");
    c.tlsKey = s.value("tls-key");

    const qint64 sendBuffer = parseByteSize(s.value("max-send-buffer"));
    if (sendBuffer < 64 * 1024 || sendBuffer > kMaxMessageSizeLimit)
        return s.bad("max-send-buffer",
                     QStringLiteral("is not a size from 64K to 2G-1; use e.g. 8M."));
    c.hub.maxSendBuffer = sendBuffer;

    // The three tokens: each from the stronger of TOKEN and TOKEN-file.
    CommandLine error;
    const struct
    {
        const char *name;
        const char *file;
        QByteArray ServerConfig::*field;
    } tokens[] = {{"client-token", "client-token-file", &ServerConfig::clientToken},
                  {"admin-token", "admin-token-file", &ServerConfig::adminToken},
                  {"metrics-token", "metrics-token-file", &ServerConfig::metricsToken}};
    for (const auto &token : tokens) {
        const auto value = s.secret(token.name, token.file, &error);
        if (!value)
            return error;
        const bool fromFile = s[token.file].from > s[token.name].from;
        const QString where = s.where(fromFile ? token.file : token.name);
        if (s.isSet(token.name) && !fromFile && value->trimmed().isEmpty())
            return failure(
                    QStringLiteral("Error: %1 is empty; give a token or leave it out.").arg(where));
        // A token travels in an Authorization header or a query string.
        if (hasBadTokenCharacters(*value))
            return failure(QStringLiteral("Error: the token %1 gives contains whitespace or "
                                          "control characters, which cannot travel in an "
                                          "Authorization header.")
                                   .arg(where));
        c.*token.field = *value;
    }
    if (c.adminToken.isEmpty()) {
        c.adminToken = generateToken();
        c.adminTokenGenerated = true;
    }

    for (const QString &value : s.values("allowed-origin")) {
        if (value != u"*" && !OriginPolicy::normalize(value))
            return failure(
                    QStringLiteral("Error: %1 '%2' is not an origin; use scheme://host[:port] "
                                   "such as http://localhost:3000, or *.")
                            .arg(s.where("allowed-origin"), value));
        c.allowedOrigins.append(value);
    }

    if (!s.isSet("cluster")) {
        for (const char *name : {"node-name", "cluster-secret-file", "cluster-secret",
                                 "cluster-password-file", "cluster-ca-file"}) {
            if (s.isSet(name))
                return failure(QStringLiteral("Error: %1 needs --cluster.").arg(s.where(name)));
        }
        if (s.isOn("cluster-insecure"))
            return failure(
                    QStringLiteral("Error: %1 needs --cluster.").arg(s.where("cluster-insecure")));
    } else {
        const QString url = s.value("cluster");
        if (!RedisLink::isBuiltIn())
            return failure(QStringLiteral("Error: %1: this build has no cluster support "
                                          "(configured with -DSWITCHBOARD_WITH_CLUSTER=OFF); "
                                          "rebuild with Debian's libhiredis-dev installed.")
                                   .arg(s.where("cluster")));
        QString why;
        const auto endpoint = RedisEndpoint::fromUrl(url, &why);
        if (!endpoint)
            return s.bad("cluster",
                         why
                                 + QStringLiteral("; use redis://[[USER]:PASSWORD@]HOST[:PORT]"
                                                  "[/DB] such as redis://127.0.0.1:6379."));
        ClusterSettings &settings = c.cluster;
        settings.redis = *endpoint;
        if (settings.redis.tls && !RedisLink::supportsTls())
            return failure(QStringLiteral("Error: %1 '%2': this build's hiredis %3 has no TLS; "
                                          "rediss:// needs hiredis 1.0 or newer with "
                                          "hiredis_ssl (Debian 13's libhiredis-dev). Use "
                                          "redis:// on a network you trust, or a TLS tunnel.")
                                   .arg(s.where("cluster"), settings.redis.displayUrl(),
                                        RedisLink::clientVersion()));

        if (s.isSet("cluster-password-file")) {
            if (!settings.redis.password.isEmpty())
                return failure(QStringLiteral("Error: the cluster URL has a password and %1 "
                                              "gives another; use one.")
                                       .arg(s.where("cluster-password-file")));
            const auto password = readSecretFile(s.value("cluster-password-file"), &why);
            if (!password)
                return s.bad("cluster-password-file", why + u'.');
            settings.redis.password = *password;
        }
        if (!settings.redis.username.isEmpty() && settings.redis.password.isEmpty())
            return failure(QStringLiteral("Error: %1 '%2' names user '%3' without a password "
                                          "(AUTH needs both); give it in the URL or with "
                                          "--cluster-password-file.")
                                   .arg(s.where("cluster"), settings.redis.displayUrl(),
                                        settings.redis.username));
        if (s.isSet("cluster-ca-file")) {
            if (!settings.redis.tls)
                return failure(
                        QStringLiteral("Error: %1 is for rediss:// URLs; '%2' does not "
                                       "use TLS.")
                                .arg(s.where("cluster-ca-file"), settings.redis.displayUrl()));
            if (!QFileInfo(s.value("cluster-ca-file")).isReadable())
                return s.bad("cluster-ca-file", QStringLiteral("cannot be read."));
            settings.redis.caFile = s.value("cluster-ca-file");
        }

        const auto secret = s.secret("cluster-secret", "cluster-secret-file", &error);
        if (!secret)
            return error;
        if (s.isOn("cluster-insecure")) {
            if (!secret->isEmpty())
                return failure(QStringLiteral("Error: %1 runs without a secret, but one is "
                                              "given; drop one of them.")
                                       .arg(s.where("cluster-insecure")));
        } else if (secret->isEmpty()) {
            return failure(QStringLiteral(
                    "Error: --cluster needs a shared secret so that instances can tell each "
                    "other's messages from forgeries: give every instance the same one with "
                    "--cluster-secret-file FILE or SWITCHBOARD_CLUSTER_SECRET (make one with "
                    "'head -c 32 /dev/urandom | base64'). To run without, knowing that anyone "
                    "who can publish to this Redis can then send to and close any session, add "
                    "--cluster-insecure."));
        } else if (secret->size() < kMinClusterSecret) {
            return failure(QStringLiteral("Error: the cluster secret has %1 characters; use at "
                                          "least %2 (make one with 'head -c 32 /dev/urandom | "
                                          "base64').")
                                   .arg(secret->size())
                                   .arg(kMinClusterSecret));
        }
        settings.secret = *secret;
    }
    if (s.isSet("node-name")) {
        const QString name = s.value("node-name");
        if (!Cluster::isValidNodeName(name))
            return s.bad("node-name",
                         QStringLiteral("must be 1 to 100 letters, digits, '.', "
                                        "'_', '-' or ':'."));
        c.cluster.nodeName = name;
    }

    c.deflate.enabled = s.isOn("deflate");
    if (s.isSet("deflate-threshold") && !c.deflate.enabled)
        return failure(
                QStringLiteral("Error: %1 needs --deflate.").arg(s.where("deflate-threshold")));
    const qint64 threshold = parseByteSize(s.value("deflate-threshold"));
    if (threshold < 0 || threshold > kMaxMessageSizeLimit)
        return s.bad("deflate-threshold",
                     QStringLiteral("is not a size up to 2G-1; use e.g. "
                                    "1K, or 0 to compress every message."));
    c.deflate.threshold = qsizetype(threshold);

    const struct
    {
        const char *name;
        int ChannelSettings::*field;
        uint minimum;
        uint maximum;
    } channelCounts[]
            = {{"channel-history", &ChannelSettings::historySize, 0, 100'000},
               {"channel-max-topics", &ChannelSettings::maxTopicsPerConnection, 1, 100'000}};
    for (const auto &count : channelCounts) {
        const uint value = s.value(count.name).toUInt(&ok);
        if (!ok || value < count.minimum || value > count.maximum)
            return s.bad(count.name,
                         QStringLiteral("is not a count from %1 to %2.")
                                 .arg(count.minimum)
                                 .arg(count.maximum));
        c.channels.*count.field = int(value);
    }
    const auto historyAge = parseSeconds(s.value("channel-history-age"));
    if (!historyAge)
        return s.bad("channel-history-age",
                     QStringLiteral("is not a number of seconds; use e.g. "
                                    "300 (0 = no age limit)."));
    c.channels.historyAge = *historyAge;
    const double publishRate = s.value("channel-publish-rate").toDouble(&ok);
    if (!ok || !(publishRate >= 1) || publishRate > 1'000'000)
        return s.bad("channel-publish-rate",
                     QStringLiteral("is not a number of publishes per second from 1 to 1000000."));
    c.channels.publishRate = publishRate;

    c.logLevel = s.value("log-level").trimmed().toLower();
    static const QStringList levels{QStringLiteral("debug"), QStringLiteral("info"),
                                    QStringLiteral("warning"), QStringLiteral("error")};
    if (!levels.contains(c.logLevel))
        return s.bad("log-level", QStringLiteral("is not one of debug, info, warning, error."));
    const QString format = s.value("log-format").trimmed().toLower();
    if (format == u"json")
        c.logFormat = LogFormat::Json;
    else if (format != u"text")
        return s.bad("log-format", QStringLiteral("is not one of text, json."));
    if (s.isSet("log-file") && s.value("log-file").isEmpty())
        return failure(QStringLiteral("Error: %1 needs a file name.").arg(s.where("log-file")));
    c.logFile = s.value("log-file");

    if (parser.isSet(printConfig)) {
        result.action = CommandLine::Action::PrintConfig;
        result.text = configurationText(s);
    }
    return result;
}

} // namespace Switchboard
