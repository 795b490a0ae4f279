// libFuzzer target for JSON body handling: Plugs::jsonBody() (server/plugs.cpp)
// followed by frameFromRequestBody() (server/routes.cpp), as the admin
// send/broadcast routes run them.
//
// Input: "CONTENT-TYPE\nBODY". A first line of "-" sends no Content-Type
// header at all; input without a newline is a body without Content-Type.

#include "http/conn.h"
#include "http/plugs.h"
#include "routes.h"

#include <QtCore/QByteArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QStringDecoder>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

bool isValidUtf8(const QByteArray &bytes)
{
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString unused = decoder.decode(bytes);
    return !decoder.hasError();
}

// An error answer is `{"error":{"status":N,"message":"..."}}` with N the status.
void checkErrorBody(const Conn &conn)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(conn.respBody, &error);
    FUZZ_CHECK(error.error == QJsonParseError::NoError);
    const QJsonObject object = doc.object().value(QStringLiteral("error")).toObject();
    FUZZ_CHECK(object.value(QStringLiteral("status")).toInt() == conn.status);
    FUZZ_CHECK(!object.value(QStringLiteral("message")).toString().isEmpty());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const Plug jsonBody = Plugs::jsonBody();

    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const qsizetype newline = input.indexOf('\n');
    Conn conn;
    conn.method = QByteArrayLiteral("POST");
    conn.path = QByteArrayLiteral("/api/broadcast");
    if (newline >= 0 && input.first(newline) != "-")
        conn.headers.append({QByteArrayLiteral("content-type"), input.first(newline)});
    conn.body = newline < 0 ? input : input.sliced(newline + 1);

    const QByteArray type = conn.header("content-type").split(';').first().trimmed().toLower();
    const bool jsonType = type == "application/json" || type.endsWith("+json");

    jsonBody(conn);
    if (conn.halted) {
        FUZZ_CHECK(jsonType && !conn.body.isEmpty() && conn.status == 400);
        FUZZ_CHECK(conn.bodyJson.isUndefined());
        checkErrorBody(conn);
        return 0;
    }
    FUZZ_CHECK(conn.status == 0);
    if (jsonType && !conn.body.isEmpty())
        FUZZ_CHECK(conn.bodyJson.isObject() || conn.bodyJson.isArray());
    else
        FUZZ_CHECK(conn.bodyJson.isUndefined());

    const std::optional<Frame> frame = frameFromRequestBody(conn);
    if (!frame) {
        FUZZ_CHECK(conn.status == 400 || conn.status == 415);
        checkErrorBody(conn);
        FUZZ_CHECK(conn.serializeResponse(true).endsWith(conn.respBody));
        return 0;
    }
    FUZZ_CHECK(conn.status == 0);
    FUZZ_CHECK(frame->isText() || frame->isBinary());
    if (frame->isText())
        FUZZ_CHECK(isValidUtf8(frame->payload()));
    if (jsonType) {
        const QJsonObject object = conn.bodyJson.toObject();
        if (frame->isText()) {
            FUZZ_CHECK(frame->payload()
                       == object.value(QStringLiteral("text")).toString().toUtf8());
        } else {
            const QString base64 = object.value(QStringLiteral("binary_base64")).toString();
            FUZZ_CHECK(QByteArray::fromBase64(base64.toLatin1()) == frame->payload());
        }
    } else if (type == "application/octet-stream") {
        FUZZ_CHECK(frame->isBinary() && frame->payload() == conn.body);
    } else {
        FUZZ_CHECK(frame->isText() && frame->payload() == conn.body);
    }
    // The frame goes on the wire: header (2 to 10 bytes) then the payload.
    const QByteArray &wire = frame->wireBytes();
    FUZZ_CHECK(wire.size() >= frame->size() + 2 && wire.size() <= frame->size() + 10);
    FUZZ_CHECK(wire.endsWith(frame->payload()));
    return 0;
}
