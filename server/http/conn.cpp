#include "http/conn.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QUrl>

namespace Switchboard {

namespace {

// A path QUrl gives back unchanged (FullyEncoded): unreserved characters, sub-delims,
// ':', '@' and '/' (RFC 3986 §3.3), no percent-encoding to normalize.
bool isPlainPath(QByteArrayView path)
{
    static constexpr QByteArrayView others("-._~!$&'()*+,;=:@/");
    for (const char c : path) {
        const bool alphanumeric
                = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alphanumeric && !others.contains(c))
            return false;
    }
    return true;
}

} // namespace

Conn Conn::fromRequest(const RequestHead &head, const QHostAddress &peerAddress, quint16 peerPort)
{
    Conn conn;
    conn.clock.start();
    conn.method = head.method;
    conn.minorVersion = head.minorVersion;
    // Origin form ("/a?b") or absolute form ("http://host/a?b"); the guard refused the rest.
    // An origin-form path of characters QUrl keeps as they are is taken as it is (parsing a
    // URL per request cost a tenth of its time); other paths are normalized by QUrl the
    // same way. (As a path, not a URL: "//a" is the path "//a", not the host "a".)
    const QByteArray &target = head.target;
    if (target.startsWith('/')) {
        const qsizetype fragment = target.indexOf('#');
        const QByteArray request = fragment < 0 ? target : target.first(fragment);
        const qsizetype question = request.indexOf('?');
        const QByteArray path = question < 0 ? request : request.first(question);
        if (isPlainPath(path)) {
            conn.path = path;
        } else {
            QUrl url;
            url.setPath(QString::fromLatin1(path), QUrl::TolerantMode);
            conn.path = url.path(QUrl::FullyEncoded).toUtf8();
        }
        if (question >= 0)
            conn.query = QUrlQuery(QString::fromUtf8(request.sliced(question + 1)));
    } else {
        const QUrl url = QUrl::fromEncoded(target);
        conn.path = url.path(QUrl::FullyEncoded).toUtf8();
        conn.query = QUrlQuery(url);
    }
    if (conn.path.isEmpty())
        conn.path = QByteArrayLiteral("/");
    conn.headers = head.fields;
    conn.peerAddress = peerAddress;
    conn.peerPort = peerPort;
    conn.upgrade = head.webSocketUpgrade;
    return conn;
}

QByteArray Conn::header(QByteArrayView name) const
{
    for (const auto &[key, value] : headers) {
        if (key == name)
            return value;
    }
    return {};
}

bool Conn::hasHeader(QByteArrayView name) const
{
    for (const auto &entry : headers) {
        if (entry.first == name)
            return true;
    }
    return false;
}

bool Conn::headerHasToken(QByteArrayView name, QByteArrayView token) const
{
    for (const auto &[key, value] : headers) {
        if (key != name)
            continue;
        for (const QByteArray &part : value.split(',')) {
            if (part.trimmed().compare(token, Qt::CaseInsensitive) == 0)
                return true;
        }
    }
    return false;
}

QByteArray Conn::contentType() const
{
    return header("content-type").split(';').first().trimmed().toLower();
}

bool Conn::hasJsonBody() const
{
    const QByteArray type = contentType();
    return type == "application/json" || type.endsWith("+json");
}

QByteArray Conn::respHeader(QByteArrayView name) const
{
    for (const auto &[key, value] : respHeaders) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

void Conn::putRespHeader(const QByteArray &name, const QByteArray &value)
{
    for (auto &entry : respHeaders) {
        if (entry.first.compare(name, Qt::CaseInsensitive) == 0) {
            entry.second = value;
            return;
        }
    }
    respHeaders.append({name, value});
}

Conn &Conn::send(int newStatus, const QByteArray &newBody, const QByteArray &contentType)
{
    status = newStatus;
    respBody = newBody;
    if (!contentType.isEmpty())
        putRespHeader(QByteArrayLiteral("content-type"), contentType);
    return *this;
}

Conn &Conn::sendJson(int newStatus, const QJsonObject &object)
{
    return send(newStatus, QJsonDocument(object).toJson(QJsonDocument::Compact),
                QByteArrayLiteral("application/json"));
}

Conn &Conn::sendJson(int newStatus, const QJsonValue &value)
{
    QJsonDocument doc;
    if (value.isArray())
        doc.setArray(value.toArray());
    else
        doc.setObject(value.toObject());
    return send(newStatus, doc.toJson(QJsonDocument::Compact),
                QByteArrayLiteral("application/json"));
}

Conn &Conn::sendError(int newStatus, const QString &message)
{
    const QJsonObject error{{QStringLiteral("status"), newStatus},
                            {QStringLiteral("message"), message}};
    return sendJson(newStatus, QJsonObject{{QStringLiteral("error"), error}});
}

Conn &Conn::halt()
{
    halted = true;
    return *this;
}

void Conn::runBeforeSend()
{
    const auto callbacks = std::exchange(beforeSend, {});
    for (auto it = callbacks.crbegin(); it != callbacks.crend(); ++it)
        (*it)(*this);
}

QByteArray Conn::serializeResponse(bool closeConnection) const
{
    const int code = status == 0 ? 500 : status;
    QByteArray out;
    out.reserve(160 + respBody.size());
    out += "HTTP/1.1 " + QByteArray::number(code) + ' ' + reasonPhrase(code) + "\r\n";
    for (const auto &[key, value] : respHeaders)
        out += key + ": " + value + "\r\n";
    // 1xx and 204 must not carry a length; everything else always does, so keep-alive works.
    if (code >= 200 && code != 204 && code != 304)
        out += "content-length: " + QByteArray::number(respBody.size()) + "\r\n";
    if (closeConnection)
        out += "connection: close\r\n";
    out += "\r\n";
    if (method != "HEAD" && code >= 200 && code != 204 && code != 304)
        out += respBody;
    return out;
}

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return QByteArrayLiteral("Continue");
    case 101:
        return QByteArrayLiteral("Switching Protocols");
    case 200:
        return QByteArrayLiteral("OK");
    case 201:
        return QByteArrayLiteral("Created");
    case 202:
        return QByteArrayLiteral("Accepted");
    case 204:
        return QByteArrayLiteral("No Content");
    case 304:
        return QByteArrayLiteral("Not Modified");
    case 400:
        return QByteArrayLiteral("Bad Request");
    case 401:
        return QByteArrayLiteral("Unauthorized");
    case 403:
        return QByteArrayLiteral("Forbidden");
    case 404:
        return QByteArrayLiteral("Not Found");
    case 405:
        return QByteArrayLiteral("Method Not Allowed");
    case 408:
        return QByteArrayLiteral("Request Timeout");
    case 413:
        return QByteArrayLiteral("Content Too Large");
    case 415:
        return QByteArrayLiteral("Unsupported Media Type");
    case 417:
        return QByteArrayLiteral("Expectation Failed");
    case 422:
        return QByteArrayLiteral("Unprocessable Content");
    case 426:
        return QByteArrayLiteral("Upgrade Required");
    case 429:
        return QByteArrayLiteral("Too Many Requests");
    case 431:
        return QByteArrayLiteral("Request Header Fields Too Large");
    case 500:
        return QByteArrayLiteral("Internal Server Error");
    case 501:
        return QByteArrayLiteral("Not Implemented");
    case 503:
        return QByteArrayLiteral("Service Unavailable");
    case 505:
        return QByteArrayLiteral("HTTP Version Not Supported");
    default:
        return QByteArrayLiteral("Unknown");
    }
}

} // namespace Switchboard
