#include "net/httpguard.h"

#include "http/conn.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <algorithm>
#include <iterator>
#include <utility>

namespace Switchboard {

namespace {

bool isFieldValue(QByteArrayView value)
{
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return false;
    }
    return true;
}

bool hasToken(QByteArrayView list, QByteArrayView token)
{
    // A comma-separated list, walked in place (no copies per request).
    while (!list.isEmpty()) {
        const qsizetype comma = list.indexOf(',');
        const QByteArrayView part = (comma < 0 ? list : list.first(comma)).trimmed();
        if (part.compare(token, Qt::CaseInsensitive) == 0)
            return true;
        list = comma < 0 ? QByteArrayView() : list.sliced(comma + 1);
    }
    return false;
}

bool mentions(QByteArrayView value, QByteArrayView word)
{
    // Without a lower-cased copy: this runs for every request with a Connection field.
    for (qsizetype i = 0; i + word.size() <= value.size(); ++i) {
        if (value.sliced(i, word.size()).compare(word, Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}

/*!
    A field name, lower-cased. The names most requests carry are shared constants, so
    they cost no allocation (a WebSocket handshake is mostly such fields).
*/
QByteArray lowerCaseFieldName(QByteArrayView name)
{
    static const QByteArray kCommon[] = {
            QByteArrayLiteral("host"),
            QByteArrayLiteral("upgrade"),
            QByteArrayLiteral("connection"),
            QByteArrayLiteral("sec-websocket-key"),
            QByteArrayLiteral("sec-websocket-version"),
            QByteArrayLiteral("sec-websocket-protocol"),
            QByteArrayLiteral("sec-websocket-extensions"),
            QByteArrayLiteral("origin"),
            QByteArrayLiteral("user-agent"),
            QByteArrayLiteral("accept"),
            QByteArrayLiteral("accept-encoding"),
            QByteArrayLiteral("accept-language"),
            QByteArrayLiteral("cache-control"),
            QByteArrayLiteral("pragma"),
            QByteArrayLiteral("cookie"),
            QByteArrayLiteral("authorization"),
            QByteArrayLiteral("content-type"),
            QByteArrayLiteral("content-length"),
            QByteArrayLiteral("x-request-id"),
    };
    char lower[32];
    if (name.size() > qsizetype(sizeof lower))
        return name.toByteArray().toLower();
    for (qsizetype i = 0; i < name.size(); ++i) {
        const char c = name[i];
        lower[i] = c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
    }
    const QByteArrayView lowered(lower, name.size());
    for (const QByteArray &common : kCommon) {
        if (common == lowered)
            return common;
    }
    return lowered.toByteArray();
}

std::optional<RequestHead> fail(HttpRefusal *refusal, int status, const char *message)
{
    if (refusal)
        *refusal = HttpRefusal{status, QByteArray(message)};
    return std::nullopt;
}

} // namespace

bool isTokenChar(char c)
{
    // RFC 9110 §5.6.2 tchar
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

bool isToken(QByteArrayView text)
{
    return !text.isEmpty() && std::all_of(text.begin(), text.end(), isTokenChar);
}

std::optional<RequestHead> parseRequestHead(QByteArrayView head, const HttpLimits &limits,
                                            HttpRefusal *refusal)
{
    if (head.size() > limits.maxHeaderSize)
        return fail(refusal, 431, "request head too large");
    qsizetype lineCount = 1;
    for (qsizetype i = 0; i < head.size(); ++i) {
        const char c = head[i];
        if (c > '\r')
            continue; // the usual case, decided with one comparison
        if (c == '\0')
            return fail(refusal, 400, "NUL byte in request head");
        if (c == '\n' && (i == 0 || head[i - 1] != '\r'))
            return fail(refusal, 400, "bare LF in request head; lines must end with CRLF");
        if (c == '\r') {
            if (i + 1 >= head.size() || head[i + 1] != '\n')
                return fail(refusal, 400, "bare CR in request head");
            ++lineCount;
        }
    }
    // Every CR is now known to start a CRLF: lines are found with a search for one byte.
    qsizetype lineStart = 0;
    const auto nextLine = [&] {
        const qsizetype end = head.indexOf('\r', lineStart);
        const QByteArrayView line
                = head.sliced(lineStart, (end < 0 ? head.size() : end) - lineStart);
        lineStart = end < 0 ? head.size() : end + 2;
        return line;
    };

    RequestHead result;
    // Request line: method SP request-target SP HTTP-version, single spaces only.
    const QByteArrayView requestLine = nextLine();
    const qsizetype sp1 = requestLine.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0)
        return fail(refusal, 400, "malformed request line");
    const QByteArrayView method = requestLine.first(sp1);
    const QByteArrayView target = requestLine.sliced(sp1 + 1, sp2 - sp1 - 1);
    const QByteArrayView version = requestLine.sliced(sp2 + 1);
    if (!isToken(method))
        return fail(refusal, 400, "malformed request method");
    // The methods QtHttpServer knows on every supported version (6.4 drops the
    // connection on any other without a word; 6.8 passes it on): decided here, once.
    static constexpr QByteArrayView kMethods[]
            = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"};
    if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods))
        return fail(refusal, 501, "method not implemented");
    if (target.isEmpty())
        return fail(refusal, 400, "empty request target");
    for (const char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f)
            return fail(refusal, 400, "invalid character in request target");
    }
    if (!target.startsWith('/') && target != "*" && !target.startsWith("http://")
        && !target.startsWith("https://"))
        return fail(refusal, 400, "malformed request target");
    if (version == "HTTP/1.1") {
        result.minorVersion = 1;
    } else if (version == "HTTP/1.0") {
        result.minorVersion = 0;
    } else if (version.size() == 8 && version.startsWith("HTTP/") && version[6] == '.'
               && version[5] >= '0' && version[5] <= '9' && version[7] >= '0'
               && version[7] <= '9') {
        return fail(refusal, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    } else {
        return fail(refusal, 400, "malformed HTTP version");
    }
    result.method = method.toByteArray();
    result.target = target.toByteArray();

    if (lineCount - 1 > limits.maxHeaderFields)
        return fail(refusal, 431, "too many header fields");

    int hosts = 0;
    QList<QByteArrayView> contentLengths;
    QByteArray transferEncoding;
    QByteArray connection;
    QByteArray upgrade;
    result.fields.reserve(lineCount - 1);
    for (qsizetype i = 1; i < lineCount; ++i) {
        const QByteArrayView line = nextLine();
        if (line.startsWith(' ') || line.startsWith('\t'))
            return fail(refusal, 400, "obsolete line folding is not accepted");
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0 || !isToken(line.first(colon)))
            return fail(refusal, 400, "malformed header field");
        const QByteArray name = lowerCaseFieldName(line.first(colon));
        const QByteArrayView value = line.sliced(colon + 1).trimmed();
        if (!isFieldValue(value))
            return fail(refusal, 400, "control character in header value");
        result.fields.append({name, value.toByteArray()});
        if (name == QByteArrayLiteral("host")) {
            ++hosts;
        } else if (name == QByteArrayLiteral("content-length")) {
            contentLengths.append(value);
        } else if (name == QByteArrayLiteral("transfer-encoding")) {
            transferEncoding += (transferEncoding.isEmpty() ? "" : ",") + value.toByteArray();
        } else if (name == QByteArrayLiteral("connection")) {
            connection += (connection.isEmpty() ? "" : ",") + value.toByteArray();
        } else if (name == QByteArrayLiteral("upgrade")) {
            // Several Upgrade fields make a list: not the one "websocket" RFC 6455 asks for.
            upgrade = upgrade.isNull() ? value.toByteArray() : QByteArray("(several)");
            result.needsRewrite = true;
        } else if (name == QByteArrayLiteral("expect")) {
            result.needsRewrite = true;
            if (value.compare("100-continue", Qt::CaseInsensitive) != 0)
                return fail(refusal, 417, "only Expect: 100-continue is supported");
            result.expectContinue = true;
        }
    }
    if (hosts > 1 || (hosts == 0 && result.minorVersion == 1))
        return fail(refusal, 400, "an HTTP/1.1 request needs exactly one Host field");

    // Content-Length: every value (and every list element) must be the same plain number.
    for (const QByteArrayView field : contentLengths) {
        for (const QByteArray &part : field.toByteArray().split(',')) {
            const QByteArray digits = part.trimmed();
            bool ok = !digits.isEmpty() && digits.size() <= 18;
            for (const char c : digits)
                ok = ok && c >= '0' && c <= '9';
            if (!ok)
                return fail(refusal, 400, "invalid Content-Length");
            const qint64 length = digits.toLongLong();
            if (result.contentLength && *result.contentLength != length)
                return fail(refusal, 400, "conflicting Content-Length values");
            result.contentLength = length;
        }
    }
    if (!transferEncoding.isNull()) {
        if (result.contentLength)
            return fail(refusal, 400, "both Content-Length and Transfer-Encoding");
        if (result.minorVersion == 0)
            return fail(refusal, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (transferEncoding.trimmed().compare("chunked", Qt::CaseInsensitive) != 0)
            return fail(refusal, 501, "only Transfer-Encoding: chunked is supported");
        result.chunked = true;
    }

    const bool close = hasToken(connection, "close");
    result.keepAlive
            = result.minorVersion == 1 ? !close : (!close && hasToken(connection, "keep-alive"));
    result.webSocketUpgrade = hasToken(connection, "upgrade")
            && upgrade.trimmed().compare("websocket", Qt::CaseInsensitive) == 0;
    // QtHttpServer takes any Connection value containing "upgrade" (even "x-upgrade")
    // with Upgrade: websocket for an upgrade of its own; it must never see one.
    if (mentions(connection, "upgrade"))
        result.needsRewrite = true;
    return result;
}

QByteArray RequestHead::field(QByteArrayView name) const
{
    for (const auto &[key, value] : fields) {
        if (key == name)
            return value;
    }
    return {};
}

QList<QByteArray> RequestHead::fieldValues(QByteArrayView name) const
{
    QList<QByteArray> values;
    for (const auto &[key, value] : fields) {
        if (key == name)
            values.append(value);
    }
    return values;
}

QByteArray ConnectionGuard::rewrittenHead(const RequestHead &head)
{
    // Connection's other tokens (close, keep-alive) have been acted on by the guard, which
    // decides when to close; Qt needs none of them.
    QByteArray out
            = head.method + ' ' + head.target + " HTTP/1." + char('0' + head.minorVersion) + "\r\n";
    for (const auto &[name, value] : head.fields) {
        if (name != "upgrade" && name != "expect" && name != "connection")
            out += name + ": " + value + "\r\n";
    }
    return out + "\r\n";
}

QByteArray ConnectionGuard::errorResponse(int status, const QByteArray &message)
{
    const QJsonObject error{{QStringLiteral("status"), status},
                            {QStringLiteral("message"), QString::fromUtf8(message)}};
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("error"), error}})
                                    .toJson(QJsonDocument::Compact);
    return "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status)
            + "\r\ncontent-type: application/json\r\ncontent-length: "
            + QByteArray::number(body.size()) + "\r\nconnection: close\r\n\r\n" + body;
}

void ConnectionGuard::refuse(Result &result, int status, const QByteArray &message)
{
    result.reply += errorResponse(status, message);
    result.refusedStatus = status;
    result.close = true;
    m_state = State::Closed;
    m_head.clear();
}

void ConnectionGuard::finishRequest(Result &result)
{
    result.completed.append({std::exchange(m_current, {}), m_closeAfterResponse});
    m_head.clear();
    if (m_closeAfterResponse) {
        m_state = State::Closed; // anything pipelined after it is dropped
        result.close = true;
    } else {
        m_state = State::Head;
    }
}

ConnectionGuard::Result ConnectionGuard::feed(QByteArrayView bytes)
{
    Result result;
    while (!bytes.isEmpty()) {
        switch (m_state) {
        case State::Closed:
            return result;
        case State::Upgraded:
            result.afterUpgrade += bytes;
            return result;
        case State::Body: {
            const qsizetype n = qsizetype(qMin<qint64>(m_bodyRemaining, bytes.size()));
            result.release += bytes.first(n);
            bytes = bytes.sliced(n);
            m_bodyRemaining -= n;
            if (m_bodyRemaining == 0)
                finishRequest(result);
            break;
        }
        case State::ChunkedBody:
            if (!feedChunked(bytes, result))
                return result;
            break;
        case State::Head: {
            if (m_head == "\r") { // a CR before the request line, split from what follows
                if (bytes[0] != '\n') {
                    refuse(result, 400, "bare CR before request line");
                    return result;
                }
                m_head.clear();
                bytes = bytes.sliced(1);
                continue;
            }
            // Empty lines before a request line are ignored (RFC 9112 §2.2).
            while (m_head.isEmpty() && !bytes.isEmpty() && (bytes[0] == '\r' || bytes[0] == '\n')) {
                if (bytes[0] == '\n' || (bytes.size() >= 2 && bytes[1] == '\n')) {
                    bytes = bytes.sliced(bytes[0] == '\n' ? 1 : 2);
                } else if (bytes.size() == 1) {
                    m_head.append('\r'); // wait for the LF
                    bytes = {};
                } else {
                    refuse(result, 400, "bare CR before request line");
                    return result;
                }
            }
            if (bytes.isEmpty())
                break;
            const qsizetype searchFrom = qMax<qsizetype>(0, m_head.size() - 3);
            const qsizetype room = m_limits.maxHeaderSize + 4 - m_head.size();
            const QByteArrayView take = bytes.first(qMin(bytes.size(), qMax<qsizetype>(room, 0)));
            const qsizetype oldSize = m_head.size();
            m_head.append(take);
            if (m_head == "\r") // a lone CR kept above, still waiting
                break;
            const qsizetype end = m_head.indexOf("\r\n\r\n", searchFrom);
            // NUL is checked in the head only: body bytes may be anything.
            const qsizetype headEnd = end < 0 ? m_head.size() : qMax(end, oldSize);
            if (QByteArrayView(m_head).sliced(oldSize, headEnd - oldSize).contains('\0')) {
                refuse(result, 400, "NUL byte in request head");
                return result;
            }
            if (end < 0) {
                if (m_head.contains("\n\n") || m_head.contains("\r\n\n")) {
                    refuse(result, 400, "bare LF in request head; lines must end with CRLF");
                    return result;
                }
                // Not too large yet while the end of a head within the limit may follow.
                if (m_head.size() >= m_limits.maxHeaderSize + 4) {
                    refuse(result, 431, "request head too large");
                    return result;
                }
                bytes = bytes.sliced(take.size());
                break;
            }
            // Bytes of this input that belong to the next stage.
            const qsizetype used = take.size() - (m_head.size() - (end + 4));
            bytes = bytes.sliced(used);
            m_head.truncate(end + 4);

            HttpRefusal refusal;
            auto head = parseRequestHead(QByteArrayView(m_head).first(end), m_limits, &refusal);
            if (!head) {
                refuse(result, refusal.status, refusal.message);
                return result;
            }
            if (head->contentLength && *head->contentLength > m_limits.maxBodySize) {
                refuse(result, 413,
                       "request body too large (limit " + QByteArray::number(m_limits.maxBodySize)
                               + " bytes)");
                return result;
            }
            const bool hasBody = head->chunked || head->contentLength.value_or(0) > 0;
            if (head->webSocketUpgrade) {
                // Not Qt's to see: the caller decides, and reads what follows as frames.
                if (hasBody) {
                    refuse(result, 400, "a WebSocket upgrade request cannot have a body");
                    return result;
                }
                m_state = State::Upgraded;
                m_head.clear();
                result.upgrade = std::move(*head);
                result.afterUpgrade += bytes;
                return result;
            }
            m_closeAfterResponse = !head->keepAlive;
            result.release += head->needsRewrite ? rewrittenHead(*head) : m_head;
            result.rewroteHead = result.rewroteHead || head->needsRewrite;
            m_current = std::move(*head);
            if (m_current.expectContinue && hasBody && m_current.minorVersion == 1)
                result.reply += "HTTP/1.1 100 Continue\r\n\r\n";
            if (m_current.chunked) {
                m_state = State::ChunkedBody;
                m_chunk = Chunk::Size;
                m_chunkSize = 0;
                m_chunkDigits = 0;
                m_chunkedTotal = 0;
            } else if (hasBody) {
                m_state = State::Body;
                m_bodyRemaining = *m_current.contentLength;
            } else {
                finishRequest(result);
            }
            break;
        }
        }
    }
    return result;
}

bool ConnectionGuard::feedChunked(QByteArrayView &bytes, Result &result)
{
    qsizetype i = 0;
    const auto hexValue = [](char c) {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    const auto malformed = [&](const char *why) {
        result.release += bytes.first(i);
        refuse(result, 400, QByteArray("malformed chunked body: ") + why);
        return false;
    };
    while (i < bytes.size()) {
        const char c = bytes[i];
        switch (m_chunk) {
        case Chunk::Size:
            if (const int v = hexValue(c); v >= 0) {
                if (++m_chunkDigits > 15)
                    return malformed("chunk size too long");
                m_chunkSize = m_chunkSize * 16 + quint64(v);
            } else if (m_chunkDigits > 0 && (c == ';' || c == ' ' || c == '\t')) {
                m_chunk = Chunk::Extension;
            } else if (m_chunkDigits > 0 && c == '\r') {
                m_chunk = Chunk::SizeLf;
            } else {
                return malformed("bad chunk size");
            }
            ++i;
            break;
        case Chunk::Extension:
            if (c == '\r')
                m_chunk = Chunk::SizeLf;
            else if (c == '\n' || c == '\0')
                return malformed("bad chunk extension");
            ++i;
            break;
        case Chunk::SizeLf:
            if (c != '\n')
                return malformed("chunk size line must end with CRLF");
            ++i;
            if (m_chunkSize == 0) {
                m_chunk = Chunk::Trailer;
                m_trailerLineLength = 0;
                break;
            }
            m_chunkedTotal += qint64(m_chunkSize);
            if (m_chunkedTotal > m_limits.maxBodySize) {
                result.release += bytes.first(i);
                refuse(result, 413,
                       "request body too large (limit " + QByteArray::number(m_limits.maxBodySize)
                               + " bytes)");
                return false;
            }
            m_chunk = Chunk::Data;
            break;
        case Chunk::Data: {
            const qsizetype n = qsizetype(qMin<quint64>(m_chunkSize, quint64(bytes.size() - i)));
            i += n;
            m_chunkSize -= quint64(n);
            if (m_chunkSize == 0)
                m_chunk = Chunk::DataCr;
            break;
        }
        case Chunk::DataCr:
            if (c != '\r')
                return malformed("chunk data must end with CRLF");
            m_chunk = Chunk::DataLf;
            ++i;
            break;
        case Chunk::DataLf:
            if (c != '\n')
                return malformed("chunk data must end with CRLF");
            m_chunk = Chunk::Size;
            m_chunkDigits = 0;
            m_chunkSize = 0;
            ++i;
            break;
        case Chunk::Trailer:
            if (c == '\r') {
                m_chunk = Chunk::TrailerLf;
            } else if (c == '\n' || c == '\0') {
                return malformed("bad trailer line");
            } else if (++m_trailerLineLength > m_limits.maxHeaderSize) {
                result.release += bytes.first(i);
                refuse(result, 431, "trailer too large");
                return false;
            }
            ++i;
            break;
        case Chunk::TrailerLf:
            if (c != '\n')
                return malformed("trailer line must end with CRLF");
            ++i;
            if (m_trailerLineLength == 0) {
                result.release += bytes.first(i);
                bytes = bytes.sliced(i);
                finishRequest(result);
                return true;
            }
            m_trailerLineLength = 0;
            m_chunk = Chunk::Trailer;
            break;
        }
    }
    result.release += bytes;
    bytes = {};
    return true;
}

} // namespace Switchboard
