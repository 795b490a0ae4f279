#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>

#include <optional>

// RFC 7692 permessage-deflate negotiation. Pure code: no sockets, no QObject,
// no exceptions.

namespace Switchboard {

/*!
    The server's permessage-deflate policy, set once from the configuration.
*/
struct DeflateSettings
{
    bool enabled = false;
    /*! Messages shorter than this are sent uncompressed: they save few bytes
        for the CPU a compression costs. */
    qsizetype threshold = 1024;
    /*! Let clients compress with context takeover. Off by default: an idle
        connection then needs no inflate state. */
    bool clientContextTakeover = false;
    /*! Largest LZ77 window we ask clients to use when they offer
        client_max_window_bits (8..15, clamped); it sizes our inflate window. */
    int clientMaxWindowBits = 15;
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

} // namespace Switchboard
