#pragma once

#include "config.h"
#include "websocket/frame.h"

#include <memory>
#include <optional>

namespace Switchboard {

class Cluster;
class Server;
struct Conn;

/*!
    The tokens that open the admin routes installDefaults() wires. A reload
    (SIGHUP) replaces them while serving; they are read and written on the
    thread that serves HTTP.
*/
struct AdminTokens
{
    QByteArray admin;
    QByteArray metrics; //!< opens GET /metrics only; empty: only the admin token does
};

/*!
    Wires the standard Switchboard service into \a server: the plug pipeline
    (request id, access log, JSON body), the routes (browser page, health,
    admin API) and the WebSocket endpoints `/ws` (echo) and `/ws/chat`
    (relay). main() and the tests both call this, so they run the same thing.
    With \a cluster, health reports it, `GET /api/connections?scope=cluster`
    lists every instance's sessions, and send/close take "node:id" ids.
    Returns the admin tokens, for a reload to change.
*/
std::shared_ptr<AdminTokens> installDefaults(Server &server, const ServerConfig &config,
                                             Cluster *cluster = nullptr);

/*!
    The frame an admin send/broadcast body asks for: text/plain is a text
    frame, application/octet-stream a binary one, JSON `{"text":...}` or
    `{"binary_base64":...}` either. On failure \a conn carries the error.
*/
std::optional<Frame> frameFromRequestBody(Conn &conn);

} // namespace Switchboard
