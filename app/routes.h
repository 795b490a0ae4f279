#pragma once

#include "channels/channelhandler.h"
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

class TopicRegistry;

/*! What installDefaults() made that main() (and a reload) needs later. */
struct InstalledRoutes
{
    std::shared_ptr<AdminTokens> tokens;
    TopicRegistry *topics = nullptr; //!< the channels endpoint's topics; owned by the server
};

/*!
    Wires the standard Switchboard service into \a server: the plug pipeline
    (request id, access log, JSON body), the routes (browser page, health,
    admin API) and the WebSocket endpoints `/ws` (echo), `/ws/chat`
    (relay) and `/ws/channels` (topics, presence and history; its policy is
    \a channelPolicy, or AdminTopicsPolicy). main() and the tests both call this, so they run the
   same thing. With \a cluster, health reports it, `GET /api/connections?scope=cluster` lists every
   instance's sessions, and send/close take "node:id" ids.
*/
InstalledRoutes installDefaults(Server &server, const ServerConfig &config,
                                Cluster *cluster = nullptr,
                                std::shared_ptr<const ChannelPolicy> channelPolicy = {});

/*!
    The frame an admin send/broadcast body asks for: text/plain is a text
    frame, application/octet-stream a binary one, JSON `{"text":...}` or
    `{"binary_base64":...}` either. On failure \a conn carries the error.
*/
std::optional<Frame> frameFromRequestBody(Conn &conn);

} // namespace Switchboard
