#include "websocket/deflate.h"

#include <cstring>

namespace Switchboard {

namespace {

// RFC 6455 §9.1 grammar, with the token and quoted-string rules of RFC 7230 §3.2.6.
bool isTokenChar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isToken(QByteArrayView s)
{
    if (s.isEmpty())
        return false;
    for (const char c : s) {
        if (!isTokenChar(c))
            return false;
    }
    return true;
}

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

} // namespace Switchboard
