#include "routes.h"

#include "cluster/cluster.h"
#include "handlers.h"
#include "websocket/hub.h"
#include "http/plugs.h"
#include "http/server.h"
#include "websocket/framejson.h"

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QStringDecoder>

#include <memory>

namespace Switchboard {

namespace {

std::optional<quint64> sessionId(const Conn &conn)
{
    bool ok = false;
    const quint64 id = conn.pathParams.value(QStringLiteral("id")).toULongLong(&ok);
    return ok && id > 0 ? std::optional<quint64>(id) : std::nullopt;
}

void noSuchSession(Conn &conn)
{
    conn.sendError(404,
                   QStringLiteral("no connection with id %1")
                           .arg(conn.pathParams.value(QStringLiteral("id"))));
}

/*! A "node:id" of another live instance named in :id; nullopt for anything else. */
std::optional<std::pair<QString, quint64>> remoteSessionId(const Conn &conn, Cluster *cluster)
{
    if (!cluster)
        return std::nullopt;
    const auto id = Cluster::splitGlobalId(conn.pathParams.value(QStringLiteral("id")));
    if (!id || id->first == cluster->nodeName()
        || !cluster->hasRemoteSession(id->first, id->second))
        return std::nullopt;
    return id;
}

/*! The local session named in :id as a plain id or as this instance's "node:id". */
std::optional<quint64> localSessionId(const Conn &conn, Cluster *cluster)
{
    if (const auto id = sessionId(conn))
        return id;
    if (!cluster)
        return std::nullopt;
    const auto id = Cluster::splitGlobalId(conn.pathParams.value(QStringLiteral("id")));
    if (!id || id->first != cluster->nodeName())
        return std::nullopt;
    return id->second;
}

void clusterUnavailable(Conn &conn)
{
    conn.sendError(503,
                   QStringLiteral("the cluster is degraded (Redis unreachable); remote "
                                  "sessions cannot be reached now"));
}

bool isValidUtf8(const QByteArray &bytes)
{
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString unused = decoder.decode(bytes);
    return !decoder.hasError();
}

} // namespace

std::optional<Frame> frameFromRequestBody(Conn &conn)
{
    if (conn.hasJsonBody()) {
        QString error;
        auto frame = conn.bodyJson.isObject() ? frameFromJson(conn.bodyJson.toObject(), &error)
                                              : frameFromJson({}, &error);
        if (!frame)
            conn.sendError(400, error);
        return frame;
    }
    const QByteArray type = conn.contentType();
    if (type.isEmpty() || type.startsWith("text/")) {
        if (!isValidUtf8(conn.body)) {
            conn.sendError(400,
                           QStringLiteral("a text body must be UTF-8; send binary as "
                                          "application/octet-stream"));
            return std::nullopt;
        }
        return Frame::text(conn.body);
    }
    if (type == "application/octet-stream")
        return Frame::binary(conn.body);
    conn.sendError(415,
                   QStringLiteral("unsupported content type %1; use text/plain, "
                                  "application/octet-stream or application/json")
                           .arg(QString::fromLatin1(type)));
    return std::nullopt;
}

std::shared_ptr<AdminTokens> installDefaults(Server &server, const ServerConfig &config,
                                             Cluster *cluster)
{
    Hub &hub = server.hub();
    server.setOriginPolicy(OriginPolicy(config.allowedOrigins));
    server.setHttpLimits(config.http);
    server.setClientToken(config.clientToken);
    server.setDeflate(config.deflate);

    Pipeline &pipeline = server.pipeline();
    pipeline.add(Plugs::requestId());
    pipeline.add(Plugs::accessLog());
    pipeline.add(Plugs::jsonBody());

    server.addWebSocketEndpoint(QByteArrayLiteral("/ws"),
                                [] { return std::make_unique<EchoHandler>(); });
    server.addWebSocketEndpoint(QByteArrayLiteral("/ws/chat"),
                                [] { return std::make_unique<ChatHandler>(); });

    auto tokens
            = std::make_shared<AdminTokens>(AdminTokens{config.adminToken, config.metricsToken});
    const QList<Plug> admin{
            Plugs::adminAuth([tokens] { return tokens->admin; }, &server.adminThrottle())};
    Router &router = server.router();

    router.get(QStringLiteral("/"), [](Conn &conn) {
        QFile page(QStringLiteral(":/web/index.html"));
        if (!page.open(QIODevice::ReadOnly)) {
            conn.sendError(500, QStringLiteral("bundled page missing"));
            return;
        }
        conn.send(200, page.readAll(), QByteArrayLiteral("text/html; charset=utf-8"));
        conn.putRespHeader(QByteArrayLiteral("cache-control"), QByteArrayLiteral("no-cache"));
    });

    auto uptime = std::make_shared<QElapsedTimer>();
    uptime->start();
    router.get(QStringLiteral("/api/health"), [&hub, uptime, cluster](Conn &conn) {
        QJsonObject health{{QStringLiteral("status"), QStringLiteral("ok")},
                           {QStringLiteral("version"), QStringLiteral(SWITCHBOARD_VERSION)},
                           {QStringLiteral("uptime_s"), uptime->elapsed() / 1000},
                           {QStringLiteral("connections"), hub.count()}};
        if (cluster) {
            health.insert(QStringLiteral("cluster"),
                          cluster->isConnected() ? QStringLiteral("ok")
                                                 : QStringLiteral("degraded"));
            health.insert(QStringLiteral("node"), cluster->nodeName());
        }
        conn.sendJson(200, health);
    });

    if (cluster) {
        // The cluster's state for an operator: behind the admin token, as it
        // names the Redis server and says what is being dropped.
        router.get(
                QStringLiteral("/api/cluster"),
                [cluster](Conn &conn) {
                    const QString error = cluster->lastError();
                    conn.sendJson(
                            200,
                            QJsonObject{
                                    {QStringLiteral("node"), cluster->nodeName()},
                                    {QStringLiteral("connected"), cluster->isConnected()},
                                    {QStringLiteral("redis"),
                                     cluster->settings().redis.displayUrl()},
                                    {QStringLiteral("last_error"),
                                     error.isEmpty() ? QJsonValue() : QJsonValue(error)},
                                    {QStringLiteral("authenticated"), cluster->isAuthenticated()},
                                    {QStringLiteral("nodes"),
                                     QJsonArray::fromStringList(cluster->remoteNodes())},
                                    {QStringLiteral("dropped"), cluster->dropped()},
                            });
                },
                admin);
    }

    router.get(
            QStringLiteral("/api/connections"),
            [&hub, cluster](Conn &conn) {
                QJsonArray list;
                const bool wholeCluster = cluster
                        && conn.query.queryItemValue(QStringLiteral("scope")) == u"cluster";
                for (const SessionInfo &info : hub.sessions()) {
                    QJsonObject entry = info.toJson();
                    if (wholeCluster) {
                        entry.insert(QStringLiteral("id"), cluster->globalId(info.id));
                        entry.insert(QStringLiteral("node"), cluster->nodeName());
                    }
                    list.append(entry);
                }
                if (wholeCluster) {
                    for (const Cluster::RemoteSession &session : cluster->remoteSessions())
                        list.append(session.info);
                }
                conn.sendJson(200, QJsonObject{{QStringLiteral("connections"), list}});
            },
            admin);

    router.get(
            QStringLiteral("/api/connections/:id"),
            [&hub](Conn &conn) {
                const auto id = sessionId(conn);
                const auto info = id ? hub.session(*id) : std::nullopt;
                if (!info)
                    return noSuchSession(conn);
                conn.sendJson(200, info->toJson());
            },
            admin);

    router.post(
            QStringLiteral("/api/broadcast"),
            [&hub](Conn &conn) {
                if (const auto frame = frameFromRequestBody(conn))
                    conn.sendJson(
                            200, QJsonObject{{QStringLiteral("delivered"), hub.broadcast(*frame)}});
            },
            admin);

    router.post(
            QStringLiteral("/api/connections/:id/send"),
            [&hub, cluster](Conn &conn) {
                if (const auto remote = remoteSessionId(conn, cluster)) {
                    const auto frame = frameFromRequestBody(conn);
                    if (!frame)
                        return;
                    if (!cluster->sendRemote(remote->first, remote->second, *frame))
                        return clusterUnavailable(conn);
                    conn.sendJson(202, QJsonObject{{QStringLiteral("forwarded"), 1}});
                    return;
                }
                const auto id = localSessionId(conn, cluster);
                if (!id || !hub.session(*id))
                    return noSuchSession(conn);
                if (const auto frame = frameFromRequestBody(conn)) {
                    if (!hub.send(*id, *frame))
                        return noSuchSession(conn);
                    conn.sendJson(200, QJsonObject{{QStringLiteral("delivered"), 1}});
                }
            },
            admin);

    router.del(
            QStringLiteral("/api/connections/:id"),
            [&hub, cluster](Conn &conn) {
                if (const auto remote = remoteSessionId(conn, cluster)) {
                    if (!cluster->closeRemote(remote->first, remote->second, 4000,
                                              QStringLiteral("closed by operator")))
                        return clusterUnavailable(conn);
                    conn.sendJson(202,
                                  QJsonObject{{QStringLiteral("closed"),
                                               conn.pathParams.value(QStringLiteral("id"))}});
                    return;
                }
                const auto id = localSessionId(conn, cluster);
                if (!id || !hub.close(*id))
                    return noSuchSession(conn);
                conn.sendJson(200, QJsonObject{{QStringLiteral("closed"), qint64(*id)}});
            },
            admin);
    return tokens;
}

} // namespace Switchboard
