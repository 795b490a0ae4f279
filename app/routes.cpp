#include "routes.h"

#include "cluster/cluster.h"
#include "handlers.h"
#include "websocket/hub.h"
#include "http/plugs.h"
#include "http/server.h"

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QStringDecoder>

#include <memory>

namespace Switchboard {

namespace {

QJsonObject sessionJson(const SessionInfo &info)
{
    return QJsonObject{
            {QStringLiteral("id"), qint64(info.id)},
            {QStringLiteral("peer"), info.peer()},
            {QStringLiteral("path"), QString::fromUtf8(info.path)},
            {QStringLiteral("connected_at"), info.connectedAt.toString(Qt::ISODateWithMs)},
            {QStringLiteral("messages_in"), qint64(info.messagesIn)},
            {QStringLiteral("messages_out"), qint64(info.messagesOut)},
            {QStringLiteral("bytes_in"), qint64(info.bytesIn)},
            {QStringLiteral("bytes_out"), qint64(info.bytesOut)},
            {QStringLiteral("last_ping_rtt_ms"),
             info.lastPingRttMs < 0 ? QJsonValue(QJsonValue::Null)
                                    : QJsonValue(info.lastPingRttMs)},
            {QStringLiteral("state"),
             info.state == SessionInfo::State::Open ? QStringLiteral("open")
                                                    : QStringLiteral("closing")},
    };
}

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
    const QByteArray type = conn.header("content-type").split(';').first().trimmed().toLower();
    if (type == "application/json" || type.endsWith("+json")) {
        const QJsonObject object = conn.bodyJson.toObject();
        const QJsonValue text = object.value(QStringLiteral("text"));
        const QJsonValue binary = object.value(QStringLiteral("binary_base64"));
        if (!conn.bodyJson.isObject() || text.isUndefined() == binary.isUndefined()) {
            conn.sendError(400,
                           QStringLiteral("JSON body must be an object with exactly one of "
                                          "\"text\" or \"binary_base64\""));
            return std::nullopt;
        }
        if (!text.isUndefined()) {
            if (!text.isString()) {
                conn.sendError(400, QStringLiteral("\"text\" must be a string"));
                return std::nullopt;
            }
            return Frame::text(text.toString());
        }
        const auto decoded = QByteArray::fromBase64Encoding(
                binary.toString().toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
        if (!binary.isString() || !decoded) {
            conn.sendError(400, QStringLiteral("\"binary_base64\" must be a base64 string"));
            return std::nullopt;
        }
        return Frame::binary(decoded.decoded);
    }
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

void installDefaults(Server &server, const ServerConfig &config, Cluster *cluster)
{
    Hub &hub = server.hub();
    server.setOriginPolicy(OriginPolicy(config.allowedOrigins));
    HttpLimits limits = config.http;
    limits.maxWebSocketMessage = config.hub.maxMessageSize;
    server.setHttpLimits(limits);
    server.setClientToken(config.clientToken);

    Pipeline &pipeline = server.pipeline();
    pipeline.add(Plugs::requestId());
    pipeline.add(Plugs::accessLog());
    pipeline.add(Plugs::jsonBody());

    server.addWebSocketEndpoint(QByteArrayLiteral("/ws"),
                                [] { return std::make_unique<EchoHandler>(); });
    server.addWebSocketEndpoint(QByteArrayLiteral("/ws/chat"),
                                [] { return std::make_unique<ChatHandler>(); });

    const QByteArray token = config.adminToken;
    const QList<Plug> admin{Plugs::adminAuth([token] { return token; })};
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
    if (cluster)
        cluster->setSessionFormatter(&sessionJson);
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

    router.get(
            QStringLiteral("/api/connections"),
            [&hub, cluster](Conn &conn) {
                QJsonArray list;
                const bool wholeCluster = cluster
                        && conn.query.queryItemValue(QStringLiteral("scope")) == u"cluster";
                for (const SessionInfo &info : hub.sessions()) {
                    QJsonObject entry = sessionJson(info);
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
                conn.sendJson(200, sessionJson(*info));
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
}

} // namespace Switchboard
