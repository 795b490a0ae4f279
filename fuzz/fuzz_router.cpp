// libFuzzer target for the router (server/router.h): path matching with
// `:param` and `*rest` segments, percent-decoding, 404/405, and adding patterns.
//
// Input: up to three lines, "METHOD\nPATH\nPATTERN"; missing lines are empty.
//   METHOD and PATH are routed through a router holding Switchboard's own
//   routes plus a few test ones, and through a router holding only PATTERN.
//   PATTERN, when not empty, is also added to a fresh router and then has to
//   match the path built from it (literals kept, `:x` -> "x", `*x` -> "a/b").

#include "http/router.h"

#include <QtCore/QByteArray>
#include <QtCore/QLoggingCategory>
#include <QtCore/QUrl>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

struct FixedRoute
{
    const char *method;
    const char *pattern;
    int captures;
};

// Switchboard's routes (server/routes.cpp, server/server.cpp) and a few more shapes.
constexpr FixedRoute fixedRoutes[] = {
        {"GET", "/", 0},
        {"GET", "/api/health", 0},
        {"GET", "/api/connections", 0},
        {"GET", "/api/connections/:id", 1},
        {"POST", "/api/broadcast", 0},
        {"POST", "/api/connections/:id/send", 1},
        {"DELETE", "/api/connections/:id", 1},
        {"GET", "/ws", 0},
        {"GET", "/ws/chat", 0},
        {"GET", "/files/*path", 1},
        {"PUT", "/a/:x/:y", 2},
        {"HEAD", "/head-only", 0},
        {"GET", "/rooms/:room/*rest", 2},
        {"PATCH", "/no-answer", 0}, // handler does not answer: 500
        {"GET", "/halt/:id", 1}, // a plug answers and halts
};

Router makeFixedRouter()
{
    Router router;
    for (const FixedRoute &route : fixedRoutes) {
        QList<Plug> plugs;
        if (QByteArrayView(route.pattern).startsWith("/halt/")) {
            plugs.append([](Conn &conn) {
                conn.send(403, QByteArrayLiteral("halted"), QByteArrayLiteral("text/plain")).halt();
            });
        }
        const bool answers = QByteArrayView(route.method) != "PATCH";
        const bool added = router.addRoute(
                route.method, QString::fromLatin1(route.pattern),
                [answers](Conn &conn) {
                    if (answers)
                        conn.send(200, QByteArrayLiteral("ok"), QByteArrayLiteral("text/plain"));
                },
                plugs);
        FUZZ_CHECK(added);
    }
    return router;
}

// What the router promises between match(), allowedMethods() and call().
void checkRouting(const Router &router, const QByteArray &method, const QByteArray &path,
                  int (*capturesOf)(int routeIndex))
{
    const std::optional<Router::Match> found = router.match(method, path);
    const std::optional<Router::Match> again = router.match(method, path);
    FUZZ_CHECK(found.has_value() == again.has_value());

    const QList<QByteArray> allowed = router.allowedMethods(path);
    FUZZ_CHECK(std::is_sorted(allowed.begin(), allowed.end()));
    FUZZ_CHECK(std::adjacent_find(allowed.begin(), allowed.end()) == allowed.end());
    if (allowed.contains("GET"))
        FUZZ_CHECK(allowed.contains("HEAD"));

    if (found) {
        FUZZ_CHECK(found->routeIndex >= 0 && found->routeIndex < router.size());
        FUZZ_CHECK(found->routeIndex == again->routeIndex && found->params == again->params);
        FUZZ_CHECK(allowed.contains(method));
        if (capturesOf)
            FUZZ_CHECK(found->params.size() == capturesOf(found->routeIndex));
    } else {
        // A method the path allows would have matched.
        FUZZ_CHECK(!allowed.contains(method));
    }

    Conn conn;
    conn.method = method;
    conn.path = path;
    router.call(conn);
    FUZZ_CHECK(conn.status != 0);
    if (!found) {
        FUZZ_CHECK(conn.status == (allowed.isEmpty() ? 404 : 405));
        if (!allowed.isEmpty())
            FUZZ_CHECK(conn.respHeader("allow") == allowed.join(", "));
    } else {
        FUZZ_CHECK(conn.status == 200 || conn.status == 403 || conn.status == 500);
        FUZZ_CHECK(conn.pathParams == found->params);
    }
    // The error bodies quote the method and path: serializing must cope with any bytes.
    const QByteArray response = conn.serializeResponse(false);
    FUZZ_CHECK(response.startsWith("HTTP/1.1 "));
}

// The expected verdict of Router::addRoute() on \a pattern, worked out independently.
bool isWellFormedPattern(const QByteArray &pattern)
{
    if (!pattern.startsWith('/'))
        return false;
    const QList<QByteArray> segments = pattern.sliced(1).split('/');
    for (qsizetype i = 0; i < segments.size(); ++i) {
        const QByteArray &segment = segments.at(i);
        if (segment.startsWith(':') && segment.size() == 1)
            return false;
        if (segment.startsWith('*') && (segment.size() == 1 || i != segments.size() - 1))
            return false;
    }
    return true;
}

void fuzzPattern(const QByteArray &patternBytes, const QByteArray &method, const QByteArray &path)
{
    const QString pattern = QString::fromUtf8(patternBytes);
    const QByteArray utf8 = pattern.toUtf8();

    Router router;
    const bool added = router.get(pattern, [](Conn &conn) {
        conn.send(200, QByteArrayLiteral("ok"), QByteArrayLiteral("text/plain"));
    });
    FUZZ_CHECK(added == isWellFormedPattern(utf8));
    FUZZ_CHECK(router.size() == (added ? 1 : 0));
    if (!added) {
        FUZZ_CHECK(!router.match("GET", path));
        return;
    }

    // The path the pattern describes must select it, with the captures decoded.
    QByteArray instance;
    QHash<QString, QString> expected;
    for (const QByteArray &segment : utf8.sliced(1).split('/')) {
        instance += '/';
        if (segment.startsWith(':')) {
            instance += 'x';
            expected.insert(QString::fromUtf8(segment.sliced(1)), QStringLiteral("x"));
        } else if (segment.startsWith('*')) {
            instance += "a%2Fb/c";
            expected.insert(QString::fromUtf8(segment.sliced(1)), QStringLiteral("a/b/c"));
        } else {
            instance += segment;
        }
    }
    const std::optional<Router::Match> found = router.match("GET", instance);
    FUZZ_CHECK(found && found->routeIndex == 0 && found->params == expected);
    FUZZ_CHECK(router.match("HEAD", instance).has_value());
    FUZZ_CHECK(!router.match("POST", instance));

    checkRouting(router, method, path, nullptr);
}

int fixedCaptures(int routeIndex)
{
    return fixedRoutes[routeIndex].captures;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    // Router::addRoute warns about malformed patterns; the fuzzer makes many.
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const Router fixed = makeFixedRouter();

    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const qsizetype firstEnd = input.indexOf('\n');
    const qsizetype secondEnd = firstEnd < 0 ? -1 : input.indexOf('\n', firstEnd + 1);
    const QByteArray method = firstEnd < 0 ? input : input.first(firstEnd);
    const QByteArray path = firstEnd < 0
            ? QByteArray()
            : input.sliced(firstEnd + 1, (secondEnd < 0 ? input.size() : secondEnd) - firstEnd - 1);
    const QByteArray pattern = secondEnd < 0 ? QByteArray() : input.sliced(secondEnd + 1);

    checkRouting(fixed, method, path, fixedCaptures);
    // Percent-decoding of captures must not depend on anything but the bytes.
    if (path.startsWith("/api/connections/") && path.count('/') == 3) {
        if (const auto found = fixed.match("GET", path)) {
            FUZZ_CHECK(found->params.value(QStringLiteral("id"))
                       == QUrl::fromPercentEncoding(path.sliced(17)));
        }
    }
    if (!pattern.isEmpty())
        fuzzPattern(pattern, method, path);
    return 0;
}
