#include "cluster/clusterchannels.h"

#include "channels/protocol.h"
#include "cluster/cluster.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QLoggingCategory>

#include <algorithm>

namespace Switchboard {

Q_LOGGING_CATEGORY(lcClusterChannels, "switchboard.cluster", QtInfoMsg)

namespace {

// KEYS: the topic's state, history and presence hashes, this node's topic set.
// ARGV: the topic's channel, the keys' lifetime (ms), an epoch for a new topic,
// "1" to return the history, the topic, the prefix of node keys, this node's
// name, then a (field, value, sealed diff) triple per presence of this node.
// Answers {epoch, offset, presence version, live presences, history}.
constexpr char kJoinScript[] = R"lua(
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 8, #ARGV, 3 do
  if redis.call('HGET', KEYS[3], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    local version = redis.call('HINCRBY', KEYS[1], 'pv', 1)
    redis.call('PUBLISH', ARGV[1], 'p' .. version .. ' ' .. ARGV[i + 2])
  end
end
if #ARGV >= 8 then
  redis.call('SADD', KEYS[4], ARGV[5])
end
local all = redis.call('HGETALL', KEYS[3])
local live = {}
local boots = {}
for i = 1, #all, 2 do
  local node = string.match(all[i], '^(.+):%d+$')
  local boot = string.match(all[i + 1], '^(%x+) ')
  local keep = false
  if node and boot then
    if node == ARGV[7] then
      keep = true
    else
      if boots[node] == nil then
        boots[node] = redis.call('GET', ARGV[6] .. node) or ''
      end
      keep = boots[node] == boot
    end
  end
  if keep then
    live[#live + 1] = all[i]
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[3], all[i])
  end
end
local state = redis.call('HMGET', KEYS[1], 'epoch', 'offset', 'pv')
local history = {}
if ARGV[4] == '1' then
  history = redis.call('LRANGE', KEYS[2], 0, -1)
end
return {state[1], state[2] or '0', state[3] or '0', live, history}
)lua";

// KEYS: the topic's state and history. ARGV: the channel, the sealed message,
// the history's length, the keys' lifetime (ms), an epoch for a new topic.
constexpr char kPublishScript[] = R"lua(
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[5])
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local entry = offset .. ' ' .. ARGV[2]
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], entry)
  redis.call('LTRIM', KEYS[2], -keep, -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
redis.call('PUBLISH', ARGV[1], 'm' .. entry)
return offset
)lua";

// KEYS: the topic's state and presence. ARGV: the channel, the field, the sealed diff.
constexpr char kLeaveScript[] = R"lua(
if redis.call('HDEL', KEYS[2], ARGV[2]) == 1 then
  local version = redis.call('HINCRBY', KEYS[1], 'pv', 1)
  redis.call('PUBLISH', ARGV[1], 'p' .. version .. ' ' .. ARGV[3])
end
return 0
)lua";

// KEYS: this node's topic set. ARGV: the prefix of topic keys, this node's name and ':'.
// Clears what an earlier start of this node left (it has no presence yet).
constexpr char kClearScript[] = R"lua(
for _, topic in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. topic .. '#p'
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, #ARGV[2]) == ARGV[2]
        and string.match(string.sub(field, #ARGV[2] + 1), '^%d+$') then
      redis.call('HDEL', key, field)
    end
  end
end
redis.call('DEL', KEYS[1])
return 0
)lua";

const QString kMessageType = QStringLiteral("topic_message");
const QString kPresenceType = QStringLiteral("topic_presence");

QByteArray number(qint64 value)
{
    return QByteArray::number(value);
}

/*! "123" as 123; nullopt if it is not a whole number. */
std::optional<qint64> toInteger(QByteArrayView text)
{
    bool ok = false;
    const qint64 value = text.toLongLong(&ok);
    return ok ? std::optional(value) : std::nullopt;
}

/*! A presence as an envelope or the hash carries it; nullopt if its parts disagree. */
std::optional<RemotePresence> presenceFrom(const QString &key, const QJsonObject &object)
{
    RemotePresence presence{key, object.value(QStringLiteral("member")).toString(),
                            object.value(QStringLiteral("meta")).toObject()};
    const auto id = Cluster::splitGlobalId(key);
    if (!id || presence.member.isEmpty() || presence.node() != id->first
        || presence.meta.value(QStringLiteral("session")).toInteger() != qint64(id->second))
        return std::nullopt;
    return presence;
}

} // namespace

ClusterChannels::ClusterChannels(Cluster *cluster, TopicRegistry *registry, QObject *parent)
    : QObject(parent), m_cluster(cluster), m_registry(registry)
{
    registry->setRemote(this);
    RedisLink *link = cluster->link();
    connect(cluster, &Cluster::started, this,
            [this] { m_registry->setNodeName(m_cluster->nodeName()); });
    if (!cluster->nodeName().isEmpty())
        registry->setNodeName(cluster->nodeName());
    connect(cluster, &Cluster::connectedChanged, this, &ClusterChannels::onConnectedChanged);
    connect(link, &RedisLink::subscribed, this, &ClusterChannels::onSubscribed);
    connect(link, &RedisLink::channelMessageReceived, this, &ClusterChannels::onChannelMessage);
    // Queued: Cluster emits these while it walks its node table.
    connect(
            cluster, &Cluster::nodeLeft, this,
            [this](const QString &node) {
                if (m_registry)
                    m_registry->dropNode(node);
            },
            Qt::QueuedConnection);
    connect(cluster, &Cluster::nodeJoined, this, &ClusterChannels::resnapshot,
            Qt::QueuedConnection);
    // A topic's state lives while an instance has a subscriber to it.
    m_keepAlive.setInterval(std::min<qint64>(keyLifetimeMs() / 4, 60'000));
    connect(&m_keepAlive, &QTimer::timeout, this, [this] {
        if (!m_registry || !m_cluster->isConnected())
            return;
        for (const QString &topic : m_registry->localTopics())
            m_cluster->link()->command({"PEXPIRE", keyOf(topic, 's'), number(keyLifetimeMs())});
    });
    m_keepAlive.start();
}

ClusterChannels::~ClusterChannels()
{
    if (m_registry)
        m_registry->setRemote(nullptr);
}

qint64 ClusterChannels::keyLifetimeMs() const
{
    // Long enough to outlast the history, and refreshed well before it ends.
    const qint64 age = m_registry ? m_registry->settings().historyAge.count() : 0;
    return age > 0 ? std::max<qint64>(2 * age, 600'000) : 86'400'000;
}

QByteArray ClusterChannels::channelOf(const QString &topic) const
{
    return m_cluster->keyPrefix() + "topic:" + topic.toUtf8();
}

QByteArray ClusterChannels::keyOf(const QString &topic, char part) const
{
    return channelOf(topic) + '#' + part;
}

QByteArray ClusterChannels::nodeTopicsKey() const
{
    return m_cluster->keyPrefix() + "node:" + m_cluster->nodeName().toUtf8() + "#topics";
}

void ClusterChannels::warnOnce(const QString &why)
{
    if (std::exchange(m_warned, true))
        qCDebug(lcClusterChannels, "channels: %s", qPrintable(why));
    else
        qCWarning(lcClusterChannels, "channels: %s", qPrintable(why));
}

void ClusterChannels::call(const QList<QByteArray> &arguments, Done done)
{
    const quint64 id = ++m_nextCall;
    m_inFlight.insert(id, std::move(done));
    const bool sent = m_cluster->link()->command(
            arguments, [self = QPointer<ClusterChannels>(this), id](const RedisReply &reply) {
                if (!self)
                    return;
                const auto it = self->m_inFlight.find(id);
                if (it == self->m_inFlight.end())
                    return;
                const Done finish = std::move(*it);
                self->m_inFlight.erase(it);
                if (reply.isError()) {
                    self->warnOnce(QStringLiteral("Redis refused a script (%1); does the ACL "
                                                  "user have +eval and the cluster's keys?")
                                           .arg(QString::fromUtf8(reply.text)));
                    finish(std::nullopt);
                    return;
                }
                finish(reply);
            });
    if (!sent) {
        const Done finish = m_inFlight.take(id);
        finish(std::nullopt);
    }
}

QByteArray ClusterChannels::presenceValue(const RemotePresence &presence) const
{
    return m_cluster->bootId() + ' '
            + QJsonDocument(QJsonObject{{QStringLiteral("member"), presence.member},
                                        {QStringLiteral("meta"), presence.meta}})
                      .toJson(QJsonDocument::Compact);
}

QByteArray ClusterChannels::sealPresence(const QString &topic, const RemotePresence &presence,
                                         bool joined)
{
    return m_cluster->seal(kPresenceType, topic,
                           {{QStringLiteral("join"), joined},
                            {QStringLiteral("key"), presence.key},
                            {QStringLiteral("member"), presence.member},
                            {QStringLiteral("meta"), presence.meta}});
}

void ClusterChannels::join(const QString &topic, const RemotePresence &presence, bool withHistory,
                           std::function<void(std::optional<JoinState>)> done)
{
    if (!m_cluster->isConnected()) {
        done(std::nullopt);
        return;
    }
    const QByteArray channel = channelOf(topic);
    RedisLink *link = m_cluster->link();
    link->subscribe(channel);
    // The state is read once the subscription is on: nothing published in between is lost.
    if (link->isSubscribed(channel))
        sync(topic, {presence}, withHistory, std::move(done));
    else
        m_waiting[channel].append({topic, presence, withHistory, std::move(done)});
}

void ClusterChannels::sync(const QString &topic, const QList<RemotePresence> &presences,
                           bool withHistory, std::function<void(std::optional<JoinState>)> done)
{
    QList<QByteArray> arguments{"EVAL",
                                kJoinScript,
                                "4",
                                keyOf(topic, 's'),
                                keyOf(topic, 'h'),
                                keyOf(topic, 'p'),
                                nodeTopicsKey(),
                                channelOf(topic),
                                number(keyLifetimeMs()),
                                m_registry ? m_registry->epoch().toUtf8() : QByteArray("-"),
                                withHistory ? "1" : "0",
                                topic.toUtf8(),
                                m_cluster->keyPrefix() + "node:",
                                m_cluster->nodeName().toUtf8()};
    for (const RemotePresence &presence : presences)
        arguments << presence.key.toUtf8() << presenceValue(presence)
                  << sealPresence(topic, presence, true);
    call(arguments, [this, topic, done = std::move(done)](std::optional<RedisReply> reply) {
        done(reply ? parseState(topic, *reply) : std::nullopt);
    });
}

void ClusterChannels::syncPresence(const QString &topic, const QList<RemotePresence> &presences)
{
    sync(topic, presences, false, [this, topic](std::optional<JoinState> state) {
        if (state && m_registry)
            m_registry->applyPresenceSnapshot(topic, state->presenceVersion, state->presences);
    });
}

std::optional<TopicRemote::JoinState> ClusterChannels::parseState(const QString &topic,
                                                                  const RedisReply &reply)
{
    if (reply.type != RedisReply::Type::Array || reply.elements.size() != 5)
        return std::nullopt;
    const auto &parts = reply.elements;
    const auto offset = toInteger(parts[1].text);
    const auto version = toInteger(parts[2].text);
    if (parts[0].type != RedisReply::Type::String || !offset || !version)
        return std::nullopt;
    JoinState state;
    state.epoch = QString::fromUtf8(parts[0].text);
    state.offset = *offset;
    state.presenceVersion = *version;
    const QList<RedisReply> &live = parts[3].elements;
    for (qsizetype i = 0; i + 1 < live.size(); i += 2) {
        const QByteArray &value = live[i + 1].text;
        const qsizetype space = value.indexOf(' ');
        const QJsonObject object
                = QJsonDocument::fromJson(space < 0 ? QByteArray() : value.mid(space + 1)).object();
        if (const auto presence = presenceFrom(QString::fromUtf8(live[i].text), object))
            state.presences.append(*presence);
    }
    for (const RedisReply &entry : parts[4].elements) {
        const qsizetype space = entry.text.indexOf(' ');
        const auto entryOffset
                = toInteger(QByteArrayView(entry.text).first(std::max<qsizetype>(space, 0)));
        if (space <= 0 || !entryOffset)
            continue;
        // Kept on purpose, so its age and repetition are no reason to refuse it.
        const auto envelope = m_cluster->open(QByteArrayView(entry.text).sliced(space + 1), false);
        if (!envelope || envelope->type != kMessageType || envelope->target != topic)
            continue;
        state.history.append(
                {*entryOffset, envelope->timeMs, envelope->payload.value(QStringLiteral("data"))});
    }
    std::sort(state.history.begin(), state.history.end(),
              [](const HistoryEntry &a, const HistoryEntry &b) { return a.offset < b.offset; });
    return state;
}

void ClusterChannels::leave(const QString &topic, const RemotePresence &presence, bool last)
{
    sendLeave(topic, presence);
    if (last) {
        const QByteArray channel = channelOf(topic);
        m_cluster->link()->unsubscribe(channel);
        m_resync.remove(channel);
        // Joins given up with the topic; the registry ignores their answer.
        const QList<WaitingJoin> waiting = m_waiting.take(channel);
        for (const WaitingJoin &join : waiting)
            join.done(std::nullopt);
    }
}

void ClusterChannels::sendLeave(const QString &topic, const RemotePresence &presence)
{
    const bool sent = m_cluster->isConnected()
            && m_cluster->link()->command({"EVAL", kLeaveScript, "2", keyOf(topic, 's'),
                                           keyOf(topic, 'p'), channelOf(topic),
                                           presence.key.toUtf8(),
                                           sealPresence(topic, presence, false)});
    if (!sent)
        m_unsentLeaves.append({topic, presence}); // told when Redis is back
}

void ClusterChannels::publish(const QString &topic, const QJsonValue &data,
                              std::function<void(std::optional<qint64>)> done)
{
    if (!m_cluster->isConnected()) {
        done(std::nullopt);
        return;
    }
    const int history = m_registry ? std::max(0, m_registry->settings().historySize) : 0;
    call({"EVAL", kPublishScript, "2", keyOf(topic, 's'), keyOf(topic, 'h'), channelOf(topic),
          m_cluster->seal(kMessageType, topic, {{QStringLiteral("data"), data}}), number(history),
          number(keyLifetimeMs()), m_registry ? m_registry->epoch().toUtf8() : QByteArray("-")},
         [done = std::move(done)](std::optional<RedisReply> reply) {
             if (!reply || reply->type != RedisReply::Type::Integer)
                 done(std::nullopt);
             else
                 done(reply->integer);
         });
}

void ClusterChannels::onConnectedChanged(bool connected)
{
    if (!connected) {
        // What Redis will not answer now: the joins fail, the publishes too.
        const auto inFlight = std::exchange(m_inFlight, {});
        for (const Done &finish : inFlight)
            finish(std::nullopt);
        const auto waiting = std::exchange(m_waiting, {});
        for (const QList<WaitingJoin> &joins : waiting) {
            for (const WaitingJoin &join : joins)
                join.done(std::nullopt);
        }
        if (m_registry) {
            m_registry->remoteLost();
            for (const QString &topic : m_registry->localTopics())
                m_resync.insert(channelOf(topic));
        }
        return;
    }
    m_warned = false;
    if (!std::exchange(m_everConnected, true)) {
        // This node's presences of an earlier start (same name, another boot).
        m_cluster->link()->command(
                {"EVAL", kClearScript, "1", nodeTopicsKey(),
                 m_cluster->keyPrefix() + "topic:", m_cluster->nodeName().toUtf8() + ':'});
    }
    const auto leaves = std::exchange(m_unsentLeaves, {});
    for (const auto &[topic, presence] : leaves)
        sendLeave(topic, presence);
}

void ClusterChannels::onSubscribed(const QByteArray &channel)
{
    if (m_resync.remove(channel) && m_registry) {
        // Back after Redis was away: put this instance's presences back and catch up.
        const QString topic = QString::fromUtf8(channel.mid(channelOf(QString()).size()));
        syncPresence(topic, m_registry->localPresences(topic));
    }
    const QList<WaitingJoin> waiting = m_waiting.take(channel);
    for (const WaitingJoin &join : waiting)
        sync(join.topic, {join.presence}, join.withHistory, join.done);
}

void ClusterChannels::resnapshot()
{
    // An instance came (back): its presences may be ones this instance dropped.
    if (!m_registry || !m_cluster->isConnected())
        return;
    for (const QString &topic : m_registry->localTopics()) {
        syncPresence(topic, {});
    }
}

void ClusterChannels::onChannelMessage(const QByteArray &channel, const QByteArray &message)
{
    const QByteArray prefix = channelOf(QString());
    if (!channel.startsWith(prefix) || !m_registry)
        return;
    const QString topic = QString::fromUtf8(channel.mid(prefix.size()));
    const qsizetype space = message.indexOf(' ');
    const char kind = message.isEmpty() ? 0 : message.front();
    bool numbered = false;
    const qint64 sequence
            = space > 1 ? QByteArrayView(message).sliced(1, space - 1).toLongLong(&numbered) : 0;
    if (!Channels::isValidTopic(topic) || (kind != 'm' && kind != 'p') || !numbered) {
        warnOnce(QStringLiteral("dropped a malformed message on %1")
                         .arg(QString::fromUtf8(channel)));
        return;
    }
    const auto envelope = m_cluster->open(QByteArrayView(message).sliced(space + 1));
    if (!envelope || envelope->target != topic)
        return; // counted by the cluster as dropped
    const QJsonObject &payload = envelope->payload;
    if (kind == 'm' && envelope->type == kMessageType) {
        m_registry->deliverRemote(topic, sequence, envelope->timeMs,
                                  payload.value(QStringLiteral("data")));
        return;
    }
    if (kind == 'p' && envelope->type == kPresenceType) {
        const auto presence
                = presenceFrom(payload.value(QStringLiteral("key")).toString(), payload);
        // An instance speaks for its own presences only.
        if (!presence || presence->node() != envelope->origin)
            return;
        m_registry->applyRemotePresence(topic, sequence, *presence,
                                        payload.value(QStringLiteral("join")).toBool());
    }
}

} // namespace Switchboard
