#include "logging.h"

#include "platform/logoutput.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QStringList>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace Switchboard {

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
        appendTime();
        switch (type) {
        case QtDebugMsg:
            m_pending += " debug ";
            break;
        case QtInfoMsg:
            m_pending += " info ";
            break;
        case QtWarningMsg:
            m_pending += " warning ";
            break;
        case QtCriticalMsg:
            m_pending += " error ";
            break;
        case QtFatalMsg:
            m_pending += " fatal ";
            break;
        }
        m_pending += context.category ? context.category : "default";
        m_pending += ": ";
        m_pending += message.toUtf8();
        m_pending += '\n';
        if (m_oldestMs < 0)
            m_oldestMs = m_clock.elapsed();
        // (QtInfoMsg is numerically above QtWarningMsg: compare by name.)
        const bool urgent = type == QtWarningMsg || type == QtCriticalMsg || type == QtFatalMsg;
        if (urgent || m_pending.size() >= 16 * 1024 || m_clock.elapsed() - m_oldestMs >= 100)
            flushLocked();
    }

    void flush()
    {
        const QMutexLocker lock(&m_mutex);
        flushLocked();
    }

private:
    void appendTime()
    {
        const LogOutput::WallTime now = LogOutput::now();
        if (now.seconds != m_second) { // once a second is plenty
            m_secondText = LogOutput::localTimeText(now.seconds);
            m_second = now.seconds;
        }
        char millis[24];
        std::snprintf(millis, sizeof millis, ".%03d", now.milliseconds);
        m_pending += m_secondText;
        m_pending += millis;
    }

    void flushLocked()
    {
        qsizetype done = 0;
        while (done < m_pending.size()) {
            const qint64 n = LogOutput::writeStandardError(m_pending.constData() + done,
                                                           m_pending.size() - done);
            if (n <= 0)
                break; // stderr is gone or full: the lines are dropped, not the server
            done += n;
        }
        m_pending.clear();
        m_oldestMs = -1;
    }

    QMutex m_mutex;
    QByteArray m_pending;
    QElapsedTimer m_clock;
    qint64 m_oldestMs = -1;
    qint64 m_second = -1;
    QByteArray m_secondText;
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
        if (auto *dispatcher = QAbstractEventDispatcher::instance())
            QObject::connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, dispatcher,
                             flushLog);
    }
    return true;
}

} // namespace Switchboard
