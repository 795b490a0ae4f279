// libFuzzer target for the channels protocol: Channels::decodeRequest()
// (server/channels/protocol.cpp), which reads what any client of /ws/channels
// sends, and the TopicRegistry it drives.
//
// Input: lines; each line's first byte picks one of four sessions, the rest
// is a request from it. What decodes is applied to a registry (with history
// of 3, so recovery and gaps both happen) and the registry's invariants are
// checked after every step: subscriptions agree both ways, offsets only grow,
// a recovery hands over exactly the messages after "since", in order.

#include "channels/protocol.h"
#include "channels/topicregistry.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>

#include <cstdint>
#include <map>

#include "fuzzcheck.h"

using namespace Switchboard;
using namespace Switchboard::Channels;

namespace {

qint64 offsetOf(const Frame &frame)
{
    return QJsonDocument::fromJson(frame.payload()).object().value(u"offset").toInteger(-1);
}

void apply(TopicRegistry &registry, std::map<QString, qint64> &offsets, quint64 session,
           const Request &request)
{
    FUZZ_CHECK(isValidTopic(request.topic));
    switch (request.type) {
    case Request::Type::Join: {
        if (registry.isSubscribed(session, request.topic))
            registry.leave(session, request.topic);
        const QString epoch = request.epoch == u"same" ? registry.epoch() : request.epoch;
        const TopicRegistry::Joined joined = registry.join(session, request.topic, request.member,
                                                           request.meta, request.since, epoch);
        FUZZ_CHECK(registry.isSubscribed(session, request.topic));
        FUZZ_CHECK(joined.offset == offsets[request.topic]);
        FUZZ_CHECK(joined.recovered.has_value() == request.since.has_value());
        qint64 previous = request.since.value_or(0);
        for (const Frame &missed : joined.missed) {
            const qint64 offset = offsetOf(missed);
            FUZZ_CHECK(offset == previous + 1); // every one, in order, none twice
            previous = offset;
        }
        if (joined.recovered.value_or(false))
            FUZZ_CHECK(previous == joined.offset);
        break;
    }
    case Request::Type::Leave: {
        const bool wasSubscribed = registry.isSubscribed(session, request.topic);
        FUZZ_CHECK(registry.leave(session, request.topic) == wasSubscribed);
        FUZZ_CHECK(!registry.isSubscribed(session, request.topic));
        break;
    }
    case Request::Type::Publish: {
        const qint64 offset = registry.publish(request.topic, request.data);
        FUZZ_CHECK(offset == ++offsets[request.topic]);
        break;
    }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bool quiet = [] {
        QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
        return true;
    }();
    Q_UNUSED(quiet);
    ChannelSettings settings;
    settings.historySize = 3;
    settings.historyAge = std::chrono::milliseconds(0);
    TopicRegistry registry(
            [](const QList<quint64> &, const Frame &frame) { FUZZ_CHECK(frame.isText()); },
            settings);
    std::map<QString, qint64> offsets;
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    for (const QByteArray &line : input.split('\n')) {
        if (line.isEmpty())
            continue;
        const quint64 session = quint64(uchar(line.at(0)) % 4) + 1;
        const auto decoded = decodeRequest(QByteArrayView(line).sliced(1));
        if (const auto *request = std::get_if<Request>(&decoded)) {
            apply(registry, offsets, session, *request);
        } else {
            const DecodeError &error = std::get<DecodeError>(decoded);
            FUZZ_CHECK(!error.message.isEmpty());
            FUZZ_CHECK(!error.code.isEmpty());
        }
    }
    for (quint64 session = 1; session <= 4; ++session) {
        registry.leaveAll(session);
        FUZZ_CHECK(registry.topicCountOf(session) == 0);
    }
    return 0;
}
