#pragma once

#include "websocket/frame.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QJsonObject>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>

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

/*!
    The topics of the channels endpoint: who is subscribed to each, who is
    present (Phoenix.Presence's model: a member has one presence per
    connection), and the last messages with increasing offsets, for clients
    that come back with "since".

    A message is encoded once into a Frame and that same Frame is handed to
    every subscriber. Lives on the hub's thread and is used from there only
    (asserted); the handlers of the channels endpoint call it.
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
    void setNodeName(const QString &node) { m_node = node; }
    QString nodeName() const { return m_node; }
    /*! Changes with every start: offsets from another epoch cannot be recovered. */
    QString epoch() const { return m_epoch; }

    struct Joined
    {
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
    struct Topic
    {
        QHash<quint64, Presence> presences; // by session
        std::deque<Message> history;
        qint64 offset = 0;
    };

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
    QString m_node = QStringLiteral("local");
    QString m_epoch;
    QHash<QString, Topic> m_topics;
    QHash<quint64, QSet<QString>> m_topicsOf; // session -> topics
    QElapsedTimer m_clock;
    QTimer m_sweep;
    qint64 m_startMs = 0;
};

} // namespace Switchboard
