#include "channels/protocol.h"

#include <QtCore/QJsonDocument>

namespace Switchboard::Channels {

bool isValidTopic(QStringView topic)
{
    if (topic.isEmpty() || topic.size() > kMaxTopicLength)
        return false;
    for (const QChar c : topic) {
        const char16_t u = c.unicode();
        const bool ok = (u >= u'a' && u <= u'z') || (u >= u'A' && u <= u'Z')
                || (u >= u'0' && u <= u'9') || u == u'_' || u == u'-' || u == u'.' || u == u':'
                || u == u'@';
        if (!ok)
            return false;
    }
    return true;
}

namespace {

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

bool isValidRef(const QJsonValue &ref)
{
    if (ref.isUndefined() || ref.isNull())
        return true;
    if (ref.isString())
        return ref.toString().size() <= kMaxRefLength;
    return ref.isDouble();
}

} // namespace

std::variant<Request, DecodeError> decodeRequest(QByteArrayView text)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(text.toByteArray(), &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject())
        return DecodeError{QJsonValue::Undefined,
                           Error::BadRequest,
                           QStringLiteral("a request is one JSON object per text message"),
                           {}};
    const QJsonObject object = document.object();
    Request request;
    request.ref = object.value(QLatin1StringView("ref"));
    if (!isValidRef(request.ref))
        return DecodeError{QJsonValue::Undefined,
                           Error::BadRequest,
                           QStringLiteral("ref must be a number or a string of at most %1 "
                                          "characters")
                                   .arg(kMaxRefLength),
                           {}};
    const auto fail = [&](QLatin1StringView code, const QString &message) {
        return DecodeError{request.ref, code, message, request.topic};
    };

    const QString type = object.value(QLatin1StringView("type")).toString();
    if (type == u"join")
        request.type = Request::Type::Join;
    else if (type == u"leave")
        request.type = Request::Type::Leave;
    else if (type == u"publish")
        request.type = Request::Type::Publish;
    else if (type.isEmpty())
        return fail(Error::BadRequest, QStringLiteral("type is missing"));
    else
        return fail(Error::UnknownType,
                    QStringLiteral("unknown type '%1'; use join, leave or publish")
                            .arg(type.left(kMaxRefLength)));

    const QJsonValue topic = object.value(QLatin1StringView("topic"));
    if (!topic.isString())
        return fail(Error::BadRequest, QStringLiteral("topic is missing or not a string"));
    if (!isValidTopic(topic.toString()))
        return fail(Error::InvalidTopic,
                    QStringLiteral("a topic is 1 to %1 letters, digits, '_', '-', '.', ':' or "
                                   "'@'")
                            .arg(kMaxTopicLength));
    request.topic = topic.toString();

    switch (request.type) {
    case Request::Type::Join: {
        const QJsonValue meta = object.value(QLatin1StringView("meta"));
        if (!meta.isUndefined() && !meta.isObject())
            return fail(Error::BadRequest, QStringLiteral("meta must be an object"));
        request.meta = meta.toObject();
        if (compact(request.meta).size() > kMaxMetaBytes)
            return fail(Error::TooLarge,
                        QStringLiteral("meta is larger than %1 bytes").arg(kMaxMetaBytes));
        const QJsonValue params = object.value(QLatin1StringView("params"));
        if (!params.isUndefined() && !params.isObject())
            return fail(Error::BadRequest, QStringLiteral("params must be an object"));
        request.params = params.toObject();
        const QJsonValue member = object.value(QLatin1StringView("member"));
        if (!member.isUndefined()
            && (!member.isString() || member.toString().isEmpty()
                || member.toString().size() > kMaxTopicLength))
            return fail(Error::BadRequest,
                        QStringLiteral("member must be a string of 1 to %1 characters")
                                .arg(kMaxTopicLength));
        request.member = member.toString();
        const QJsonValue since = object.value(QLatin1StringView("since"));
        if (!since.isUndefined()) {
            const double offset = since.toDouble(-1);
            if (!since.isDouble() || offset < 0 || offset > 9e15 || offset != qint64(offset))
                return fail(Error::BadRequest,
                            QStringLiteral("since must be an offset (a whole number, 0 or "
                                           "more)"));
            request.since = qint64(offset);
            const QJsonValue epoch = object.value(QLatin1StringView("epoch"));
            if (!epoch.isUndefined() && !epoch.isString())
                return fail(Error::BadRequest, QStringLiteral("epoch must be a string"));
            request.epoch = epoch.toString();
        }
        break;
    }
    case Request::Type::Publish:
        request.data = object.value(QLatin1StringView("data"));
        if (request.data.isUndefined())
            return fail(Error::BadRequest, QStringLiteral("data is missing"));
        break;
    case Request::Type::Leave:
        break;
    }
    return request;
}

QByteArray encodeReply(const QJsonValue &ref, const QString &topic, QJsonObject fields)
{
    fields.insert(QLatin1StringView("type"), QLatin1StringView("reply"));
    fields.insert(QLatin1StringView("status"), QLatin1StringView("ok"));
    fields.insert(QLatin1StringView("topic"), topic);
    if (!ref.isUndefined())
        fields.insert(QLatin1StringView("ref"), ref);
    return compact(fields);
}

QByteArray encodeError(const QJsonValue &ref, QLatin1StringView code, const QString &message,
                       const QString &topic)
{
    QJsonObject error{{QLatin1StringView("type"), QLatin1StringView("error")},
                      {QLatin1StringView("code"), code},
                      {QLatin1StringView("message"), message}};
    if (!ref.isUndefined())
        error.insert(QLatin1StringView("ref"), ref);
    if (!topic.isEmpty())
        error.insert(QLatin1StringView("topic"), topic);
    return compact(error);
}

QByteArray encodeMessage(const QString &topic, qint64 offset, qint64 timestampMs,
                         const QJsonValue &data)
{
    return compact({{QLatin1StringView("type"), QLatin1StringView("message")},
                    {QLatin1StringView("topic"), topic},
                    {QLatin1StringView("offset"), offset},
                    {QLatin1StringView("ts"), timestampMs},
                    {QLatin1StringView("data"), data}});
}

QByteArray encodePresenceDiff(const QString &topic, const QJsonObject &joins,
                              const QJsonObject &leaves)
{
    return compact({{QLatin1StringView("type"), QLatin1StringView("presence_diff")},
                    {QLatin1StringView("topic"), topic},
                    {QLatin1StringView("joins"), joins},
                    {QLatin1StringView("leaves"), leaves}});
}

QByteArray encodeHello(quint64 session, const QString &node)
{
    return compact({{QLatin1StringView("type"), QLatin1StringView("hello")},
                    {QLatin1StringView("session"), qint64(session)},
                    {QLatin1StringView("node"), node},
                    {QLatin1StringView("protocol"), QLatin1StringView(kSubprotocol.data())}});
}

} // namespace Switchboard::Channels
