#pragma once

#include "channels/protocol.h"
#include "channels/topicregistry.h"
#include "websocket/websockethandler.h"

#include <QtCore/QPointer>

#include <memory>

namespace Switchboard {

/*! A policy's answer: allowed, or refused with a reason the client is told. */
struct ChannelDecision
{
    bool allowed = true;
    QString reason;

    static ChannelDecision allow() { return {}; }
    static ChannelDecision deny(QString reason) { return {false, std::move(reason)}; }
};

/*!
    Who may join and publish to which topic. The channels endpoint asks it for
    every join and publish; \a request is the client's upgrade request, where
    its credentials are (query, headers). The default allows everything.
    Called on the topics' thread (the TopicRegistry's, the main thread); an
    implementation must not block.
*/
class ChannelPolicy
{
public:
    virtual ~ChannelPolicy() = default;
    virtual ChannelDecision mayJoin(const UpgradeRequest &request, const QString &topic,
                                    const QJsonObject &params) const
    {
        Q_UNUSED(request);
        Q_UNUSED(topic);
        Q_UNUSED(params);
        return ChannelDecision::allow();
    }
    virtual ChannelDecision mayPublish(const UpgradeRequest &request, const QString &topic) const
    {
        Q_UNUSED(request);
        Q_UNUSED(topic);
        return ChannelDecision::allow();
    }
    /*!
        The member a join's presence belongs to, e.g. the user its credentials
        name; by default the one the client asked for (empty: the session).
    */
    virtual QString member(const UpgradeRequest &request, const QString &requested) const
    {
        Q_UNUSED(request);
        return requested;
    }
};

/*!
    The channels endpoint's handler (subprotocol switchboard.v1, see
    docs/channels-protocol.md): joins, leaves and publishes through the
    TopicRegistry (on its thread: a session on a worker posts each request
    there, and the answers come back through the hub, in order), answers every request that carries
   a "ref", and enforces the per-connection limits: topics joined, and publishes per second (an
    error past the rate; the connection is closed with 1008 only past ten
    times it).
*/
class ChannelHandler final : public WebSocketHandler
{
public:
    ChannelHandler(TopicRegistry *registry, std::shared_ptr<const ChannelPolicy> policy);

    InitResult init(const UpgradeRequest &request) override;
    Reply websocketInit(SessionContext &session) override;
    Reply handle(SessionContext &session, const Frame &frame) override;
    void terminate(SessionContext &session, const TerminateReason &reason) override;

    /*! Where a request's answers go: the session, through the hub. */
    struct Target
    {
        QPointer<Hub> hub;
        quint64 id = 0;
        Target(QPointer<Hub> hub, quint64 id) : hub(std::move(hub)), id(id) { }
        Target(SessionContext &session) : hub(&session.hub()), id(session.id()) { }
    };

private:
    /*! Carries out \a request on \a registry's thread; what it answers at once. */
    static Reply process(TopicRegistry *registry, const ChannelPolicy &policy,
                         const UpgradeRequest &upgrade, Target target, Channels::Request request);
    bool takePublishToken(qint64 nowMs);

    QPointer<TopicRegistry> m_registry;
    std::shared_ptr<const ChannelPolicy> m_policy;
    UpgradeRequest m_request;
    double m_tokens = 0;
    qint64 m_refilledAtMs = 0;
    qint64 m_windowStartMs = 0;
    int m_refusedInWindow = 0;
};

} // namespace Switchboard
