#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QTimer>

#include <chrono>
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

/*!
    Two hiredis async connections to Redis on Qt's event loop, one subscribed
    to a channel and one to publish on it; nothing blocks.

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

Q_SIGNALS:
    void connectedChanged(bool connected);
    /*! A message arrived on the channel (this node's own included). */
    void messageReceived(const QByteArray &message);

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
    void contextLost(const redisAsyncContext *context, const QString &why);

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
