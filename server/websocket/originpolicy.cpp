#include "websocket/originpolicy.h"

#include <QtCore/QUrl>

namespace Switchboard {

OriginPolicy::OriginPolicy(const QStringList &allowedOrigins)
{
    for (const QString &origin : allowedOrigins) {
        if (origin == u"*")
            m_any = true;
        else if (const auto normalized = normalize(origin))
            m_allowed.append(*normalized);
    }
}

std::optional<QString> OriginPolicy::normalize(const QString &origin)
{
    const QUrl url(origin, QUrl::StrictMode);
    const QString scheme = url.scheme().toLower();
    if (!url.isValid() || (scheme != u"http" && scheme != u"https") || url.host().isEmpty()
        || !url.userInfo().isEmpty() || (!url.path().isEmpty() && url.path() != u"/")
        || url.hasQuery() || url.hasFragment())
        return std::nullopt;
    const int port = url.port(scheme == u"https" ? 443 : 80);
    const QString host = url.host().toLower();
    const QString bracketed = host.contains(u':') ? u'[' + host + u']' : host; // IPv6 literal
    return scheme + u"://" + bracketed + u':' + QString::number(port);
}

bool OriginPolicy::allows(const QByteArray &origin, const QByteArray &host, bool tls) const
{
    if (origin.isNull())
        return true;
    if (m_any)
        return true;
    const auto normalized = normalize(QString::fromUtf8(origin));
    if (!normalized)
        return false; // "null" and other opaque origins are only allowed by "*"
    if (m_allowed.contains(*normalized))
        return true;

    // Same origin: compare the Origin's host:port with the Host header's.
    const QUrl hostUrl(u"x://" + QString::fromUtf8(host), QUrl::StrictMode);
    if (host.isEmpty() || !hostUrl.isValid() || hostUrl.host().isEmpty())
        return false;
    const QUrl originUrl(*normalized);
    const int hostPort = hostUrl.port(tls ? 443 : 80);
    return originUrl.host() == hostUrl.host().toLower() && originUrl.port() == hostPort;
}

} // namespace Switchboard
