#include "channels/channelhandler.h"

#include "channels/protocol.h"
#include "threading.h"
#include "websocket/hub.h"

namespace Switchboard {

using namespace Channels;

namespace {

/*!
    Where the frames answering one request go: into the Reply of the handle()
    call that took it while that runs (a registry alone answers at once),
    through the hub once it has returned (a cluster answers later).
*/
class Answer
{
public:
    explicit Answer(const ChannelHandler::Target &target) : m_hub(target.hub), m_id(target.id) { }

    void send(Frame frame)
    {
        if (m_inHandle)
            m_frames.append(std::move(frame));
        else if (m_hub)
            m_hub->send(m_id, frame);
    }
    /*! What was answered during handle(); later answers go through the hub. */
    Reply takeReply()
    {
        m_inHandle = false;
        Reply reply;
        for (Frame &frame : m_frames)
            reply.then(std::move(frame));
        m_frames.clear();
        return reply;
    }

private:
    QPointer<Hub> m_hub;
    quint64 m_id;
    bool m_inHandle = true;
    QList<Frame> m_frames;
};

/*! An error answer, counted in /metrics by its code. */
Frame errorFrame(TopicRegistry *registry, const QJsonValue &ref, QLatin1StringView code,
                 const QString &message, const QString &topic = {})
{
    if (registry)
        registry->countError(code);
    return Frame::text(encodeError(ref, code, message, topic));
}

Frame unavailableFrame(TopicRegistry *registry, const QJsonValue &ref, const QString &topic)
{
    return errorFrame(registry, ref, Error::Unavailable,
                      QStringLiteral("the cluster cannot be reached; try again"), topic);
}

} // namespace

ChannelHandler::ChannelHandler(TopicRegistry *registry, std::shared_ptr<const ChannelPolicy> policy)
    : m_registry(registry), m_policy(std::move(policy))
{
    if (!m_policy)
        m_policy = std::make_shared<ChannelPolicy>();
    m_tokens = std::max(1.0, registry->settings().publishRate);
}

InitResult ChannelHandler::init(const UpgradeRequest &request)
{
    if (!request.offers(kSubprotocol))
        return InitResult::refuse(400,
                                  QStringLiteral("this endpoint speaks the channels protocol: "
                                                 "offer the subprotocol %1 "
                                                 "(Sec-WebSocket-Protocol)")
                                          .arg(QLatin1StringView(kSubprotocol.data())));
    m_request = request;
    return InitResult::accept(kSubprotocol.toByteArray());
}

Reply ChannelHandler::websocketInit(SessionContext &session)
{
    m_refilledAtMs = m_windowStartMs = session.hub().nowMs();
    return Reply::text(QString::fromUtf8(
            encodeHello(session.id(), m_registry ? m_registry->nodeName() : QString())));
}

bool ChannelHandler::takePublishToken(qint64 nowMs)
{
    const double rate = std::max(1.0, m_registry->settings().publishRate);
    m_tokens = std::min(rate, m_tokens + (nowMs - m_refilledAtMs) * rate / 1000.0);
    m_refilledAtMs = nowMs;
    if (m_tokens < 1.0)
        return false;
    m_tokens -= 1.0;
    return true;
}

Reply ChannelHandler::handle(SessionContext &session, const Frame &frame)
{
    if (!frame.isData() || !m_registry)
        return Reply::none();
    TopicRegistry *const registry = m_registry;
    if (!frame.isText())
        return Reply::frame(
                errorFrame(registry, {}, Error::BadRequest,
                           QStringLiteral("requests are JSON text messages, not binary")));
    auto decoded = decodeRequest(frame.payload());
    if (const auto *bad = std::get_if<DecodeError>(&decoded))
        return Reply::frame(errorFrame(registry, bad->ref, bad->code, bad->message, bad->topic));
    Request &request = std::get<Request>(decoded);

    if (request.type == Request::Type::Publish) {
        // The rate is this connection's own state, kept here on its thread.
        const qint64 now = session.hub().nowMs();
        if (!takePublishToken(now)) {
            if (now - m_windowStartMs >= 1000) {
                m_windowStartMs = now;
                m_refusedInWindow = 0;
            }
            const double rate = registry->settings().publishRate;
            if (++m_refusedInWindow > std::max(100.0, 10 * rate))
                return Reply::close(1008, QStringLiteral("publishing far over the rate limit"));
            return Reply::frame(errorFrame(
                    registry, request.ref, Error::RateLimited,
                    QStringLiteral("more than %1 publishes per second; slow down").arg(rate),
                    request.topic));
        }
    }
    if (Threading::isCurrent(registry))
        return process(registry, *m_policy, m_request, session, std::move(request));
    // The topics live on another thread (a worker's session): the request goes there,
    // and its answers come back through the hub, in order.
    Threading::post(
            registry,
            [registry, policy = m_policy, upgrade = m_request, hub = QPointer<Hub>(&session.hub()),
             id = session.id(), request = std::move(request)]() mutable {
                if (!hub)
                    return;
                const Reply reply
                        = process(registry, *policy, upgrade, Target{hub, id}, std::move(request));
                for (const Frame &answer : reply.frames())
                    hub->send(id, answer);
            });
    return Reply::none();
}

Reply ChannelHandler::process(TopicRegistry *registry, const ChannelPolicy &policy,
                              const UpgradeRequest &upgrade, Target target, Request request)
{
    const auto error = [registry](const QJsonValue &ref, QLatin1StringView code,
                                  const QString &message, const QString &topic = {}) {
        return Reply::frame(errorFrame(registry, ref, code, message, topic));
    };
    const quint64 id = target.id;
    const QString &topic = request.topic;

    switch (request.type) {
    case Request::Type::Join: {
        if (registry->isSubscribed(id, topic))
            return error(request.ref, Error::AlreadyJoined,
                         QStringLiteral("already joined; leave first to join again"), topic);
        const int limit = registry->settings().maxTopicsPerConnection;
        if (registry->topicCountOf(id) >= limit)
            return error(
                    request.ref, Error::TooManyTopics,
                    QStringLiteral("a connection may join %1 topics; leave one first").arg(limit),
                    topic);
        const ChannelDecision decision = policy.mayJoin(upgrade, topic, request.params);
        if (!decision.allowed)
            return error(request.ref, Error::Forbidden, decision.reason, topic);
        auto answer = std::make_shared<Answer>(target);
        registry->join(
                id, topic, policy.member(upgrade, request.member), request.meta, request.since,
                request.epoch,
                [answer, registry, ref = request.ref, topic](const TopicRegistry::Joined &joined) {
                    using Status = TopicRegistry::Joined::Status;
                    if (joined.status == Status::Left) {
                        answer->send(errorFrame(registry, ref, Error::NotJoined,
                                                QStringLiteral("left before the join was answered"),
                                                topic));
                        return;
                    }
                    if (joined.status == Status::Unavailable) {
                        answer->send(unavailableFrame(registry, ref, topic));
                        return;
                    }
                    QJsonObject fields{{QStringLiteral("offset"), joined.offset},
                                       {QStringLiteral("epoch"), joined.epoch},
                                       {QStringLiteral("presence"), joined.presence}};
                    if (joined.recovered) {
                        fields.insert(QStringLiteral("recovered"), *joined.recovered);
                        fields.insert(QStringLiteral("missed"), joined.missed.size());
                    }
                    // The reply, then what was missed, in order: the client has its state
                    // first.
                    answer->send(Frame::text(encodeReply(ref, topic, fields)));
                    for (const Frame &missed : joined.missed)
                        answer->send(missed);
                });
        return answer->takeReply();
    }
    case Request::Type::Leave:
        if (!registry->leave(id, topic))
            return error(request.ref, Error::NotJoined, QStringLiteral("not joined"), topic);
        return request.ref.isUndefined()
                ? Reply::none()
                : Reply::frame(Frame::text(encodeReply(request.ref, topic)));
    case Request::Type::Publish: {
        if (!registry->isSubscribed(id, topic))
            return error(request.ref, Error::NotJoined,
                         QStringLiteral("join the topic before publishing to it"), topic);
        const ChannelDecision decision = policy.mayPublish(upgrade, topic);
        if (!decision.allowed)
            return error(request.ref, Error::Forbidden, decision.reason, topic);
        auto answer = std::make_shared<Answer>(target);
        registry->publish(
                topic, request.data,
                [answer, registry, ref = request.ref, topic](std::optional<qint64> offset) {
                    if (!offset) {
                        answer->send(unavailableFrame(registry, ref, topic));
                    } else if (!ref.isUndefined()) {
                        answer->send(Frame::text(
                                encodeReply(ref, topic, {{QStringLiteral("offset"), *offset}})));
                    }
                });
        return answer->takeReply();
    }
    }
    return Reply::none();
}

void ChannelHandler::terminate(SessionContext &session, const TerminateReason &reason)
{
    Q_UNUSED(reason);
    TopicRegistry *const registry = m_registry;
    if (!registry)
        return;
    if (Threading::isCurrent(registry))
        registry->leaveAll(session.id());
    else
        Threading::post(registry, [registry, id = session.id()] { registry->leaveAll(id); });
}

} // namespace Switchboard
