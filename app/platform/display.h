#pragma once

#include <QtCore/QString>

#include <optional>

namespace Switchboard {

/*!
    Checks, before any QApplication exists, whether the Qt platform plugin that
    QApplication would load can open its display: Qt aborts the process when it
    cannot. Follows Qt's choice: QT_QPA_PLATFORM (a ';' list, tried in order) if
    set, otherwise Wayland when WAYLAND_DISPLAY or XDG_SESSION_TYPE=wayland asks
    for it, then X11. Platforms that need no display server (offscreen, vnc,
    eglfs, ...) count as usable.

    Returns nothing when a display can be opened, otherwise what was tried and
    why it failed, e.g. "display ':77' (X11)", to be printed after "cannot open ".
*/
std::optional<QString> unusableDisplay();

} // namespace Switchboard
