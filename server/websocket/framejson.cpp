#include "websocket/framejson.h"

namespace Switchboard {

QJsonObject frameToJson(const Frame &frame)
{
    if (frame.isBinary())
        return {{QStringLiteral("binary_base64"), QString::fromLatin1(frame.payload().toBase64())}};
    return {{QStringLiteral("text"), frame.toText()}};
}

std::optional<Frame> frameFromJson(const QJsonObject &object, QString *error)
{
    const auto fail = [error](const QString &why) -> std::optional<Frame> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    const QJsonValue text = object.value(QStringLiteral("text"));
    const QJsonValue binary = object.value(QStringLiteral("binary_base64"));
    if (text.isUndefined() == binary.isUndefined())
        return fail(QStringLiteral("JSON body must be an object with exactly one of \"text\" or "
                                   "\"binary_base64\""));
    if (!text.isUndefined()) {
        if (!text.isString())
            return fail(QStringLiteral("\"text\" must be a string"));
        return Frame::text(text.toString());
    }
    const auto decoded = QByteArray::fromBase64Encoding(binary.toString().toLatin1(),
                                                        QByteArray::AbortOnBase64DecodingErrors);
    if (!binary.isString() || !decoded)
        return fail(QStringLiteral("\"binary_base64\" must be a base64 string"));
    return Frame::binary(decoded.decoded);
}

} // namespace Switchboard
