#include "handlers.h"

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

} // namespace Switchboard
