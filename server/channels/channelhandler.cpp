#include "channels/channelhandler.h"

#include "channels/protocol.h"
#include "websocket/hub.h"

namespace Switchboard {

using namespace Channels;

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
    const auto error = [this](const QJsonValue &ref, QLatin1StringView code, const QString &message,
                              const QString &topic = {}) {
        m_registry->countError(code);
        return Reply::frame(Frame::text(encodeError(ref, code, message, topic)));
    };
    if (!frame.isText())
        return error({}, Error::BadRequest,
                     QStringLiteral("requests are JSON text messages, not binary"));
    const auto decoded = decodeRequest(frame.payload());
    if (const auto *bad = std::get_if<DecodeError>(&decoded))
        return error(bad->ref, bad->code, bad->message, bad->topic);
    const Request &request = std::get<Request>(decoded);
    const quint64 id = session.id();
    const QString &topic = request.topic;

    switch (request.type) {
    case Request::Type::Join: {
        if (m_registry->isSubscribed(id, topic))
            return error(request.ref, Error::AlreadyJoined,
                         QStringLiteral("already joined; leave first to join again"), topic);
        const int limit = m_registry->settings().maxTopicsPerConnection;
        if (m_registry->topicCountOf(id) >= limit)
            return error(
                    request.ref, Error::TooManyTopics,
                    QStringLiteral("a connection may join %1 topics; leave one first").arg(limit),
                    topic);
        const ChannelDecision decision = m_policy->mayJoin(m_request, topic, request.params);
        if (!decision.allowed)
            return error(request.ref, Error::Forbidden, decision.reason, topic);
        const TopicRegistry::Joined joined
                = m_registry->join(id, topic, m_policy->member(m_request, request.member),
                                   request.meta, request.since, request.epoch);
        QJsonObject fields{{QStringLiteral("offset"), joined.offset},
                           {QStringLiteral("epoch"), m_registry->epoch()},
                           {QStringLiteral("presence"), joined.presence}};
        if (joined.recovered) {
            fields.insert(QStringLiteral("recovered"), *joined.recovered);
            fields.insert(QStringLiteral("missed"), joined.missed.size());
        }
        // The reply, then what was missed, in order: the client has its state first.
        Reply reply = Reply::frame(Frame::text(encodeReply(request.ref, topic, fields)));
        for (const Frame &missed : joined.missed)
            reply.then(missed);
        return reply;
    }
    case Request::Type::Leave:
        if (!m_registry->leave(id, topic))
            return error(request.ref, Error::NotJoined, QStringLiteral("not joined"), topic);
        return request.ref.isUndefined()
                ? Reply::none()
                : Reply::frame(Frame::text(encodeReply(request.ref, topic)));
    case Request::Type::Publish: {
        if (!m_registry->isSubscribed(id, topic))
            return error(request.ref, Error::NotJoined,
                         QStringLiteral("join the topic before publishing to it"), topic);
        const ChannelDecision decision = m_policy->mayPublish(m_request, topic);
        if (!decision.allowed)
            return error(request.ref, Error::Forbidden, decision.reason, topic);
        const qint64 now = session.hub().nowMs();
        if (!takePublishToken(now)) {
            if (now - m_windowStartMs >= 1000) {
                m_windowStartMs = now;
                m_refusedInWindow = 0;
            }
            const double rate = m_registry->settings().publishRate;
            if (++m_refusedInWindow > std::max(100.0, 10 * rate))
                return Reply::close(1008, QStringLiteral("publishing far over the rate limit"));
            return error(request.ref, Error::RateLimited,
                         QStringLiteral("more than %1 publishes per second; slow down").arg(rate),
                         topic);
        }
        const qint64 offset = m_registry->publish(topic, request.data);
        if (request.ref.isUndefined())
            return Reply::none();
        return Reply::frame(
                Frame::text(encodeReply(request.ref, topic, {{QStringLiteral("offset"), offset}})));
    }
    }
    return Reply::none();
}

void ChannelHandler::terminate(SessionContext &session, const TerminateReason &reason)
{
    Q_UNUSED(reason);
    if (m_registry)
        m_registry->leaveAll(session.id());
}

} // namespace Switchboard
