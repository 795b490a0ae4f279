// libFuzzer target for the client frame reader (server/websocket/framecodec.h): what
// a WebSocket client sends after the upgrade, before QWebSocket sees any of it.
//
// Input: three control bytes, then the client's bytes.
//   byte 0  bits 0-1: the message size limit (16, 64, 1024 or 1 MiB)
//           bit 2: permessage-deflate agreed; bit 3: with client context takeover
//           bit 4: build mode (below)
//   byte 1  seed for the split points of the third feeding
//   byte 2  seed for build mode's choices
//
// Raw mode feeds the bytes as they are, to three fresh readers: in one piece,
// byte by byte, and in chunks; all three must end the same way, and what Qt is
// given must be well-formed, unmasked and within the limit. For a stream that
// uses no extension, the messages must be exactly those an independent decoder
// finds in the input. Build mode makes a valid stream of the input instead:
// messages cut from it, some compressed (with zlib, as a client would), some
// fragmented, with pings between fragments; the reader must give back exactly
// those messages, or 1009 where one is over the limit.

#include "websocket/framecodec.h"

#include <QtCore/QByteArray>
#include <QtCore/QLoggingCategory>

#include <cstdint>
#include <cstdio>

#include "clientframe.h"
#include "deflateutil.h"
#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

struct Message
{
    int opcode = 0;
    QByteArray payload;
    bool operator==(const Message &) const = default;
};

struct Decoded
{
    QList<Message> messages; //!< whole data messages, fragments joined
    QList<Message> controls;
    bool wellFormed = true; //!< RFC 6455 §5 holds, with no extension bits
    bool tooBig = false; //!< a message's header took it over the limit
    bool wrongMasking = false;
};

// An independent decoder of a frame stream: masked (a client's) or not (what Qt gets).
Decoded decode(QByteArrayView stream, bool masked, qint64 limit)
{
    Decoded out;
    int messageOpcode = 0;
    QByteArray message;
    qsizetype i = 0;
    while (stream.size() - i >= 2 && out.wellFormed) {
        const auto byte0 = static_cast<quint8>(stream[i]);
        const auto byte1 = static_cast<quint8>(stream[i + 1]);
        if (bool(byte1 & 0x80) != masked) {
            out.wrongMasking = true;
            return out;
        }
        quint64 length = byte1 & 0x7f;
        const qsizetype extended = length == 126 ? 2 : length == 127 ? 8 : 0;
        const qsizetype header = 2 + extended + (masked ? 4 : 0);
        if (stream.size() - i < header)
            return out;
        if (extended) {
            length = 0;
            for (qsizetype k = 0; k < extended; ++k)
                length = (length << 8) | static_cast<quint8>(stream[i + 2 + k]);
        }
        const bool fin = byte0 & 0x80;
        const int opcode = byte0 & 0x0f;
        const bool control = opcode >= 8 && opcode <= 10;
        const bool data = opcode == 1 || opcode == 2;
        if ((byte0 & 0x70) || (control && (!fin || length > 125)) || (data && messageOpcode != 0)
            || (opcode == 0 && messageOpcode == 0) || (!control && !data && opcode != 0)) {
            out.wellFormed = false;
            return out;
        }
        if (!control && quint64(message.size()) + length > quint64(limit)) {
            out.tooBig = true;
            return out;
        }
        if (quint64(stream.size() - i - header) < length)
            return out; // payload incomplete
        QByteArray payload = stream.sliced(i + header, qsizetype(length)).toByteArray();
        for (qsizetype k = 0; masked && k < payload.size(); ++k)
            payload[k] = char(payload[k] ^ stream[i + 2 + extended + k % 4]);
        i += header + qsizetype(length);
        if (control) {
            out.controls.append({opcode, payload});
            continue;
        }
        if (data)
            messageOpcode = opcode;
        message += payload;
        if (fin) {
            out.messages.append({messageOpcode, message});
            messageOpcode = 0;
            message.clear();
        }
    }
    return out;
}

struct Outcome
{
    QByteArray forReader;
    QByteArray reply;
    quint16 closeCode = 0;
    quint64 wireBytes = 0;
    bool operator==(const Outcome &) const = default;
};

template<typename NextSize>
Outcome feedAll(qint64 limit, const std::optional<DeflateParameters> &deflate, QByteArrayView input,
                NextSize nextSize)
{
    ClientFrameReader reader(limit, deflate);
    Outcome out;
    for (qsizetype pos = 0; pos < input.size();) {
        const qsizetype n = qMin(nextSize(), input.size() - pos);
        StreamFilter::Output piece;
        reader.feed(input.sliced(pos, n), piece);
        pos += n;
        if (out.closeCode != 0) // refused: nothing more is read
            FUZZ_CHECK(piece.forReader.isEmpty() && piece.reply.isEmpty() && !piece.closeCode);
        if (piece.closeCode != 0) {
            FUZZ_CHECK(piece.closeCode == 1002 || piece.closeCode == 1007
                       || piece.closeCode == 1009);
            // Ends with a close frame carrying that code.
            FUZZ_CHECK(piece.reply.size() >= 4 && quint8(piece.reply[0]) == 0x88);
            FUZZ_CHECK((quint8(piece.reply[2]) << 8 | quint8(piece.reply[3])) == piece.closeCode);
            out.closeCode = piece.closeCode;
        } else {
            FUZZ_CHECK(piece.reply.isEmpty());
        }
        out.forReader += piece.forReader;
        out.reply += piece.reply;
    }
    out.wireBytes = reader.wireBytes();
    return out;
}

// What Qt is given: unmasked, no reserved bits, whole messages within the limit.
void checkForReader(const Outcome &out, qint64 limit)
{
    const Decoded given = decode(out.forReader, false, limit);
    FUZZ_CHECK(!given.wrongMasking && given.wellFormed && !given.tooBig);
}

/*! The four mask bytes of \a key, lowest first. */
QByteArray maskOf(quint32 key)
{
    const char bytes[4] = {char(key), char(key >> 8), char(key >> 16), char(key >> 24)};
    return QByteArray(bytes, 4);
}

struct Built
{
    QByteArray stream;
    QList<Message> messages;
};

Built build(QByteArrayView input, bool deflate, bool takeover, uint32_t seed)
{
    const auto next = [&seed] {
        return FuzzCheck::nextRandom(seed);
    };
    Built out;
    TestUtil::ClientCompressor compressor(15, takeover);
    for (qsizetype pos = 0; pos < input.size();) {
        const qsizetype size = qMin<qsizetype>(next() % 300, input.size() - pos);
        const QByteArrayView payload = input.sliced(pos, size);
        pos += size;
        const bool text = next() % 2; // any bytes: UTF-8 is Qt's to check, not the reader's
        const bool compressed = deflate && next() % 2;
        const QByteArray wire = compressed ? compressor.compress(payload) : payload.toByteArray();
        const int fragments = 1 + int(next() % 3);
        const qsizetype step = wire.size() / fragments + 1;
        for (int k = 0; k < fragments; ++k) {
            const bool first = k == 0;
            const bool last = k == fragments - 1;
            const quint8 opcode = first ? (text ? 1 : 2) : 0;
            const quint8 byte0
                    = quint8((last ? 0x80 : 0) | (first && compressed ? 0x40 : 0) | opcode);
            out.stream += TestUtil::maskedFrame(byte0, wire.mid(k * step, step), maskOf(next()));
            if (!last && next() % 4 == 0)
                out.stream += TestUtil::maskedFrame(0x89, "p", maskOf(next()));
        }
        out.messages.append({text ? 1 : 2, payload.toByteArray()});
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static constexpr qint64 limits[] = {16, 64, 1024, 1024 * 1024};
    const qint64 limit = limits[data[0] & 3];
    const bool deflate = data[0] & 4;
    const bool takeover = data[0] & 8;
    const bool buildMode = data[0] & 16;
    std::optional<DeflateParameters> parameters;
    if (deflate) {
        parameters.emplace();
        parameters->clientNoContextTakeover = !takeover;
    }
    uint32_t seed = data[1] * 2654435761u + 1;
    const QByteArrayView raw(reinterpret_cast<const char *>(data) + 3, qsizetype(size - 3));

    Built built;
    if (buildMode)
        built = build(raw, deflate, takeover, data[2] * 2246822519u + 7);
    const QByteArrayView input = buildMode ? QByteArrayView(built.stream) : raw;

    const Outcome whole = feedAll(limit, parameters, input, [&] { return input.size(); });
    const Outcome bytes = feedAll(limit, parameters, input, [] { return qsizetype(1); });
    const qsizetype maxChunk = 1 + data[1] % 17;
    const Outcome chunks = feedAll(limit, parameters, input, [&] {
        return qsizetype(1 + FuzzCheck::nextRandom(seed) % maxChunk);
    });
    for (const Outcome *out : {&whole, &bytes, &chunks})
        checkForReader(*out, limit);
    // How the bytes were split across reads must not change anything.
    FUZZ_CHECK(whole == bytes && whole == chunks);

    const Decoded given = decode(whole.forReader, false, limit);
    if (buildMode) {
        QList<Message> expected;
        bool overLimit = false;
        for (const Message &message : built.messages) {
            if (message.payload.size() > limit) {
                overLimit = true;
                break;
            }
            expected.append(message);
        }
        FUZZ_CHECK(whole.closeCode == (overLimit ? 1009 : 0));
        if (!overLimit)
            FUZZ_CHECK(given.messages == expected);
        else
            FUZZ_CHECK(given.messages
                       == expected.first(qMin(given.messages.size(), expected.size())));
        return 0;
    }
    // A client stream without extension bits: the reader passes exactly its messages
    // and controls (joined text moves the controls between its fragments ahead of it,
    // so the two are compared apart), and refuses what breaks the rules.
    const Decoded sent = decode(raw, true, limit);
    if (sent.wrongMasking || sent.tooBig || (!sent.wellFormed && !deflate)) {
        FUZZ_CHECK(whole.closeCode != 0);
        return 0;
    }
    if (sent.wellFormed) {
        FUZZ_CHECK(whole.closeCode == 0);
        FUZZ_CHECK(given.messages == sent.messages);
        FUZZ_CHECK(given.controls == sent.controls);
    }
    return 0;
}
