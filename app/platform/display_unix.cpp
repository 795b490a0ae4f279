#include "platform/display.h"

#include <QtCore/QByteArray>
#include <QtCore/QDir>
#include <QtCore/QLibraryInfo>
#include <QtCore/QStringList>

#include <xcb/xcb.h>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace Switchboard {

namespace {

// What opening one platform's display gave: nothing when it works.
using Failure = std::optional<QString>;

Failure tryX11()
{
    const QByteArray display = qgetenv("DISPLAY");
    if (display.isEmpty())
        return QStringLiteral("an X11 display (DISPLAY is unset)");
    // The full handshake, authentication included, as Qt's xcb plugin does it:
    // a socket that exists but refuses us must count as unusable too.
    int screen = 0;
    xcb_connection_t *connection = xcb_connect(display.constData(), &screen);
    const int error = xcb_connection_has_error(connection);
    xcb_disconnect(connection);
    if (error == 0)
        return std::nullopt;
    return QStringLiteral("display '%1' (X11)").arg(QString::fromLocal8Bit(display));
}

bool hasWaylandPlugin()
{
    // Debian ships it apart (qt6-wayland); without it Qt skips to the next platform.
    QStringList directories
            = qEnvironmentVariable("QT_QPA_PLATFORM_PLUGIN_PATH").split(u':', Qt::SkipEmptyParts);
    for (const QString &path :
         qEnvironmentVariable("QT_PLUGIN_PATH").split(u':', Qt::SkipEmptyParts))
        directories.append(path + u"/platforms");
    directories.append(QLibraryInfo::path(QLibraryInfo::PluginsPath) + u"/platforms");
    for (const QString &directory : std::as_const(directories)) {
        if (!QDir(directory).entryList({QStringLiteral("libqwayland*")}, QDir::Files).isEmpty())
            return true;
    }
    return false;
}

Failure tryWayland()
{
    if (qEnvironmentVariableIsSet("WAYLAND_SOCKET"))
        return std::nullopt; // an already connected descriptor handed down by the compositor
    QByteArray name = qgetenv("WAYLAND_DISPLAY");
    if (name.isEmpty())
        name = "wayland-0"; // libwayland's default
    const QString shown = QString::fromLocal8Bit(name);
    QByteArray path = name;
    if (!name.startsWith('/')) {
        const QByteArray runtime = qgetenv("XDG_RUNTIME_DIR");
        if (runtime.isEmpty())
            return QStringLiteral("display '%1' (Wayland; XDG_RUNTIME_DIR is unset)").arg(shown);
        path = runtime + '/' + name;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::size_t(path.size()) >= sizeof address.sun_path)
        return QStringLiteral("display '%1' (Wayland: socket path too long)").arg(shown);
    std::memcpy(address.sun_path, path.constData(), std::size_t(path.size()));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return QStringLiteral("display '%1' (Wayland: %2)")
                .arg(shown, QString::fromLocal8Bit(std::strerror(errno)));
    const int connected
            = ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address);
    const int error = errno;
    ::close(fd);
    if (connected != 0) {
        return QStringLiteral("display '%1' (Wayland: %2: %3)")
                .arg(shown, QString::fromLocal8Bit(path),
                     QString::fromLocal8Bit(std::strerror(error)));
    }
    if (!hasWaylandPlugin())
        return QStringLiteral("display '%1' (Wayland: Qt's wayland platform plugin is not "
                              "installed; Debian: qt6-wayland)")
                .arg(shown);
    return std::nullopt;
}

} // namespace

std::optional<QString> unusableDisplay()
{
    QStringList platforms;
    const QString requested = qEnvironmentVariable("QT_QPA_PLATFORM");
    if (!requested.isEmpty()) {
        platforms = requested.split(u';', Qt::SkipEmptyParts);
    } else {
        if (qEnvironmentVariableIsEmpty("DISPLAY")
            && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
            return QStringLiteral("a display (DISPLAY and WAYLAND_DISPLAY are unset)");
        if (!qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")
            || qEnvironmentVariable("XDG_SESSION_TYPE") == u"wayland")
            platforms.append(QStringLiteral("wayland"));
        platforms.append(QStringLiteral("xcb"));
    }
    QStringList failures;
    for (const QString &entry : std::as_const(platforms)) {
        // "xcb:option=value" passes options to the plugin.
        const QString platform = entry.section(u':', 0, 0).trimmed();
        Failure failure;
        if (platform == u"xcb")
            failure = tryX11();
        else if (platform.startsWith(u"wayland"))
            failure = tryWayland();
        else
            return std::nullopt; // offscreen, minimal, vnc, eglfs, ...: no display server to reach
        if (!failure)
            return std::nullopt;
        failures.append(*failure);
    }
    if (failures.isEmpty())
        return std::nullopt;
    return failures.join(u" or ");
}

} // namespace Switchboard
