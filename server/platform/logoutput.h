#pragma once

#include <QtCore/QByteArray>

namespace Switchboard::LogOutput {

/*!
    What the log writer needs from the system: the wall clock, local time as
    text, and an unbuffered write to standard error. (Qt's own formatting looks
    the time zone up again for every line; see logging.cpp.)
*/

struct WallTime
{
    qint64 seconds = 0; //!< since the epoch
    int milliseconds = 0;
};

WallTime now();
/*!
    \a seconds since the epoch as local time with its offset from UTC,
    "2026-12-03T13:08:30+01:00" (always 25 characters).
*/
QByteArray localTimeText(qint64 seconds);
/*! Writes to standard error; the bytes written, or -1. */
qint64 writeStandardError(const char *data, qint64 size);

} // namespace Switchboard::LogOutput
