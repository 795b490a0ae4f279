#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QJsonObject>
#include <QtCore/QJsonValue>
#include <QtCore/QString>

#include <optional>
#include <variant>

namespace Switchboard::Channels {

/*! The subprotocol a client offers to speak channels (docs/channels-protocol.md). */
inline constexpr QByteArrayView kSubprotocol = "switchboard.v1";

/*! Largest topic name, in characters. */
inline constexpr qsizetype kMaxTopicLength = 128;
/*! Largest join "meta" object, as JSON bytes. */
inline constexpr qsizetype kMaxMetaBytes = 1024;
/*! Largest "ref" a client may attach, in characters. */
inline constexpr qsizetype kMaxRefLength = 64;

/*!
    Whether \a topic is a valid topic name: 1 to 128 letters, digits and
    '_', '-', '.', ':', '@' (no '/', so a topic is one URL path segment, and
    no '*', which policies use as a wildcard).
*/
bool isValidTopic(QStringView topic);

/*! The error codes a client can get; stable strings, see the protocol document. */
namespace Error {
inline constexpr QLatin1StringView BadRequest{"bad_request"};
inline constexpr QLatin1StringView UnknownType{"unknown_type"};
inline constexpr QLatin1StringView InvalidTopic{"invalid_topic"};
inline constexpr QLatin1StringView NotJoined{"not_joined"};
inline constexpr QLatin1StringView AlreadyJoined{"already_joined"};
inline constexpr QLatin1StringView Forbidden{"forbidden"};
inline constexpr QLatin1StringView TooManyTopics{"too_many_topics"};
inline constexpr QLatin1StringView RateLimited{"rate_limited"};
inline constexpr QLatin1StringView TooLarge{"too_large"};
inline constexpr QLatin1StringView Unavailable{"unavailable"};
} // namespace Error

/*! One request from a client, decoded and checked for shape (not yet for rights). */
struct Request
{
    enum class Type { Join, Leave, Publish };
    Type type = Type::Join;
    QJsonValue ref; //!< the client's reference, echoed in the reply; Undefined if none
    QString topic;
    // join
    QString member; //!< who this presence belongs to; empty = the session itself
    QJsonObject meta; //!< shown to the other members (e.g. a display name)
    QJsonObject params; //!< for the authorisation policy
    std::optional<qint64> since; //!< recover what came after this offset...
    QString epoch; //!< ...of this history (the join reply's "epoch")
    // publish
    QJsonValue data;
};

/*! A request that cannot be served, with the reference to answer it by. */
struct DecodeError
{
    QJsonValue ref;
    QLatin1StringView code;
    QString message;
    QString topic;
};

/*! Decodes one text message of the protocol. */
std::variant<Request, DecodeError> decodeRequest(QByteArrayView text);

/*! {"type":"reply","ref":...,"status":"ok","topic":...} plus \a fields. */
QByteArray encodeReply(const QJsonValue &ref, const QString &topic, QJsonObject fields = {});
/*! {"type":"error","ref":...,"code":...,"message":...,"topic":...}. */
QByteArray encodeError(const QJsonValue &ref, QLatin1StringView code, const QString &message,
                       const QString &topic = {});
/*! {"type":"message","topic":...,"offset":...,"ts":...,"data":...}. */
QByteArray encodeMessage(const QString &topic, qint64 offset, qint64 timestampMs,
                         const QJsonValue &data);
/*! {"type":"presence_diff","topic":...,"joins":{...},"leaves":{...}}. */
QByteArray encodePresenceDiff(const QString &topic, const QJsonObject &joins,
                              const QJsonObject &leaves);
/*! {"type":"hello","session":...,"node":...,"protocol":"switchboard.v1"}. */
QByteArray encodeHello(quint64 session, const QString &node);

} // namespace Switchboard::Channels
