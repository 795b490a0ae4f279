#include "platform/logoutput.h"

#include <cstdio>
#include <ctime>

#include <unistd.h>

namespace Switchboard::LogOutput {

WallTime now()
{
    timespec time{};
    ::clock_gettime(CLOCK_REALTIME, &time);
    return {qint64(time.tv_sec), int(time.tv_nsec / 1'000'000)};
}

QByteArray localTimeText(qint64 seconds)
{
    // localtime_r does not re-read the zone file, unlike Qt's per-line lookup.
    const time_t time = time_t(seconds);
    tm local{};
    ::localtime_r(&time, &local);
    // tm_gmtoff is the offset in force at that moment, so a DST change shows at once.
    const long offset = local.tm_gmtoff;
    const long minutes = (offset < 0 ? -offset : offset) / 60;
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                  local.tm_year + 1900, local.tm_mon + 1, local.tm_mday, local.tm_hour,
                  local.tm_min, local.tm_sec, offset < 0 ? '-' : '+', minutes / 60, minutes % 60);
    return text;
}

qint64 writeStandardError(const char *data, qint64 size)
{
    return qint64(::write(STDERR_FILENO, data, size_t(size)));
}

} // namespace Switchboard::LogOutput
