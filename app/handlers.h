#pragma once

#include "channels/channelhandler.h"
#include "websocket/websockethandler.h"

#include <functional>

namespace Switchboard {

/*! The default `/ws` handler: greets with `start`, echoes text and binary unchanged. */
class EchoHandler final : public WebSocketHandler
{
public:
    Reply websocketInit(SessionContext &session) override;
    Reply handle(SessionContext &session, const Frame &frame) override;
};

/*!
    The `/ws/chat` handler: greets with `start` and relays each text or binary
    message to every other session on the same path, not back to its sender.
    Speaks subprotocol `chat.v1` when the client offers it (and none
    otherwise: a client that requires it then fails the handshake itself).
*/
class ChatHandler final : public WebSocketHandler
{
public:
    static constexpr QByteArrayView kProtocol = "chat.v1";

    InitResult init(const UpgradeRequest &request) override;
    Reply websocketInit(SessionContext &session) override;
    Reply handle(SessionContext &session, const Frame &frame) override;
};

/*!
    The channels policy of the standard service: every topic is open to every
    client, except `admin:*` topics, which only a client that presents the
    admin token (`?admin_token=...` on the upgrade URL) may join or publish
    to: a channel for operators and their tools.
*/
class AdminTopicsPolicy final : public ChannelPolicy
{
public:
    /*! \a adminToken gives the current admin token (it changes on reload). */
    explicit AdminTopicsPolicy(std::function<QByteArray()> adminToken);

    ChannelDecision mayJoin(const UpgradeRequest &request, const QString &topic,
                            const QJsonObject &params) const override;
    ChannelDecision mayPublish(const UpgradeRequest &request, const QString &topic) const override;

private:
    ChannelDecision decide(const UpgradeRequest &request, const QString &topic) const;

    std::function<QByteArray()> m_adminToken;
};

} // namespace Switchboard
