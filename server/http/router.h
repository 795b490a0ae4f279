#pragma once

#include "http/conn.h"

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>

#include <functional>
#include <optional>

namespace Switchboard {

/*! A plug transforms a Conn; it may answer and halt() to stop the pipeline. */
using Plug = std::function<void(Conn &)>;
/*! A route handler answers a Conn. It may throw; the pipeline turns that into a 500. */
using Handler = std::function<void(Conn &)>;

/*!
    Matches method + path patterns and runs the route's handler.

    Patterns are split on '/'. A segment is a literal, `:name` (one segment,
    captured into Conn::pathParams) or `*name` (the rest of the path, possibly
    empty; only as the last segment). Captures are percent-decoded after
    splitting, so an encoded "%2F" stays inside its segment.

    An unknown path answers 404; a known path with another method answers 405
    with `Allow`. HEAD is served by the GET route unless a HEAD route exists.
*/
class Router final
{
public:
    /*!
        Where a route's handler (and the pipeline before it) runs. OnWorker: on
        the thread of the connection the request came on, concurrently with
        other workers, so the handler may only touch thread-safe state.
        OnServerThread: on the Server's thread (the main thread), one request
        at a time, for handlers that use the hub's waiting calls or objects
        that live there (topics, cluster, metrics scrape hooks).
    */
    enum class Runs { OnWorker, OnServerThread };

    /*! Adds a route; returns false (and logs) if \a pattern is malformed. */
    bool addRoute(const QByteArray &method, const QString &pattern, Handler handler,
                  QList<Plug> plugs = {}, Runs runs = Runs::OnWorker);
    bool get(const QString &pattern, Handler handler, QList<Plug> plugs = {},
             Runs runs = Runs::OnWorker);
    bool post(const QString &pattern, Handler handler, QList<Plug> plugs = {},
              Runs runs = Runs::OnWorker);
    bool put(const QString &pattern, Handler handler, QList<Plug> plugs = {},
             Runs runs = Runs::OnWorker);
    bool del(const QString &pattern, Handler handler, QList<Plug> plugs = {},
             Runs runs = Runs::OnWorker);
    /*! Where the route \a method and \a path select runs (OnWorker for no route). */
    Runs runs(const QByteArray &method, const QByteArray &path) const;

    /*! Answers \a conn: runs the route's plugs, then its handler, or 404 / 405. */
    void call(Conn &conn) const;

    struct Match
    {
        int routeIndex = -1;
        QHash<QString, QString> params;
    };
    /*! The route \a method and \a path select, if any (HEAD falls back to GET). */
    std::optional<Match> match(const QByteArray &method, const QByteArray &path) const;
    /*! Methods routed for \a path, sorted, HEAD included wherever GET is. */
    QList<QByteArray> allowedMethods(const QByteArray &path) const;

    qsizetype size() const { return m_routes.size(); }

private:
    struct Segment
    {
        enum class Kind { Literal, Param, Rest } kind = Kind::Literal;
        QByteArray text; //!< the literal, or the capture name
    };
    struct Route
    {
        QByteArray method;
        QString pattern;
        QList<Segment> segments;
        Handler handler;
        QList<Plug> plugs;
        Runs runs = Runs::OnWorker;
    };

    static bool matchSegments(const Route &route, const QList<QByteArrayView> &parts,
                              QHash<QString, QString> *params);

    QList<Route> m_routes;
};

} // namespace Switchboard
