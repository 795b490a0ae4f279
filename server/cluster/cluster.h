#pragma once

#include "cluster/envelope.h"
#include "cluster/redislink.h"
#include "websocket/frame.h"
#include "websocket/hub.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTimer>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace Switchboard {

class Counter;
class Gauge;

/*! Where the cluster's Redis is, what this instance calls itself there, and the secret. */
struct ClusterSettings
{
    RedisEndpoint redis; //!< no host = cluster mode off
    QString nodeName; //!< empty = "hostname:port", filled in by main() after listen()
    std::chrono::milliseconds heartbeatInterval{1'000};
    /*!
        Keys every envelope's HMAC; never logged. Empty means an insecure
        cluster, which the command line allows only with --cluster-insecure.
    */
    QByteArray secret;
    /*! How far another node's clock may be from ours before its envelopes are refused. */
    std::chrono::milliseconds maxClockSkew{60'000};

    bool enabled() const { return !redis.host.isEmpty(); }
    /*! The pub/sub channel every instance of this cluster uses. */
    QByteArray channel() const { return "switchboard:cluster:" + QByteArray::number(redis.db); }
};

/*!
    Joins several Switchboard instances through Redis pub/sub.

    Broadcasts started on this instance's hub are published; messages from
    other instances are delivered to local sessions. Each instance publishes
    a heartbeat every heartbeatInterval; an instance silent for three beats
    drops out of remoteSessions(). Session ids are cluster-unique as
    "node:id".

    A heartbeat carries what changed in the session list since the last one
    (sessions opened and closed) and a tenth of the list in turn (their
    current figures), so each session is refreshed every ten beats and the
    cost of a beat does not grow with the whole list; the whole list goes
    out when another instance appears, or this one reconnects. A receiver
    forgets a session no beat has listed for twelve beats.

    Every message is one envelope (EnvelopeCodec, protocol 2), authenticated
    with HMAC-SHA256 under the cluster secret:
    \code
    type       target                   payload
    broadcast  path, or "" for all      {"text":"..."} | {"binary_base64":"..."}
    send       "node:id"                {"text":"..."} | {"binary_base64":"..."}
    close      "node:id"                {"code":4000, "reason":"..."}
    heartbeat  ""                       {"opened":[...],"closed":["node:id"],"refresh":[...]}
                                        or the whole list, {"sessions":[...]}
    \endcode

    What cannot be trusted is dropped and counted (dropped()), with at most
    one warning per kind every ten seconds: forged, replayed, stale,
    unauthenticated, oversized and malformed envelopes, and envelopes whose
    values are out of range (a close code a server may not send, an id of
    another node, a frame over the hub's message size).

    The transport is a RedisLink; when Redis goes away, local traffic goes on
    and isConnected() turns false.

    It counts in the hub's Metrics: envelopes published and received, the
    drops (the same counters dropped() reads), and, refreshed at each scrape,
    whether Redis is connected and how many other instances are live.
*/
class Cluster final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Cluster)

public:
    /*! A remote session as its instance last reported it. */
    struct RemoteSession
    {
        QString node;
        QJsonObject info; //!< as in GET /api/connections, "id" being "node:id"
    };

    Cluster(Hub *hub, ClusterSettings settings, QObject *parent = nullptr);
    ~Cluster() override;

    /*!
        Connects to Redis and starts heart-beating, as \a defaultNodeName
        unless the settings name the node (main() passes host name:port once
        the port is known).
    */
    void start(const QString &defaultNodeName);

    const QString &nodeName() const { return m_settings.nodeName; }
    const ClusterSettings &settings() const { return m_settings; }
    /*! True while both Redis connections are up, logged in and subscribed. */
    bool isConnected() const;
    /*! Why Redis is unreachable (or was last); empty if it never was. */
    QString lastError() const;
    /*! Whether envelopes are authenticated (a secret is set). */
    bool isAuthenticated() const { return !m_settings.secret.isEmpty(); }
    /*! Envelopes dropped since the start, by kind: {"forged": n, ...}. */
    QJsonObject dropped() const;

    /*!
        Whether \a name can name a node: 1 to 100 ASCII letters, digits and
        `.`, `_`, `-`, `:` (a host name and port fit).
    */
    static bool isValidNodeName(const QString &name);
    /*! The cluster-unique id of local session \a id. */
    QString globalId(quint64 id) const;
    /*! Splits "node:id" into its parts; nullopt if malformed. */
    static std::optional<std::pair<QString, quint64>> splitGlobalId(const QString &globalId);

    /*! Sessions of every other live instance. */
    QList<RemoteSession> remoteSessions();
    /*! True if live instance \a node last reported session \a id. */
    bool hasRemoteSession(const QString &node, quint64 id);
    /*! Names of the other live instances, sorted. */
    QStringList remoteNodes();

    /*! Publishes \a frame for session \a id on \a node; false if not connected. */
    bool sendRemote(const QString &node, quint64 id, const Frame &frame);
    /*! Publishes a close for session \a id on \a node; false if not connected. */
    bool closeRemote(const QString &node, quint64 id, quint16 code, const QString &reason);

    // For what else shares the cluster's Redis (ClusterChannels).
    RedisLink *link() const { return m_link; }
    /*! Where this cluster's Redis keys and further channels begin: "switchboard:cluster:DB:". */
    QByteArray keyPrefix() const { return m_settings.channel() + ':'; }
    /*! This start's random id; empty before start(). */
    QByteArray bootId() const;
    /*! A new envelope from this node, sealed; empty before start(). */
    QByteArray seal(const QString &type, const QString &target, const QJsonObject &payload);
    /*!
        The envelope in \a wire if it can be trusted, as messages on the
        cluster's channel are; what cannot is counted in dropped(). With
        \a live false the MAC and shape are checked but not its age or
        whether it was seen before (for what Redis keeps, such as history).
    */
    std::optional<Envelope> open(QByteArrayView wire, bool live = true);

Q_SIGNALS:
    /*! start() ran: nodeName() is final. */
    void started();
    void connectedChanged(bool connected);
    /*!
        A heartbeat changed an instance's session list, an instance joined or
        one dropped out. Queued: emitted from the event loop, once for all
        the changes made since the last emission, so a slot may call
        remoteSessions() (which prunes) safely.
    */
    void remoteSessionsChanged();
    /*! Instance \a node was heard from for the first time, or since it dropped out. */
    void nodeJoined(const QString &node);
    /*! Instance \a node stopped heart-beating, or started again (a new boot). */
    void nodeLeft(const QString &node);

private:
    struct RemoteEntry
    {
        QJsonObject info;
        quint64 seenAtBeat = 0; //!< the node's beat that last listed it
    };
    struct Node
    {
        qint64 lastSeenMs = 0;
        quint64 boot = 0;
        quint64 beats = 0; //!< heartbeats taken from this boot
        QHash<quint64, RemoteEntry> sessions; //!< by local id
    };
    using Drop = EnvelopeCodec::Drop;

    bool publish(const QString &type, const QString &target, const QJsonObject &payload);
    void publishHeartbeat();
    QJsonObject heartbeatEntry(const SessionInfo &info) const;
    bool takeHeartbeat(const Envelope &envelope);
    void pruneNodes();
    void notifyRemoteSessionsChanged();
    void onMessage(const QByteArray &data);
    bool deliver(const Envelope &envelope);
    void countDrop(Drop drop);
    void logDrops(bool force);

    Hub *m_hub;
    ClusterSettings m_settings;
    RedisLink *m_link;
    std::unique_ptr<EnvelopeCodec> m_codec; //!< made by start(), once the node has its name
    bool m_started = false;
    bool m_remoteChangePending = false;
    QTimer m_heartbeat;
    QElapsedTimer m_clock;
    QHash<QString, Node> m_nodes;
    // What the next heartbeat tells (see publishHeartbeat()).
    bool m_sendFullList = true;
    QSet<quint64> m_openedSince;
    QSet<quint64> m_closedSince;
    quint64 m_refreshAfter = 0; //!< the id the rolling refresh goes on after
    std::array<Counter *, EnvelopeCodec::DropKinds> m_dropped{}; // in the hub's Metrics
    Counter *m_published;
    Counter *m_received;
    Gauge *m_connectedGauge;
    Gauge *m_peersGauge;
    std::array<quint64, EnvelopeCodec::DropKinds> m_unloggedDrops{};
    std::array<qint64, EnvelopeCodec::DropKinds> m_dropLoggedMs{};
};

} // namespace Switchboard
