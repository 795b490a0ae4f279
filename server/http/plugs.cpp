#include "http/plugs.h"

#include "logging.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QJsonParseError>
#include <QtCore/QRandomGenerator>

namespace Switchboard::Plugs {

bool isValidRequestId(QByteArrayView id)
{
    if (id.isEmpty() || id.size() > 200)
        return false;
    for (const char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok)
            return false;
    }
    return true;
}

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    // Compare over the longer length so neither the position of the first
    // difference nor a prefix match shows in the timing.
    const qsizetype n = qMax(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (qsizetype i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        diff |= unsigned(x ^ y);
    }
    return diff == 0;
}

std::optional<QByteArray> bearerToken(const Conn &conn)
{
    static constexpr QByteArrayView scheme("bearer ");
    const QByteArray header = conn.header("authorization");
    if (header.size() <= scheme.size()
        || QByteArrayView(header).first(scheme.size()).compare(scheme, Qt::CaseInsensitive) != 0)
        return std::nullopt;
    return header.mid(scheme.size()).trimmed();
}

Plug requestId()
{
    return [](Conn &conn) {
        const QByteArray given = conn.header("x-request-id");
        if (isValidRequestId(given)) {
            conn.requestId = given;
        } else {
            quint64 words[2];
            QRandomGenerator::global()->fillRange(words);
            conn.requestId = QByteArray(reinterpret_cast<const char *>(words), sizeof words)
                                     .toBase64(QByteArray::Base64UrlEncoding
                                               | QByteArray::OmitTrailingEquals);
        }
        conn.putRespHeader(QByteArrayLiteral("x-request-id"), conn.requestId);
    };
}

Plug accessLog()
{
    return [](Conn &conn) {
        conn.beforeSend.append([](Conn &c) {
            if (!lcHttp().isInfoEnabled())
                return;
            // Formatted here, not by QString::vasprintf() from "%s %s -> %d in %.3f ms ...":
            // that took 10,400 instructions a line (6,200 now), 5% of a WebSocket
            // connection's set-up. QByteArray::number() formats the milliseconds as "%.3f" did.
            const double ms = double(c.clock.nsecsElapsed()) / 1e6;
            const QByteArray line = c.method + ' ' + c.path + " -> " + QByteArray::number(c.status)
                    + " in " + QByteArray::number(ms, 'f', 3) + " ms (request id " + c.requestId
                    + ')';
            qCInfo(lcHttp, "%s", line.constData());
        });
    };
}

Plug jsonBody()
{
    return [](Conn &conn) {
        if (conn.body.isEmpty() || !conn.hasJsonBody()) // the cheap test first
            return;
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(conn.body, &error);
        if (error.error != QJsonParseError::NoError) {
            conn.sendError(400,
                           QStringLiteral("malformed JSON body: %1 at offset %2")
                                   .arg(error.errorString())
                                   .arg(error.offset))
                    .halt();
            return;
        }
        conn.bodyJson = doc.isArray() ? QJsonValue(doc.array()) : QJsonValue(doc.object());
    };
}

Plug adminAuth(std::function<QByteArray()> token, AuthThrottle *throttle)
{
    return anyTokenAuth([token = std::move(token)] { return QList<QByteArray>{token()}; },
                        throttle);
}

Plug anyTokenAuth(std::function<QList<QByteArray>()> tokens, AuthThrottle *throttle)
{
    return [tokens = std::move(tokens), throttle](Conn &conn) {
        if (throttle && throttle->refuse(conn))
            return; // a guesser learns nothing more, right token or not
        const std::optional<QByteArray> given = bearerToken(conn);
        const bool hasBearer = given.has_value();
        if (hasBearer) {
            bool match = false;
            // Every token compared, so the time does not say which one matched.
            for (const QByteArray &expected : tokens())
                match = (!expected.isEmpty() && constantTimeEquals(*given, expected)) || match;
            if (match)
                return;
        }
        // A request without a token guesses nothing and is not counted.
        if (hasBearer && throttle)
            throttle->recordFailure(conn.peerAddress);
        const QByteArray challenge = hasBearer
                ? QByteArrayLiteral("Bearer realm=\"switchboard\", error=\"invalid_token\"")
                : QByteArrayLiteral("Bearer realm=\"switchboard\"");
        conn.putRespHeader(QByteArrayLiteral("www-authenticate"), challenge);
        conn.sendError(401,
                       hasBearer ? QStringLiteral("invalid admin token")
                                 : QStringLiteral(
                                         "admin token required (Authorization: Bearer TOKEN)"))
                .halt();
    };
}

} // namespace Switchboard::Plugs
