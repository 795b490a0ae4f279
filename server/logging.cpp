#include "logging.h"

#include <QtCore/QStringList>

namespace Switchboard {

Q_LOGGING_CATEGORY(lcApp, "switchboard.app", QtInfoMsg)
Q_LOGGING_CATEGORY(lcHttp, "switchboard.http", QtInfoMsg)
Q_LOGGING_CATEGORY(lcWs, "switchboard.ws", QtInfoMsg)
Q_LOGGING_CATEGORY(lcHub, "switchboard.hub", QtInfoMsg)

bool applyLogLevel(const QString &level)
{
    static const QStringList levels{QStringLiteral("debug"), QStringLiteral("info"),
                                    QStringLiteral("warning"), QStringLiteral("critical")};
    QString normalized = level.toLower();
    if (normalized == u"error")
        normalized = QStringLiteral("critical");
    const qsizetype index = levels.indexOf(normalized);
    if (index < 0)
        return false;
    QStringList rules;
    for (qsizetype i = 0; i < levels.size(); ++i)
        rules << QStringLiteral("switchboard.*.%1=%2")
                         .arg(levels.at(i), i >= index ? u"true" : u"false");
    // QtHttpServer 6.4 warns "WebSocket received but no slots connected" for every
    // upgrade we refuse on purpose (see Server::handleUpgrade); keep that for debug.
    if (index > 0)
        rules << QStringLiteral("qt.httpserver.warning=false");
    QLoggingCategory::setFilterRules(rules.join(u'\n'));
    qSetMessagePattern(QStringLiteral(
            "%{time yyyy-MM-ddThh:mm:ss.zzz} %{if-debug}debug%{endif}%{if-info}info%{endif}"
            "%{if-warning}warning%{endif}%{if-critical}error%{endif}%{if-fatal}fatal%{endif} "
            "%{category}: %{message}"));
    return true;
}

} // namespace Switchboard
