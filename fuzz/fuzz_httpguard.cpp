// libFuzzer target for the front door: parseRequestHead() and the ConnectionGuard
// state machine (server/net/httpguard.h).
//
// Input: two control bytes, then the bytes a client sends.
//   byte 0  limits: even = the defaults; odd = small limits derived from the
//           byte, so the fuzzer reaches the 431/413 edges with short inputs
//   byte 1  seed for the split points of the third feeding (below)
//
// The client bytes are fed to three fresh guards: in one piece, byte by byte,
// and in chunks whose sizes come from byte 1. Each run is checked on its own
// (feedAll, checkAgainstInput), and the three must end the same way: same
// verdict, same released bytes, upgrade head and bytes after it, reply bytes (an
// error reply's status, not its message), same completed requests. What the
// guard passes on must pass a fresh guard unchanged, must never name a field
// QtHttpServer could take for an upgrade, and a WebSocket upgrade head is
// never passed on: the bytes after it come back untouched. (The frames after an
// upgrade are fuzz_frames' part.)

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
    return limits;
}

struct Outcome
{
    QByteArray release;
    std::optional<RequestHead> upgrade;
    QByteArray afterUpgrade;
    QByteArray reply;
    QList<ConnectionGuard::Request> completed;
    bool rewroteHead = false;
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
            "released %lld bytes, upgrade %d, %lld bytes after it, reply:\n%s\n",
            how, out.refusedStatus, int(out.closed), int(out.state), int(out.inHead),
            qlonglong(out.completed.size()), qlonglong(out.release.size()), int(bool(out.upgrade)),
            qlonglong(out.afterUpgrade.size()),
            out.reply.toPercentEncoding(" /:{},\"").constData());
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
        return false;
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
            FUZZ_CHECK(r.release.isEmpty() && !r.upgrade && r.afterUpgrade.isEmpty());
            FUZZ_CHECK(r.reply.isEmpty() && r.completed.isEmpty() && r.refusedStatus == 0);
        }
        if (wasUpgraded) {
            // After the upgrade head the guard reads nothing: every byte comes back as it is.
            FUZZ_CHECK(r.release.isEmpty() && r.completed.isEmpty() && !r.upgrade);
            FUZZ_CHECK(r.reply.isEmpty() && r.refusedStatus == 0);
            FUZZ_CHECK(r.afterUpgrade == input.sliced(pos - n, n));
        }
        if (r.upgrade) {
            FUZZ_CHECK(!out.upgrade && guard.state() == ConnectionGuard::State::Upgraded);
            FUZZ_CHECK(r.upgrade->webSocketUpgrade && r.refusedStatus == 0);
            FUZZ_CHECK(!r.upgrade->chunked && r.upgrade->contentLength.value_or(0) == 0);
        }
        FUZZ_CHECK(r.afterUpgrade.isEmpty() || wasUpgraded || r.upgrade);
        if (r.refusedStatus != 0) {
            FUZZ_CHECK(isKnownRefusal(r.refusedStatus));
            FUZZ_CHECK(out.refusedStatus == 0); // refused once at most
            FUZZ_CHECK(r.close && guard.state() == ConnectionGuard::State::Closed);
            const QByteArray statusLine("HTTP/1.1 " + QByteArray::number(r.refusedStatus) + ' ');
            FUZZ_CHECK(r.reply.contains(statusLine));
        }
        if (r.close)
            FUZZ_CHECK(guard.state() == ConnectionGuard::State::Closed);

        out.release += r.release;
        if (r.upgrade)
            out.upgrade = r.upgrade;
        out.afterUpgrade += r.afterUpgrade;
        out.reply += r.reply;
        out.completed += r.completed;
        out.rewroteHead = out.rewroteHead || r.rewroteHead;
        if (r.refusedStatus != 0)
            out.refusedStatus = r.refusedStatus;
        out.closed = out.closed || r.close;
    }
    if (out.refusedStatus != 0) {
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

// What the guard passed on must be the input with only empty lines between
// requests taken out and the heads that named hop-by-hop upgrade fields rebuilt
// without them, up to a point: after it comes a request head still arriving, an
// upgrade head and the bytes after it, or bytes dropped on close.
void checkAgainstInput(const Outcome &out, QByteArrayView input, const HttpLimits &limits)
{
    // Every completed request was released: its head at least.
    FUZZ_CHECK(out.completed.isEmpty() || !out.release.isEmpty());
    for (const ConnectionGuard::Request &request : out.completed)
        FUZZ_CHECK(!request.head.webSocketUpgrade);
    if (out.upgrade) {
        // The bytes after the upgrade head are the end of the input, exactly.
        FUZZ_CHECK(input.endsWith(out.afterUpgrade));
        FUZZ_CHECK(out.state == ConnectionGuard::State::Upgraded);
    }
    for (const ConnectionGuard::Request &request : out.completed)
        FUZZ_CHECK(!request.head.needsRewrite || out.rewroteHead);
    if (out.rewroteHead)
        return; // the released bytes differ from the input's in those heads
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
        // The upgrade head, then what followed it.
        FUZZ_CHECK(rest.endsWith(out.afterUpgrade));
        break;
    case ConnectionGuard::State::Closed:
        break;
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
    const Outcome chunks = feedAll(
            limits, input, [&] { return qsizetype(1 + FuzzCheck::nextRandom(seed) % maxChunk); });
    for (const Outcome *out : {&whole, &bytes, &chunks})
        checkAgainstInput(*out, input, limits);

    // What QtHttpServer is given is itself a clean request stream: fed to a fresh
    // guard, it passes again unchanged, and as many requests. (A stream refused
    // part-way through a body ends with that body's bytes up to the refusal, so only
    // accepted ones count; a rebuilt head no longer names Connection, so whether to
    // close after it is the first guard's to say.)
    if (whole.refusedStatus == 0) {
        const QByteArray passed = whole.release;
        const Outcome again = feedAll(limits, passed, [&] { return passed.size(); });
        FUZZ_CHECK(again.refusedStatus == 0);
        FUZZ_CHECK(again.release == whole.release && !again.upgrade);
        FUZZ_CHECK(again.completed.size() == whole.completed.size());
        // Nothing QtHttpServer (6.4 to 6.8) could take for an upgrade of its own, or
        // answer 100 Continue to: no head it parses names Upgrade, Expect or a
        // Connection with "upgrade" in it.
        FUZZ_CHECK(!again.rewroteHead);
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
    FUZZ_CHECK(whole.upgrade == bytes.upgrade && whole.upgrade == chunks.upgrade);
    FUZZ_CHECK(whole.afterUpgrade == bytes.afterUpgrade
               && whole.afterUpgrade == chunks.afterUpgrade);
    FUZZ_CHECK(whole.completed == bytes.completed && whole.completed == chunks.completed);
    FUZZ_CHECK(whole.state == bytes.state && whole.state == chunks.state);
    FUZZ_CHECK(whole == bytes && whole == chunks); // replies and inHead() too
    return 0;
}
