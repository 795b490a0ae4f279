#include "routes.h"

#include "channels/protocol.h"
#include "channels/topicregistry.h"
#include "cluster/cluster.h"
#include "cluster/clusterchannels.h"
#include "handlers.h"
#include "websocket/hub.h"
#include "http/plugs.h"
#include "http/server.h"
#include "metrics/metrics.h"
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

namespace {

/*!
    What an admin publish to a topic carries: a JSON body as it is, text as a
    string, binary as {"binary_base64": ...}. On failure \a conn has the error.
*/
std::optional<QJsonValue> topicDataFromRequestBody(Conn &conn)
{
    if (conn.hasJsonBody())
        return conn.bodyJson;
    const auto frame = frameFromRequestBody(conn);
    if (!frame)
        return std::nullopt;
    if (frame->isText())
        return QJsonValue(frame->toText());
    return QJsonObject{
            {QStringLiteral("binary_base64"), QString::fromLatin1(frame->payload().toBase64())}};
}

QJsonObject topicJson(const TopicRegistry::TopicInfo &info)
{
    return {{QStringLiteral("topic"), info.topic},
            {QStringLiteral("subscribers"), info.subscribers},
            {QStringLiteral("members"), info.members},
            {QStringLiteral("offset"), info.offset},
            {QStringLiteral("history"), info.history}};
}

/*! The admin API of the channels endpoint's topics. */
void installTopicRoutes(Router &router, TopicRegistry *topics, const QList<Plug> &admin)
{
    router.get(
            QStringLiteral("/api/topics"),
            [topics](Conn &conn) {
                QJsonArray list;
                for (const TopicRegistry::TopicInfo &info : topics->topics())
                    list.append(topicJson(info));
                conn.sendJson(200, QJsonObject{{QStringLiteral("topics"), list}});
            },
            admin, Router::Runs::OnServerThread);
    router.get(
            QStringLiteral("/api/topics/:topic"),
            [topics](Conn &conn) {
                const QString name = conn.pathParams.value(QStringLiteral("topic"));
                const auto info = topics->topic(name);
                if (!info) {
                    conn.sendError(404, QStringLiteral("no topic %1").arg(name));
                    return;
                }
                QJsonObject json = topicJson(*info);
                QJsonArray ids;
                for (const quint64 id : topics->subscribers(name))
                    ids.append(qint64(id));
                json.insert(QStringLiteral("subscriber_ids"), ids);
                json.insert(QStringLiteral("presence"), topics->presence(name));
                conn.sendJson(200, json);
            },
            admin, Router::Runs::OnServerThread);
    router.post(
            QStringLiteral("/api/topics/:topic/publish"),
            [topics](Conn &conn) {
                const QString name = conn.pathParams.value(QStringLiteral("topic"));
                if (!Channels::isValidTopic(name)) {
                    conn.sendError(400,
                                   QStringLiteral("a topic is 1 to %1 letters, digits, '_', '-', "
                                                  "'.', ':' or '@'")
                                           .arg(Channels::kMaxTopicLength));
                    return;
                }
                const auto data = topicDataFromRequestBody(conn);
                if (!data)
                    return;
                if (topics->isClustered()) {
                    // The offset comes from Redis later; the message is on its way.
                    topics->publish(name, *data, [](std::optional<qint64>) {});
                    conn.sendJson(202,
                                  QJsonObject{{QStringLiteral("topic"), name},
                                              {QStringLiteral("accepted"), true}});
                    return;
                }
                const int subscribers = int(topics->subscribers(name).size());
                const qint64 offset = topics->publish(name, *data);
                conn.sendJson(200,
                              QJsonObject{{QStringLiteral("topic"), name},
                                          {QStringLiteral("offset"), offset},
                                          {QStringLiteral("delivered"), subscribers}});
            },
            admin, Router::Runs::OnServerThread);
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

InstalledRoutes installDefaults(Server &server, const ServerConfig &config, Cluster *cluster,
                                std::shared_ptr<const ChannelPolicy> channelPolicy)
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
    auto *topics = new TopicRegistry(&hub, config.channels, &server);
    // In a cluster, topics span every instance (owned by the cluster: it goes first).
    if (cluster)
        new ClusterChannels(cluster, topics, cluster);
    if (!channelPolicy)
        channelPolicy = std::make_shared<AdminTopicsPolicy>([tokens] { return tokens->admin; });
    server.addWebSocketEndpoint(QByteArrayLiteral("/ws/channels"), [topics, channelPolicy] {
        return std::make_unique<ChannelHandler>(topics, channelPolicy);
    });

    const QList<Plug> admin{
            Plugs::adminAuth([tokens] { return tokens->admin; }, &server.adminThrottle())};
    Router &router = server.router();

    // The bundled pages: the test client, the channels page and its client library.
    const struct
    {
        const char *path;
        const char *resource;
        const char *type;
    } pages[] = {{"/", ":/web/index.html", "text/html; charset=utf-8"},
                 {"/channels", ":/web/channels.html", "text/html; charset=utf-8"},
                 {"/switchboard-channels.js", ":/web/switchboard-channels.js",
                  "text/javascript; charset=utf-8"}};
    for (const auto &page : pages) {
        const QString resource = QString::fromLatin1(page.resource);
        const QByteArray type(page.type);
        router.get(QString::fromLatin1(page.path), [resource, type](Conn &conn) {
            QFile file(resource);
            if (!file.open(QIODevice::ReadOnly)) {
                conn.sendError(500, QStringLiteral("bundled page missing"));
                return;
            }
            conn.send(200, file.readAll(), type);
            conn.putRespHeader(QByteArrayLiteral("cache-control"), QByteArrayLiteral("no-cache"));
        });
    }

    auto uptime = std::make_shared<QElapsedTimer>();
    uptime->start();
    // On the workers, unless it reports the cluster, which lives on the main thread.
    router.get(
            QStringLiteral("/api/health"),
            [&hub, uptime, cluster](Conn &conn) {
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
            },
            {}, cluster ? Router::Runs::OnServerThread : Router::Runs::OnWorker);

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
                admin, Router::Runs::OnServerThread);
    }

    // Prometheus scrapes: the admin token, or the scrape token, which opens this
    // route only (a scraper's credentials should not send or close anything). Both
    // are read per request, so a reload's new tokens apply at once. Like every route
    // behind a token, on the main thread: the tokens change there, and the scrape
    // hooks run there.
    router.get(
            QStringLiteral("/metrics"),
            [&hub](Conn &conn) {
                conn.send(200, hub.metrics().render(), Metrics::contentType());
                conn.putRespHeader(QByteArrayLiteral("cache-control"),
                                   QByteArrayLiteral("no-store"));
            },
            {Plugs::anyTokenAuth(
                    [tokens] {
                        return QList{tokens->admin, tokens->metrics};
                    },
                    &server.adminThrottle())},
            Router::Runs::OnServerThread);

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
            admin, Router::Runs::OnServerThread);

    router.get(
            QStringLiteral("/api/connections/:id"),
            [&hub](Conn &conn) {
                const auto id = sessionId(conn);
                const auto info = id ? hub.session(*id) : std::nullopt;
                if (!info)
                    return noSuchSession(conn);
                conn.sendJson(200, info->toJson());
            },
            admin, Router::Runs::OnServerThread);

    router.post(
            QStringLiteral("/api/broadcast"),
            [&hub](Conn &conn) {
                if (const auto frame = frameFromRequestBody(conn))
                    conn.sendJson(
                            200, QJsonObject{{QStringLiteral("delivered"), hub.broadcast(*frame)}});
            },
            admin, Router::Runs::OnServerThread);

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
            admin, Router::Runs::OnServerThread);

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
            admin, Router::Runs::OnServerThread);
    installTopicRoutes(router, topics, admin);
    return {tokens, topics};
}

} // namespace Switchboard
