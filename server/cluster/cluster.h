#pragma once

#include "websocket/frame.h"
#include "websocket/hub.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTimer>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>

struct redisAsyncContext;

namespace Switchboard {

/*! Where the cluster's Redis is and what this instance calls itself there. */
struct ClusterSettings
{
    QString redisHost; //!< empty = cluster mode off
    quint16 redisPort = 6379;
    int redisDb = 0; //!< pub/sub ignores databases, so it selects the channel instead
    QString nodeName; //!< empty = "hostname:port", filled in by main() after listen()
    std::chrono::milliseconds heartbeatInterval{1'000};

    bool enabled() const { return !redisHost.isEmpty(); }
    /*! The pub/sub channel every instance of this cluster uses. */
    QByteArray channel() const { return "switchboard:cluster:" + QByteArray::number(redisDb); }
};

/*!
    Joins several Switchboard instances through Redis pub/sub.

    Broadcasts started on this instance's hub are published; messages from
    other instances are delivered to local sessions. Each instance publishes
    its session list every heartbeatInterval; an instance silent for three
    beats drops out of remoteSessions(). Session ids are cluster-unique as
    "node:id".

    Every message is one JSON envelope (version 1):
    \code
    {"v":1, "type":"broadcast|send|close|heartbeat", "origin":"<node>",
     "target":"<path for broadcast, node:id for send/close, empty for heartbeat>",
     "payload":{"text":"..."} | {"binary_base64":"..."}      // broadcast, send
              | {"code":4000, "reason":"..."}                 // close
              | {"sessions":[...]}}                           // heartbeat
    \endcode

    Two hiredis async connections (SUBSCRIBE needs one of its own) run on
    Qt's event loop; nothing blocks. When Redis goes away, local traffic goes
    on, isConnected() turns false, and reconnects back off from 0.5 s to 8 s.
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
    /*! True while both Redis connections are up and subscribed. */
    bool isConnected() const { return m_connected; }
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

private:
    struct Node
    {
        qint64 lastSeenMs = 0;
        QJsonArray sessions;
    };

    void connectToRedis();
    void connectTo(const QString &address);
    void teardown();
    void scheduleReconnect();
    void setConnected(bool connected);
    bool publish(const QString &type, const QString &target, const QJsonObject &payload);
    void publishHeartbeat();
    void pruneNodes();
    void notifyRemoteSessionsChanged();
    void onMessage(const QByteArray &data);

    // hiredis callbacks; they find the Cluster through redisAsyncContext::data.
    static void onConnect(const redisAsyncContext *context, int status);
    static void onDisconnect(const redisAsyncContext *context, int status);
    static void onSubscribeReply(redisAsyncContext *context, void *reply, void *privateData);
    void contextLost(const redisAsyncContext *context, const char *why);

    Hub *m_hub;
    ClusterSettings m_settings;
    redisAsyncContext *m_sub = nullptr;
    redisAsyncContext *m_pub = nullptr;
    bool m_subscribed = false;
    bool m_pubConnected = false;
    bool m_connected = false;
    bool m_started = false;
    bool m_warnedUnreachable = false;
    bool m_remoteChangePending = false;
    std::chrono::milliseconds m_backoff{500};
    QTimer m_reconnect;
    QTimer m_heartbeat;
    QElapsedTimer m_clock;
    QHash<QString, Node> m_nodes;
};

} // namespace Switchboard
