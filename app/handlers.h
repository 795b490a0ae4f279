#pragma once

#include "websocket/websockethandler.h"

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

} // namespace Switchboard
