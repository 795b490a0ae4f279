#pragma once

#include <QtCore/QtGlobal>

namespace Switchboard {

/*!
    Raises the soft limit on open files to the hard limit, so a server that
    allows thousands of connections is not stopped by the usual 1024.
    Returns the limit now in force (0 if it cannot be read).
*/
quint64 raiseOpenFileLimit();

} // namespace Switchboard
