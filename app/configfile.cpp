#include "configfile.h"

#include <QtCore/QFile>
#include <QtCore/QRegularExpression>
#include <QtCore/QStringDecoder>

namespace Switchboard {

std::optional<ConfigFile> readConfigFile(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("%1: cannot be read (%2).").arg(path, file.errorString());
        return std::nullopt;
    }
    // Every option fits on a line; a file this large is not a configuration.
    constexpr qint64 kMaxConfigFile = 1024 * 1024;
    const QByteArray text = file.read(kMaxConfigFile + 1);
    if (text.size() > kMaxConfigFile) {
        *error = QStringLiteral("%1: is larger than 1 MiB; is it a configuration file?").arg(path);
        return std::nullopt;
    }
    return parseConfigText(path, text, error);
}

std::optional<ConfigFile> parseConfigText(const QString &path, const QByteArray &text,
                                          QString *error)
{
    static const QRegularExpression keyPattern(QStringLiteral("^[A-Za-z0-9][A-Za-z0-9_-]*$"));
    ConfigFile file{path, {}};
    const QList<QByteArray> lines = text.split('\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const int number = int(i + 1);
        const auto fail = [&](const QString &what) {
            *error = QStringLiteral("%1:%2: %3").arg(path).arg(number).arg(what);
            return std::nullopt;
        };
        QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
        const QString line = QString(decoder.decode(lines.at(i))).trimmed();
        if (decoder.hasError())
            return fail(QStringLiteral("is not UTF-8 text."));
        if (line.isEmpty() || line.startsWith(u'#') || line.startsWith(u';'))
            continue;
        if (line.startsWith(u'['))
            return fail(QStringLiteral("'%1': this file has no sections; write 'key = value' "
                                       "lines only.")
                                .arg(line));
        const qsizetype equals = line.indexOf(u'=');
        if (equals < 0)
            return fail(QStringLiteral("'%1' is not 'key = value'.").arg(line));
        QString key = line.left(equals).trimmed();
        QString value = line.mid(equals + 1).trimmed();
        if (key.startsWith(u'-')) {
            while (key.startsWith(u'-'))
                key.remove(0, 1);
            return fail(QStringLiteral("write the key without dashes: '%1 = ...'.").arg(key));
        }
        if (!keyPattern.match(key).hasMatch())
            return fail(QStringLiteral("'%1' is not a key; keys are option names such as "
                                       "'port'.")
                                .arg(key));
        if (value.size() >= 2 && value.startsWith(u'"') && value.endsWith(u'"'))
            value = value.mid(1, value.size() - 2);
        file.entries.append({key, value, number});
    }
    return file;
}

} // namespace Switchboard
