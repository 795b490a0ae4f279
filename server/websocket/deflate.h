#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QList>

#include <memory>
#include <optional>
#include <thread>

// RFC 7692 permessage-deflate: negotiation, the per-connection inflater for
// client messages and the per-thread compressor for server messages. Pure code:
// no sockets, no QObject, no exceptions; zlib stays behind deflate.cpp.

namespace Switchboard {

/*!
    The server's permessage-deflate policy, set once from the configuration.

    The defaults were measured on a 4 KiB JSON chat history message (zlib 1.2.13,
    one core): level 1 compresses it to 26.5 % in 35 us, level 3 to 25.5 % in
    39 us, level 6 (zlib's default) to 23.4 % in 59 us; on 64 KiB the gap widens
    (1: 22 % in 0.40 ms, 3: 19 % in 0.60 ms, 6: 16 % in 1.5 ms). Level 3 buys most
    of the saving for little CPU, which suits a server that compresses a broadcast
    once and sends it to many. memLevel made no measurable difference to speed or
    size from 5 to 8; 8 (zlib's default) is kept because its larger hash only
    costs memory once per thread (268 KB instead of 153 KB), not per connection.
*/
struct DeflateSettings
{
    bool enabled = false;
    /*! Messages shorter than this are sent uncompressed: they save few bytes
        for the CPU a compression costs (1 KiB of JSON: 15 us at level 3). */
    qsizetype threshold = 1024;
    /*! Let clients compress with context takeover. Off by default: an idle
        connection then holds no inflate state (about 39 KB for a 32 KiB window). */
    bool clientContextTakeover = false;
    /*! Largest LZ77 window we ask clients to use when they offer
        client_max_window_bits (8..15, clamped); it sizes our inflate window. */
    int clientMaxWindowBits = 15;
    int level = 3;
    int memLevel = 8;
};

/*!
    What one connection agreed to, as sent back in the 101 response.

    The server never keeps a compression context (serverNoContextTakeover is
    always true) so that one compressed payload serves every recipient of a
    broadcast. The window-bits parameters are present only when the client's
    offer named them (RFC 7692 §7.1.2); absent means the 32 KiB default window.
*/
struct DeflateParameters
{
    bool serverNoContextTakeover = true;
    bool clientNoContextTakeover = true;
    std::optional<int> serverMaxWindowBits;
    std::optional<int> clientMaxWindowBits;

    /*! The window our compressor uses for this connection. */
    int serverWindowBits() const { return serverMaxWindowBits.value_or(15); }
    /*! The largest window the client may compress with: our inflate window. */
    int clientWindowBits() const { return clientMaxWindowBits.value_or(15); }

    /*!
        The `Sec-WebSocket-Extensions` value for the 101 response, parameters in
        this fixed order: server_no_context_takeover, client_no_context_takeover,
        server_max_window_bits=N, client_max_window_bits=N.
    */
    QByteArray responseValue() const;

    bool operator==(const DeflateParameters &) const = default;
};

/*!
    Picks the first acceptable permessage-deflate offer among every
    `Sec-WebSocket-Extensions` field value of an upgrade request (RFC 6455 §9.1
    grammar; several fields form one list). An offer is declined, and the next
    one tried, when RFC 7692 §7 says so: an unknown or repeated parameter, a value
    where none is allowed or none where one is required, window bits outside
    8..15 or with a leading zero. Offers of server_max_window_bits=8 are declined
    too: zlib cannot compress raw DEFLATE with a 256-byte window, and answering
    with a larger value than offered is not allowed. A field that breaks the
    grammar declines everything rather than guessing what the client meant.
    std::nullopt when nothing is acceptable or \a settings.enabled is false.
*/
std::optional<DeflateParameters> negotiateDeflate(const QList<QByteArray> &extensionFieldValues,
                                                  const DeflateSettings &settings);

/*!
    Inflates the messages one client sends, one message at a time, fed the
    compressed payload in pieces as frames and reads arrive.

    Bounded: output is produced in steps of at most OutputStep bytes and the
    message's total is checked after each step, so a small "bomb" stops as soon
    as it passes the limit, having produced at most limit + 1 bytes and read
    only the input needed for them.

    Cheap when idle: zlib's state is allocated on the first compressed byte of a
    message and, without context takeover, released by finish(). Measured with a
    counting allocator (zlib 1.2.13, 64-bit): 7160 bytes of inflate state plus a
    window of 2^windowBits bytes, allocated on the first output: 39928 bytes in
    all for windowBits 15, 23544 for 14, 15352 for 13, 11256 for 12, 7416 for 8;
    memoryUsage() reports the live figure. With context takeover the state must
    outlive the message, since the client may refer back to earlier messages.

    The window bounds memory; it does not police the client. zlib resolves a
    reference from the window or from what the same inflate() call has already
    written, so a client reaching back further than its agreed window is caught
    only when the reference also reaches past that output: depending on how
    the bytes arrive. Stock zlib offers nothing stricter.

    Movable, so it can live in a session by value or in a std::unique_ptr; a
    moved-from inflater is idle, as if new.
*/
class Inflater final
{
public:
    enum class Status { Ok, TooBig, Corrupt };
    static constexpr qsizetype OutputStep = 16 * 1024;

    /*! \a windowBits (8..15) is the client's agreed window; \a contextTakeover
        keeps the LZ77 window from one message to the next. */
    explicit Inflater(int windowBits = 15, bool contextTakeover = false);
    explicit Inflater(const DeflateParameters &parameters);
    ~Inflater();
    Inflater(Inflater &&other) noexcept;
    Inflater &operator=(Inflater &&other) noexcept;
    Inflater(const Inflater &) = delete;
    Inflater &operator=(const Inflater &) = delete;

    /*!
        Inflates the next piece of the current message's compressed payload and
        appends the result to \a out. TooBig once the message inflates to more
        than \a limit bytes; Corrupt when the data is not DEFLATE. Both are
        sticky: later pieces of the same message are ignored and get the same
        answer, and what \a out received so far should be dropped.
    */
    Status feed(QByteArrayView compressed, QByteArray &out, qint64 limit);

    /*!
        Ends the current message: inflates the 0x00 0x00 0xff 0xff tail the sender
        removed (RFC 7692 §7.2.2) and checks that the message ended on a DEFLATE
        block boundary, as every conforming sender's does. The next feed() starts
        a new message. After a failed message the next one starts clean without
        context takeover; with it, every later message is Corrupt, because the
        shared window is no longer known.
    */
    Status finish(QByteArray &out, qint64 limit);

    /*! Of the current message: Ok until it failed. */
    Status status() const { return m_status; }
    /*! Inflated bytes of the current message so far. */
    qint64 messageSize() const { return m_produced; }
    /*! Compressed bytes of the current message zlib has taken in so far. */
    qint64 messageConsumed() const { return m_consumed; }
    /*! Bytes zlib holds for this connection now; 0 while idle. */
    qsizetype memoryUsage() const;

private:
    struct Stream;

    Status run(QByteArrayView input, QByteArray &out, qint64 limit);
    Status fail(Status status);
    void endMessage();

    std::unique_ptr<Stream> m_stream; // allocated lazily, see memoryUsage()
    qint64 m_produced = 0;
    qint64 m_consumed = 0;
    int m_windowBits = 15;
    bool m_contextTakeover = false;
    bool m_broken = false; // a failed message under context takeover: nothing decodes now
    bool m_messageHasInput = false;
    Status m_status = Status::Ok;
};

/*!
    Compresses whole server-to-client messages, each on its own (no context
    takeover): the output depends only on the message, the window and the
    level, so one compressed payload can be sent to every recipient.

    Keeps its zlib stream allocated (about 268 KB for window 15, memLevel 8)
    and resets it between messages; to keep that cost off connections, use
    one per thread through forThread().
*/
class MessageDeflater final
{
public:
    /*! \a windowBits is clamped to 9..15: zlib has no raw 256-byte window. */
    explicit MessageDeflater(int windowBits = 15, int level = DeflateSettings().level,
                             int memLevel = DeflateSettings().memLevel);
    ~MessageDeflater();
    MessageDeflater(const MessageDeflater &) = delete;
    MessageDeflater &operator=(const MessageDeflater &) = delete;

    /*!
        The payload of \a message compressed for a frame with RSV1 set: DEFLATE
        blocks ending in a sync flush whose 0x00 0x00 0xff 0xff tail is removed
        (RFC 7692 §7.2.1); the empty message becomes the single byte 0x00
        (§7.2.3.6). std::nullopt if zlib fails (out of memory, or a level or
        memLevel it rejects, logged once); send the message uncompressed then.
    */
    std::optional<QByteArray> compress(QByteArrayView message);

    int windowBits() const { return m_windowBits; }
    qsizetype memoryUsage() const;

    /*!
        The calling thread's deflater for these parameters, created on first use
        and destroyed when the thread ends. It belongs to that thread only: use
        the reference there and do not keep it past the call that compresses.
        \a windowBits below 9 is used as 9 (zlib's smallest raw window; the
        negotiation never agrees to 8).
    */
    static MessageDeflater &forThread(int windowBits, int level = DeflateSettings().level,
                                      int memLevel = DeflateSettings().memLevel);

private:
    struct Stream;

    bool init();

    std::unique_ptr<Stream> m_stream;
    std::thread::id m_owner; // set for forThread() instances, asserted by compress()
    int m_windowBits;
    int m_level;
    int m_memLevel;
    bool m_initFailed = false;
};

} // namespace Switchboard
