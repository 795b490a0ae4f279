#include "channels/topicregistry.h"

#include "channels/protocol.h"
#include "metrics/metrics.h"
#include "websocket/hub.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QRandomGenerator>
#include <QtCore/QThread>

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

void TopicRegistry::prune(Topic &topic) const
{
    while (topic.history.size() > size_t(std::max(0, m_settings.historySize)))
        topic.history.pop_front();
    if (m_settings.historyAge.count() > 0) {
        const qint64 oldest = QDateTime::currentMSecsSinceEpoch() - m_settings.historyAge.count();
        while (!topic.history.empty() && topic.history.front().timestampMs < oldest)
            topic.history.pop_front();
    }
}

TopicRegistry::Joined TopicRegistry::join(quint64 id, const QString &topic, const QString &member,
                                          const QJsonObject &meta, std::optional<qint64> since,
                                          const QString &epoch)
{
    assertThread();
    Topic &t = m_topics[topic];
    const Presence mine{id, member.isEmpty() ? m_node + u':' + QString::number(id) : member, meta,
                        QDateTime::currentMSecsSinceEpoch()};
    const bool rejoin = t.presences.contains(id);
    if (!rejoin)
        ++m_subscriptions;
    // The others learn of the new presence (a rejoin replaces the old one).
    QList<quint64> others;
    for (auto it = t.presences.cbegin(); it != t.presences.cend(); ++it) {
        if (it.key() != id)
            others.append(it.key());
    }
    QJsonObject leaves;
    if (rejoin) {
        const Presence &old = t.presences.value(id);
        leaves = presenceEntry(old.member, {metaOf(old)});
    }
    t.presences.insert(id, mine);
    m_topicsOf[id].insert(topic);
    if (!others.isEmpty())
        m_deliver(others,
                  Frame::text(Channels::encodePresenceDiff(
                          topic, presenceEntry(mine.member, {metaOf(mine)}), leaves)));

    Joined joined;
    joined.offset = t.offset;
    joined.presence = presence(topic);
    if (since) {
        prune(t);
        // Everything after *since is still here when the oldest kept message is
        // at most *since + 1 (or nothing was published since), in this epoch.
        const qint64 firstKept = t.history.empty() ? t.offset + 1 : t.history.front().offset;
        const bool sameEpoch = epoch == m_epoch || (epoch.isEmpty() && *since == 0);
        joined.recovered = sameEpoch && *since <= t.offset && firstKept <= *since + 1;
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

bool TopicRegistry::leave(quint64 id, const QString &topic)
{
    assertThread();
    const auto it = m_topics.find(topic);
    if (it == m_topics.end() || !it->presences.contains(id))
        return false;
    const Presence old = it->presences.take(id);
    --m_subscriptions;
    auto topics = m_topicsOf.find(id);
    if (topics != m_topicsOf.end()) {
        topics->remove(topic);
        if (topics->isEmpty())
            m_topicsOf.erase(topics);
    }
    if (!it->presences.isEmpty()) {
        m_deliver(it->presences.keys(),
                  Frame::text(Channels::encodePresenceDiff(
                          topic, {}, presenceEntry(old.member, {metaOf(old)}))));
    } else if (it->history.empty()) {
        m_topics.erase(it); // nothing left to keep: no subscriber, no history
    }
    Q_EMIT topicChanged(topic);
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
    const qint64 offset = ++t.offset;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const Frame frame = Frame::text(Channels::encodeMessage(topic, offset, now, data));
    if (m_settings.historySize > 0) {
        t.history.push_back({offset, now, frame});
        prune(t);
    }
    const int delivered = int(t.presences.size());
    if (delivered > 0)
        m_deliver(t.presences.keys(), frame);
    if (m_publishes) {
        m_publishes->add();
        m_deliveries->add(quint64(delivered));
    }
    Q_EMIT published(topic, offset, frame, delivered);
    Q_EMIT topicChanged(topic);
    return offset;
}

void TopicRegistry::countError(QLatin1StringView code)
{
    if (m_errors)
        m_errors->labels({QByteArray(code.data(), code.size())}).add();
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
