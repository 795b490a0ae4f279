#include "platform/ownerfile.h"

#include "logging.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Switchboard {

namespace {

constexpr mode_t kOwnerOnly = S_IRUSR | S_IWUSR; // 0600

bool restrictDescriptor(int fd, const QString &name)
{
    if (::fchmod(fd, kOwnerOnly) == 0)
        return true;
    qCWarning(lcApp, "cannot make %s readable by its owner only: %s", qPrintable(name),
              std::strerror(errno));
    return false;
}

} // namespace

bool restrictToOwner(QFileDevice &file)
{
    const int fd = file.handle();
    if (fd < 0) {
        qCWarning(lcApp, "cannot make %s readable by its owner only: it is not open",
                  qPrintable(file.fileName()));
        return false;
    }
    return restrictDescriptor(fd, file.fileName());
}

bool restrictToOwner(const QString &path)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    // Created with 0600 (the umask can only take bits away), so it is never readable
    // by others, not even empty; an existing file keeps its contents.
    const int fd = ::open(QFile::encodeName(path).constData(), O_WRONLY | O_CREAT | O_CLOEXEC,
                          kOwnerOnly);
    if (fd < 0) {
        qCWarning(lcApp, "cannot create %s: %s", qPrintable(path), std::strerror(errno));
        return false;
    }
    const bool restricted = restrictDescriptor(fd, path);
    ::close(fd);
    return restricted;
}

} // namespace Switchboard
