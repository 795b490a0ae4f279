#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <optional>

namespace Switchboard {

/*!
    Decides which browser origins may open a WebSocket.

    Always allowed: requests without an `Origin` header (non-browser clients)
    and same-origin requests, whose Origin host and port equal the `Host`
    header's. Also allowed: any origin listed with `--allowed-origin`, or every
    origin if the list holds "*".
*/
class OriginPolicy final
{
public:
    explicit OriginPolicy(const QStringList &allowedOrigins = {});

    bool allows(const QByteArray &origin, const QByteArray &host, bool tls = false) const;

    /*!
        "HTTP://Example.com" -> "http://example.com:80". std::nullopt unless
        \a origin is an http(s) origin: scheme, host, optional port, nothing else.
    */
    static std::optional<QString> normalize(const QString &origin);

private:
    QStringList m_allowed; // normalized
    bool m_any = false;
};

} // namespace Switchboard
