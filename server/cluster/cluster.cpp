#include "cluster/cluster.h"

#include "metrics/metrics.h"
#include "websocket/framecodec.h"
#include "websocket/framejson.h"

#include <QtCore/QDateTime>
#include <QtCore/QLoggingCategory>
#include <QtCore/QRegularExpression>

#include <algorithm>

namespace Switchboard {

Q_LOGGING_CATEGORY(lcCluster, "switchboard.cluster", QtInfoMsg)

namespace {

constexpr int kBeatsBeforeDropped = 3;
// A heartbeat refreshes a tenth of the session list; a session unlisted for this
// many beats (two more than a round) was closed without a word reaching us.
constexpr quint64 kRefreshBeats = 10;
constexpr quint64 kForgetAfterBeats = kRefreshBeats + 2;
constexpr qint64 kDropLogIntervalMs = 10'000;
// A broadcast path no longer than a request head could carry.
constexpr qsizetype kMaxPathLength = 8 * 1024;
// RFC 6455 §5.5: a close frame's payload is at most 125 bytes, two of them the code.
constexpr qsizetype kMaxCloseReasonBytes = 123;
// Redis refuses larger bulk strings (proto-max-bulk-len).
constexpr qsizetype kRedisMaxMessage = 512 * 1024 * 1024;

QString keyOf(const char *key)
{
    return QString::fromLatin1(key);
}

const char *whyDropped(EnvelopeCodec::Drop drop)
{
    switch (drop) {
    case EnvelopeCodec::Drop::Forged:
        return "their MAC did not match: another secret, or altered on the way";
    case EnvelopeCodec::Drop::Unauthenticated:
        return "they had no MAC, or one this insecure node cannot check; do all nodes have "
               "the same secret?";
    case EnvelopeCodec::Drop::Replayed:
        return "they were sent before (a replay)";
    case EnvelopeCodec::Drop::Stale:
        return "their time was more than the allowed clock skew from ours (a late replay, or "
               "unsynchronised clocks)";
    case EnvelopeCodec::Drop::Version:
        return "they were of another cluster protocol version (an older or newer Switchboard "
               "on the same channel)";
    case EnvelopeCodec::Drop::Oversize:
        return "they were too large";
    case EnvelopeCodec::Drop::Malformed:
        return "their fields were missing or out of range";
    }
    return "";
}

/*! The wall clock that envelopes carry. */
qint64 wallClockMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

} // namespace

Cluster::Cluster(Hub *hub, ClusterSettings settings, QObject *parent)
    : QObject(parent)
    , m_hub(hub)
    , m_settings(std::move(settings))
    , m_link(new RedisLink(m_settings.redis, m_settings.channel(), this))
{
    Metrics &metrics = m_hub->metrics();
    CounterFamily &dropped = metrics.counter(
            "switchboard_cluster_dropped_total",
            "Cluster envelopes dropped, by why (as GET /api/cluster shows them).", {"reason"});
    for (int kind = 0; kind < EnvelopeCodec::DropKinds; ++kind)
        m_dropped[size_t(kind)] = &dropped.labels({EnvelopeCodec::dropName(Drop(kind)).toUtf8()});
    m_published = &metrics.counter("switchboard_cluster_messages_published_total",
                                   "Envelopes this instance published to Redis (broadcasts, "
                                   "sends, closes, heartbeats).")
                           .get();
    m_received = &metrics.counter("switchboard_cluster_messages_received_total",
                                  "Envelopes from other instances accepted and handled.")
                          .get();
    m_connectedGauge = &metrics.gauge("switchboard_cluster_connected",
                                      "1 while Redis is connected and subscribed, else 0.")
                                .get();
    m_peersGauge = &metrics.gauge("switchboard_cluster_peers",
                                  "Other instances heard from in the last three heartbeats.")
                            .get();
    // Cheaper to read at a scrape than to keep up to date on every change.
    metrics.addScrapeHook(this, [this] {
        m_connectedGauge->set(isConnected() ? 1 : 0);
        m_peersGauge->set(double(remoteNodes().size()));
    });
    m_clock.start();
    m_dropLoggedMs.fill(-kDropLogIntervalMs);
    m_heartbeat.setInterval(m_settings.heartbeatInterval);
    connect(&m_heartbeat, &QTimer::timeout, this, [this] {
        pruneNodes();
        publishHeartbeat();
        logDrops(false);
    });
    connect(m_link, &RedisLink::connectedChanged, this, [this](bool connected) {
        // What the others must find in Redis when they hear the heartbeat (the
        // channels' presences) is restored by the receivers of this signal first.
        Q_EMIT connectedChanged(connected);
        if (connected) {
            m_sendFullList = true; // what went meanwhile is unknown
            publishHeartbeat();
        }
    });
    // Whoever appears needs the whole list once.
    connect(this, &Cluster::nodeJoined, this, [this] { m_sendFullList = true; });
    connect(m_hub, &Hub::sessionOpened, this,
            [this](const SessionInfo &info) { m_openedSince.insert(info.id); });
    connect(m_hub, &Hub::sessionClosed, this, [this](quint64 id) {
        if (!m_openedSince.remove(id))
            m_closedSince.insert(id);
    });
    connect(m_link, &RedisLink::messageReceived, this, &Cluster::onMessage);
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
    logDrops(true);
}

void Cluster::start(const QString &defaultNodeName)
{
    if (m_started)
        return;
    m_started = true;
    if (m_settings.nodeName.isEmpty()) {
        // A host name may hold what a node name may not (it is the system's to choose).
        static const QRegularExpression unsafe(QStringLiteral("[^A-Za-z0-9._:-]"));
        m_settings.nodeName
                = QString(defaultNodeName).replace(unsafe, QStringLiteral("-")).left(100);
    }
    m_codec = std::make_unique<EnvelopeCodec>(m_settings.secret, m_settings.channel(),
                                              m_settings.nodeName, EnvelopeCodec::newBoot());
    m_codec->setMaxSkew(m_settings.maxClockSkew);
    // Room for the largest frame the hub takes, base64-encoded, or a big heartbeat.
    const qint64 frameRoom = m_hub->settings().maxMessageSize / 3 * 4 + 64 * 1024;
    m_codec->setMaxSize(qsizetype(
            std::clamp<qint64>(frameRoom, EnvelopeCodec::DefaultMaxSize, kRedisMaxMessage)));
    qCInfo(lcCluster, "joining cluster as '%s' through %s channel %s, %s",
           qPrintable(m_settings.nodeName), qPrintable(m_settings.redis.displayUrl()),
           m_settings.channel().constData(),
           isAuthenticated() ? "envelopes authenticated with HMAC-SHA256"
                             : "INSECURE: envelopes unauthenticated (--cluster-insecure)");
    m_heartbeat.start();
    Q_EMIT started();
    m_link->start();
}

bool Cluster::isConnected() const
{
    return m_link->isConnected();
}

QString Cluster::lastError() const
{
    return m_link->lastError();
}

bool Cluster::isValidNodeName(const QString &name)
{
    // Names go into URLs (/api/connections/NODE:ID) and onto the console, so only
    // characters that mean nothing in either.
    static const QRegularExpression allowed(QStringLiteral("^[A-Za-z0-9._:-]{1,100}$"));
    return allowed.match(name).hasMatch();
}

QJsonObject Cluster::dropped() const
{
    QJsonObject out;
    for (int kind = 0; kind < EnvelopeCodec::DropKinds; ++kind)
        out.insert(EnvelopeCodec::dropName(Drop(kind)), qint64(m_dropped[size_t(kind)]->value()));
    return out;
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
    const QStringView digits = QStringView(globalId).mid(colon + 1);
    // Digits only: toULongLong() would also take "+7", " 7" or "0x7".
    if (digits.isEmpty() || !std::all_of(digits.begin(), digits.end(), [](QChar c) {
            return c >= u'0' && c <= u'9';
        }))
        return std::nullopt;
    bool ok = false;
    const quint64 id = digits.toULongLong(&ok);
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
        const QHash<quint64, RemoteEntry> &sessions = m_nodes[name].sessions;
        QList<quint64> ids = sessions.keys();
        std::sort(ids.begin(), ids.end());
        for (const quint64 id : std::as_const(ids))
            out.append({name, sessions.value(id).info});
    }
    return out;
}

bool Cluster::hasRemoteSession(const QString &node, quint64 id)
{
    pruneNodes();
    const auto it = m_nodes.constFind(node);
    return it != m_nodes.constEnd() && it->sessions.contains(id);
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
                   {{keyOf("code"), int(code)}, {keyOf("reason"), reason}});
}

QByteArray Cluster::bootId() const
{
    return m_codec ? QByteArray::number(m_codec->boot(), 16) : QByteArray();
}

QByteArray Cluster::seal(const QString &type, const QString &target, const QJsonObject &payload)
{
    return m_codec ? m_codec->seal(type, target, payload, wallClockMs()) : QByteArray();
}

std::optional<Envelope> Cluster::open(QByteArrayView wire, bool live)
{
    if (!m_codec)
        return std::nullopt;
    EnvelopeCodec::Opened opened
            = live ? m_codec->open(wire, wallClockMs()) : m_codec->verify(wire);
    if (opened.envelope && !isValidNodeName(opened.envelope->origin)) {
        opened.envelope.reset();
        opened.drop = Drop::Malformed;
    }
    if (!opened.envelope)
        countDrop(opened.drop);
    return std::move(opened.envelope);
}

bool Cluster::publish(const QString &type, const QString &target, const QJsonObject &payload)
{
    if (!m_codec || !m_link->isConnected())
        return false;
    if (!m_link->publish(m_codec->seal(type, target, payload, wallClockMs())))
        return false;
    m_published->add();
    return true;
}

QJsonObject Cluster::heartbeatEntry(const SessionInfo &info) const
{
    QJsonObject entry = info.toJson();
    entry.insert(keyOf("id"), globalId(info.id));
    entry.insert(keyOf("node"), m_settings.nodeName);
    return entry;
}

void Cluster::publishHeartbeat()
{
    if (!m_codec || !m_link->isConnected())
        return;
    QList<SessionInfo> all = m_hub->sessions();
    QJsonObject payload;
    if (std::exchange(m_sendFullList, false)) {
        QJsonArray sessions;
        for (const SessionInfo &info : std::as_const(all))
            sessions.append(heartbeatEntry(info));
        payload.insert(keyOf("sessions"), sessions);
    } else {
        // What changed, and the next tenth of the list in id order (wrapping).
        std::sort(all.begin(), all.end(),
                  [](const SessionInfo &a, const SessionInfo &b) { return a.id < b.id; });
        QJsonArray opened;
        QJsonArray closed;
        QJsonArray refresh;
        for (const SessionInfo &info : std::as_const(all)) {
            if (m_openedSince.contains(info.id))
                opened.append(heartbeatEntry(info));
        }
        for (const quint64 id : std::as_const(m_closedSince))
            closed.append(globalId(id));
        const qsizetype share
                = (all.size() + qsizetype(kRefreshBeats) - 1) / qsizetype(kRefreshBeats);
        auto next = std::upper_bound(
                all.cbegin(), all.cend(), m_refreshAfter,
                [](quint64 id, const SessionInfo &info) { return id < info.id; });
        for (qsizetype taken = 0; taken < share; ++taken) {
            if (next == all.cend())
                next = all.cbegin();
            refresh.append(heartbeatEntry(*next));
            m_refreshAfter = next->id;
            ++next;
        }
        payload = {
                {keyOf("opened"), opened}, {keyOf("closed"), closed}, {keyOf("refresh"), refresh}};
    }
    m_openedSince.clear();
    m_closedSince.clear();
    // Read by the channels' presence: an instance whose key has expired is gone,
    // and so are presences kept under another of its boots.
    const qint64 lifetime = kBeatsBeforeDropped * m_settings.heartbeatInterval.count();
    m_link->command({"SET", keyPrefix() + "node:" + m_settings.nodeName.toUtf8(), bootId(), "PX",
                     QByteArray::number(lifetime)});
    publish(QStringLiteral("heartbeat"), QString(), payload);
}

void Cluster::pruneNodes()
{
    const qint64 limit = kBeatsBeforeDropped * m_settings.heartbeatInterval.count();
    const qint64 now = m_clock.elapsed();
    QStringList gone;
    for (auto it = m_nodes.begin(); it != m_nodes.end();) {
        if (now - it->lastSeenMs > limit) {
            qCInfo(lcCluster, "node '%s' stopped heart-beating; dropped", qPrintable(it.key()));
            gone.append(it.key());
            it = m_nodes.erase(it);
            notifyRemoteSessionsChanged();
        } else {
            ++it;
        }
    }
    for (const QString &name : std::as_const(gone))
        Q_EMIT nodeLeft(name);
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
    const std::optional<Envelope> opened = open(data); // what cannot be trusted is counted
    if (!opened)
        return;
    const Envelope &envelope = *opened;
    if (envelope.origin == m_settings.nodeName)
        return; // our own, already delivered locally
    if (deliver(envelope))
        m_received->add();
    else
        countDrop(Drop::Malformed);
}

bool Cluster::deliver(const Envelope &envelope)
{
    // Authenticated is not the same as sane: every value is checked as if a
    // client had sent it (the sender's name already, by open()).
    const QString &type = envelope.type;
    const QJsonObject &payload = envelope.payload;
    const auto frameWithin = [this](const QJsonObject &json) -> std::optional<Frame> {
        std::optional<Frame> frame = frameFromJson(json);
        if (frame && frame->payload().size() > m_hub->settings().maxMessageSize)
            return std::nullopt;
        return frame;
    };

    if (type == u"heartbeat")
        return takeHeartbeat(envelope);
    if (type == u"broadcast") {
        const QString &path = envelope.target;
        if (path.size() > kMaxPathLength || (!path.isEmpty() && !path.startsWith(u'/')))
            return false;
        const auto frame = frameWithin(payload);
        if (!frame)
            return false;
        m_hub->broadcastLocal(*frame, BroadcastFilter{path.toUtf8(), 0});
        return true;
    }
    if (type != u"send" && type != u"close") {
        qCDebug(lcCluster, "ignored cluster message of type '%s'", qPrintable(type));
        return true; // a newer node's; not an error
    }
    const auto id = splitGlobalId(envelope.target);
    if (!id)
        return false;
    if (id->first != m_settings.nodeName)
        return true; // for another instance
    if (type == u"send") {
        const auto frame = frameWithin(payload);
        if (!frame)
            return false;
        m_hub->send(id->second, *frame);
        return true;
    }
    const QJsonValue code = payload.value(keyOf("code"));
    const QJsonValue reason = payload.value(keyOf("reason"));
    if (!code.isDouble() || code.toDouble() != double(code.toInt())
        || !isSendableCloseCode(code.toInt()) || (!reason.isString() && !reason.isUndefined())
        || reason.toString().toUtf8().size() > kMaxCloseReasonBytes)
        return false;
    m_hub->close(id->second, quint16(code.toInt()), reason.toString());
    return true;
}

bool Cluster::takeHeartbeat(const Envelope &envelope)
{
    const QJsonObject &payload = envelope.payload;
    const bool whole = payload.contains(keyOf("sessions"));
    // Only sessions of the sender, under ids of the sender.
    QHash<quint64, QJsonObject> listed;
    for (const char *field : {"sessions", "opened", "refresh"}) {
        const QJsonValue list = payload.value(keyOf(field));
        if (list.isUndefined())
            continue;
        if (!list.isArray())
            return false;
        for (const QJsonValue &session : list.toArray()) {
            const QJsonObject entry = session.toObject();
            const auto id = splitGlobalId(entry.value(keyOf("id")).toString());
            if (!session.isObject() || !id || id->first != envelope.origin
                || entry.value(keyOf("node")).toString() != envelope.origin)
                return false;
            listed.insert(id->second, entry);
        }
    }
    QList<quint64> closed;
    const QJsonValue closedList = payload.value(keyOf("closed"));
    if (!closedList.isUndefined() && !closedList.isArray())
        return false;
    for (const QJsonValue &value : closedList.toArray()) {
        const auto id = splitGlobalId(value.toString());
        if (!id || id->first != envelope.origin)
            return false;
        closed.append(id->second);
    }

    const bool known = m_nodes.contains(envelope.origin);
    Node &node = m_nodes[envelope.origin];
    // Restarted within the window: what it had before is gone.
    const bool restarted = known && node.boot != envelope.boot;
    if (restarted) {
        node.sessions.clear();
        node.beats = 0;
    }
    node.boot = envelope.boot;
    node.lastSeenMs = m_clock.elapsed();
    const quint64 beat = ++node.beats;
    bool changed = !known || restarted;
    if (whole) {
        changed = changed || node.sessions.size() != listed.size();
        for (auto it = node.sessions.begin(); it != node.sessions.end();) {
            if (listed.contains(it.key())) {
                ++it;
            } else {
                it = node.sessions.erase(it);
                changed = true;
            }
        }
    }
    for (const quint64 id : std::as_const(closed))
        changed = node.sessions.remove(id) || changed;
    for (auto it = listed.cbegin(); it != listed.cend(); ++it) {
        RemoteEntry &entry = node.sessions[it.key()];
        if (entry.info != it.value()) {
            entry.info = it.value();
            changed = true;
        }
        entry.seenAtBeat = beat;
    }
    // A close that never reached us: no beat has listed it for a whole round and more.
    for (auto it = node.sessions.begin(); it != node.sessions.end();) {
        if (beat - it->seenAtBeat > kForgetAfterBeats) {
            it = node.sessions.erase(it);
            changed = true;
        } else {
            ++it;
        }
    }
    if (changed)
        notifyRemoteSessionsChanged();
    // Last: a slot may call remoteNodes(), which prunes.
    if (restarted) {
        qCInfo(lcCluster, "node '%s' restarted", qPrintable(envelope.origin));
        Q_EMIT nodeLeft(envelope.origin);
    }
    if (!known || restarted)
        Q_EMIT nodeJoined(envelope.origin);
    return true;
}

void Cluster::countDrop(Drop drop)
{
    const auto kind = size_t(drop);
    m_dropped[kind]->add();
    ++m_unloggedDrops[kind];
    logDrops(false);
}

void Cluster::logDrops(bool force)
{
    // At most one line per kind every ten seconds, however fast a flood comes.
    const qint64 now = m_clock.elapsed();
    for (int kind = 0; kind < EnvelopeCodec::DropKinds; ++kind) {
        const auto k = size_t(kind);
        if (m_unloggedDrops[k] == 0 || (!force && now - m_dropLoggedMs[k] < kDropLogIntervalMs))
            continue;
        qCWarning(lcCluster, "dropped %llu cluster envelope(s) (%s): %s",
                  static_cast<unsigned long long>(m_unloggedDrops[k]),
                  qPrintable(EnvelopeCodec::dropName(Drop(kind))), whyDropped(Drop(kind)));
        m_unloggedDrops[k] = 0;
        m_dropLoggedMs[k] = now;
    }
}

} // namespace Switchboard
