#pragma once

#include <QtCore/QString>

class QFileDevice;

namespace Switchboard {

// Files Switchboard writes that may hold secrets (saved settings, exported message
// logs) are for their owner only: mode 0600. These set it, for every writer.

/*!
    Restricts \a file, open for writing, to its owner. Call it before writing
    anything: for a QSaveFile that is the temporary file, which becomes the
    file on commit(). False, with a warning, if the mode cannot be set.
*/
bool restrictToOwner(QFileDevice &file);

/*!
    Creates the file at \a path (and its folder) empty and for its owner only
    if it does not exist, or restricts the one there. For files another
    writer fills and keeps the mode of, like QSettings' (it writes through
    QSaveFile, which gives the new file the old one's mode).
*/
bool restrictToOwner(const QString &path);

} // namespace Switchboard
