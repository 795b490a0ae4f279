#include "channels/topicregistry.h"

#include "channels/protocol.h"
#include "metrics/metrics.h"
#include "websocket/hub.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QRandomGenerator>
#include <QtCore/QPointer>
#include <QtCore/QThread>

#include <limits>

namespace Switchboard {

namespace {

QString newEpoch()
{
    quint32 words[2];
    QRandomGenerator::system()->fillRange(words);
    return QString::fromLatin1(
            QByteArray(reinterpret_cast<const char *>(words), sizeof words)
                    .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
}

} // namespace

TopicRegistry::TopicRegistry(Hub *hub, ChannelSettings settings, QObject *parent)
    : TopicRegistry([hub](const QList<quint64> &ids, const Frame &frame) { hub->send(ids, frame); },
                    settings, parent)
{
    Metrics &metrics = hub->metrics();
    m_publishes = &metrics.counter("switchboard_channel_publishes_total",
                                   "Messages published to topics of /ws/channels")
                           .get();
    m_deliveries = &metrics.counter("switchboard_channel_deliveries_total",
                                    "Messages delivered to topic subscribers (a publish to n "
                                    "subscribers adds n)")
                            .get();
    m_errors = &metrics.counter("switchboard_channel_errors_total",
                                "Channel requests answered with an error, by protocol code",
                                {"code"});
    auto &topics = metrics.gauge("switchboard_channel_topics",
                                 "Topics with a subscriber or kept messages")
                           .get();
    auto &subscriptions = metrics.gauge("switchboard_channel_subscriptions",
                                        "Subscriptions (a connection joined to a topic)")
                                  .get();
    // Read at scrape time, on this thread: cheaper than keeping gauges up to date.
    metrics.addScrapeHook(this, [this, &topics, &subscriptions] {
        topics.set(double(m_topics.size()));
        subscriptions.set(double(m_subscriptions));
    });
}

TopicRegistry::TopicRegistry(Deliver deliver, ChannelSettings settings, QObject *parent)
    : QObject(parent), m_settings(settings), m_deliver(std::move(deliver)), m_epoch(newEpoch())
{
    using namespace std::chrono_literals;
    m_sweep.setInterval(m_settings.historyAge.count() > 0 ? std::max(m_settings.historyAge, 1000ms)
                                                          : std::chrono::milliseconds(60s));
    connect(&m_sweep, &QTimer::timeout, this, &TopicRegistry::sweep);
    m_sweep.start();
}

int TopicRegistry::sweep()
{
    assertThread();
    int dropped = 0;
    for (auto it = m_topics.begin(); it != m_topics.end();) {
        if (!it->presences.isEmpty()) {
            ++it;
            continue;
        }
        prune(*it);
        if (!it->history.empty()) {
            ++it;
            continue;
        }
        const QString topic = it.key();
        it = m_topics.erase(it);
        ++dropped;
        Q_EMIT topicChanged(topic);
    }
    return dropped;
}

TopicRegistry::~TopicRegistry() = default;

void TopicRegistry::assertThread() const
{
    Q_ASSERT_X(QThread::currentThread() == thread(), "TopicRegistry",
               "used from a thread that does not own it");
}

QJsonObject TopicRegistry::metaOf(const Presence &presence) const
{
    return {{QStringLiteral("session"), qint64(presence.session)},
            {QStringLiteral("node"), m_node},
            {QStringLiteral("online_at"), presence.onlineAt},
            {QStringLiteral("meta"), presence.meta}};
}

QJsonObject TopicRegistry::presenceEntry(const QString &member,
                                         const QList<QJsonObject> &metas) const
{
    QJsonArray array;
    for (const QJsonObject &meta : metas)
        array.append(meta);
    return {{member, QJsonObject{{QStringLiteral("metas"), array}}}};
}

qint64 TopicRegistry::oldestKeptMs() const
{
    return m_settings.historyAge.count() > 0
            ? QDateTime::currentMSecsSinceEpoch() - m_settings.historyAge.count()
            : std::numeric_limits<qint64>::min();
}

void TopicRegistry::prune(Topic &topic) const
{
    while (topic.history.size() > size_t(std::max(0, m_settings.historySize)))
        topic.history.pop_front();
    const qint64 oldest = oldestKeptMs();
    while (!topic.history.empty() && topic.history.front().timestampMs < oldest)
        topic.history.pop_front();
}

TopicRegistry::Presence TopicRegistry::addPresence(Topic &t, const QString &topic, quint64 id,
                                                   const QString &member, const QJsonObject &meta)
{
    const Presence mine{id, member.isEmpty() ? m_node + u':' + QString::number(id) : member, meta,
                        QDateTime::currentMSecsSinceEpoch()};
    const bool rejoin = t.presences.contains(id);
    if (!rejoin)
        ++m_subscriptions;
    QJsonObject leaves;
    if (rejoin) {
        const Presence &old = t.presences.value(id);
        leaves = presenceEntry(old.member, {metaOf(old)});
    }
    // The others here learn of the new presence (a rejoin replaces the old one).
    QList<quint64> others = readySubscribers(t);
    others.removeOne(id);
    t.presences.insert(id, mine);
    m_topicsOf[id].insert(topic);
    if (!others.isEmpty())
        m_deliver(others,
                  Frame::text(Channels::encodePresenceDiff(
                          topic, presenceEntry(mine.member, {metaOf(mine)}), leaves)));
    return mine;
}

namespace {

/*!
    Whether everything after \a since can be given: the oldest message kept
    (\a firstKept; the next offset when none is) is at most since + 1, or
    nothing came since, in the same epoch.
*/
bool canRecover(qint64 since, bool sameEpoch, qint64 offset, qint64 firstKept)
{
    return sameEpoch && since <= offset && firstKept <= since + 1;
}

bool isSameEpoch(const QString &asked, const QString &topicEpoch, qint64 since)
{
    // No epoch with since 0 asks for everything from the start, whichever it is.
    return asked == topicEpoch || (asked.isEmpty() && since == 0);
}

} // namespace

TopicRegistry::Joined TopicRegistry::join(quint64 id, const QString &topic, const QString &member,
                                          const QJsonObject &meta, std::optional<qint64> since,
                                          const QString &epoch)
{
    assertThread();
    Q_ASSERT_X(!m_remote, "TopicRegistry::join", "a clustered registry answers later");
    Topic &t = m_topics[topic];
    addPresence(t, topic, id, member, meta);

    Joined joined;
    joined.epoch = m_epoch;
    joined.offset = t.offset;
    joined.presence = presence(topic);
    if (since) {
        prune(t);
        const qint64 firstKept = t.history.empty() ? t.offset + 1 : t.history.front().offset;
        joined.recovered
                = canRecover(*since, isSameEpoch(epoch, m_epoch, *since), t.offset, firstKept);
        if (*joined.recovered) {
            for (const Message &message : t.history) {
                if (message.offset > *since)
                    joined.missed.append(message.frame);
            }
        }
    }
    Q_EMIT topicChanged(topic);
    return joined;
}

void TopicRegistry::join(quint64 id, const QString &topic, const QString &member,
                         const QJsonObject &meta, std::optional<qint64> since, const QString &epoch,
                         JoinDone done)
{
    if (!m_remote) {
        done(join(id, topic, member, meta, since, epoch));
        return;
    }
    assertThread();
    Topic &t = m_topics[topic];
    const Presence mine = addPresence(t, topic, id, member, meta);
    const quint64 seq = ++m_joinSeq;
    t.deliveredUpTo.remove(id);
    t.pending.insert(id, PendingJoin{seq, since, epoch, std::move(done), {}});
    Q_EMIT topicChanged(topic);
    m_remote->join(topic, toRemote(mine), since.has_value(),
                   [self = QPointer<TopicRegistry>(this), topic, id,
                    seq](std::optional<TopicRemote::JoinState> state) {
                       if (self)
                           self->completeJoin(topic, id, seq, std::move(state));
                   });
}

void TopicRegistry::completeJoin(const QString &topic, quint64 id, quint64 seq,
                                 std::optional<TopicRemote::JoinState> state)
{
    assertThread();
    const auto it = m_topics.find(topic);
    if (it == m_topics.end())
        return;
    if (const auto p = it->pending.constFind(id); p == it->pending.cend() || p->seq != seq)
        return; // it left meanwhile, or left and joined again
    if (!state) {
        PendingJoin pending = it->pending.take(id);
        leave(id, topic);
        Joined failed;
        failed.status = Joined::Status::Unavailable;
        pending.done(failed);
        return;
    }
    // The cluster's presence first (the others here get a diff; this one is still
    // pending and gets the whole state in its reply).
    applyPresenceSnapshot(topic, state->presenceVersion, state->presences);
    Topic &t = *it;
    PendingJoin pending = t.pending.take(id);
    t.offset = std::max(t.offset, state->offset);

    Joined joined;
    joined.epoch = state->epoch;
    joined.offset = state->offset;
    joined.presence = presence(topic);
    qint64 upTo = state->offset;
    if (pending.since) {
        const qint64 since = *pending.since;
        const qint64 oldest = oldestKeptMs();
        QList<const HistoryEntry *> kept;
        for (const HistoryEntry &entry : std::as_const(state->history)) {
            if (entry.timestampMs >= oldest && entry.offset <= state->offset)
                kept.append(&entry);
        }
        const qint64 firstKept = kept.isEmpty() ? state->offset + 1 : kept.front()->offset;
        joined.recovered = canRecover(since, isSameEpoch(pending.epoch, state->epoch, since),
                                      state->offset, firstKept);
        if (*joined.recovered) {
            for (const HistoryEntry *entry : std::as_const(kept)) {
                if (entry->offset > since)
                    joined.missed.append(Frame::text(Channels::encodeMessage(
                            topic, entry->offset, entry->timestampMs, entry->data)));
            }
        }
    }
    pending.done(joined);

    // What arrived while the cluster answered, past what the reply covered, in order.
    const auto again = m_topics.find(topic);
    if (again == m_topics.end() || !again->presences.contains(id))
        return;
    for (const auto &[offset, frame] : std::as_const(pending.arrived)) {
        if (offset > upTo) {
            m_deliver({id}, frame);
            upTo = offset;
        }
    }
    // Messages up to here may still come from the subscription; they were given.
    again->deliveredUpTo.insert(id, upTo);
}

bool TopicRegistry::leave(quint64 id, const QString &topic)
{
    assertThread();
    const auto it = m_topics.find(topic);
    if (it == m_topics.end() || !it->presences.contains(id))
        return false;
    const Presence old = it->presences.take(id);
    // A join still waiting for the cluster is answered: it did not happen.
    const JoinDone unanswered = it->pending.take(id).done;
    it->deliveredUpTo.remove(id);
    --m_subscriptions;
    auto topics = m_topicsOf.find(id);
    if (topics != m_topicsOf.end()) {
        topics->remove(topic);
        if (topics->isEmpty())
            m_topicsOf.erase(topics);
    }
    const bool last = it->presences.isEmpty();
    if (const QList<quint64> others = readySubscribers(*it); !others.isEmpty()) {
        m_deliver(others,
                  Frame::text(Channels::encodePresenceDiff(
                          topic, {}, presenceEntry(old.member, {metaOf(old)}))));
    }
    if (m_remote) {
        m_remote->leave(topic, toRemote(old), last);
        if (last)
            m_topics.erase(it); // the cluster keeps the history; nothing arrives here any more
    } else if (last && it->history.empty()) {
        m_topics.erase(it); // nothing left to keep: no subscriber, no history
    }
    Q_EMIT topicChanged(topic);
    if (unanswered) {
        Joined gone;
        gone.status = Joined::Status::Left;
        unanswered(gone);
    }
    return true;
}

void TopicRegistry::leaveAll(quint64 id)
{
    assertThread();
    const QSet<QString> topics = m_topicsOf.value(id);
    for (const QString &topic : topics)
        leave(id, topic);
}

qint64 TopicRegistry::publish(const QString &topic, const QJsonValue &data)
{
    assertThread();
    Topic &t = m_topics[topic];
    const qint64 offset = t.offset + 1;
    deliver(t, topic, offset, QDateTime::currentMSecsSinceEpoch(), data);
    if (m_publishes)
        m_publishes->add();
    return offset;
}

void TopicRegistry::publish(const QString &topic, const QJsonValue &data,
                            std::function<void(std::optional<qint64>)> done)
{
    if (!m_remote) {
        done(publish(topic, data));
        return;
    }
    assertThread();
    m_remote->publish(topic, data,
                      [self = QPointer<TopicRegistry>(this),
                       done = std::move(done)](std::optional<qint64> offset) {
                          if (offset && self && self->m_publishes)
                              self->m_publishes->add();
                          done(offset);
                      });
}

QList<quint64> TopicRegistry::readySubscribers(const Topic &topic) const
{
    if (topic.pending.isEmpty())
        return topic.presences.keys();
    QList<quint64> ids;
    ids.reserve(topic.presences.size());
    for (auto it = topic.presences.cbegin(); it != topic.presences.cend(); ++it) {
        if (!topic.pending.contains(it.key()))
            ids.append(it.key());
    }
    return ids;
}

void TopicRegistry::deliverRemote(const QString &topic, qint64 offset, qint64 timestampMs,
                                  const QJsonValue &data)
{
    assertThread();
    // Only topics with a subscriber here are subscribed to; the history is the cluster's.
    const auto it = m_topics.find(topic);
    if (it != m_topics.end() && !it->presences.isEmpty())
        deliver(*it, topic, offset, timestampMs, data);
}

void TopicRegistry::deliver(Topic &t, const QString &topic, qint64 offset, qint64 timestampMs,
                            const QJsonValue &data)
{
    const Frame frame = Frame::text(Channels::encodeMessage(topic, offset, timestampMs, data));
    t.offset = std::max(t.offset, offset);
    if (m_settings.historySize > 0) {
        t.history.push_back({offset, timestampMs, frame});
        prune(t);
    }
    QList<quint64> ids;
    if (t.pending.isEmpty() && t.deliveredUpTo.isEmpty()) {
        ids = t.presences.keys();
    } else {
        ids.reserve(t.presences.size());
        for (auto p = t.presences.cbegin(); p != t.presences.cend(); ++p) {
            const quint64 id = p.key();
            if (const auto pending = t.pending.find(id); pending != t.pending.end()) {
                pending->arrived.append({offset, frame}); // after its reply
                continue;
            }
            if (const auto given = t.deliveredUpTo.find(id); given != t.deliveredUpTo.end()) {
                if (offset <= *given)
                    continue; // its reply or what followed it had this one
                t.deliveredUpTo.erase(given); // in step with the subscription from here
            }
            ids.append(id);
        }
    }
    if (!ids.isEmpty())
        m_deliver(ids, frame);
    if (m_deliveries)
        m_deliveries->add(quint64(ids.size()));
    Q_EMIT published(topic, offset, frame, int(ids.size()));
    Q_EMIT topicChanged(topic);
}

void TopicRegistry::changeRemote(const QString &topic, Topic &t, const QList<RemotePresence> &joins,
                                 const QList<RemotePresence> &leaves)
{
    QHash<QString, QJsonArray> joined;
    QHash<QString, QJsonArray> left;
    for (const RemotePresence &presence : leaves) {
        const auto old = t.remote.find(presence.key);
        if (old == t.remote.end())
            continue;
        left[old->member].append(old->meta);
        t.remote.erase(old);
    }
    for (const RemotePresence &presence : joins) {
        const auto old = t.remote.find(presence.key);
        if (old != t.remote.end()) {
            if (*old == presence)
                continue; // known already (a snapshot after its diff)
            left[old->member].append(old->meta);
        }
        t.remote.insert(presence.key, presence);
        joined[presence.member].append(presence.meta);
    }
    if (joined.isEmpty() && left.isEmpty())
        return;
    const auto entries = [](const QHash<QString, QJsonArray> &byMember) {
        QJsonObject object;
        for (auto it = byMember.cbegin(); it != byMember.cend(); ++it)
            object.insert(it.key(), QJsonObject{{QStringLiteral("metas"), it.value()}});
        return object;
    };
    if (const QList<quint64> ready = readySubscribers(t); !ready.isEmpty())
        m_deliver(ready,
                  Frame::text(Channels::encodePresenceDiff(topic, entries(joined), entries(left))));
    Q_EMIT topicChanged(topic);
}

void TopicRegistry::applyRemotePresence(const QString &topic, qint64 version,
                                        const RemotePresence &presence, bool joined)
{
    assertThread();
    const auto it = m_topics.find(topic);
    if (it == m_topics.end() || it->presences.isEmpty() || presence.node() == m_node)
        return;
    Topic &t = *it;
    if (!t.presenceSynced) {
        t.earlyDiffs.append({version, presence, joined}); // sorted out by the first snapshot
        return;
    }
    if (version <= t.presenceVersion)
        return; // the snapshot applied had it
    t.presenceVersion = version;
    if (joined)
        changeRemote(topic, t, {presence}, {});
    else
        changeRemote(topic, t, {}, {presence});
}

void TopicRegistry::applyPresenceSnapshot(const QString &topic, qint64 version,
                                          const QList<RemotePresence> &presences)
{
    assertThread();
    const auto it = m_topics.find(topic);
    if (it == m_topics.end() || it->presences.isEmpty())
        return;
    Topic &t = *it;
    if (t.presenceSynced && version < t.presenceVersion)
        return; // older than the diffs already applied
    QHash<QString, RemotePresence> next;
    for (const RemotePresence &presence : presences) {
        if (presence.node() != m_node)
            next.insert(presence.key, presence);
    }
    QList<RemotePresence> gone;
    for (const RemotePresence &presence : std::as_const(t.remote)) {
        if (!next.contains(presence.key))
            gone.append(presence);
    }
    changeRemote(topic, t, next.values(), gone);
    t.presenceVersion = version;
    if (!std::exchange(t.presenceSynced, true)) {
        // The diffs that came before it, in the order Redis made them: only
        // those after the snapshot are news.
        const auto early = std::exchange(t.earlyDiffs, {});
        for (const auto &[diffVersion, presence, joined] : early)
            applyRemotePresence(topic, diffVersion, presence, joined);
    }
}

void TopicRegistry::dropNode(const QString &node)
{
    assertThread();
    for (auto it = m_topics.begin(); it != m_topics.end(); ++it) {
        QList<RemotePresence> gone;
        for (const RemotePresence &presence : std::as_const(it->remote)) {
            if (presence.node() == node)
                gone.append(presence);
        }
        if (!gone.isEmpty())
            changeRemote(it.key(), *it, {}, gone);
    }
}

void TopicRegistry::remoteLost()
{
    assertThread();
    for (Topic &t : m_topics) {
        t.presenceSynced = false;
        t.earlyDiffs.clear();
        t.deliveredUpTo.clear();
    }
}

QStringList TopicRegistry::localTopics() const
{
    QStringList names;
    for (auto it = m_topics.cbegin(); it != m_topics.cend(); ++it) {
        if (!it->presences.isEmpty())
            names.append(it.key());
    }
    names.sort();
    return names;
}

QList<RemotePresence> TopicRegistry::localPresences(const QString &topic) const
{
    QList<RemotePresence> list;
    const auto t = m_topics.constFind(topic);
    if (t == m_topics.cend())
        return list;
    for (const quint64 id : subscribers(topic))
        list.append(toRemote(*t->presences.constFind(id)));
    return list;
}

RemotePresence TopicRegistry::toRemote(const Presence &presence) const
{
    return {m_node + u':' + QString::number(presence.session), presence.member, metaOf(presence)};
}

void TopicRegistry::countError(QLatin1StringView code)
{
    if (m_errors)
        m_errors->labels({QByteArray(code.data(), code.size())}).add();
}

void TopicRegistry::setNodeName(const QString &node)
{
    const std::lock_guard lock(m_nodeMutex);
    m_node = node;
}

QString TopicRegistry::nodeName() const
{
    const std::lock_guard lock(m_nodeMutex);
    return m_node;
}

bool TopicRegistry::isSubscribed(quint64 id, const QString &topic) const
{
    return m_topicsOf.value(id).contains(topic);
}

QList<TopicRegistry::TopicInfo> TopicRegistry::topics() const
{
    QList<TopicInfo> list;
    for (auto it = m_topics.cbegin(); it != m_topics.cend(); ++it) {
        if (const auto info = topic(it.key()))
            list.append(*info);
    }
    std::sort(list.begin(), list.end(),
              [](const TopicInfo &a, const TopicInfo &b) { return a.topic < b.topic; });
    return list;
}

std::optional<TopicRegistry::TopicInfo> TopicRegistry::topic(const QString &name) const
{
    const auto it = m_topics.constFind(name);
    if (it == m_topics.cend())
        return std::nullopt;
    QSet<QString> members;
    for (const Presence &presence : it->presences)
        members.insert(presence.member);
    for (const RemotePresence &presence : it->remote)
        members.insert(presence.member);
    return TopicInfo{name, int(it->presences.size()), int(members.size()), it->offset,
                     int(it->history.size())};
}

QList<quint64> TopicRegistry::subscribers(const QString &topic) const
{
    const auto t = m_topics.constFind(topic);
    if (t == m_topics.cend())
        return {};
    QList<quint64> ids = t->presences.keys();
    std::sort(ids.begin(), ids.end());
    return ids;
}

QJsonObject TopicRegistry::presence(const QString &topic) const
{
    const auto t = m_topics.constFind(topic);
    if (t == m_topics.cend())
        return {};
    QHash<QString, QList<QJsonObject>> byMember;
    for (const quint64 id : subscribers(topic)) { // in session order, so the state is stable
        const Presence &p = *t->presences.constFind(id);
        byMember[p.member].append(metaOf(p));
    }
    QList<QString> keys = t->remote.keys(); // then the other instances', in a stable order
    std::sort(keys.begin(), keys.end());
    for (const QString &key : std::as_const(keys)) {
        const RemotePresence &p = *t->remote.constFind(key);
        byMember[p.member].append(p.meta);
    }
    QJsonObject state;
    for (auto it = byMember.cbegin(); it != byMember.cend(); ++it) {
        QJsonArray metas;
        for (const QJsonObject &meta : it.value())
            metas.append(meta);
        state.insert(it.key(), QJsonObject{{QStringLiteral("metas"), metas}});
    }
    return state;
}

} // namespace Switchboard
