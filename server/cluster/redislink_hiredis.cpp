#include "cluster/redislink.h"

#include <QtCore/QFile>
#include <QtCore/QLoggingCategory>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QHostInfo>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#if SWITCHBOARD_REDIS_TLS
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace Switchboard {

Q_LOGGING_CATEGORY(lcRedis, "switchboard.cluster", QtInfoMsg)

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{8'000};

/*
    Runs a hiredis async context on Qt's event loop. Debian's
    hiredis/adapters/qt.h connects to QSocketNotifier::activated(int), a
    signal Qt 6 no longer has, and needs moc on a system header; this is the
    same thing with function-pointer connects.
*/
class QtRedisAdapter final
{
public:
    static void attach(redisAsyncContext *context)
    {
        auto *adapter = new QtRedisAdapter(context);
        context->ev.data = adapter;
        context->ev.addRead = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->addRead();
        };
        context->ev.delRead = [](void *data) {
            drop(static_cast<QtRedisAdapter *>(data)->m_read);
        };
        context->ev.addWrite = [](void *data) {
            static_cast<QtRedisAdapter *>(data)->addWrite();
        };
        context->ev.delWrite = [](void *data) {
            drop(static_cast<QtRedisAdapter *>(data)->m_write);
        };
        // hiredis calls cleanup when it frees the context, possibly from
        // inside one of our notifiers' activated() signals.
        context->ev.cleanup = [](void *data) {
            auto *self = static_cast<QtRedisAdapter *>(data);
            drop(self->m_read);
            drop(self->m_write);
            delete self;
        };
    }

private:
    explicit QtRedisAdapter(redisAsyncContext *context) : m_context(context) { }

    void addRead()
    {
        if (m_read)
            return;
        m_read = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Read);
        redisAsyncContext *context = m_context;
        QObject::connect(m_read, &QSocketNotifier::activated, m_read,
                         [context] { redisAsyncHandleRead(context); });
    }

    void addWrite()
    {
        if (m_write)
            return;
        m_write = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Write);
        redisAsyncContext *context = m_context;
        QObject::connect(m_write, &QSocketNotifier::activated, m_write,
                         [context] { redisAsyncHandleWrite(context); });
    }

    static void drop(QSocketNotifier *&notifier)
    {
        if (!notifier)
            return;
        // Not deleted here: this may run inside the notifier's own signal.
        notifier->setEnabled(false);
        QObject::disconnect(notifier, nullptr, nullptr, nullptr);
        notifier->deleteLater();
        notifier = nullptr;
    }

    redisAsyncContext *m_context;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
};

QString replyText(const redisReply *reply)
{
    return QString::fromUtf8(reply->str, qsizetype(reply->len));
}

RedisReply toReply(const redisReply *reply)
{
    RedisReply out;
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        out.type = RedisReply::Type::String;
        break;
    case REDIS_REPLY_STATUS:
        out.type = RedisReply::Type::Status;
        break;
    case REDIS_REPLY_ERROR:
        out.type = RedisReply::Type::Error;
        break;
    case REDIS_REPLY_INTEGER:
        out.type = RedisReply::Type::Integer;
        out.integer = reply->integer;
        return out;
    case REDIS_REPLY_ARRAY:
        out.type = RedisReply::Type::Array;
        out.elements.reserve(qsizetype(reply->elements));
        for (size_t i = 0; i < reply->elements; ++i)
            out.elements.append(toReply(reply->element[i]));
        return out;
    default:
        return out; // nil, and RESP3 types Switchboard never asks for
    }
    out.text = QByteArray(reply->str, qsizetype(reply->len));
    return out;
}

/*!
    Redis's refusal \a error, with what to do about it. It comes as the reply
    to SUBSCRIBE, or (hiredis 0.14 has no callback for an error in subscribe
    mode) as the reason the connection was dropped.
*/
QString explainedRefusal(const QString &error)
{
    if (error.startsWith(u"NOAUTH"))
        return QStringLiteral("requires a password (%1); give it in the URL "
                              "(redis://[USER]:PASSWORD@host) or with --cluster-password-file")
                .arg(error.trimmed());
    if (error.startsWith(u"NOPERM"))
        return QStringLiteral("refused SUBSCRIBE (%1); the ACL user needs +subscribe, +publish "
                              "and the channel switchboard:cluster:*")
                .arg(error.trimmed());
    return error;
}

#if SWITCHBOARD_REDIS_TLS
QString openSslError()
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    return code ? QString::fromLatin1(ERR_reason_error_string(code)) : QStringLiteral("unknown");
}

/*!
    A client SSL for \a endpoint: TLS 1.2 or newer, the peer's chain checked
    against the CA bundle (or the system's), and its name against the host
    the operator wrote (hiredis' own context sets SNI but checks no name).
*/
SSL *newClientSsl(const RedisEndpoint &endpoint, QString *error)
{
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) {
        *error = QStringLiteral("cannot create a TLS context: ") + openSslError();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    const QByteArray caFile = QFile::encodeName(endpoint.caFile);
    const bool loaded = caFile.isEmpty()
            ? SSL_CTX_set_default_verify_paths(context) == 1
            : SSL_CTX_load_verify_locations(context, caFile.constData(), nullptr) == 1;
    if (!loaded) {
        *error = caFile.isEmpty()
                ? QStringLiteral("cannot load the system's CA certificates: ") + openSslError()
                : QStringLiteral("cannot load CA certificates from %1: %2")
                          .arg(endpoint.caFile, openSslError());
        SSL_CTX_free(context);
        return nullptr;
    }
    SSL *ssl = SSL_new(context);
    SSL_CTX_free(context); // the SSL holds its own reference
    if (!ssl) {
        *error = QStringLiteral("cannot create a TLS session: ") + openSslError();
        return nullptr;
    }
    const QByteArray host = endpoint.host.toUtf8();
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    bool named = false;
    if (QHostAddress(endpoint.host).isNull()) {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        named = X509_VERIFY_PARAM_set1_host(param, host.constData(), 0) == 1
                && SSL_set_tlsext_host_name(ssl, host.constData()) == 1;
    } else {
        named = X509_VERIFY_PARAM_set1_ip_asc(param, host.constData()) == 1;
    }
    if (!named) {
        *error = QStringLiteral("cannot check the certificate against '%1': %2")
                         .arg(endpoint.host, openSslError());
        SSL_free(ssl);
        return nullptr;
    }
    return ssl;
}

#endif

} // namespace

RedisLink::RedisLink(RedisEndpoint endpoint, QByteArray channel, QObject *parent)
    : QObject(parent), m_endpoint(std::move(endpoint)), m_channel(std::move(channel))
{
    m_reconnect.setSingleShot(true);
    connect(&m_reconnect, &QTimer::timeout, this, &RedisLink::connectToRedis);
}

RedisLink::~RedisLink()
{
    m_connected = false; // shutting down is not a degradation worth a warning
    teardown();
}

bool RedisLink::isBuiltIn()
{
    return true;
}

bool RedisLink::supportsTls()
{
    return SWITCHBOARD_REDIS_TLS;
}

QString RedisLink::clientVersion()
{
    return QStringLiteral("%1.%2.%3").arg(HIREDIS_MAJOR).arg(HIREDIS_MINOR).arg(HIREDIS_PATCH);
}

void RedisLink::start()
{
    connectToRedis();
}

void RedisLink::connectToRedis()
{
    teardown();
    m_attemptFailed = false;
    if (m_endpoint.tls && !supportsTls()) {
        // Refused by the command line already; kept for library users.
        fail(QStringLiteral("rediss:// needs hiredis with TLS (hiredis_ssl, 1.0 or newer); "
                            "this build has hiredis %1 without it")
                     .arg(clientVersion()));
        return;
    }
    // hiredis resolves host names with a blocking getaddrinfo(); Qt does it off the event loop.
    if (QHostAddress literal; literal.setAddress(m_endpoint.host)) {
        connectTo(literal.toString());
        return;
    }
    QHostInfo::lookupHost(m_endpoint.host, this, [this](const QHostInfo &info) {
        const QList<QHostAddress> addresses = info.addresses();
        if (addresses.isEmpty()) {
            fail(QStringLiteral("cannot resolve %1: %2").arg(m_endpoint.host, info.errorString()));
            return;
        }
        // Redis usually binds IPv4 only, as "localhost" resolving to ::1 first would miss.
        const auto ipv4 = std::find_if(addresses.begin(), addresses.end(), [](const auto &a) {
            return a.protocol() == QAbstractSocket::IPv4Protocol;
        });
        connectTo((ipv4 != addresses.end() ? *ipv4 : addresses.first()).toString());
    });
}

void RedisLink::connectTo(const QString &address)
{
    const QByteArray host = address.toUtf8();
    for (redisAsyncContext **slot : {&m_sub, &m_pub}) {
        redisAsyncContext *context = redisAsyncConnect(host.constData(), m_endpoint.port);
        if (!context || context->err) {
            const QString why = context ? QString::fromUtf8(context->errstr)
                                        : QStringLiteral("out of memory");
            if (context)
                redisAsyncFree(context);
            fail(QStringLiteral("cannot connect: ") + why);
            return;
        }
        ssl_st *ssl = nullptr;
#if SWITCHBOARD_REDIS_TLS
        if (m_endpoint.tls) {
            QString error;
            ssl = newClientSsl(m_endpoint, &error);
            // hiredis owns the SSL from here, and frees it with the context.
            if (!ssl || redisInitiateSSL(&context->c, ssl) != REDIS_OK) {
                if (ssl && error.isEmpty())
                    error = QStringLiteral("cannot start TLS: ")
                            + QString::fromUtf8(context->errstr);
                redisAsyncFree(context);
                fail(error);
                return;
            }
        }
#endif
        (slot == &m_sub ? m_subTls : m_pubTls) = ssl;
        context->data = this;
        QtRedisAdapter::attach(context);
        redisAsyncSetConnectCallback(context, &RedisLink::onConnect);
        redisAsyncSetDisconnectCallback(context, &RedisLink::onDisconnect);
        *slot = context;
        // Queued until connected, and answered in order: AUTH first.
        if (!m_endpoint.password.isEmpty()) {
            const QByteArray user = m_endpoint.username.toUtf8();
            if (user.isEmpty())
                redisAsyncCommand(context, &RedisLink::onAuthReply, nullptr, "AUTH %b",
                                  m_endpoint.password.constData(),
                                  size_t(m_endpoint.password.size()));
            else
                redisAsyncCommand(context, &RedisLink::onAuthReply, nullptr, "AUTH %b %b",
                                  user.constData(), size_t(user.size()),
                                  m_endpoint.password.constData(),
                                  size_t(m_endpoint.password.size()));
        }
    }
    redisAsyncCommand(m_sub, &RedisLink::onSubscribeReply, nullptr, "SUBSCRIBE %b",
                      m_channel.constData(), size_t(m_channel.size()));
    for (const QByteArray &channel : std::as_const(m_wanted))
        sendSubscribe(channel, true);
}

void RedisLink::teardown()
{
    // Detach first: freeing a context runs its callbacks, which must not
    // find us any more.
    for (redisAsyncContext **slot : {&m_sub, &m_pub}) {
        if (redisAsyncContext *context = std::exchange(*slot, nullptr)) {
            context->data = nullptr;
            redisAsyncFree(context);
        }
    }
    m_subTls = nullptr;
    m_pubTls = nullptr;
    m_subscribed = false;
    m_pubReady = false;
    m_channels.clear();
    setConnected(false);
}

void RedisLink::scheduleReconnect()
{
    if (m_reconnect.isActive())
        return;
    qCDebug(lcRedis, "reconnecting to redis in %lld ms", static_cast<long long>(m_backoff.count()));
    m_reconnect.start(m_backoff);
    m_backoff = std::min(m_backoff * 2, kMaxBackoff);
}

void RedisLink::setConnected(bool connected)
{
    if (connected == m_connected)
        return;
    m_connected = connected;
    if (connected) {
        m_backoff = kFirstBackoff;
        m_warned = false;
        qCInfo(lcRedis, "connected to redis %s", qPrintable(m_endpoint.displayUrl()));
    }
    Q_EMIT connectedChanged(connected);
}

void RedisLink::updateConnected()
{
    setConnected(m_subscribed && m_pubReady);
}

void RedisLink::fail(const QString &why)
{
    // The first failure of an attempt is the reason; what follows from it (the other
    // connection's NOAUTH after a refused AUTH, the disconnect) is not news.
    if (std::exchange(m_attemptFailed, true)) {
        qCDebug(lcRedis, "redis %s: also %s", qPrintable(m_endpoint.displayUrl()), qPrintable(why));
        return;
    }
    // Warn once per outage; the retries that follow only log at debug.
    if (!m_warned || why != m_lastError)
        qCWarning(lcRedis, "redis %s: %s; cluster degraded, local traffic continues",
                  qPrintable(m_endpoint.displayUrl()), qPrintable(why));
    else
        qCDebug(lcRedis, "redis %s: %s", qPrintable(m_endpoint.displayUrl()), qPrintable(why));
    m_warned = true;
    m_lastError = why;
    m_subscribed = false;
    m_pubReady = false;
    setConnected(false);
    // Torn down outside whatever hiredis callback we may be in.
    QMetaObject::invokeMethod(
            this,
            [this] {
                teardown();
                scheduleReconnect();
            },
            Qt::QueuedConnection);
}

void RedisLink::onConnect(const redisAsyncContext *context, int status)
{
    auto *self = static_cast<RedisLink *>(context->data);
    if (!self)
        return;
    if (status != REDIS_OK) {
        // hiredis frees the context after this callback.
        self->contextLost(context, QString::fromUtf8(context->errstr));
        return;
    }
    if (context == self->m_pub && self->m_endpoint.password.isEmpty()) {
        self->m_pubReady = true;
        self->updateConnected();
    }
}

void RedisLink::onDisconnect(const redisAsyncContext *context, int status)
{
    auto *self = static_cast<RedisLink *>(context->data);
    if (!self)
        return;
    self->contextLost(context,
                      status == REDIS_OK ? QStringLiteral("disconnected")
                                         : QString::fromUtf8(context->errstr));
}

void RedisLink::contextLost(const redisAsyncContext *context, const QString &why)
{
    QString reason = explainedRefusal(why);
#if SWITCHBOARD_REDIS_TLS
    // hiredis reports a refused certificate as a failed read or write; say what was wrong.
    if (SSL *ssl = context == m_sub ? m_subTls : context == m_pub ? m_pubTls : nullptr) {
        const long verdict = SSL_get_verify_result(ssl);
        if (verdict != X509_V_OK)
            reason = QStringLiteral("TLS: the server's certificate was refused: ")
                    + QString::fromLatin1(X509_verify_cert_error_string(verdict));
    }
#endif
    // hiredis frees this context (and its SSL) itself once the callback returns.
    if (context == m_sub) {
        m_sub = nullptr;
        m_subTls = nullptr;
    } else if (context == m_pub) {
        m_pub = nullptr;
        m_pubTls = nullptr;
    }
    const_cast<redisAsyncContext *>(context)->data = nullptr;
    fail(reason);
}

void RedisLink::onAuthReply(redisAsyncContext *context, void *reply, void *)
{
    auto *self = static_cast<RedisLink *>(context->data);
    const auto *r = static_cast<const redisReply *>(reply);
    if (!self || !r)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        const QString who = self->m_endpoint.username.isEmpty()
                ? QStringLiteral("the password")
                : QStringLiteral("user '%1' and its password").arg(self->m_endpoint.username);
        self->fail(QStringLiteral("refused %1 (%2)").arg(who, replyText(r)));
        return;
    }
    if (context == self->m_pub) {
        self->m_pubReady = true;
        self->updateConnected();
    }
}

void RedisLink::onSubscribeReply(redisAsyncContext *context, void *reply, void *)
{
    auto *self = static_cast<RedisLink *>(context->data);
    const auto *r = static_cast<const redisReply *>(reply);
    if (!self || !r)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        const QString text = replyText(r);
        self->fail(text.startsWith(u"NO") ? explainedRefusal(text)
                                          : QStringLiteral("refused SUBSCRIBE (%1)").arg(text));
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const QByteArray kind(r->element[0]->str, qsizetype(r->element[0]->len));
    const QByteArray channel(r->element[1]->str, qsizetype(r->element[1]->len));
    const bool main = channel == self->m_channel;
    if (kind == "message" && r->element[2]->type == REDIS_REPLY_STRING) {
        const QByteArray message(r->element[2]->str, qsizetype(r->element[2]->len));
        if (main)
            Q_EMIT self->messageReceived(message);
        else if (self->m_channels.value(channel) == ChannelState::On)
            Q_EMIT self->channelMessageReceived(channel, message);
    } else if (kind == "subscribe" && main) {
        self->m_subscribed = true;
        self->updateConnected();
    } else if (kind == "subscribe") {
        self->m_channels.insert(channel, ChannelState::On);
        if (!self->m_wanted.contains(channel))
            self->sendSubscribe(channel, false); // given up while it was on its way
        else
            Q_EMIT self->subscribed(channel);
    } else if (kind == "unsubscribe" && !main) {
        self->m_channels.remove(channel);
        if (self->m_wanted.contains(channel))
            self->sendSubscribe(channel, true); // asked for again meanwhile
    }
}

void RedisLink::sendSubscribe(const QByteArray &channel, bool subscribe)
{
    // One request per channel in flight: hiredis keeps one callback per
    // channel, and an UNSUBSCRIBE answered after a newer SUBSCRIBE would
    // remove the newer one's.
    if (!m_sub)
        return;
    m_channels.insert(channel, subscribe ? ChannelState::Subscribing : ChannelState::Unsubscribing);
    redisAsyncCommand(m_sub, &RedisLink::onSubscribeReply, nullptr,
                      subscribe ? "SUBSCRIBE %b" : "UNSUBSCRIBE %b", channel.constData(),
                      size_t(channel.size()));
}

void RedisLink::subscribe(const QByteArray &channel)
{
    if (channel == m_channel || m_wanted.contains(channel))
        return;
    m_wanted.insert(channel);
    if (m_channels.value(channel, ChannelState::Off) == ChannelState::Off)
        sendSubscribe(channel, true);
}

void RedisLink::unsubscribe(const QByteArray &channel)
{
    if (!m_wanted.remove(channel))
        return;
    if (m_channels.value(channel) == ChannelState::On)
        sendSubscribe(channel, false);
}

bool RedisLink::isSubscribed(const QByteArray &channel) const
{
    return m_wanted.contains(channel) && m_channels.value(channel) == ChannelState::On;
}

bool RedisLink::command(const QList<QByteArray> &arguments, ReplyHandler handler)
{
    if (!m_connected || !m_pub || arguments.isEmpty())
        return false;
    std::vector<const char *> argv;
    std::vector<size_t> lengths;
    argv.reserve(size_t(arguments.size()));
    lengths.reserve(size_t(arguments.size()));
    for (const QByteArray &argument : arguments) {
        argv.push_back(argument.constData());
        lengths.push_back(size_t(argument.size()));
    }
    auto *owned = handler ? new ReplyHandler(std::move(handler)) : nullptr;
    if (redisAsyncCommandArgv(m_pub, owned ? &RedisLink::onCommandReply : nullptr, owned,
                              int(argv.size()), argv.data(), lengths.data())
        != REDIS_OK) {
        delete owned;
        return false;
    }
    if (!(m_pub->c.flags & REDIS_IN_CALLBACK))
        redisAsyncHandleWrite(m_pub);
    return true;
}

void RedisLink::onCommandReply(redisAsyncContext *context, void *reply, void *privateData)
{
    std::unique_ptr<ReplyHandler> handler(static_cast<ReplyHandler *>(privateData));
    // No reply: the context is being freed (the link went down, or is going).
    if (!reply || !context->data)
        return;
    (*handler)(toReply(static_cast<const redisReply *>(reply)));
}

bool RedisLink::publish(const QByteArray &message)
{
    if (!m_connected || !m_pub)
        return false;
    if (redisAsyncCommand(m_pub, nullptr, nullptr, "PUBLISH %b %b", m_channel.constData(),
                          size_t(m_channel.size()), message.constData(), size_t(message.size()))
        != REDIS_OK)
        return false;
    // Out now rather than on the next write notification: the hub publishes a broadcast
    // before its own fan-out, so the other instances fan out while this one does. Not
    // from inside one of this context's callbacks (the heartbeat sent once AUTH is
    // answered): hiredis 1.x asserts on that; the write notification sends it then.
    if (!(m_pub->c.flags & REDIS_IN_CALLBACK))
        redisAsyncHandleWrite(m_pub);
    return true;
}

} // namespace Switchboard
