#pragma once

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

} // namespace Switchboard
