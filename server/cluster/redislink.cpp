#include "cluster/redislink.h"

#include <QtCore/QUrl>

namespace Switchboard {

// The parts of RedisLink every build has; the client itself is in
// redislink_hiredis.cpp, or redislink_none.cpp without cluster support.

std::optional<RedisEndpoint> RedisEndpoint::fromUrl(const QString &text, QString *error)
{
    const QUrl url(text.trimmed(), QUrl::StrictMode);
    const auto fail = [error](const QString &why) {
        if (error)
            *error = why;
        return std::nullopt;
    };
    if (!url.isValid() || (url.scheme() != u"redis" && url.scheme() != u"rediss"))
        return fail(QStringLiteral("is not a redis:// or rediss:// URL"));
    if (url.host().isEmpty())
        return fail(QStringLiteral("has no host"));
    if (url.hasQuery() || url.hasFragment())
        return fail(QStringLiteral("has a query or fragment, which are not supported"));
    RedisEndpoint endpoint;
    endpoint.tls = url.scheme() == u"rediss";
    endpoint.host = url.host();
    if (url.port() == 0)
        return fail(QStringLiteral("has port 0"));
    endpoint.port = quint16(url.port(6379));
    endpoint.username = url.userName(QUrl::FullyDecoded);
    endpoint.password = url.password(QUrl::FullyDecoded).toUtf8();
    const QString path = url.path();
    if (!path.isEmpty() && path != u"/") {
        bool ok = false;
        const int db = path.mid(1).toInt(&ok);
        if (!ok || db < 0 || !path.mid(1).front().isDigit())
            return fail(QStringLiteral("has '%1' where a database number belongs").arg(path));
        endpoint.db = db;
    }
    return endpoint;
}

QString RedisEndpoint::displayUrl() const
{
    QUrl url;
    url.setScheme(tls ? QStringLiteral("rediss") : QStringLiteral("redis"));
    url.setHost(host);
    url.setPort(port);
    if (!username.isEmpty())
        url.setUserName(username);
    url.setPath(u'/' + QString::number(db));
    return url.toString();
}

} // namespace Switchboard
