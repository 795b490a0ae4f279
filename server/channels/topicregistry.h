#pragma once

#include "websocket/frame.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QJsonObject>
#include <QtCore/QJsonValue>
#include <QtCore/QList>
#include <QtCore/QStringList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <tuple>

namespace Switchboard {

class Counter;
class Hub;
template<typename T> class Family;

/*! Channel limits and history, from the command line. */
struct ChannelSettings
{
    int historySize = 100; //!< messages kept per topic for recovery; 0 = none
    std::chrono::milliseconds historyAge{300'000}; //!< older ones are dropped; 0 = no limit
    int maxTopicsPerConnection = 100;
    double publishRate = 50; //!< publishes per second per connection (a burst of as many)
};

/*! A presence of another instance, as the cluster reported it. */
struct RemotePresence
{
    QString key; //!< "node:session", unique in the cluster
    QString member;
    QJsonObject meta; //!< as the state lists it: session, node, online_at, meta

    QString node() const { return meta.value(QStringLiteral("node")).toString(); }
    friend bool operator==(const RemotePresence &, const RemotePresence &) = default;
};

/*! A message kept in a topic's history, as the cluster returns it. */
struct HistoryEntry
{
    qint64 offset = 0;
    qint64 timestampMs = 0;
    QJsonValue data;
};

/*!
    Where a clustered registry keeps what all instances share: each topic's
    offsets, history and presence (ClusterChannels, on Redis). Every call is
    answered later, or at once with nullopt when the cluster is unreachable.
*/
class TopicRemote
{
public:
    virtual ~TopicRemote() = default;

    struct JoinState
    {
        QString epoch;
        qint64 offset = 0; //!< the topic's latest
        qint64 presenceVersion = 0; //!< of the presence below
        QList<RemotePresence> presences; //!< every live instance's, this one's included
        QList<HistoryEntry> history; //!< all that is kept, oldest first, when asked for
    };
    /*!
        Adds \a presence (this instance's) to \a topic, subscribing to the
        topic first if needed, and answers with the topic's state.
    */
    virtual void join(const QString &topic, const RemotePresence &presence, bool withHistory,
                      std::function<void(std::optional<JoinState>)> done)
            = 0;
    /*! Removes \a presence; \a last: no local subscriber is left, so unsubscribe. */
    virtual void leave(const QString &topic, const RemotePresence &presence, bool last) = 0;
    /*! Publishes \a data; answers with its offset. */
    virtual void publish(const QString &topic, const QJsonValue &data,
                         std::function<void(std::optional<qint64> offset)> done)
            = 0;
};

/*!
    The topics of the channels endpoint: who is subscribed to each, who is
    present (Phoenix.Presence's model: a member has one presence per
    connection), and the last messages with increasing offsets, for clients
    that come back with "since".

    A message is encoded once into a Frame and that same Frame is handed to
    every subscriber. Lives on the hub's thread and is used from there only
    (asserted); the handlers of the channels endpoint call it.

    Alone, it decides everything itself and answers at once. With a
    TopicRemote (setRemote(), in a cluster) offsets, history and presence
    are the cluster's: joins and publishes are answered once the remote
    has, every message is delivered when it comes back from the remote
    (the publisher's own instance included, so each subscriber gets it
    once), and a subscriber whose join is on its way gets the messages
    that arrive meanwhile after its reply, without repeats.
*/
class TopicRegistry final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TopicRegistry)

public:
    /*! Hands \a frame to the sessions \a ids; by default through Hub::send(). */
    using Deliver = std::function<void(const QList<quint64> &ids, const Frame &frame)>;

    explicit TopicRegistry(Hub *hub, ChannelSettings settings = {}, QObject *parent = nullptr);
    /*! For tests: deliveries go to \a deliver instead of a hub. */
    explicit TopicRegistry(Deliver deliver, ChannelSettings settings = {},
                           QObject *parent = nullptr);
    ~TopicRegistry() override;

    const ChannelSettings &settings() const { return m_settings; }
    /*! This instance's name in presence entries ("local" until a cluster names it). */
    void setNodeName(const QString &node);
    /*! Any thread: a session's greeting names it (set on the registry's thread). */
    QString nodeName() const;
    /*! Changes with every start: offsets from another epoch cannot be recovered. */
    QString epoch() const { return m_epoch; }

    struct Joined
    {
        enum class Status {
            Joined,
            Unavailable, //!< the cluster could not be reached: nothing was joined
            Left, //!< the session left before the cluster answered
        };
        Status status = Status::Joined;
        QString epoch; //!< of the topic's offsets
        qint64 offset = 0; //!< the topic's latest offset
        QJsonObject presence; //!< the state, {member: {"metas": [...]}}
        std::optional<bool> recovered; //!< set when the join asked for "since"
        QList<Frame> missed; //!< the messages after "since", in order, when recovered
    };
    /*!
        Subscribes session \a id to \a topic as \a member (empty: the session
        itself) with \a meta; the other subscribers get a presence diff. With
        \a since, collects what came after that offset, if the history still
        holds all of it and \a epoch is this registry's.
    */
    Joined join(quint64 id, const QString &topic, const QString &member, const QJsonObject &meta,
                std::optional<qint64> since = std::nullopt, const QString &epoch = {});
    using JoinDone = std::function<void(const Joined &joined)>;
    /*!
        join() for either kind of registry: \a done gets the answer, at once
        when alone, once the cluster has answered otherwise. The session
        receives nothing of the topic before \a done has run.
    */
    void join(quint64 id, const QString &topic, const QString &member, const QJsonObject &meta,
              std::optional<qint64> since, const QString &epoch, JoinDone done);
    /*! Unsubscribes; the others get a presence diff. False if it was not subscribed. */
    bool leave(quint64 id, const QString &topic);
    /*! Unsubscribes \a id from everything (its connection ended). */
    void leaveAll(quint64 id);
    /*!
        Publishes \a data to \a topic: gives it the next offset, keeps it in the
        history and delivers it, encoded once, to every subscriber. Returns
        the offset.
    */
    qint64 publish(const QString &topic, const QJsonValue &data);
    /*! publish() for either kind: \a done gets the offset, or nullopt if the cluster is unreachable. */
    void publish(const QString &topic, const QJsonValue &data,
                 std::function<void(std::optional<qint64> offset)> done);

    /*! Makes this registry one of a cluster's (see the class); \a remote outlives it. */
    void setRemote(TopicRemote *remote) { m_remote = remote; }
    bool isClustered() const { return m_remote != nullptr; }

    // What the remote reports.
    /*! A message of \a topic came back from the cluster: deliver it to the subscribers here. */
    void deliverRemote(const QString &topic, qint64 offset, qint64 timestampMs,
                       const QJsonValue &data);
    /*! Another instance's presence joined (or left) \a topic, as change \a version. */
    void applyRemotePresence(const QString &topic, qint64 version, const RemotePresence &presence,
                             bool joined);
    /*! The cluster's presence of \a topic as of \a version (e.g. after an instance came back). */
    void applyPresenceSnapshot(const QString &topic, qint64 version,
                               const QList<RemotePresence> &presences);
    /*! Instance \a node stopped heart-beating: its presences leave. */
    void dropNode(const QString &node);
    /*!
        The cluster went away: what it says next may start over (Redis may
        have lost everything), so each topic takes the next snapshot as it is.
    */
    void remoteLost();
    /*! The topics with a subscriber here, and their presences here, for a resync. */
    QStringList localTopics() const;
    QList<RemotePresence> localPresences(const QString &topic) const;
    /*!
        Drops the topics nobody is subscribed to whose history has aged out
        (or that keep none). Runs by itself every historyAge (or minute); a
        topic left behind would otherwise stay until something touched it.
        Returns how many were dropped.
    */
    int sweep();

    /*! Counts an error answered to a client (by its protocol code), for /metrics. */
    void countError(QLatin1StringView code);

    bool isSubscribed(quint64 id, const QString &topic) const;
    int topicCountOf(quint64 id) const { return int(m_topicsOf.value(id).size()); }

    struct TopicInfo
    {
        QString topic;
        int subscribers = 0;
        int members = 0;
        qint64 offset = 0;
        int history = 0;
    };
    QList<TopicInfo> topics() const;
    std::optional<TopicInfo> topic(const QString &name) const;
    QList<quint64> subscribers(const QString &topic) const;
    QJsonObject presence(const QString &topic) const;

Q_SIGNALS:
    /*! A topic gained or lost a subscriber, or was published to. For the console. */
    void topicChanged(const QString &topic);
    /*!
        \a frame (the "message" every subscriber got, after the hub reported
        each delivery with frameSent) went to \a delivered subscribers.
    */
    void published(const QString &topic, qint64 offset, const Switchboard::Frame &frame,
                   int delivered);

private:
    struct Presence
    {
        quint64 session = 0;
        QString member;
        QJsonObject meta;
        qint64 onlineAt = 0;
    };
    struct Message
    {
        qint64 offset = 0;
        qint64 timestampMs = 0;
        Frame frame;
    };
    struct PendingJoin
    {
        quint64 seq = 0; // tells this join from a later one of the same session
        std::optional<qint64> since;
        QString epoch;
        JoinDone done;
        QList<std::pair<qint64, Frame>> arrived; // messages that came meanwhile
    };
    struct Topic
    {
        QHash<quint64, Presence> presences; // by session
        std::deque<Message> history;
        qint64 offset = 0;
        // Clustered only:
        QHash<QString, RemotePresence> remote; // other instances', by key
        QHash<quint64, PendingJoin> pending; // joins the cluster has not answered yet
        QHash<quint64, qint64> deliveredUpTo; // joined sessions with messages already sent
        qint64 presenceVersion = 0;
        bool presenceSynced = false; // a snapshot has been applied
        QList<std::tuple<qint64, RemotePresence, bool>> earlyDiffs; // before that
    };

    Presence addPresence(Topic &topic, const QString &name, quint64 id, const QString &member,
                         const QJsonObject &meta);
    void completeJoin(const QString &topic, quint64 id, quint64 seq,
                      std::optional<TopicRemote::JoinState> state);
    /*!
        Gives message \a offset of \a topic to its subscribers here, encoded once
        (those whose join the cluster has not answered get it after their reply;
        those whose reply covered it, not again), and keeps it in the history.
    */
    void deliver(Topic &t, const QString &topic, qint64 offset, qint64 timestampMs,
                 const QJsonValue &data);
    /*! Messages older than this (ms since 1970) are out of the history. */
    qint64 oldestKeptMs() const;
    void changeRemote(const QString &topic, Topic &t, const QList<RemotePresence> &joins,
                      const QList<RemotePresence> &leaves);
    QList<quint64> readySubscribers(const Topic &topic) const;
    RemotePresence toRemote(const Presence &presence) const;
    QJsonObject metaOf(const Presence &presence) const;
    QJsonObject presenceEntry(const QString &member, const QList<QJsonObject> &metas) const;
    void prune(Topic &topic) const;
    void assertThread() const;

    ChannelSettings m_settings;
    Deliver m_deliver;
    // The hub's /metrics counters; null for a registry made for tests.
    Counter *m_publishes = nullptr;
    Counter *m_deliveries = nullptr;
    Family<Counter> *m_errors = nullptr;
    int m_subscriptions = 0;
    QString m_node = QStringLiteral("local"); // written on this thread only, under m_nodeMutex
    mutable std::mutex m_nodeMutex;
    QString m_epoch;
    QHash<QString, Topic> m_topics;
    QHash<quint64, QSet<QString>> m_topicsOf; // session -> topics
    TopicRemote *m_remote = nullptr;
    quint64 m_joinSeq = 0;
    QElapsedTimer m_clock;
    QTimer m_sweep;
    qint64 m_startMs = 0;
};

} // namespace Switchboard
