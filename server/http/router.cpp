#include "http/router.h"

#include "logging.h"

#include <QtCore/QUrl>

#include <algorithm>

namespace Switchboard {

namespace {

QList<QByteArrayView> splitPath(QByteArrayView path)
{
    // "/a/b" -> ["a", "b"]; "/" -> [""]; the leading slash is not a segment.
    if (path.startsWith('/'))
        path = path.sliced(1);
    QList<QByteArrayView> parts;
    qsizetype start = 0;
    for (qsizetype i = 0; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            parts.append(path.sliced(start, i - start));
            start = i + 1;
        }
    }
    return parts;
}

QString decodeSegment(QByteArrayView segment)
{
    return QUrl::fromPercentEncoding(segment.toByteArray());
}

} // namespace

bool Router::addRoute(const QByteArray &method, const QString &pattern, Handler handler,
                      QList<Plug> plugs, Runs runs)
{
    if (!pattern.startsWith(u'/') || !handler) {
        qCWarning(lcHttp) << "route pattern must start with '/' and have a handler:" << pattern;
        return false;
    }
    Route route{method.toUpper(), pattern, {}, std::move(handler), std::move(plugs), runs};
    const QByteArray utf8 = pattern.toUtf8();
    const QList<QByteArrayView> parts = splitPath(utf8);
    for (qsizetype i = 0; i < parts.size(); ++i) {
        const QByteArrayView part = parts.at(i);
        Segment segment;
        if (part.startsWith(':') || part.startsWith('*')) {
            segment.kind = part.startsWith(':') ? Segment::Kind::Param : Segment::Kind::Rest;
            segment.text = part.sliced(1).toByteArray();
            if (segment.text.isEmpty()
                || (segment.kind == Segment::Kind::Rest && i != parts.size() - 1)) {
                qCWarning(lcHttp) << "malformed route pattern:" << pattern;
                return false;
            }
        } else {
            segment.text = part.toByteArray();
        }
        route.segments.append(segment);
    }
    m_routes.append(std::move(route));
    return true;
}

bool Router::get(const QString &pattern, Handler handler, QList<Plug> plugs, Runs runs)
{
    return addRoute(QByteArrayLiteral("GET"), pattern, std::move(handler), std::move(plugs), runs);
}

bool Router::post(const QString &pattern, Handler handler, QList<Plug> plugs, Runs runs)
{
    return addRoute(QByteArrayLiteral("POST"), pattern, std::move(handler), std::move(plugs), runs);
}

bool Router::put(const QString &pattern, Handler handler, QList<Plug> plugs, Runs runs)
{
    return addRoute(QByteArrayLiteral("PUT"), pattern, std::move(handler), std::move(plugs), runs);
}

bool Router::del(const QString &pattern, Handler handler, QList<Plug> plugs, Runs runs)
{
    return addRoute(QByteArrayLiteral("DELETE"), pattern, std::move(handler), std::move(plugs),
                    runs);
}

Router::Runs Router::runs(const QByteArray &method, const QByteArray &path) const
{
    const auto found = match(method, path);
    return found ? m_routes.at(found->routeIndex).runs : Runs::OnWorker;
}

bool Router::matchSegments(const Route &route, const QList<QByteArrayView> &parts,
                           QHash<QString, QString> *params)
{
    const auto &segments = route.segments;
    qsizetype i = 0;
    for (; i < segments.size(); ++i) {
        const Segment &segment = segments.at(i);
        if (segment.kind == Segment::Kind::Rest) {
            // The rest may be empty ("/files/" and "/files" both match "/files/*path").
            QByteArray rest;
            for (qsizetype j = i; j < parts.size(); ++j) {
                if (j > i)
                    rest += '/';
                rest += parts.at(j);
            }
            if (params)
                params->insert(QString::fromUtf8(segment.text), decodeSegment(rest));
            return true;
        }
        if (i >= parts.size())
            return false;
        const QByteArrayView part = parts.at(i);
        if (segment.kind == Segment::Kind::Literal) {
            if (part != segment.text)
                return false;
        } else {
            if (part.isEmpty())
                return false;
            if (params)
                params->insert(QString::fromUtf8(segment.text), decodeSegment(part));
        }
    }
    return i == parts.size();
}

std::optional<Router::Match> Router::match(const QByteArray &method, const QByteArray &path) const
{
    const QList<QByteArrayView> parts = splitPath(path);
    std::optional<Match> getFallback;
    for (qsizetype i = 0; i < m_routes.size(); ++i) {
        const Route &route = m_routes.at(i);
        const bool exact = route.method == method;
        const bool headViaGet = method == "HEAD" && route.method == "GET";
        if (!exact && !(headViaGet && !getFallback))
            continue;
        Match candidate{int(i), {}};
        if (!matchSegments(route, parts, &candidate.params))
            continue;
        if (exact)
            return candidate;
        getFallback = std::move(candidate);
    }
    return getFallback;
}

QList<QByteArray> Router::allowedMethods(const QByteArray &path) const
{
    const QList<QByteArrayView> parts = splitPath(path);
    QList<QByteArray> methods;
    for (const Route &route : m_routes) {
        if (!matchSegments(route, parts, nullptr))
            continue;
        if (!methods.contains(route.method))
            methods.append(route.method);
        if (route.method == "GET" && !methods.contains("HEAD"))
            methods.append(QByteArrayLiteral("HEAD"));
    }
    std::sort(methods.begin(), methods.end());
    return methods;
}

void Router::call(Conn &conn) const
{
    const std::optional<Match> found = match(conn.method, conn.path);
    if (!found) {
        const QList<QByteArray> allowed = allowedMethods(conn.path);
        if (allowed.isEmpty()) {
            conn.sendError(404,
                           QStringLiteral("no route for %1").arg(QString::fromUtf8(conn.path)));
        } else {
            conn.putRespHeader(QByteArrayLiteral("allow"), allowed.join(", "));
            conn.sendError(405,
                           QStringLiteral("method %1 not allowed; allowed: %2")
                                   .arg(QString::fromUtf8(conn.method),
                                        QString::fromUtf8(allowed.join(", "))));
        }
        return;
    }
    const Route &route = m_routes.at(found->routeIndex);
    conn.pathParams = found->params;
    conn.route = route.pattern;
    for (const Plug &plug : route.plugs) {
        plug(conn);
        if (conn.halted)
            return;
    }
    route.handler(conn);
    if (conn.status == 0)
        conn.sendError(500, QStringLiteral("route %1 did not answer").arg(route.pattern));
}

} // namespace Switchboard
