#include "cluster/cluster.h"

#include "websocket/framejson.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QLoggingCategory>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QHostInfo>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>

namespace Switchboard {

Q_LOGGING_CATEGORY(lcCluster, "switchboard.cluster", QtInfoMsg)

namespace {

constexpr int kProtocolVersion = 1;
constexpr int kBeatsBeforeDropped = 3;
constexpr std::chrono::milliseconds kMaxBackoff{8'000};

/*
    Runs a hiredis async context on Qt's event loop. Debian's
    hiredis/adapters/qt.h connects to QSocketNotifier::activated(int), a
    signal Qt 6 no longer has, and needs moc on a system header; this is the
    same thing with function-pointer connects.
*/
class QtRedisAdapter final
{
public:
    static void attach(redisAsyncContext *context)
    {
        auto *adapter = new QtRedisAdapter(context);
        context->ev.data = adapter;
        context->ev.addRead = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->addRead();
        };
        context->ev.delRead = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->drop(static_cast<QtRedisAdapter *>(data)->m_read);
        };
        context->ev.addWrite = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->addWrite();
        };
        context->ev.delWrite = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->drop(static_cast<QtRedisAdapter *>(data)->m_write);
        };
        // hiredis calls cleanup when it frees the context, possibly from
        // inside one of our notifiers' activated() signals.
        context->ev.cleanup = [](void *data) {
            auto *self = static_cast<QtRedisAdapter *>(data);
            self->drop(self->m_read);
            self->drop(self->m_write);
            delete self;
        };
    }

private:
    explicit QtRedisAdapter(redisAsyncContext *context) : m_context(context) { }

    void addRead()
    {
        if (m_read)
            return;
        m_read = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Read);
        redisAsyncContext *context = m_context;
        QObject::connect(m_read, &QSocketNotifier::activated, m_read,
                         [context] { redisAsyncHandleRead(context); });
    }

    void addWrite()
    {
        if (m_write)
            return;
        m_write = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Write);
        redisAsyncContext *context = m_context;
        QObject::connect(m_write, &QSocketNotifier::activated, m_write,
                         [context] { redisAsyncHandleWrite(context); });
    }

    static void drop(QSocketNotifier *&notifier)
    {
        if (!notifier)
            return;
        // Not deleted here: this may run inside the notifier's own signal.
        notifier->setEnabled(false);
        QObject::disconnect(notifier, nullptr, nullptr, nullptr);
        notifier->deleteLater();
        notifier = nullptr;
    }

    redisAsyncContext *m_context;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
};

} // namespace

Cluster::Cluster(Hub *hub, ClusterSettings settings, QObject *parent)
    : QObject(parent), m_hub(hub), m_settings(std::move(settings))
{
    m_clock.start();
    m_reconnect.setSingleShot(true);
    connect(&m_reconnect, &QTimer::timeout, this, &Cluster::connectToRedis);
    m_heartbeat.setInterval(m_settings.heartbeatInterval);
    connect(&m_heartbeat, &QTimer::timeout, this, [this] {
        pruneNodes();
        publishHeartbeat();
    });
    connect(m_hub, &Hub::broadcastRequested, this,
            [this](const Frame &frame, const BroadcastFilter &filter) {
                if (frame.isControl())
                    return;
                if (!publish(QStringLiteral("broadcast"), QString::fromUtf8(filter.path),
                             frameToJson(frame)))
                    qCDebug(lcCluster, "broadcast not relayed: Redis is unreachable");
            });
}

Cluster::~Cluster()
{
    m_connected = false; // shutting down is not a degradation worth a warning
    teardown();
}

void Cluster::start(const QString &defaultNodeName)
{
    if (m_started)
        return;
    m_started = true;
    if (m_settings.nodeName.isEmpty())
        m_settings.nodeName = defaultNodeName;
    qCInfo(lcCluster, "joining cluster as '%s' through redis %s:%u channel %s",
           qPrintable(m_settings.nodeName), qPrintable(m_settings.redisHost),
           unsigned(m_settings.redisPort), m_settings.channel().constData());
    m_heartbeat.start();
    Q_EMIT started();
    connectToRedis();
}

QString Cluster::globalId(quint64 id) const
{
    return m_settings.nodeName + u':' + QString::number(id);
}

std::optional<std::pair<QString, quint64>> Cluster::splitGlobalId(const QString &globalId)
{
    // The node name may itself contain ':' (the default is host:port).
    const qsizetype colon = globalId.lastIndexOf(u':');
    if (colon <= 0)
        return std::nullopt;
    bool ok = false;
    const quint64 id = globalId.mid(colon + 1).toULongLong(&ok);
    if (!ok || id == 0)
        return std::nullopt;
    return std::make_pair(globalId.left(colon), id);
}

QList<Cluster::RemoteSession> Cluster::remoteSessions()
{
    pruneNodes();
    QStringList names = m_nodes.keys();
    names.sort();
    QList<RemoteSession> out;
    for (const QString &name : std::as_const(names)) {
        for (const QJsonValue &session : std::as_const(m_nodes[name].sessions))
            out.append({name, session.toObject()});
    }
    return out;
}

bool Cluster::hasRemoteSession(const QString &node, quint64 id)
{
    pruneNodes();
    const auto it = m_nodes.constFind(node);
    if (it == m_nodes.constEnd())
        return false;
    const QString wanted = node + u':' + QString::number(id);
    return std::any_of(it->sessions.begin(), it->sessions.end(), [&](const QJsonValue &session) {
        return session.toObject().value(QStringLiteral("id")).toString() == wanted;
    });
}

QStringList Cluster::remoteNodes()
{
    pruneNodes();
    QStringList names = m_nodes.keys();
    names.sort();
    return names;
}

bool Cluster::sendRemote(const QString &node, quint64 id, const Frame &frame)
{
    return publish(QStringLiteral("send"), node + u':' + QString::number(id), frameToJson(frame));
}

bool Cluster::closeRemote(const QString &node, quint64 id, quint16 code, const QString &reason)
{
    return publish(QStringLiteral("close"), node + u':' + QString::number(id),
                   {{QStringLiteral("code"), int(code)}, {QStringLiteral("reason"), reason}});
}

void Cluster::connectToRedis()
{
    teardown();
    // hiredis resolves host names with a blocking getaddrinfo(); Qt does it off the event loop.
    if (QHostAddress literal; literal.setAddress(m_settings.redisHost)) {
        connectTo(literal.toString());
        return;
    }
    QHostInfo::lookupHost(m_settings.redisHost, this, [this](const QHostInfo &info) {
        const QList<QHostAddress> addresses = info.addresses();
        if (addresses.isEmpty()) {
            qCWarning(lcCluster, "cannot resolve redis host %s: %s",
                      qPrintable(m_settings.redisHost), qPrintable(info.errorString()));
            scheduleReconnect();
            return;
        }
        // Redis usually binds IPv4 only, as "localhost" resolving to ::1 first would miss.
        const auto ipv4 = std::find_if(addresses.begin(), addresses.end(), [](const auto &a) {
            return a.protocol() == QAbstractSocket::IPv4Protocol;
        });
        connectTo((ipv4 != addresses.end() ? *ipv4 : addresses.first()).toString());
    });
}

void Cluster::connectTo(const QString &address)
{
    const QByteArray host = address.toUtf8();
    for (redisAsyncContext **slot : {&m_sub, &m_pub}) {
        redisAsyncContext *context = redisAsyncConnect(host.constData(), m_settings.redisPort);
        if (!context || context->err) {
            qCWarning(lcCluster, "cannot connect to redis %s:%u: %s", host.constData(),
                      unsigned(m_settings.redisPort), context ? context->errstr : "out of memory");
            if (context)
                redisAsyncFree(context);
            teardown();
            scheduleReconnect();
            return;
        }
        context->data = this;
        QtRedisAdapter::attach(context);
        redisAsyncSetConnectCallback(context, &Cluster::onConnect);
        redisAsyncSetDisconnectCallback(context, &Cluster::onDisconnect);
        *slot = context;
    }
    const QByteArray channel = m_settings.channel();
    redisAsyncCommand(m_sub, &Cluster::onSubscribeReply, nullptr, "SUBSCRIBE %b",
                      channel.constData(), size_t(channel.size()));
}

void Cluster::teardown()
{
    // Detach first: freeing a context runs its callbacks, which must not
    // find us any more.
    for (redisAsyncContext **slot : {&m_sub, &m_pub}) {
        if (redisAsyncContext *context = std::exchange(*slot, nullptr)) {
            context->data = nullptr;
            redisAsyncFree(context);
        }
    }
    m_subscribed = false;
    m_pubConnected = false;
    setConnected(false);
}

void Cluster::scheduleReconnect()
{
    if (m_reconnect.isActive())
        return;
    qCInfo(lcCluster, "reconnecting to redis in %lld ms",
           static_cast<long long>(m_backoff.count()));
    m_reconnect.start(m_backoff);
    m_backoff = std::min(m_backoff * 2, kMaxBackoff);
}

void Cluster::setConnected(bool connected)
{
    if (connected == m_connected)
        return;
    m_connected = connected;
    if (connected) {
        m_backoff = std::chrono::milliseconds(500);
        m_warnedUnreachable = false;
        qCInfo(lcCluster, "connected to redis %s:%u", qPrintable(m_settings.redisHost),
               unsigned(m_settings.redisPort));
        publishHeartbeat();
    } else {
        qCWarning(lcCluster, "cluster degraded: lost redis %s:%u; local traffic continues",
                  qPrintable(m_settings.redisHost), unsigned(m_settings.redisPort));
    }
    Q_EMIT connectedChanged(connected);
}

void Cluster::onConnect(const redisAsyncContext *context, int status)
{
    auto *self = static_cast<Cluster *>(context->data);
    if (!self)
        return;
    if (status != REDIS_OK) {
        // hiredis frees the context after this callback.
        self->contextLost(context, context->errstr);
        return;
    }
    if (context == self->m_pub) {
        self->m_pubConnected = true;
        self->setConnected(self->m_subscribed);
    }
}

void Cluster::onDisconnect(const redisAsyncContext *context, int status)
{
    auto *self = static_cast<Cluster *>(context->data);
    if (!self)
        return;
    self->contextLost(context, status == REDIS_OK ? "disconnected" : context->errstr);
}

void Cluster::contextLost(const redisAsyncContext *context, const char *why)
{
    // hiredis frees this context itself once the callback returns.
    if (context == m_sub)
        m_sub = nullptr;
    else if (context == m_pub)
        m_pub = nullptr;
    const_cast<redisAsyncContext *>(context)->data = nullptr;
    // Warn once per outage (setConnected() does when a working link drops);
    // the retries that follow only log at debug.
    if (!m_connected && !m_warnedUnreachable)
        qCWarning(lcCluster,
                  "cannot reach redis %s:%u (%s); cluster degraded, local traffic "
                  "continues",
                  qPrintable(m_settings.redisHost), unsigned(m_settings.redisPort), why);
    else
        qCDebug(lcCluster, "redis connection lost: %s", why);
    m_warnedUnreachable = true;
    // The other connection is torn down outside hiredis' callback.
    QMetaObject::invokeMethod(
            this,
            [this] {
                teardown();
                scheduleReconnect();
            },
            Qt::QueuedConnection);
    m_subscribed = false;
    m_pubConnected = false;
    setConnected(false);
}

void Cluster::onSubscribeReply(redisAsyncContext *context, void *reply, void *)
{
    auto *self = static_cast<Cluster *>(context->data);
    const auto *r = static_cast<const redisReply *>(reply);
    if (!self || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    const QByteArray kind(r->element[0]->str, qsizetype(r->element[0]->len));
    if (kind == "subscribe") {
        self->m_subscribed = true;
        self->setConnected(self->m_pubConnected);
    } else if (kind == "message" && r->element[2]->type == REDIS_REPLY_STRING) {
        self->onMessage(QByteArray(r->element[2]->str, qsizetype(r->element[2]->len)));
    }
}

bool Cluster::publish(const QString &type, const QString &target, const QJsonObject &payload)
{
    if (!m_connected || !m_pub)
        return false;
    const QByteArray data
            = QJsonDocument(QJsonObject{{QStringLiteral("v"), kProtocolVersion},
                                        {QStringLiteral("type"), type},
                                        {QStringLiteral("origin"), m_settings.nodeName},
                                        {QStringLiteral("target"), target},
                                        {QStringLiteral("payload"), payload}})
                      .toJson(QJsonDocument::Compact);
    const QByteArray channel = m_settings.channel();
    if (redisAsyncCommand(m_pub, nullptr, nullptr, "PUBLISH %b %b", channel.constData(),
                          size_t(channel.size()), data.constData(), size_t(data.size()))
        != REDIS_OK)
        return false;
    // Out now rather than on the next write notification: the hub publishes a broadcast
    // before its own fan-out, so the other instances fan out while this one does.
    redisAsyncHandleWrite(m_pub);
    return true;
}

void Cluster::publishHeartbeat()
{
    QJsonArray sessions;
    for (const SessionInfo &info : m_hub->sessions()) {
        QJsonObject entry = info.toJson();
        entry.insert(QStringLiteral("id"), globalId(info.id));
        entry.insert(QStringLiteral("node"), m_settings.nodeName);
        sessions.append(entry);
    }
    publish(QStringLiteral("heartbeat"), QString(), {{QStringLiteral("sessions"), sessions}});
}

void Cluster::pruneNodes()
{
    const qint64 limit = kBeatsBeforeDropped * m_settings.heartbeatInterval.count();
    const qint64 now = m_clock.elapsed();
    for (auto it = m_nodes.begin(); it != m_nodes.end();) {
        if (now - it->lastSeenMs > limit) {
            qCInfo(lcCluster, "node '%s' stopped heart-beating; dropped", qPrintable(it.key()));
            it = m_nodes.erase(it);
            notifyRemoteSessionsChanged();
        } else {
            ++it;
        }
    }
}

void Cluster::notifyRemoteSessionsChanged()
{
    // Deferred: pruneNodes() runs inside remoteSessions(), which a slot of
    // this very signal is likely to call.
    if (std::exchange(m_remoteChangePending, true))
        return;
    QMetaObject::invokeMethod(
            this,
            [this] {
                m_remoteChangePending = false;
                Q_EMIT remoteSessionsChanged();
            },
            Qt::QueuedConnection);
}

void Cluster::onMessage(const QByteArray &data)
{
    const QJsonObject envelope = QJsonDocument::fromJson(data).object();
    if (envelope.value(QStringLiteral("v")).toInt() != kProtocolVersion) {
        qCWarning(lcCluster, "ignored a cluster message of unknown version");
        return;
    }
    const QString origin = envelope.value(QStringLiteral("origin")).toString();
    if (origin.isEmpty() || origin == m_settings.nodeName)
        return; // our own, already delivered locally
    const QString type = envelope.value(QStringLiteral("type")).toString();
    const QString target = envelope.value(QStringLiteral("target")).toString();
    const QJsonObject payload = envelope.value(QStringLiteral("payload")).toObject();

    if (type == u"heartbeat") {
        const bool joined = !m_nodes.contains(origin);
        Node &node = m_nodes[origin];
        node.lastSeenMs = m_clock.elapsed();
        QJsonArray sessions = payload.value(QStringLiteral("sessions")).toArray();
        if (joined || sessions != node.sessions) {
            node.sessions = std::move(sessions);
            notifyRemoteSessionsChanged();
        }
        return;
    }
    if (type == u"broadcast") {
        if (const auto frame = frameFromJson(payload))
            m_hub->broadcastLocal(*frame, BroadcastFilter{target.toUtf8(), 0});
        return;
    }
    const auto id = splitGlobalId(target);
    if (!id || id->first != m_settings.nodeName)
        return; // for another instance
    if (type == u"send") {
        if (const auto frame = frameFromJson(payload))
            m_hub->send(id->second, *frame);
    } else if (type == u"close") {
        m_hub->close(id->second, quint16(payload.value(QStringLiteral("code")).toInt(4000)),
                     payload.value(QStringLiteral("reason")).toString());
    } else {
        qCDebug(lcCluster, "ignored cluster message of type '%s'", qPrintable(type));
    }
}

} // namespace Switchboard
