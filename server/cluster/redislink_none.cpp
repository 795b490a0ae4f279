#include "cluster/redislink.h"

// RedisLink in a build without cluster support (SWITCHBOARD_WITH_CLUSTER=OFF):
// no hiredis, and the command line refuses --cluster before one is made.

namespace Switchboard {

RedisLink::RedisLink(RedisEndpoint endpoint, QByteArray channel, QObject *parent)
    : QObject(parent), m_endpoint(std::move(endpoint)), m_channel(std::move(channel))
{
}

RedisLink::~RedisLink() = default;

bool RedisLink::isBuiltIn()
{
    return false;
}

bool RedisLink::supportsTls()
{
    return false;
}

QString RedisLink::clientVersion()
{
    return {};
}

void RedisLink::start()
{
    m_lastError = QStringLiteral("this build has no cluster support (built with "
                                 "SWITCHBOARD_WITH_CLUSTER=OFF)");
}

bool RedisLink::publish(const QByteArray &)
{
    return false;
}

bool RedisLink::command(const QList<QByteArray> &, ReplyHandler)
{
    return false;
}

void RedisLink::subscribe(const QByteArray &) { }

void RedisLink::unsubscribe(const QByteArray &) { }

bool RedisLink::isSubscribed(const QByteArray &) const
{
    return false;
}

} // namespace Switchboard
