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
    `switchboard.*` category and sets a timestamped message pattern.
    Returns false for an unknown level.
*/
bool applyLogLevel(const QString &level);

} // namespace Switchboard
