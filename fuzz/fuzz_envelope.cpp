// libFuzzer target for the cluster's envelopes: EnvelopeCodec::open()
// (server/cluster/envelope.cpp), which reads what anyone who can publish on
// the cluster's Redis channel sends.
//
// Input: a mode byte, then data.
//   mode even: the data is an envelope off the wire, opened by a codec with a
//     secret and by an insecure one. Whatever they accept must be sane, and
//     must not be accepted twice.
//   mode odd: the data is "TYPE\nTARGET\nPAYLOAD-JSON\nCUT"; a node seals it,
//     the receiver must accept exactly that, and the same envelope with one
//     byte changed (where CUT's first byte says, to the value of its second)
//     must be refused.

#include "cluster/envelope.h"

#include <QtCore/QByteArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>

#include <cstdint>

#include "fuzzcheck.h"

using namespace Switchboard;

namespace {

const QByteArray kSecret = "fuzzing secret, 0123456789";
const QByteArray kChannel = "switchboard:cluster:0";
constexpr qint64 kNow = 1'800'000'000'000; // ms since the epoch, any fixed time

void checkSane(const Envelope &envelope)
{
    FUZZ_CHECK(!envelope.origin.isEmpty());
    FUZZ_CHECK(!envelope.type.isEmpty());
    FUZZ_CHECK(envelope.boot != 0);
    FUZZ_CHECK(envelope.seq >= 1);
    FUZZ_CHECK(qAbs(kNow - envelope.timeMs) <= 60'000);
}

void openFromTheWire(QByteArrayView wire)
{
    for (const QByteArray &secret : {kSecret, QByteArray()}) {
        EnvelopeCodec receiver(secret, kChannel, QStringLiteral("receiver"), 1);
        const EnvelopeCodec::Opened first = receiver.open(wire, kNow);
        if (!first.envelope)
            continue;
        // Forging a MAC by chance is not something a fuzzer does.
        FUZZ_CHECK(secret.isEmpty());
        checkSane(*first.envelope);
        const EnvelopeCodec::Opened again = receiver.open(wire, kNow);
        FUZZ_CHECK(!again.envelope && again.drop == EnvelopeCodec::Drop::Replayed);
    }
}

void sealAndTamper(const QByteArray &data)
{
    const QList<QByteArray> parts = data.split('\n');
    if (parts.size() < 4)
        return;
    const QString type = QString::fromUtf8(parts.at(0));
    const QString target = QString::fromUtf8(parts.at(1));
    const QJsonObject payload = QJsonDocument::fromJson(parts.at(2)).object();
    const QByteArray cut = parts.at(3);
    if (type.isEmpty())
        return;

    EnvelopeCodec sender(kSecret, kChannel, QStringLiteral("sender"), 0x5eed);
    EnvelopeCodec receiver(kSecret, kChannel, QStringLiteral("receiver"), 1);
    const QByteArray wire = sender.seal(type, target, payload, kNow);

    if (cut.size() >= 2) {
        // Tampered first: the receiver has not taken this sequence number yet.
        QByteArray tampered = wire;
        const qsizetype at = qsizetype(uint8_t(cut.at(0))) * wire.size() / 256;
        if (tampered[at] != cut.at(1)) {
            tampered[at] = cut.at(1);
            FUZZ_CHECK(!receiver.open(tampered, kNow).envelope);
        }
    }
    const EnvelopeCodec::Opened opened = receiver.open(wire, kNow);
    FUZZ_CHECK(opened.envelope.has_value());
    FUZZ_CHECK(opened.envelope->type == type);
    FUZZ_CHECK(opened.envelope->target == target);
    FUZZ_CHECK(opened.envelope->payload == payload);
    FUZZ_CHECK(opened.envelope->origin == u"sender");
    FUZZ_CHECK(opened.envelope->boot == 0x5eed);
    checkSane(*opened.envelope);
    FUZZ_CHECK(!receiver.open(wire, kNow).envelope); // a replay
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    QLoggingCategory::setFilterRules(QStringLiteral("*=false"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    const QByteArray input(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    if (data[0] % 2 == 0)
        openFromTheWire(input);
    else
        sealAndTamper(input);
    return 0;
}
