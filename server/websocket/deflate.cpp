#include "websocket/deflate.h"

#include "net/httpguard.h"

#include "logging.h"

#include <QtCore/QtGlobal>

#include <zlib.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace Switchboard {

namespace {

// zlib counts in uInt: hand it large inputs in pieces of at most this.
constexpr qsizetype MaxZlibChunk = qsizetype(1) << 30;

/*! What is left of one input, given to zlib a piece at a time. */
class ZlibInput
{
public:
    explicit ZlibInput(QByteArrayView input) : m_next(input.data()), m_left(input.size()) { }

    /*! Gives \a zs the next piece once it has used up the last one. */
    void refill(z_stream &zs)
    {
        if (zs.avail_in != 0 || m_left == 0)
            return;
        const qsizetype piece = qMin(m_left, MaxZlibChunk);
        zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(m_next));
        zs.avail_in = uInt(piece);
        m_next += piece;
        m_left -= piece;
    }
    /*! Whether zlib has been given the last piece (it may not have used it up). */
    bool lastPieceGiven() const { return m_left == 0; }
    /*! Whether zlib has used up all the input. */
    bool exhausted(const z_stream &zs) const { return zs.avail_in == 0 && m_left == 0; }

private:
    const char *m_next;
    qsizetype m_left;
};

// The empty stored block a sync flush ends with; senders strip it, receivers
// put it back (RFC 7692 §7.2.1, §7.2.2).
constexpr char SyncTail[4] = {'\x00', '\x00', '\xff', '\xff'};

/*
    zlib allocator that counts the bytes it hands out, so memoryUsage() can tell
    what a connection really holds. The block's size is kept in front of it,
    padded so zlib still gets malloc's alignment.
*/
constexpr std::size_t AllocationHeader = alignof(std::max_align_t);

voidpf countingAlloc(voidpf opaque, uInt items, uInt size)
{
    const std::size_t bytes = std::size_t(items) * size;
    void *block = std::malloc(bytes + AllocationHeader);
    if (!block)
        return Z_NULL;
    std::memcpy(block, &bytes, sizeof bytes);
    *static_cast<qsizetype *>(opaque) += qsizetype(bytes);
    return static_cast<char *>(block) + AllocationHeader;
}

void countingFree(voidpf opaque, voidpf address)
{
    if (!address)
        return;
    char *block = static_cast<char *>(address) - AllocationHeader;
    std::size_t bytes;
    std::memcpy(&bytes, block, sizeof bytes);
    *static_cast<qsizetype *>(opaque) -= qsizetype(bytes);
    std::free(block);
}

// RFC 6455 §9.1 grammar, with the token (net/httpguard.h) and quoted-string rules of
// RFC 7230 §3.2.6.

struct ExtensionParam
{
    QByteArray name;
    std::optional<QByteArray> value;
};

struct ExtensionOffer
{
    QByteArray name;
    QList<ExtensionParam> params;
};

class ExtensionListParser
{
public:
    explicit ExtensionListParser(QByteArrayView text) : m_text(text) { }

    // Appends the field's extensions to \a offers; false if it breaks the grammar.
    bool parse(QList<ExtensionOffer> &offers)
    {
        // 1#extension, where a list may hold empty elements (RFC 7230 §7).
        skipSpace();
        while (!atEnd()) {
            if (peek() == ',') {
                ++m_pos;
                skipSpace();
                continue;
            }
            ExtensionOffer offer;
            if (!token(offer.name))
                return false;
            skipSpace();
            while (!atEnd() && peek() == ';') {
                ++m_pos;
                skipSpace();
                ExtensionParam param;
                if (!token(param.name))
                    return false;
                skipSpace();
                if (!atEnd() && peek() == '=') {
                    ++m_pos;
                    skipSpace();
                    QByteArray value;
                    const bool quoted = !atEnd() && peek() == '"';
                    if (!(quoted ? quotedToken(value) : token(value)))
                        return false;
                    param.value = value;
                    skipSpace();
                }
                offer.params.append(param);
            }
            offers.append(offer);
            if (atEnd())
                break;
            if (peek() != ',')
                return false;
        }
        return true;
    }

private:
    bool atEnd() const { return m_pos >= m_text.size(); }
    char peek() const { return m_text[m_pos]; }

    void skipSpace()
    {
        while (!atEnd() && (peek() == ' ' || peek() == '\t'))
            ++m_pos;
    }

    bool token(QByteArray &out)
    {
        const qsizetype start = m_pos;
        while (!atEnd() && isTokenChar(peek()))
            ++m_pos;
        out = m_text.sliced(start, m_pos - start).toByteArray();
        return !out.isEmpty();
    }

    // A quoted-string whose unescaped content must be a token (RFC 6455 §9.1).
    bool quotedToken(QByteArray &out)
    {
        ++m_pos; // the opening quote
        out.clear();
        while (!atEnd()) {
            const auto c = static_cast<unsigned char>(peek());
            ++m_pos;
            if (c == '"')
                return isToken(out);
            if (c == '\\') {
                if (atEnd())
                    return false;
                const auto escaped = static_cast<unsigned char>(peek());
                ++m_pos;
                if (escaped != '\t' && (escaped < 0x20 || escaped == 0x7f))
                    return false;
                out.append(char(escaped));
            } else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
                out.append(char(c));
            } else {
                return false;
            }
        }
        return false; // unterminated
    }

    QByteArrayView m_text;
    qsizetype m_pos = 0;
};

// "8" .. "15": a decimal without leading zeroes (RFC 7692 §7.1.2).
std::optional<int> windowBitsValue(const QByteArray &value)
{
    if (value.size() == 1 && value[0] >= '8' && value[0] <= '9')
        return value[0] - '0';
    if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5')
        return 10 + (value[1] - '0');
    return std::nullopt;
}

// One permessage-deflate offer, judged by RFC 7692 §7 and §7.1.
std::optional<DeflateParameters> acceptOffer(const ExtensionOffer &offer,
                                             const DeflateSettings &settings)
{
    enum Known { ServerNoTakeover, ClientNoTakeover, ServerBits, ClientBits, KnownCount };
    bool seen[KnownCount] = {};
    bool clientNoTakeover = false;
    bool clientBitsOffered = false;
    std::optional<int> serverBits;
    std::optional<int> clientBits;
    for (const ExtensionParam &param : offer.params) {
        Known known;
        if (param.name == "server_no_context_takeover")
            known = ServerNoTakeover;
        else if (param.name == "client_no_context_takeover")
            known = ClientNoTakeover;
        else if (param.name == "server_max_window_bits")
            known = ServerBits;
        else if (param.name == "client_max_window_bits")
            known = ClientBits;
        else
            return std::nullopt; // not defined for use in an offer
        if (seen[known])
            return std::nullopt; // the same parameter twice
        seen[known] = true;

        switch (known) {
        case ServerNoTakeover:
        case ClientNoTakeover:
            if (param.value)
                return std::nullopt;
            clientNoTakeover = clientNoTakeover || known == ClientNoTakeover;
            break;
        case ServerBits:
            if (!param.value)
                return std::nullopt;
            serverBits = windowBitsValue(*param.value);
            // §7.1.2.1: we may only answer with the same or a smaller value, and
            // zlib's raw deflate has no 256-byte window (deflateInit2 rejects -8;
            // its 512-byte window happens to keep distances under 256, but that
            // is an accident of its implementation, not a promise): decline 8.
            if (!serverBits || *serverBits < 9)
                return std::nullopt;
            break;
        case ClientBits:
            clientBitsOffered = true;
            if (param.value) {
                clientBits = windowBitsValue(*param.value);
                if (!clientBits)
                    return std::nullopt;
            }
            break;
        case KnownCount:
            break;
        }
    }

    DeflateParameters agreed;
    // §7.1.1.1: the server may always add server_no_context_takeover; we always
    // do, so a compressed message depends on nothing sent before it.
    agreed.serverNoContextTakeover = true;
    // §7.1.1.2: the server may always add client_no_context_takeover. When the
    // client offered it, it is answered even if our policy allows takeover:
    // the client will not use the window anyway, and we can then drop ours.
    agreed.clientNoContextTakeover = clientNoTakeover || !settings.clientContextTakeover;
    // §7.1.2.1: an offer with server_max_window_bits is accepted by answering
    // with the same or a smaller value; the same value costs us nothing.
    agreed.serverMaxWindowBits = serverBits;
    // §7.1.2.2: answered only if offered, with no more than the offered value.
    if (clientBitsOffered) {
        agreed.clientMaxWindowBits
                = qMin(clientBits.value_or(15), qBound(8, settings.clientMaxWindowBits, 15));
    }
    return agreed;
}

} // namespace

QByteArray DeflateParameters::responseValue() const
{
    QByteArray value("permessage-deflate");
    if (serverNoContextTakeover)
        value += "; server_no_context_takeover";
    if (clientNoContextTakeover)
        value += "; client_no_context_takeover";
    if (serverMaxWindowBits)
        value += "; server_max_window_bits=" + QByteArray::number(*serverMaxWindowBits);
    if (clientMaxWindowBits)
        value += "; client_max_window_bits=" + QByteArray::number(*clientMaxWindowBits);
    return value;
}

std::optional<DeflateParameters> negotiateDeflate(const QList<QByteArray> &extensionFieldValues,
                                                  const DeflateSettings &settings)
{
    if (!settings.enabled)
        return std::nullopt;
    QList<ExtensionOffer> offers;
    for (const QByteArray &field : extensionFieldValues) {
        if (!ExtensionListParser(field).parse(offers))
            return std::nullopt;
    }
    // Names compare exactly: RFC 6455 registers them in lower case and says
    // nothing of case-insensitive matching; browsers send them as registered.
    for (const ExtensionOffer &offer : offers) {
        if (offer.name != "permessage-deflate")
            continue;
        if (std::optional<DeflateParameters> agreed = acceptOffer(offer, settings))
            return agreed;
    }
    return std::nullopt;
}

// ---- Inflater --------------------------------------------------------------

struct Inflater::Stream
{
    z_stream zs{};
    qsizetype allocated = 0; // bytes zlib holds, counted by countingAlloc
    bool initialized = false;
    bool ended = false; // a block with BFINAL set was the last thing inflated
    bool atBlockBoundary = false; // the last block read so far is complete

    explicit Stream(int windowBits)
    {
        zs.zalloc = countingAlloc;
        zs.zfree = countingFree;
        zs.opaque = &allocated;
        // Negative windowBits: raw DEFLATE, no zlib header or checksum.
        initialized = inflateInit2(&zs, -windowBits) == Z_OK;
    }
    ~Stream()
    {
        if (initialized)
            inflateEnd(&zs);
    }
    Q_DISABLE_COPY_MOVE(Stream)
};

Inflater::Inflater(int windowBits, bool contextTakeover)
    : m_windowBits(qBound(8, windowBits, 15)), m_contextTakeover(contextTakeover)
{
}

Inflater::Inflater(const DeflateParameters &parameters)
    : Inflater(parameters.clientWindowBits(), !parameters.clientNoContextTakeover)
{
}

Inflater::~Inflater() = default;

Inflater::Inflater(Inflater &&other) noexcept
{
    *this = std::move(other);
}

Inflater &Inflater::operator=(Inflater &&other) noexcept
{
    if (this == &other)
        return *this;
    // The z_stream itself stays where it is (zlib keeps a pointer to it);
    // only its owner changes. The moved-from inflater is left idle, as if new.
    m_stream = std::move(other.m_stream);
    m_produced = std::exchange(other.m_produced, 0);
    m_consumed = std::exchange(other.m_consumed, 0);
    m_windowBits = other.m_windowBits;
    m_contextTakeover = other.m_contextTakeover;
    m_broken = std::exchange(other.m_broken, false);
    m_messageHasInput = std::exchange(other.m_messageHasInput, false);
    m_status = std::exchange(other.m_status, Status::Ok);
    return *this;
}

qsizetype Inflater::memoryUsage() const
{
    return m_stream ? qsizetype(sizeof(Stream)) + m_stream->allocated : 0;
}

Inflater::Status Inflater::fail(Status status)
{
    m_status = status;
    m_stream.reset(); // this message cannot be read on; give the memory back now
    return status;
}

Inflater::Status Inflater::feed(QByteArrayView compressed, QByteArray &out, qint64 limit)
{
    if (m_status != Status::Ok)
        return m_status;
    if (compressed.isEmpty())
        return Status::Ok;
    m_messageHasInput = true;
    if (!m_stream) {
        m_stream = std::make_unique<Stream>(m_windowBits);
        if (!m_stream->initialized) {
            qCWarning(lcWs, "permessage-deflate: zlib could not allocate an inflate state");
            return fail(Status::Corrupt);
        }
    }
    return run(compressed, out, limit);
}

Inflater::Status Inflater::finish(QByteArray &out, qint64 limit)
{
    Status status = m_status;
    // A message with no compressed bytes at all is empty. Inflating the tail
    // alone would leave a stored block header half read, so it is not fed:
    // that keeps a shared window intact and costs no allocation.
    if (status == Status::Ok && m_messageHasInput) {
        status = run(QByteArrayView(SyncTail, sizeof SyncTail), out, limit);
        if (status == Status::Ok && !m_stream->ended && !m_stream->atBlockBoundary)
            status = fail(Status::Corrupt); // truncated: the tail did not close a block
    }
    endMessage();
    return status;
}

void Inflater::endMessage()
{
    if (m_status != Status::Ok && m_contextTakeover)
        m_broken = true;
    m_status = m_broken ? Status::Corrupt : Status::Ok;
    m_produced = 0;
    m_consumed = 0;
    m_messageHasInput = false;
    if (!m_contextTakeover)
        m_stream.reset(); // an idle connection holds no zlib state
}

Inflater::Status Inflater::run(QByteArrayView input, QByteArray &out, qint64 limit)
{
    z_stream &zs = m_stream->zs;
    limit = qMax<qint64>(limit, 0);
    // Each call may name its own limit: one lower than what is out already
    // is passed already (and the step arithmetic below relies on room >= 0).
    if (m_produced > limit)
        return fail(Status::TooBig);
    char buffer[OutputStep];
    ZlibInput in(input);
    for (;;) {
        in.refill(zs);
        if (m_stream->ended) {
            if (zs.avail_in == 0)
                break;
            // RFC 7692 §7.2.1: after a block with BFINAL set "the next DEFLATE
            // block follows the padded data", so carry on with a new stream
            // (§7.2.3.4's 0x00 is one). inflateResetKeep(), exported by zlib
            // since 1.2.5.2, keeps the window the following blocks may refer to
            // and costs nothing, where copying the window out and back would
            // cost 64 KiB of copying for every two-byte empty final block.
            if (inflateResetKeep(&zs) != Z_OK)
                return fail(Status::Corrupt);
            m_stream->ended = false;
        }

        // Never more output than one step, nor than one byte past the limit:
        // the message is known to be too big as soon as that byte appears.
        const qint64 room = limit - m_produced;
        const uInt step = room >= OutputStep ? uInt(OutputStep) : uInt(room + 1);
        zs.next_out = reinterpret_cast<Bytef *>(buffer);
        zs.avail_out = step;
        const uInt inBefore = zs.avail_in;
        const int ret = inflate(&zs, Z_NO_FLUSH);
        const uInt produced = step - zs.avail_out;
        const uInt taken = inBefore - zs.avail_in;
        // data_type gains 128 when inflate() stops just after a block's end.
        // Only a call that did something says where it stopped: on entry
        // inflate() leaves that state, so a call with nothing to do loses it.
        if (produced != 0 || taken != 0)
            m_stream->atBlockBoundary = (zs.data_type & 128) != 0;
        out.append(buffer, produced);
        m_produced += produced;
        m_consumed += taken;
        if (m_produced > limit)
            return fail(Status::TooBig);

        switch (ret) {
        case Z_OK:
        case Z_BUF_ERROR: // no progress possible: it needs more input
            break;
        case Z_STREAM_END:
            m_stream->ended = true;
            break;
        case Z_MEM_ERROR:
            qCWarning(lcWs, "permessage-deflate: zlib ran out of memory inflating a message");
            return fail(Status::Corrupt);
        default: // Z_DATA_ERROR, or Z_NEED_DICT which raw DEFLATE cannot ask for
            return fail(Status::Corrupt);
        }
        if (in.exhausted(zs) && zs.avail_out != 0)
            break; // all input taken and zlib had room to spare: nothing is pending
        if (produced == 0 && taken == 0 && zs.avail_in != 0 && ret != Z_STREAM_END)
            return fail(Status::Corrupt); // zlib promises progress; never spin
    }
    return Status::Ok;
}

// ---- MessageDeflater -------------------------------------------------------

struct MessageDeflater::Stream
{
    z_stream zs{};
    qsizetype allocated = 0;
    bool initialized = false;

    Stream()
    {
        zs.zalloc = countingAlloc;
        zs.zfree = countingFree;
        zs.opaque = &allocated;
    }
    ~Stream()
    {
        if (initialized)
            deflateEnd(&zs);
    }
    Q_DISABLE_COPY_MOVE(Stream)
};

MessageDeflater::MessageDeflater(int windowBits, int level, int memLevel)
    : m_windowBits(qBound(9, windowBits, 15)), m_level(level), m_memLevel(memLevel)
{
}

MessageDeflater::~MessageDeflater() = default;

qsizetype MessageDeflater::memoryUsage() const
{
    return m_stream ? qsizetype(sizeof(Stream)) + m_stream->allocated : 0;
}

bool MessageDeflater::init()
{
    if (m_stream)
        return true;
    if (m_initFailed)
        return false;
    auto stream = std::make_unique<Stream>();
    const int ret = deflateInit2(&stream->zs, m_level, Z_DEFLATED, -m_windowBits, m_memLevel,
                                 Z_DEFAULT_STRATEGY);
    if (ret != Z_OK) {
        // A bad level or memLevel would fail every time: say so once. Out of
        // memory may pass later, so that is tried again on the next message.
        m_initFailed = ret == Z_STREAM_ERROR;
        qCWarning(lcWs,
                  "permessage-deflate: zlib refused a compressor (level %d, memLevel %d, "
                  "window bits %d): %d; messages go out uncompressed",
                  m_level, m_memLevel, m_windowBits, ret);
        return false;
    }
    stream->initialized = true;
    m_stream = std::move(stream);
    return true;
}

std::optional<QByteArray> MessageDeflater::compress(QByteArrayView message)
{
    Q_ASSERT(m_owner == std::thread::id() || m_owner == std::this_thread::get_id());
    if (!init())
        return std::nullopt;
    z_stream &zs = m_stream->zs;
    // Reset before, not after: a message abandoned half way cannot leak into the next.
    if (deflateReset(&zs) != Z_OK)
        return std::nullopt;

    QByteArray out;
    // deflateBound() is for Z_FINISH; a sync flush adds at most the empty
    // stored block. Pages never written to are never touched, and the buffer
    // is trimmed below.
    const uLong bound = deflateBound(&zs, uLong(qMin(message.size(), MaxZlibChunk)));
    out.resize(qsizetype(bound) + 16);
    qsizetype used = 0;
    ZlibInput in(message);
    for (;;) {
        in.refill(zs);
        if (out.size() - used < 64)
            out.resize(out.size() + qMin(out.size(), MaxZlibChunk));
        const qsizetype space = qMin(out.size() - used, MaxZlibChunk);
        zs.next_out = reinterpret_cast<Bytef *>(out.data() + used);
        zs.avail_out = uInt(space);
        // Z_SYNC_FLUSH once the last input is in: the output then ends with an
        // empty stored block on a byte boundary, the tail §7.2.1 removes.
        const int flush = in.lastPieceGiven() ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        const int ret = deflate(&zs, flush);
        used += space - qsizetype(zs.avail_out);
        if (ret != Z_OK && ret != Z_BUF_ERROR)
            return std::nullopt;
        if (flush == Z_SYNC_FLUSH && zs.avail_out != 0)
            break; // the flush is complete
    }

    // zlib always ends a sync flush with the empty stored block.
    if (used < 4 || std::memcmp(out.constData() + used - 4, SyncTail, 4) != 0) {
        qCWarning(lcWs, "permessage-deflate: zlib's output lacks the sync flush tail");
        return std::nullopt;
    }
    used -= 4;
    out.resize(used);
    // §7.2.3.6: an empty message is sent as one empty stored block header, 0x00.
    // zlib already produces that; should it ever produce nothing, send it anyway.
    if (out.isEmpty())
        out = QByteArray(1, '\0');
    if (out.capacity() - out.size() > out.size() / 8 + 64)
        out.squeeze(); // compressed payloads may be cached and shared; do not hold slack
    return out;
}

MessageDeflater &MessageDeflater::forThread(int windowBits, int level, int memLevel)
{
    // Per thread, so no locking and no state shared between threads; a handful
    // of entries at most (the configured level, windows clients asked for).
    thread_local std::vector<std::unique_ptr<MessageDeflater>> deflaters;
    windowBits = qBound(9, windowBits, 15);
    for (const auto &deflater : deflaters) {
        if (deflater->m_windowBits == windowBits && deflater->m_level == level
            && deflater->m_memLevel == memLevel) {
            return *deflater;
        }
    }
    deflaters.push_back(std::make_unique<MessageDeflater>(windowBits, level, memLevel));
    deflaters.back()->m_owner = std::this_thread::get_id();
    return *deflaters.back();
}

} // namespace Switchboard
