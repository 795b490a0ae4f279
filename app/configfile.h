#pragma once

#include <QtCore/QList>
#include <QtCore/QString>

#include <optional>

namespace Switchboard {

/*! One "key = value" line of a configuration file. */
struct ConfigEntry
{
    QString key;
    QString value;
    int line = 0; //!< 1-based, for error messages
};

/*!
    A configuration file as written: its entries in order, not yet checked
    against the options (parseCommandLine() does that, so that it can name the
    file, the line and the key of anything wrong).

    The format is the one Debian admins know from /etc: one "key = value" per
    line; blank lines and lines starting with '#' or ';' are ignored; a value
    may be wrapped in double quotes, which are dropped. There are no sections
    and no comments after a value, so a token may contain '#'.
*/
struct ConfigFile
{
    QString path;
    QList<ConfigEntry> entries;
};

/*!
    Reads and splits the configuration file \a path. nullopt with \a error
    ("FILE:LINE: what is wrong", or "FILE: why it cannot be read") for a file
    that cannot be read, is not UTF-8, or has a line that is not "key = value".
*/
std::optional<ConfigFile> readConfigFile(const QString &path, QString *error);

/*! Splits \a text as readConfigFile() does, naming \a path in errors. */
std::optional<ConfigFile> parseConfigText(const QString &path, const QByteArray &text,
                                          QString *error);

} // namespace Switchboard
