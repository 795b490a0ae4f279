#pragma once

#include "config.h"

#include <QtCore/QStringList>

namespace Switchboard {

class Server;
struct AdminTokens;

/*! What a reload did: the options it applied, and those that wait for a restart. */
struct ReloadResult
{
    QStringList applied;
    QStringList needRestart;
};

/*!
    SIGHUP's work once the configuration has been read again: applies to
    \a server, \a tokens and the log what changed from \a running to \a next
    and can change while serving (log level, format and file, allowed origins,
    the three tokens, the TLS certificate and key, read again even if their
    names did not change, as a renewed certificate keeps its name). The rest is
    reported in ReloadResult::needRestart and left as it was. Afterwards
    \a running describes what is in effect. Logs one line saying what it did.
*/
ReloadResult applyReload(Server &server, AdminTokens &tokens, CommandLine &running,
                         const CommandLine &next);

} // namespace Switchboard
