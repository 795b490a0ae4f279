// libFuzzer target for the front door: parseRequestHead() and the ConnectionGuard
// state machine (server/httpguard.h).
//
// Input: two control bytes, then the bytes a client sends.
//   byte 0  limits: even = the defaults; odd = small limits derived from the
//           byte, so the fuzzer reaches the 431/413 edges with short inputs
//   byte 1  seed for the split points of the third feeding (below)
//
// The client bytes are fed to three fresh guards: in one piece, byte by byte,
// and in chunks whose sizes come from byte 1. Each run is checked on its own
// (feedAll, checkAgainstInput), and the three must end the same way: same
// verdict, same released, upgraded and reply bytes (an error reply's status,
// not its message), same completed requests. What the guard passes on must
// pass a fresh guard unchanged, and after a WebSocket upgrade it must carry the
// messages the client sent, unmasked (decoded here independently).

#include "net/httpguard.h"

#include <QtCore/QByteArray>
#include <QtCore/QLoggingCategory>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

HttpLimits limitsFor(uint8_t control)
{
    HttpLimits limits;
    if ((control & 1) == 0)
        return limits;
    limits.maxHeaderSize = 24 + ((control >> 1) & 7) * 16; // 24 .. 136 bytes
    limits.maxHeaderFields = (control >> 4) & 3; // 0 .. 3
    limits.maxBodySize = ((control >> 6) & 3) * 8; // 0 .. 24 bytes
    limits.maxWebSocketMessage = 16 + ((control >> 4) & 3) * 16; // 16 .. 64 bytes
    return limits;
}

struct Outcome
{
    QByteArray release;
    QByteArray upgraded;
    QByteArray reply;
    QList<bool> completed;
    int refusedStatus = 0;
    bool closed = false;
    ConnectionGuard::State state = ConnectionGuard::State::Head;
    bool inHead = false;

    bool operator==(const Outcome &) const = default;
};

void printOutcome(const char *how, const Outcome &out)
{
    fprintf(stderr,
            "fed %s: refused %d, closed %d, state %d, inHead %d, %lld completed, "
            "released %lld bytes, upgraded %lld bytes, reply:\n%s\n",
            how, out.refusedStatus, int(out.closed), int(out.state), int(out.inHead),
            qlonglong(out.completed.size()), qlonglong(out.release.size()),
            qlonglong(out.upgraded.size()), out.reply.toPercentEncoding(" /:{},\"").constData());
}

bool isKnownRefusal(int status)
{
    switch (status) {
    case 400:
    case 413:
    case 417:
    case 431:
    case 501:
    case 505:
        return true;
    default:
        // A WebSocket close code, after an upgrade: 1002 for an unmasked client frame.
        return status >= 1000 && status < 5000;
    }
}

// Feeds \a input in the pieces \a nextSize cuts, checking each feed() result.
template<typename NextSize>
Outcome feedAll(const HttpLimits &limits, QByteArrayView input, NextSize nextSize)
{
    ConnectionGuard guard(limits);
    Outcome out;
    for (qsizetype pos = 0; pos < input.size();) {
        const qsizetype n = qMin(nextSize(), input.size() - pos);
        const bool wasClosed = guard.state() == ConnectionGuard::State::Closed;
        const bool wasUpgraded = guard.state() == ConnectionGuard::State::Upgraded;
        const ConnectionGuard::Result r = guard.feed(input.sliced(pos, n));
        pos += n;

        if (wasClosed) { // a closed (refused or finished) guard lets nothing more through
            FUZZ_CHECK(r.release.isEmpty() && r.upgraded.isEmpty() && r.reply.isEmpty());
            FUZZ_CHECK(r.completed.isEmpty() && r.refusedStatus == 0);
        }
        if (wasUpgraded) {
            // After the upgrade only WebSocket frames pass (checkAgainstInput checks them).
            FUZZ_CHECK(r.release.isEmpty() && r.completed.isEmpty());
            FUZZ_CHECK(r.refusedStatus == 0 || r.refusedStatus >= 1000);
        }
        if (r.refusedStatus >= 1000) // only after an upgrade head, in this piece or earlier
            FUZZ_CHECK(wasUpgraded || !r.release.isEmpty());
        if (!out.upgraded.isEmpty() || !r.upgraded.isEmpty()) {
            FUZZ_CHECK(guard.state() == ConnectionGuard::State::Upgraded
                       || (guard.state() == ConnectionGuard::State::Closed
                           && (out.refusedStatus >= 1000 || r.refusedStatus >= 1000)));
        }
        if (!out.upgraded.isEmpty())
            FUZZ_CHECK(r.release.isEmpty());
        if (r.refusedStatus != 0) {
            FUZZ_CHECK(isKnownRefusal(r.refusedStatus));
            FUZZ_CHECK(out.refusedStatus == 0); // refused once at most
            FUZZ_CHECK(r.close && guard.state() == ConnectionGuard::State::Closed);
            if (r.refusedStatus >= 1000) { // ends with a Close frame with that code
                const qsizetype at = r.reply.lastIndexOf('\x88');
                FUZZ_CHECK(at >= 0 && r.reply.size() - at >= 4);
                FUZZ_CHECK(static_cast<quint8>(r.reply[at + 1]) == r.reply.size() - at - 2);
                const int code = static_cast<quint8>(r.reply[at + 2]) << 8
                        | static_cast<quint8>(r.reply[at + 3]);
                FUZZ_CHECK(code == r.refusedStatus);
            } else {
                const QByteArray statusLine("HTTP/1.1 " + QByteArray::number(r.refusedStatus)
                                            + ' ');
                FUZZ_CHECK(r.reply.contains(statusLine));
            }
        }
        if (r.close)
            FUZZ_CHECK(guard.state() == ConnectionGuard::State::Closed);

        out.release += r.release;
        out.upgraded += r.upgraded;
        out.reply += r.reply;
        out.completed += r.completed;
        if (r.refusedStatus != 0)
            out.refusedStatus = r.refusedStatus;
        out.closed = out.closed || r.close;
    }
    if (out.refusedStatus != 0 && out.refusedStatus < 1000) {
        // Where a bad request is refused, its error message may name a different
        // flaw depending on how the bytes arrived; the status may not differ.
        const QByteArray statusLine("HTTP/1.1 " + QByteArray::number(out.refusedStatus) + ' ');
        out.reply.truncate(out.reply.lastIndexOf(statusLine) + statusLine.size());
    }
    out.state = guard.state();
    out.inHead = guard.inHead();
    if (out.closed || out.refusedStatus != 0)
        FUZZ_CHECK(out.state == ConnectionGuard::State::Closed);
    return out;
}

// A client-to-server WebSocket stream (RFC 6455 §5), decoded independently of the guard.
struct WebSocketStream
{
    QList<std::pair<int, QByteArray>> messages; //!< complete data messages: opcode, payload
    QList<std::pair<int, QByteArray>> controls; //!< complete control frames, in order
    bool wrongMasking = false; //!< decoding stopped at a frame masked other than expected
    bool tooBig = false; //!< decoding stopped where a fragmented text message outgrew the limit
    bool clean = true; //!< every frame so far follows §5.2-5.5 (no extensions)
};

// \a masked: a client's frames must be masked (RFC 6455 §5.1); the guard hands Qt
// the same frames unmasked.
WebSocketStream decodeWebSocket(QByteArrayView stream, qint64 maxJoined, bool masked)
{
    WebSocketStream out;
    int messageOpcode = 0; // of the fragmented message under way, 0 when none
    QByteArray message;
    qsizetype i = 0;
    while (stream.size() - i >= 2) {
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
        // A frame's header is judged as soon as it is complete, as the guard may.
        const bool fin = byte0 & 0x80;
        const int opcode = byte0 & 0x0f;
        const bool control = opcode >= 8 && opcode <= 10;
        const bool data = opcode == 1 || opcode == 2;
        if ((byte0 & 0x70) || (length >> 63) || (control && (!fin || length > 125))
            || (data && messageOpcode != 0) || (opcode == 0 && messageOpcode == 0)
            || (!control && !data && opcode != 0)) {
            out.clean = false;
        }
        // Fragmented text is joined by the guard, up to a limit (1009 beyond).
        const bool joined
                = out.clean && ((opcode == 1 && !fin) || (opcode == 0 && messageOpcode == 1));
        const qint64 available = qMin<quint64>(length, quint64(stream.size() - i - header));
        if (joined && (opcode == 1 ? 0 : message.size()) + available > maxJoined) {
            out.tooBig = true;
            return out;
        }
        if (quint64(stream.size() - i - header) < length)
            return out; // payload incomplete
        QByteArray payload = stream.sliced(i + header, qsizetype(length)).toByteArray();
        for (qsizetype k = 0; masked && k < payload.size(); ++k)
            payload[k] = char(payload[k] ^ stream[i + 2 + extended + k % 4]);
        i += header + qsizetype(length);
        if (!out.clean)
            continue; // nothing to compare after a protocol error

        if (control) {
            out.controls.append({opcode, payload});
        } else if (data && fin) {
            out.messages.append({opcode, payload});
        } else if (data) {
            messageOpcode = opcode;
            message = payload;
        } else {
            message += payload;
            if (fin) {
                out.messages.append({messageOpcode, message});
                messageOpcode = 0;
                message.clear();
            }
        }
    }
    return out;
}

// What the guard passed on must be the input with only empty lines between
// requests taken out, up to a point: after it comes a request head still
// arriving, the WebSocket stream after an upgrade, or bytes dropped on close.
void checkAgainstInput(const Outcome &out, QByteArrayView input, const HttpLimits &limits)
{
    qsizetype in = 0;
    for (const char c : out.release) {
        while (in < input.size() && input[in] != c) {
            FUZZ_CHECK(input[in] == '\r' || input[in] == '\n');
            ++in;
        }
        FUZZ_CHECK(in < input.size()); // every released byte comes from the input, in order
        ++in;
    }
    const QByteArrayView rest = input.sliced(in);
    qsizetype restStart = 0;
    while (restStart < rest.size() && (rest[restStart] == '\r' || rest[restStart] == '\n'))
        ++restStart;
    const qsizetype pending = rest.size() - restStart;
    switch (out.state) {
    case ConnectionGuard::State::Body:
    case ConnectionGuard::State::ChunkedBody:
        FUZZ_CHECK(rest.isEmpty()); // body bytes are passed on at once
        break;
    case ConnectionGuard::State::Head:
        // A request head still arriving; never longer than the limit allows.
        FUZZ_CHECK(pending == 0 || out.inHead);
        FUZZ_CHECK(pending <= limits.maxHeaderSize + 4);
        break;
    case ConnectionGuard::State::Upgraded:
    case ConnectionGuard::State::Closed:
        break;
    }
    // Every completed request was released: its head at least.
    FUZZ_CHECK(out.completed.isEmpty() || !out.release.isEmpty());

    const bool upgraded
            = out.state == ConnectionGuard::State::Upgraded || out.refusedStatus >= 1000;
    FUZZ_CHECK(upgraded || out.upgraded.isEmpty());
    if (!upgraded)
        return;
    // After the upgrade: Qt is given unmasked frames only, and the messages the
    // client sent (fragmented text may be joined, which moves control frames
    // sent between fragments ahead of it, so the two are compared apart).
    const WebSocketStream sent = decodeWebSocket(rest, limits.maxWebSocketMessage, true);
    const WebSocketStream passed = decodeWebSocket(out.upgraded, limits.maxWebSocketMessage, false);
    FUZZ_CHECK(!passed.wrongMasking);
    FUZZ_CHECK(out.upgraded.size() <= rest.size());
    if (sent.wrongMasking || sent.tooBig)
        FUZZ_CHECK(out.refusedStatus >= 1000 && out.state == ConnectionGuard::State::Closed);
    if (sent.clean) {
        const int expected = sent.wrongMasking ? 1002 : sent.tooBig ? 1009 : 0;
        if (out.refusedStatus != expected)
            printOutcome("a clean WebSocket stream", out);
        FUZZ_CHECK(out.refusedStatus == expected);
        FUZZ_CHECK(passed.messages == sent.messages);
        FUZZ_CHECK(passed.controls == sent.controls);
    }
}

void fuzzParseRequestHead(QByteArrayView head, const HttpLimits &limits)
{
    HttpRefusal refusal;
    const std::optional<RequestHead> parsed = parseRequestHead(head, limits, &refusal);
    if (!parsed) {
        FUZZ_CHECK(refusal.status < 1000 && isKnownRefusal(refusal.status));
        FUZZ_CHECK(!refusal.message.isEmpty());
        return;
    }
    FUZZ_CHECK(head.size() <= limits.maxHeaderSize);
    FUZZ_CHECK(!head.contains('\0'));
    FUZZ_CHECK(!parsed->method.isEmpty() && !parsed->target.isEmpty());
    FUZZ_CHECK(head.startsWith(QByteArray(parsed->method + ' ' + parsed->target + " HTTP/1.")));
    FUZZ_CHECK(parsed->minorVersion == 0 || parsed->minorVersion == 1);
    FUZZ_CHECK(parsed->fields.size() <= limits.maxHeaderFields);
    FUZZ_CHECK(!parsed->contentLength || *parsed->contentLength >= 0);
    FUZZ_CHECK(!(parsed->contentLength && parsed->chunked));
    int hosts = 0;
    for (const auto &[name, value] : parsed->fields) {
        FUZZ_CHECK(!name.isEmpty() && name == name.toLower());
        FUZZ_CHECK(!value.contains('\r') && !value.contains('\n'));
        // The framing QtHttpServer will act on is the one the guard decided.
        if (name == "content-length")
            FUZZ_CHECK(parsed->contentLength
                       && value.split(',').first().trimmed().toLongLong()
                               == *parsed->contentLength);
        if (name == "transfer-encoding")
            FUZZ_CHECK(parsed->chunked);
        hosts += name == "host" ? 1 : 0;
    }
    FUZZ_CHECK(hosts == 1 || (hosts == 0 && parsed->minorVersion == 0));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    // parseRequestHead and the guard do not log, but keep Qt quiet if they ever do.
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const HttpLimits limits = limitsFor(data[0]);
    uint32_t seed = data[1] * 2654435761u + 1;
    const QByteArrayView input(reinterpret_cast<const char *>(data) + 2, qsizetype(size - 2));

    fuzzParseRequestHead(input, limits);

    const Outcome whole = feedAll(limits, input, [&] { return input.size(); });
    const Outcome bytes = feedAll(limits, input, [] { return qsizetype(1); });
    const qsizetype maxChunk = 1 + data[1] % 17;
    const Outcome chunks = feedAll(limits, input, [&] {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        return qsizetype(1 + seed % maxChunk);
    });
    for (const Outcome *out : {&whole, &bytes, &chunks})
        checkAgainstInput(*out, input, limits);

    // What QtHttpServer is given is itself a clean request stream: fed to a fresh
    // guard, it passes again unchanged. (A stream refused part-way through a body
    // ends with that body's bytes up to the refusal, so only accepted ones count.
    // Frames after an upgrade are checked by checkAgainstInput(): they are passed on
    // unmasked, which a client's stream must not be.)
    if (whole.refusedStatus == 0 || whole.refusedStatus >= 1000) {
        const QByteArray passed = whole.release;
        const Outcome again = feedAll(limits, passed, [&] { return passed.size(); });
        FUZZ_CHECK(again.refusedStatus == 0);
        FUZZ_CHECK(again.release == whole.release && again.upgraded.isEmpty());
        FUZZ_CHECK(again.completed == whole.completed);
    }

    // How the bytes were split across reads must not change anything.
    if (!(whole == bytes && whole == chunks)) {
        printOutcome("in one piece", whole);
        printOutcome("byte by byte", bytes);
        printOutcome("in chunks", chunks);
    }
    FUZZ_CHECK(whole.refusedStatus == bytes.refusedStatus);
    FUZZ_CHECK(whole.refusedStatus == chunks.refusedStatus);
    FUZZ_CHECK(whole.release == bytes.release && whole.release == chunks.release);
    FUZZ_CHECK(whole.upgraded == bytes.upgraded && whole.upgraded == chunks.upgraded);
    FUZZ_CHECK(whole.completed == bytes.completed && whole.completed == chunks.completed);
    FUZZ_CHECK(whole.state == bytes.state && whole.state == chunks.state);
    FUZZ_CHECK(whole == bytes && whole == chunks); // replies and inHead() too
    return 0;
}
