// libFuzzer target for permessage-deflate (server/websocket/deflate.h): the
// Inflater that reads client messages, and negotiateDeflate() on header values.
//
// Input: two control bytes, then the messages a client sends.
//   byte 0  bits 0-2: window bits, 8 + n; bit 3: context takeover;
//           bits 4-7: the message size limit, from Limits below
//   byte 1  seed for the piece sizes of the chunked feeding (0 .. 1 + byte % 61
//           bytes, empty pieces included, as empty frames arrive too)
//   then    messages: a 16-bit little-endian length and that many compressed
//           bytes; the last message takes whatever is left
//
// The messages go to three inflaters: whole, byte by byte and in chunks. Every
// call is checked on its own (output never past the limit, failures sticky,
// memory released), and the three must agree. Without context takeover every
// message must also read as it does on a fresh inflater; with a 32 KiB window a
// one-shot zlib inflate is the oracle. The same bytes, split at '\n', are
// offered as Sec-WebSocket-Extensions field values to negotiateDeflate().

#include "websocket/deflate.h"

#include <QtCore/QByteArray>
#include <QtCore/QLoggingCategory>

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

using Status = Inflater::Status;

constexpr qint64 Limits[16] = {0,       1,       2,        10,
                               100,     1000,    4096,     16383,
                               16384,   16385,   32769,    100000,
                               1 << 20, 3 << 20, 16 << 20, std::numeric_limits<qint64>::max()};
const QByteArray Tail = QByteArray::fromHex("0000ffff");

struct Config
{
    int windowBits = 15;
    bool takeover = false;
    qint64 limit = 0;
};

struct Outcome
{
    Status status = Status::Ok;
    QByteArray data;

    bool operator==(const Outcome &) const = default;
};

std::vector<QByteArray> splitMessages(QByteArrayView input)
{
    std::vector<QByteArray> messages;
    qsizetype pos = 0;
    while (pos < input.size() && messages.size() < 64) {
        if (input.size() - pos < 2) {
            messages.push_back(input.sliced(pos).toByteArray());
            break;
        }
        const qsizetype length = static_cast<quint8>(input[pos])
                | qsizetype(static_cast<quint8>(input[pos + 1])) << 8;
        pos += 2;
        const qsizetype n = qMin(length, input.size() - pos);
        messages.push_back(input.sliced(pos, n).toByteArray());
        pos += n;
    }
    return messages;
}

void checkSize(const Outcome &outcome, Status status, const Config &config)
{
    // Within one output step of the limit (written so that a limit of
    // INT64_MAX cannot overflow); in fact within one byte, the one that shows
    // the limit is passed.
    FUZZ_CHECK(outcome.data.size() - config.limit <= Inflater::OutputStep);
    if (status == Status::Ok)
        FUZZ_CHECK(outcome.data.size() <= config.limit);
    if (status == Status::TooBig)
        FUZZ_CHECK(outcome.data.size() == config.limit + 1);
    if (status == Status::Corrupt)
        FUZZ_CHECK(outcome.data.size() <= config.limit);
}

// Feeds every message in the pieces \a nextSize cuts, checking each call.
template<typename NextSize>
std::vector<Outcome> inflateAll(const Config &config, const std::vector<QByteArray> &messages,
                                NextSize nextSize)
{
    Inflater inflater(config.windowBits, config.takeover);
    FUZZ_CHECK(inflater.memoryUsage() == 0); // nothing until the first compressed byte
    std::vector<Outcome> outcomes;
    bool failedBefore = false;
    for (const QByteArray &message : messages) {
        Outcome outcome;
        Status status = Status::Ok; // of the first failing feed(), sticky from there
        for (qsizetype pos = 0; pos < message.size();) {
            const qsizetype n = qMin(nextSize(), message.size() - pos);
            const qsizetype sizeBefore = outcome.data.size();
            const qint64 consumedBefore = inflater.messageConsumed();
            const Status fed = inflater.feed(message.sliced(pos, n), outcome.data, config.limit);
            pos += n;
            FUZZ_CHECK(inflater.status() == fed);
            if (status != Status::Ok) { // failed earlier: the piece is ignored
                FUZZ_CHECK(fed == status);
                FUZZ_CHECK(outcome.data.size() == sizeBefore);
                FUZZ_CHECK(inflater.messageConsumed() == consumedBefore);
            }
            if (config.takeover && failedBefore)
                FUZZ_CHECK(fed == Status::Corrupt); // the shared window is gone for good
            if (fed == Status::Ok) {
                FUZZ_CHECK(inflater.messageSize() == outcome.data.size());
                FUZZ_CHECK(inflater.messageConsumed() == pos); // takes all it is given
                FUZZ_CHECK(inflater.memoryUsage() > 0 || pos == 0);
            } else {
                FUZZ_CHECK(inflater.memoryUsage() == 0); // released on failure
            }
            status = fed;
            checkSize(outcome, fed, config);
        }
        const qsizetype sizeBefore = outcome.data.size();
        outcome.status = inflater.finish(outcome.data, config.limit);
        if (status != Status::Ok) {
            FUZZ_CHECK(outcome.status == status);
            FUZZ_CHECK(outcome.data.size() == sizeBefore);
        }
        if (config.takeover && failedBefore)
            FUZZ_CHECK(outcome.status == Status::Corrupt);
        if (message.isEmpty() && !(config.takeover && failedBefore))
            FUZZ_CHECK(outcome.status == Status::Ok && outcome.data.isEmpty());
        checkSize(outcome, outcome.status, config);
        // finish() starts the next message.
        FUZZ_CHECK(inflater.messageSize() == 0 && inflater.messageConsumed() == 0);
        failedBefore = failedBefore || outcome.status != Status::Ok;
        FUZZ_CHECK(inflater.status()
                   == (config.takeover && failedBefore ? Status::Corrupt : Status::Ok));
        if (!config.takeover || failedBefore)
            FUZZ_CHECK(inflater.memoryUsage() == 0);
        outcomes.push_back(outcome);
    }
    return outcomes;
}

// A one-shot zlib inflate of each payload plus tail, as an independent
// reading: where it is sure, the inflater must say the same. It stops being
// sure at a BFINAL block (zlib stops there, the inflater reads on), and under
// takeover after any failure.
void compareWithZlib(const Config &config, const std::vector<QByteArray> &messages,
                     const std::vector<Outcome> &outcomes)
{
    z_stream zs{};
    FUZZ_CHECK(inflateInit2(&zs, -config.windowBits) == Z_OK);
    const qint64 cap = qMin<qint64>(config.limit, 8 << 20) + 1;
    QByteArray buffer(qsizetype(cap), Qt::Uninitialized);
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].isEmpty()) {
            FUZZ_CHECK(outcomes[i].status == Status::Ok && outcomes[i].data.isEmpty());
            continue;
        }
        if (!config.takeover)
            inflateReset(&zs);
        const QByteArray in = messages[i] + Tail;
        zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
        zs.avail_in = uInt(in.size());
        zs.next_out = reinterpret_cast<Bytef *>(buffer.data());
        zs.avail_out = uInt(buffer.size());
        const int ret = inflate(&zs, Z_SYNC_FLUSH);
        const qsizetype produced = buffer.size() - qsizetype(zs.avail_out);
        const QByteArrayView data(buffer.constData(), produced);
        const Outcome &ours = outcomes[i];
        if (ret == Z_STREAM_END)
            break;
        bool failed = true;
        if (produced > config.limit) {
            FUZZ_CHECK(ours.status == Status::TooBig);
            FUZZ_CHECK(ours.data == data.first(qsizetype(config.limit + 1)));
        } else if (ret == Z_DATA_ERROR) {
            FUZZ_CHECK(ours.status == Status::Corrupt);
            FUZZ_CHECK(ours.data == data);
        } else {
            FUZZ_CHECK(ret == Z_OK || ret == Z_BUF_ERROR);
            FUZZ_CHECK(zs.avail_in == 0);
            const bool atBlockBoundary = zs.data_type & 128;
            FUZZ_CHECK(ours.status == (atBlockBoundary ? Status::Ok : Status::Corrupt));
            FUZZ_CHECK(ours.data == data);
            failed = !atBlockBoundary;
        }
        if (failed && config.takeover)
            break;
    }
    inflateEnd(&zs);
}

void fuzzNegotiation(QByteArrayView text, uint8_t control)
{
    DeflateSettings settings;
    settings.enabled = true;
    settings.clientMaxWindowBits = 8 + (control & 7);
    settings.clientContextTakeover = control & 8;
    const QList<QByteArray> fields = text.toByteArray().split('\n');
    const std::optional<DeflateParameters> agreed = negotiateDeflate(fields, settings);
    // Several fields are one comma-separated list (RFC 6455 §9.1).
    FUZZ_CHECK(negotiateDeflate({fields.join(',')}, settings) == agreed);
    if (!agreed)
        return;
    FUZZ_CHECK(text.contains("permessage-deflate"));
    FUZZ_CHECK(agreed->serverNoContextTakeover);
    FUZZ_CHECK(agreed->clientNoContextTakeover || settings.clientContextTakeover);
    FUZZ_CHECK(agreed->serverWindowBits() >= 9 && agreed->serverWindowBits() <= 15);
    FUZZ_CHECK(agreed->clientWindowBits() >= 8 && agreed->clientWindowBits() <= 15);
    if (agreed->clientMaxWindowBits)
        FUZZ_CHECK(*agreed->clientMaxWindowBits <= settings.clientMaxWindowBits);
    const QByteArray response = agreed->responseValue();
    FUZZ_CHECK(response.startsWith("permessage-deflate"));
    // Our answer, offered back, is accepted unchanged.
    FUZZ_CHECK(negotiateDeflate({response}, settings) == agreed);
    settings.enabled = false;
    FUZZ_CHECK(!negotiateDeflate(fields, settings));
}

void printOutcomes(const char *how, const std::vector<Outcome> &outcomes)
{
    for (size_t i = 0; i < outcomes.size(); ++i) {
        fprintf(stderr, "fed %s: message %zu: status %d, %lld bytes\n", how, i,
                int(outcomes[i].status), qlonglong(outcomes[i].data.size()));
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    Config config;
    config.windowBits = 8 + (data[0] & 7);
    config.takeover = data[0] & 8;
    config.limit = Limits[data[0] >> 4];
    uint32_t seed = data[1] * 2654435761u + 1;
    const qsizetype maxChunk = 1 + data[1] % 61;
    const QByteArrayView input(reinterpret_cast<const char *>(data) + 2, qsizetype(size - 2));

    fuzzNegotiation(input, data[0]);

    const std::vector<QByteArray> messages = splitMessages(input);
    const std::vector<Outcome> whole
            = inflateAll(config, messages, [] { return std::numeric_limits<qsizetype>::max(); });
    const std::vector<Outcome> bytes = inflateAll(config, messages, [] { return qsizetype(1); });
    const std::vector<Outcome> chunks = inflateAll(config, messages, [&] {
        return qsizetype(FuzzCheck::nextRandom(seed) % (maxChunk + 1));
    });

    // How the bytes were cut must not matter. Below 15 window bits it may, for
    // a client that refers back past the agreed window: zlib reads such a
    // reference from the output of the same call too, so it is caught or not
    // depending on the cuts. The readings must agree wherever neither saw that.
    bool diverged = false;
    for (size_t i = 0; i < messages.size(); ++i) {
        for (const std::vector<Outcome> *other : {&bytes, &chunks}) {
            const Outcome &a = whole[i];
            const Outcome &b = (*other)[i];
            if (config.windowBits == 15) {
                if (!(a == b)) {
                    printOutcomes("in one piece", whole);
                    printOutcomes("byte by byte", bytes);
                    printOutcomes("in chunks", chunks);
                }
                FUZZ_CHECK(a == b);
            } else if (!diverged) {
                if (a.status != b.status)
                    FUZZ_CHECK(a.status == Status::Corrupt || b.status == Status::Corrupt);
                else if (a.status != Status::Corrupt)
                    FUZZ_CHECK(a.data == b.data);
                diverged = config.takeover && a.status != b.status;
            }
        }
    }

    // Without takeover a message depends on nothing before it.
    if (!config.takeover) {
        for (size_t i = 0; i < messages.size(); ++i) {
            const std::vector<Outcome> alone = inflateAll(
                    config, {messages[i]}, [] { return std::numeric_limits<qsizetype>::max(); });
            FUZZ_CHECK(alone.front() == whole[i]);
        }
    }

    if (config.windowBits == 15)
        compareWithZlib(config, messages, whole);
    return 0;
}
