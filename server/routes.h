#pragma once

#include "config.h"
#include "frame.h"

#include <optional>

namespace Switchboard {

class Server;
struct Conn;

/*!
    Wires the standard Switchboard service into \a server: the plug pipeline
    (request id, access log, JSON body), the routes (browser page, health,
    admin API) and the WebSocket endpoints `/ws` (echo) and `/ws/chat`
    (relay). main() and the tests both call this, so they run the same thing.
*/
void installDefaults(Server &server, const ServerConfig &config);

/*!
    The frame an admin send/broadcast body asks for: text/plain is a text
    frame, application/octet-stream a binary one, JSON `{"text":...}` or
    `{"binary_base64":...}` either. On failure \a conn carries the error.
*/
std::optional<Frame> frameFromRequestBody(Conn &conn);

} // namespace Switchboard
