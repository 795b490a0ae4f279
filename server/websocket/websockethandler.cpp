#include "websocket/websockethandler.h"

namespace Switchboard {

QByteArray UpgradeRequest::header(QByteArrayView name) const
{
    for (const auto &[key, value] : headers) {
        if (key == name)
            return value;
    }
    return {};
}

QString TerminateReason::toString() const
{
    QString text;
    switch (kind) {
    case Kind::RemoteClose:
        text = QStringLiteral("remote close");
        break;
    case Kind::LocalClose:
        text = QStringLiteral("closed by handler");
        break;
    case Kind::IdleTimeout:
        text = QStringLiteral("idle timeout");
        break;
    case Kind::PingTimeout:
        text = QStringLiteral("ping timeout");
        break;
    case Kind::SlowConsumer:
        text = QStringLiteral("slow consumer");
        break;
    case Kind::TooBig:
        text = QStringLiteral("message too big");
        break;
    case Kind::Error:
        text = QStringLiteral("error");
        break;
    case Kind::Shutdown:
        text = QStringLiteral("shutdown");
        break;
    case Kind::Operator:
        text = QStringLiteral("closed by operator");
        break;
    }
    const bool detailRepeats = detail == text; // "closed by operator (4000): closed by operator"
    if (code != 0)
        text += QStringLiteral(" (%1)").arg(code);
    if (!detail.isEmpty() && !detailRepeats)
        text += QStringLiteral(": ") + detail;
    return text;
}

Reply WebSocketHandler::info(SessionContext &session, const QVariant &message)
{
    Q_UNUSED(session);
    if (message.metaType() == QMetaType::fromType<Frame>())
        return Reply::frame(message.value<Frame>());
    if (message.metaType() == QMetaType::fromType<QString>())
        return Reply::text(message.toString());
    if (message.metaType() == QMetaType::fromType<QByteArray>())
        return Reply::binary(message.toByteArray());
    return Reply::none();
}

} // namespace Switchboard
