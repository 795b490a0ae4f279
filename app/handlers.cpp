#include "handlers.h"

#include "http/plugs.h"

#include "websocket/hub.h"

namespace Switchboard {

Reply EchoHandler::websocketInit(SessionContext &)
{
    return Reply::text(QStringLiteral("start"));
}

Reply EchoHandler::handle(SessionContext &, const Frame &frame)
{
    if (frame.isControl())
        return Reply::none(); // pongs answer our heartbeat; nothing to say back
    return Reply::frame(frame);
}

InitResult ChatHandler::init(const UpgradeRequest &request)
{
    return request.offers(kProtocol) ? InitResult::accept(kProtocol.toByteArray())
                                     : InitResult::accept();
}

Reply ChatHandler::websocketInit(SessionContext &)
{
    return Reply::text(QStringLiteral("start"));
}

Reply ChatHandler::handle(SessionContext &session, const Frame &frame)
{
    if (!frame.isControl())
        session.hub().broadcast(frame, BroadcastFilter{session.path(), session.id()});
    return Reply::none();
}

AdminTopicsPolicy::AdminTopicsPolicy(std::function<QByteArray()> adminToken)
    : m_adminToken(std::move(adminToken))
{
}

ChannelDecision AdminTopicsPolicy::decide(const UpgradeRequest &request, const QString &topic) const
{
    if (!topic.startsWith(u"admin:"))
        return ChannelDecision::allow();
    const QByteArray given
            = request.query.queryItemValue(QStringLiteral("admin_token"), QUrl::FullyDecoded)
                      .toUtf8();
    const QByteArray expected = m_adminToken();
    if (!given.isEmpty() && !expected.isEmpty() && Plugs::constantTimeEquals(given, expected))
        return ChannelDecision::allow();
    return ChannelDecision::deny(QStringLiteral("admin: topics need the admin token (connect with "
                                                "?admin_token=...)"));
}

ChannelDecision AdminTopicsPolicy::mayJoin(const UpgradeRequest &request, const QString &topic,
                                           const QJsonObject &params) const
{
    Q_UNUSED(params);
    return decide(request, topic);
}

ChannelDecision AdminTopicsPolicy::mayPublish(const UpgradeRequest &request,
                                              const QString &topic) const
{
    return decide(request, topic);
}

} // namespace Switchboard
