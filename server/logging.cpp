#include "logging.h"

#include "platform/logoutput.h"
#include "platform/ownerfile.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QMutex>
#include <QtCore/QStringList>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

namespace Switchboard {

namespace {

const char *levelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "info";
}

// A JSON string body: quotes, backslashes and every control character escaped, so
// an event stays one line whatever its message holds. The UTF-8 comes from a
// QString, so it is valid (undecodable input became U+FFFD on the way in).
void appendJsonString(QByteArray &out, QByteArrayView utf8)
{
    static const char hex[] = "0123456789abcdef";
    out += '"';
    for (const char c : utf8) {
        const auto byte = uchar(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte >= 0x20) {
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else {
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        }
    }
    out += '"';
}

} // namespace

void appendLogLine(QByteArray &out, LogFormat format, QByteArrayView time, QtMsgType type,
                   const char *category, const QString &message)
{
    const char *const name = category ? category : "default";
    if (format == LogFormat::Text) {
        out += time;
        out += ' ';
        out += levelName(type);
        out += ' ';
        out += name;
        out += ": ";
        out += message.toUtf8();
        out += '\n';
        return;
    }
    out += "{\"ts\":\"";
    out += time;
    out += "\",\"level\":\"";
    out += levelName(type);
    out += "\",\"category\":";
    const QByteArrayView nameView(name);
    if (std::all_of(nameView.begin(), nameView.end(), [](char c) { return uchar(c) < 0x80; }))
        appendJsonString(out, nameView); // the usual case: no conversion per line
    else
        appendJsonString(out, QString::fromUtf8(nameView).toUtf8());
    out += ",\"msg\":";
    appendJsonString(out, message.toUtf8());
    out += "}\n";
}

namespace {

/*
    Log lines are collected and written to stderr when the event loop is about to
    wait, when 16 KiB have piled up, when the oldest is 100 ms old, and at once for
    warnings and errors. Written line by line, with Qt's own formatting (which looks
    the time zone up again for every line), the access log cost a quarter of the
    HTTP throughput.
*/
class LogSink
{
public:
    static LogSink &instance()
    {
        // Never destroyed: Qt may still log while static objects are torn down, and
        // the exit handler that flushes must find it intact.
        static LogSink *const sink = new LogSink;
        return *sink;
    }

    void add(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        const QMutexLocker lock(&m_mutex);
        if (!m_clock.isValid())
            m_clock.start();
        appendLogLine(m_pending, m_format, timeText(), type, context.category, message);
        m_hasPending.store(true, std::memory_order_relaxed);
        if (m_oldestMs < 0)
            m_oldestMs = m_clock.elapsed();
        // (QtInfoMsg is numerically above QtWarningMsg: compare by name.)
        const bool urgent = type == QtWarningMsg || type == QtCriticalMsg || type == QtFatalMsg;
        if (urgent || m_pending.size() >= 16 * 1024 || m_clock.elapsed() - m_oldestMs >= 100)
            flushLocked();
    }

    void flush()
    {
        // Called every time an event loop is about to wait: without a lock when idle.
        if (!m_hasPending.load(std::memory_order_relaxed))
            return;
        const QMutexLocker lock(&m_mutex);
        flushLocked();
    }

    void setFormat(LogFormat format)
    {
        const QMutexLocker lock(&m_mutex);
        m_format = format;
    }

    bool openFile(const QString &path, QString *error)
    {
        const QMutexLocker lock(&m_mutex);
        flushLocked(); // what was batched goes where it was meant to
        if (path.isEmpty()) {
            m_file.reset();
            return true;
        }
        auto file = std::make_unique<QFile>(path);
        const bool existed = file->exists();
        if (!file->open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered)
            || (!existed && !restrictToOwner(*file))) {
            if (error)
                *error = file->errorString();
            return false;
        }
        m_file = std::move(file);
        return true;
    }

    bool reopenFile(QString *error)
    {
        QString path;
        {
            const QMutexLocker lock(&m_mutex);
            if (!m_file)
                return true;
            path = m_file->fileName();
        }
        return openFile(path, error);
    }

private:
    // "2026-12-03T16:19:10.309+01:00": local time and its offset, looked up once a
    // second (which also follows a DST change within a second).
    QByteArrayView timeText()
    {
        const LogOutput::WallTime now = LogOutput::now();
        if (now.seconds != m_second) {
            const QByteArray text = LogOutput::localTimeText(now.seconds);
            m_timeText = text.left(19) + ".000" + text.mid(19);
            m_second = now.seconds;
        }
        char *const millis = m_timeText.data() + 20;
        millis[0] = char('0' + now.milliseconds / 100);
        millis[1] = char('0' + now.milliseconds / 10 % 10);
        millis[2] = char('0' + now.milliseconds % 10);
        return m_timeText;
    }

    void flushLocked()
    {
        qsizetype done = 0;
        while (done < m_pending.size()) {
            const qint64 n = m_file
                    ? m_file->write(m_pending.constData() + done, m_pending.size() - done)
                    : LogOutput::writeStandardError(m_pending.constData() + done,
                                                    m_pending.size() - done);
            if (n <= 0)
                break; // stderr or the disk is gone or full: drop the lines, not the server
            done += n;
        }
        m_pending.clear();
        m_hasPending.store(false, std::memory_order_relaxed);
        m_oldestMs = -1;
    }

    QMutex m_mutex;
    QByteArray m_pending;
    std::atomic<bool> m_hasPending{false}; // read without the lock by flush()
    QElapsedTimer m_clock;
    qint64 m_oldestMs = -1;
    qint64 m_second = -1;
    QByteArray m_timeText;
    LogFormat m_format = LogFormat::Text;
    std::unique_ptr<QFile> m_file; // null: stderr
};

void handleMessage(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    LogSink::instance().add(type, context, message);
    if (type == QtFatalMsg)
        std::abort();
}

} // namespace

void flushLog()
{
    LogSink::instance().flush();
}

void flushLogWhenIdle()
{
    if (auto *dispatcher = QAbstractEventDispatcher::instance())
        QObject::connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, dispatcher, flushLog);
}

void setLogFormat(LogFormat format)
{
    LogSink::instance().setFormat(format);
}

bool openLogFile(const QString &path, QString *error)
{
    return LogSink::instance().openFile(path, error);
}

bool reopenLogFile(QString *error)
{
    return LogSink::instance().reopenFile(error);
}

Q_LOGGING_CATEGORY(lcApp, "switchboard.app", QtInfoMsg)
Q_LOGGING_CATEGORY(lcHttp, "switchboard.http", QtInfoMsg)
Q_LOGGING_CATEGORY(lcWs, "switchboard.ws", QtInfoMsg)
Q_LOGGING_CATEGORY(lcHub, "switchboard.hub", QtInfoMsg)

bool applyLogLevel(const QString &level)
{
    static const QStringList levels{QStringLiteral("debug"), QStringLiteral("info"),
                                    QStringLiteral("warning"), QStringLiteral("critical")};
    QString normalized = level.toLower();
    if (normalized == u"error")
        normalized = QStringLiteral("critical");
    const qsizetype index = levels.indexOf(normalized);
    if (index < 0)
        return false;
    QStringList rules;
    for (qsizetype i = 0; i < levels.size(); ++i)
        rules << QStringLiteral("switchboard.*.%1=%2")
                         .arg(levels.at(i), i >= index ? u"true" : u"false");
    QLoggingCategory::setFilterRules(rules.join(u'\n'));
    static bool installed = false;
    if (!std::exchange(installed, true)) {
        LogSink::instance();
        qInstallMessageHandler(handleMessage);
        std::atexit(flushLog);
        flushLogWhenIdle();
    }
    return true;
}

} // namespace Switchboard
