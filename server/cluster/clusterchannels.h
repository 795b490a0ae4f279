#pragma once

#include "channels/topicregistry.h"
#include "cluster/redislink.h"

#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <functional>
#include <optional>

namespace Switchboard {

class Cluster;

/*!
    The channels endpoint across a cluster: the TopicRemote of every
    instance's TopicRegistry, on the cluster's Redis.

    Each topic T has, under the cluster's key prefix P:
    \code
    P topic:T      pub/sub channel, subscribed by the instances with a subscriber to T
    P topic:T#s    hash: epoch, offset (the last message's), pv (presence version)
    P topic:T#h    list: the last --channel-history messages, "OFFSET ENVELOPE"
    P topic:T#p    hash: "node:session" -> "BOOT {member, meta}", every instance's presences
    P node:N       this boot of instance N while it heart-beats (Cluster sets it)
    P node:N#topics  set: the topics N has had presences in, to clear them when N restarts
    \endcode

    A publish is one Lua script: it takes the next offset, appends the
    message to the history and publishes "mOFFSET ENVELOPE" on the topic's
    channel, all at once, so every instance sees one order of offsets and
    the history has no holes. Every instance, the publisher's included,
    delivers from its subscription: each subscriber gets a message once.
    Joins and leaves change the presence hash and publish "pVERSION
    ENVELOPE" in one script too; a join's script answers with the topic's
    state (and history when asked), read after the instance's subscription
    to the topic was confirmed, so nothing falls between the two.

    Everything is sealed in the cluster's envelope (HMAC-SHA256 under the
    cluster secret); the offsets and versions Redis assigns are outside the
    MAC: whoever can write to Redis can reorder or withhold what is there,
    but not forge or alter a message or a presence.

    An instance that stops heart-beating has its presences removed by every
    other (Cluster::nodeLeft); the presence snapshots leave out the entries
    of instances whose node key has expired, and delete them.
*/
class ClusterChannels final : public QObject, public TopicRemote
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ClusterChannels)

public:
    /*! Makes \a registry one of \a cluster's; both must outlive this. */
    ClusterChannels(Cluster *cluster, TopicRegistry *registry, QObject *parent = nullptr);
    ~ClusterChannels() override;

    void join(const QString &topic, const RemotePresence &presence, bool withHistory,
              std::function<void(std::optional<JoinState>)> done) override;
    void leave(const QString &topic, const RemotePresence &presence, bool last) override;
    void publish(const QString &topic, const QJsonValue &data,
                 std::function<void(std::optional<qint64> offset)> done) override;

private:
    using Done = std::function<void(std::optional<RedisReply>)>;

    QByteArray channelOf(const QString &topic) const;
    QByteArray keyOf(const QString &topic, char part) const;
    QByteArray nodeTopicsKey() const;
    /*! Sends \a arguments; \a done gets the reply, or nullopt if Redis failed or went away. */
    void call(const QList<QByteArray> &arguments, Done done);
    /*!
        The join script: \a presences (this instance's) are stored, and
        announced where they changed; answers with the topic's state.
    */
    void sync(const QString &topic, const QList<RemotePresence> &presences, bool withHistory,
              std::function<void(std::optional<JoinState>)> done);
    /*! sync() without a join: stores \a presences and applies the topic's presence state. */
    void syncPresence(const QString &topic, const QList<RemotePresence> &presences);
    std::optional<JoinState> parseState(const QString &topic, const RedisReply &reply);
    QByteArray presenceValue(const RemotePresence &presence) const;
    QByteArray sealPresence(const QString &topic, const RemotePresence &presence, bool joined);
    void sendLeave(const QString &topic, const RemotePresence &presence);
    void resnapshot();
    void onConnectedChanged(bool connected);
    void onSubscribed(const QByteArray &channel);
    void onChannelMessage(const QByteArray &channel, const QByteArray &message);
    qint64 keyLifetimeMs() const;
    void warnOnce(const QString &why);

    Cluster *m_cluster;
    QPointer<TopicRegistry> m_registry;
    QHash<quint64, Done> m_inFlight;
    quint64 m_nextCall = 0;
    // Joins waiting for Redis to confirm the subscription to their topic's channel.
    struct WaitingJoin
    {
        QString topic;
        RemotePresence presence;
        bool withHistory = false;
        std::function<void(std::optional<JoinState>)> done;
    };
    QHash<QByteArray, QList<WaitingJoin>> m_waiting;
    // Topics to sync again once their subscription is back (after Redis was away).
    QSet<QByteArray> m_resync;
    // Leaves Redis could not be told of; told when it is back.
    QList<std::pair<QString, RemotePresence>> m_unsentLeaves;
    bool m_everConnected = false;
    bool m_warned = false;
    QTimer m_keepAlive;
};

} // namespace Switchboard
