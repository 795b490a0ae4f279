#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QString>
#include <QtCore/QTimer>

#include <chrono>
#include <functional>
#include <optional>

struct redisAsyncContext;
struct ssl_st;

namespace Switchboard {

/*! Where the cluster's Redis is and how to log in to it. */
struct RedisEndpoint
{
    QString host; //!< empty = no Redis (cluster mode off)
    quint16 port = 6379;
    int db = 0; //!< pub/sub ignores databases, so it selects the cluster's channel instead
    QString username; //!< ACL user; empty = the default user
    QByteArray password; //!< empty = no AUTH; never logged
    bool tls = false; //!< rediss://
    QString caFile; //!< PEM CA bundle for rediss://; empty = the system's

    /*!
        Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or the same with
        rediss:// (percent-encoded user and password; port 6379 and database 0
        when left out). nullopt, with \a error saying what is wrong, otherwise.
    */
    static std::optional<RedisEndpoint> fromUrl(const QString &text, QString *error = nullptr);
    /*! The URL without the password, for logs and the console. */
    QString displayUrl() const;
};

/*! One reply from Redis, as hiredis parsed it. */
struct RedisReply
{
    enum class Type { Nil, Error, Status, String, Integer, Array };
    Type type = Type::Nil;
    QByteArray text; //!< the string, status or error text
    qint64 integer = 0;
    QList<RedisReply> elements;

    bool isError() const { return type == Type::Error; }
    /*! An error reply saying \a why, for a command Redis never answered. */
    static RedisReply error(QByteArray why) { return {Type::Error, std::move(why), 0, {}}; }
};

/*!
    Two hiredis async connections to Redis on Qt's event loop, one subscribed
    to the cluster's channel (and to whatever other channels are asked for)
    and one for commands; nothing blocks.

    Logs in with AUTH (the ACL user when one is given) before anything else,
    and speaks TLS for rediss:// with the server's certificate verified
    against the CA bundle and the host name. When Redis goes away, or refuses
    the credentials, isConnected() turns false, lastError() says why, and
    reconnects back off from 0.5 s to 8 s.

    Without hiredis (SWITCHBOARD_WITH_CLUSTER=OFF) isBuiltIn() is false and
    start() only records that in lastError().
*/
class RedisLink final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(RedisLink)

public:
    RedisLink(RedisEndpoint endpoint, QByteArray channel, QObject *parent = nullptr);
    ~RedisLink() override;

    /*! Whether this build has a Redis client at all. */
    static bool isBuiltIn();
    /*! Whether this build can speak rediss:// (hiredis with hiredis_ssl, 1.0 or newer). */
    static bool supportsTls();
    /*! The hiredis version this build uses, e.g. "1.2.0"; empty without one. */
    static QString clientVersion();

    /*! Connects, and keeps reconnecting until destroyed. */
    void start();
    /*! True while both connections are up, logged in and subscribed. */
    bool isConnected() const { return m_connected; }
    /*! Why the link is down (or was last), for the log and the console; empty if never. */
    const QString &lastError() const { return m_lastError; }
    const RedisEndpoint &endpoint() const { return m_endpoint; }

    /*! PUBLISHes \a message on the channel now; false if not connected. */
    bool publish(const QByteArray &message);

    using ReplyHandler = std::function<void(const RedisReply &reply)>;
    /*!
        Sends the command \a arguments (e.g. {"EVAL", script, "1", key}) on
        the command connection; \a handler, if any, gets the reply. Replies
        come in the order sent. If the link goes down first the handler is
        dropped uncalled, after connectedChanged(false); false, with no call
        either, if not connected now.
    */
    bool command(const QList<QByteArray> &arguments, ReplyHandler handler = {});

    /*!
        Subscribes to \a channel as well, now and after every reconnect, until
        unsubscribe(); subscribed() says when Redis has confirmed it.
        Messages on it come through messageReceived() like the main channel's.
    */
    void subscribe(const QByteArray &channel);
    void unsubscribe(const QByteArray &channel);
    /*! Whether Redis has confirmed the subscription to \a channel. */
    bool isSubscribed(const QByteArray &channel) const;

Q_SIGNALS:
    void connectedChanged(bool connected);
    /*! A message arrived on the main channel (this node's own included). */
    void messageReceived(const QByteArray &message);
    /*! A message arrived on \a channel, one subscribe() asked for. */
    void channelMessageReceived(const QByteArray &channel, const QByteArray &message);
    /*! Redis confirmed the subscription to \a channel (again, after a reconnect). */
    void subscribed(const QByteArray &channel);

private:
    void connectToRedis();
    void connectTo(const QString &address);
    void teardown();
    void scheduleReconnect();
    void setConnected(bool connected);
    void fail(const QString &why);
    void updateConnected();

    // hiredis callbacks; they find the link through redisAsyncContext::data.
    static void onConnect(const redisAsyncContext *context, int status);
    static void onDisconnect(const redisAsyncContext *context, int status);
    static void onAuthReply(redisAsyncContext *context, void *reply, void *privateData);
    static void onSubscribeReply(redisAsyncContext *context, void *reply, void *privateData);
    static void onCommandReply(redisAsyncContext *context, void *reply, void *privateData);
    void contextLost(const redisAsyncContext *context, const QString &why);
    void sendSubscribe(const QByteArray &channel, bool subscribe);

    // The subscriptions asked for beyond the main channel, and where each stands
    // with Redis: one SUBSCRIBE or UNSUBSCRIBE in flight per channel at most.
    enum class ChannelState { Off, Subscribing, On, Unsubscribing };
    QSet<QByteArray> m_wanted;
    QHash<QByteArray, ChannelState> m_channels;

    RedisEndpoint m_endpoint;
    QByteArray m_channel;
    redisAsyncContext *m_sub = nullptr;
    redisAsyncContext *m_pub = nullptr;
    ssl_st *m_subTls = nullptr; //!< owned by m_sub (rediss:// only), for its verify result
    ssl_st *m_pubTls = nullptr;
    bool m_subscribed = false;
    bool m_pubReady = false; //!< connected, and logged in if there are credentials
    bool m_connected = false;
    bool m_warned = false; //!< this outage has been warned about
    bool m_attemptFailed = false; //!< this connection attempt has failed already
    QString m_lastError;
    std::chrono::milliseconds m_backoff{500};
    QTimer m_reconnect;
};

} // namespace Switchboard
