#pragma once

#include <QtCore/QByteArrayView>
#include <QtCore/QLoggingCategory>
#include <QtCore/QString>

namespace Switchboard {

Q_DECLARE_LOGGING_CATEGORY(lcApp)
Q_DECLARE_LOGGING_CATEGORY(lcHttp)
Q_DECLARE_LOGGING_CATEGORY(lcWs)
Q_DECLARE_LOGGING_CATEGORY(lcHub)

/*!
    Applies `--log-level` ("debug", "info", "warning", "error") to every
    `switchboard.*` category and, the first time, installs the message handler:
    "<local time> <level> <category>: <message>" lines on stderr, batched until
    the event loop waits (warnings and errors at once). Call it once the
    application object exists. Returns false for an unknown level.
*/
bool applyLogLevel(const QString &level);

/*! Writes out any log lines still batched (also done at exit). */
void flushLog();
/*!
    Writes the lines batched so far whenever the calling thread's event loop is
    about to wait (installing the log handler does this for the thread it runs
    on; each worker thread does it for itself).
*/
void flushLogWhenIdle();

enum class LogFormat { Text, Json };

/*!
    `--log-format`: Text writes "<time> <level> <category>: <message>" lines; Json
    one object per line, {"ts","level","category","msg"}, valid JSON whatever the
    message holds. The time is local, ISO 8601 with its offset from UTC.
*/
void setLogFormat(LogFormat format);

/*!
    `--log-file`: from now on, appends the log to \a path instead of stderr,
    creating it for its owner only (0600). False, with \a error set, if it
    cannot be opened; the log then keeps going where it went before. An empty
    \a path goes back to stderr.
*/
bool openLogFile(const QString &path, QString *error = nullptr);

/*!
    Opens the log file again by its name, for a rotation that moved it away
    (a SIGHUP handler's job). True, doing nothing, when logging to stderr.
*/
bool reopenLogFile(QString *error = nullptr);

/*! One log line, newline included, as the handler writes it (for tests). */
void appendLogLine(QByteArray &out, LogFormat format, QByteArrayView time, QtMsgType type,
                   const char *category, const QString &message);

} // namespace Switchboard
