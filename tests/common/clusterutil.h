#pragma once

// Shared by the cluster tests: a throwaway redis-server and real `switchboard`
// processes started by the test, both on 127.0.0.1. Waits spin the event loop.

#include "testutil.h"

#include <QtCore/QJsonArray>
#include <QtCore/QMultiHash>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtNetwork/QTcpServer>

#include <memory>

namespace TestUtil {

inline constexpr char kNoRedis[] = "redis-server is not installed (Debian package redis-server; "
                                   "./dev test installs it): cluster tests skipped";

/*! The secret the cluster tests' instances share (at least 16 characters). */
inline constexpr char kClusterSecret[] = "test-cluster-secret-0123456789";

/*! A port nothing listens on right now. */
inline quint16 freePort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

/*! A redis-server without persistence on a free port, which restarts on the same one. */
class RedisServer
{
public:
    RedisServer() : m_binary(QStandardPaths::findExecutable(QStringLiteral("redis-server"))) { }
    ~RedisServer() { kill(); }
    Q_DISABLE_COPY_MOVE(RedisServer)

    /*! False if redis-server is not installed: the caller skips. */
    bool isInstalled() const { return !m_binary.isEmpty(); }
    quint16 port() const { return m_port; }
    QString url() const { return QStringLiteral("redis://127.0.0.1:%1").arg(m_port); }
    /*! What it printed so far (its log), e.g. why it did not start. */
    QByteArray output() const { return m_output; }

    /*!
        Starts it (again); true once it accepts connections. \a extra are more
        configuration arguments (e.g. --requirepass P); \a tlsArguments, when
        given, make port() its TLS port and turn the plain one off.
    */
    bool start(const QStringList &extra = {}, const QStringList &tlsArguments = {})
    {
        if (m_port == 0)
            m_port = freePort();
        const QString port = QString::number(m_port);
        QStringList arguments = tlsArguments.isEmpty()
                ? QStringList{QStringLiteral("--port"), port}
                : QStringList{QStringLiteral("--port"), QStringLiteral("0"),
                              QStringLiteral("--tls-port"), port}
                        + tlsArguments;
        arguments += {QStringLiteral("--bind"),       QStringLiteral("127.0.0.1"),
                      QStringLiteral("--save"),       QString(),
                      QStringLiteral("--appendonly"), QStringLiteral("no")};
        m_process = std::make_unique<QProcess>();
        m_process->setProcessChannelMode(QProcess::MergedChannels);
        m_process->start(m_binary, arguments + extra);
        if (!m_process->waitForStarted(5000))
            return false;
        m_output.clear();
        return waitFor(
                       [&] {
                           m_output += m_process->readAll();
                           return m_output.contains("Ready to accept connections")
                                   || m_process->state() == QProcess::NotRunning;
                       },
                       10000)
                && m_process->state() == QProcess::Running;
    }

    /*!
        Runs `redis-cli` against it with \a arguments (after \a login, e.g.
        {"--user", "u", "--pass", "p"}); its output, or a null array if it failed.
    */
    QByteArray cli(const QStringList &arguments, const QStringList &login = {}) const
    {
        QProcess cli;
        cli.start(QStringLiteral("redis-cli"),
                  QStringList{QStringLiteral("-p"), QString::number(m_port),
                              QStringLiteral("--no-auth-warning")}
                          + login + arguments);
        if (!cli.waitForFinished(10000) || cli.exitCode() != 0)
            return {};
        return cli.readAllStandardOutput();
    }

    /*! Kills it by the PID QProcess started, like a crash. */
    void kill()
    {
        if (!m_process)
            return;
        m_process->kill();
        m_process->waitForFinished(5000);
        m_process.reset();
    }

private:
    QString m_binary;
    quint16 m_port = 0;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_output;
};

/*! A `switchboard` process (the binary named by $SWITCHBOARD_BINARY) on a port of its choosing. */
class SwitchboardProcess
{
public:
    SwitchboardProcess() = default;
    ~SwitchboardProcess() { stop(); }
    Q_DISABLE_COPY_MOVE(SwitchboardProcess)

    static QString binary() { return qEnvironmentVariable("SWITCHBOARD_BINARY"); }

    /*! Starts it with --port 0 and \a arguments; true once it said where it listens. */
    bool start(const QStringList &arguments)
    {
        m_process = std::make_unique<QProcess>();
        m_process->start(binary(),
                         QStringList{QStringLiteral("--port"), QStringLiteral("0")} + arguments);
        if (!m_process->waitForStarted(5000))
            return false;
        QString output;
        waitFor(
                [&] {
                    output += QString::fromUtf8(m_process->readAllStandardOutput());
                    return output.contains(u'\n') || m_process->state() == QProcess::NotRunning;
                },
                10000);
        static const QRegularExpression line(
                QStringLiteral("^Switchboard listening on http://127\\.0\\.0\\.1:(\\d+) "));
        const auto match = line.match(output);
        m_port = match.hasMatch() ? quint16(match.captured(1).toUInt()) : 0;
        return m_port != 0;
    }

    /*! Everything it wrote to stderr (its log) so far. */
    QString errorOutput()
    {
        if (m_process)
            m_errors += QString::fromUtf8(m_process->readAllStandardError());
        return m_errors;
    }
    /*! Its exit code once it has exited (e.g. refused its options), or -1. */
    int exitCode() const
    {
        if (!m_process || m_process->state() != QProcess::NotRunning)
            return -1;
        return m_process->exitCode();
    }

    /*! SIGTERM, then SIGKILL if it has not exited within 5 s. */
    void stop()
    {
        if (!m_process)
            return;
        m_process->terminate();
        if (!m_process->waitForFinished(5000))
            m_process->kill();
        m_process->waitForFinished(5000);
        errorOutput(); // kept for the caller
        m_process.reset();
        m_port = 0;
    }

    bool isRunning() const { return m_process && m_process->state() == QProcess::Running; }
    quint16 port() const { return m_port; }
    QString url(const QString &path = QStringLiteral("/ws")) const
    {
        return QStringLiteral("ws://127.0.0.1:%1%2").arg(m_port).arg(path);
    }

private:
    std::unique_ptr<QProcess> m_process;
    quint16 m_port = 0;
    QString m_errors;
};

/*! The admin token the cluster tests start their instances with. */
inline constexpr QByteArrayView kClusterAdminToken = "cluster-test-token";

/*! One instance of a test cluster: its node name and its process. */
struct ClusterInstance
{
    QString node;
    SwitchboardProcess process;
    quint16 port() const { return process.port(); }
};

/*! An admin request to \a instance (kClusterAdminToken; a body goes as text/plain). */
inline HttpResponse admin(const ClusterInstance &instance, const QByteArray &method,
                          const QByteArray &path, const QByteArray &body = {})
{
    return request(instance.port(), method, path,
                   {{"Authorization", "Bearer " + kClusterAdminToken.toByteArray()},
                    {"Content-Type", "text/plain"}},
                   body);
}

/*! The cluster listing as seen from \a instance (scope=cluster): node -> global ids. */
inline QMultiHash<QString, QString> clusterListing(const ClusterInstance &instance)
{
    QMultiHash<QString, QString> out;
    const QJsonArray list = admin(instance, "GET", "/api/connections?scope=cluster")
                                    .json()
                                    .value(QStringLiteral("connections"))
                                    .toArray();
    for (const QJsonValue &entry : list)
        out.insert(entry[QStringLiteral("node")].toString(),
                   entry[QStringLiteral("id")].toString());
    return out;
}

} // namespace TestUtil
