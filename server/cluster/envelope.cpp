#include "cluster/envelope.h"

#include "http/plugs.h"

#include <QtCore/QCryptographicHash>
#include <QtCore/QJsonDocument>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QRandomGenerator>

#include <algorithm>
#include <utility>

namespace Switchboard {

namespace {

constexpr char NoMac = '-';
// JSON numbers are doubles: sequence numbers stay exact below 2^53.
constexpr double MaxExactInteger = 9007199254740992.0;

QString keyOf(const char *key)
{
    return QString::fromLatin1(key);
}

} // namespace

QString EnvelopeCodec::dropName(Drop drop)
{
    switch (drop) {
    case Drop::Malformed:
        return QStringLiteral("malformed");
    case Drop::Oversize:
        return QStringLiteral("oversize");
    case Drop::Version:
        return QStringLiteral("version");
    case Drop::Unauthenticated:
        return QStringLiteral("unauthenticated");
    case Drop::Forged:
        return QStringLiteral("forged");
    case Drop::Replayed:
        return QStringLiteral("replayed");
    case Drop::Stale:
        return QStringLiteral("stale");
    }
    return {};
}

EnvelopeCodec::EnvelopeCodec(const QByteArray &secret, QByteArray channel, QString origin,
                             quint64 boot)
    : m_channel(std::move(channel)), m_origin(std::move(origin)), m_boot(boot)
{
    // A key of its own for envelopes, so the secret itself never keys anything
    // a peer can see the output of, and may serve other purposes later.
    if (!secret.isEmpty())
        m_key = QMessageAuthenticationCode::hash("switchboard cluster envelope v2", secret,
                                                 QCryptographicHash::Sha256);
}

quint64 EnvelopeCodec::newBoot()
{
    quint64 boot = 0;
    while (boot == 0)
        boot = QRandomGenerator::system()->generate64();
    return boot;
}

QByteArray EnvelopeCodec::mac(QByteArrayView json) const
{
    QMessageAuthenticationCode code(QCryptographicHash::Sha256, m_key);
    code.addData(m_channel);
    code.addData("\n", 1);
    code.addData(json.data(), json.size());
    return code.result().toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

QByteArray EnvelopeCodec::seal(const QString &type, const QString &target,
                               const QJsonObject &payload, qint64 nowMs)
{
    const QByteArray json = QJsonDocument(QJsonObject{
                                                  {keyOf("v"), ProtocolVersion},
                                                  {keyOf("type"), type},
                                                  {keyOf("origin"), m_origin},
                                                  {keyOf("boot"), QString::number(m_boot, 16)},
                                                  {keyOf("seq"), double(++m_seq)},
                                                  {keyOf("ts"), double(nowMs)},
                                                  {keyOf("target"), target},
                                                  {keyOf("payload"), payload},
                                          })
                                    .toJson(QJsonDocument::Compact);
    return (isAuthenticated() ? mac(json) : QByteArray(1, NoMac)) + '.' + json;
}

EnvelopeCodec::Opened EnvelopeCodec::open(QByteArrayView wire, qint64 nowMs)
{
    Opened opened = verify(wire);
    if (!opened.envelope)
        return opened;
    const Envelope &envelope = *opened.envelope;
    if (qAbs(nowMs - envelope.timeMs) > m_maxSkewMs)
        return Opened{std::nullopt, Drop::Stale};
    forgetOldBoots(nowMs);
    Seen &seen = seenFor(envelope.origin, envelope.boot);
    if (envelope.seq <= seen.seq)
        return Opened{std::nullopt, Drop::Replayed};
    seen.seq = envelope.seq;
    seen.lastMs = nowMs;
    return opened;
}

EnvelopeCodec::Opened EnvelopeCodec::verify(QByteArrayView wire) const
{
    const auto refuse = [](Drop why) {
        return Opened{std::nullopt, why};
    };
    if (wire.size() > m_maxSize)
        return refuse(Drop::Oversize);
    if (wire.startsWith('{'))
        return refuse(Drop::Version); // protocol 1 was bare JSON
    const qsizetype dot = wire.indexOf('.');
    if (dot <= 0)
        return refuse(Drop::Malformed);
    const QByteArrayView given = wire.first(dot);
    const QByteArrayView json = wire.sliced(dot + 1);
    const bool unsealed = given.size() == 1 && given.front() == NoMac;
    if (isAuthenticated() == unsealed)
        return refuse(Drop::Unauthenticated);
    if (isAuthenticated() && !Plugs::constantTimeEquals(given, mac(json)))
        return refuse(Drop::Forged);

    // Trusted bytes from here on, but still checked like any other input: a
    // node with the secret may run another version or have a bug.
    QJsonParseError error{};
    const QJsonDocument document = QJsonDocument::fromJson(json.toByteArray(), &error);
    if (error.error != QJsonParseError::NoError || !document.isObject())
        return refuse(Drop::Malformed);
    const QJsonObject object = document.object();
    const QJsonValue version = object.value(keyOf("v"));
    if (!version.isDouble())
        return refuse(Drop::Malformed);
    if (version.toDouble() != ProtocolVersion)
        return refuse(Drop::Version);

    Envelope envelope;
    const QJsonValue type = object.value(keyOf("type"));
    const QJsonValue origin = object.value(keyOf("origin"));
    const QJsonValue target = object.value(keyOf("target"));
    const QJsonValue payload = object.value(keyOf("payload"));
    const QJsonValue seq = object.value(keyOf("seq"));
    const QJsonValue ts = object.value(keyOf("ts"));
    bool bootOk = false;
    envelope.boot = object.value(keyOf("boot")).toString().toULongLong(&bootOk, 16);
    if (!type.isString() || !origin.isString() || !target.isString() || !payload.isObject()
        || !bootOk || envelope.boot == 0 || !seq.isDouble() || !ts.isDouble())
        return refuse(Drop::Malformed);
    const double seqValue = seq.toDouble();
    const double tsValue = ts.toDouble();
    if (!(seqValue >= 1 && seqValue <= MaxExactInteger) || seqValue != double(quint64(seqValue))
        || !(tsValue >= 0 && tsValue <= MaxExactInteger))
        return refuse(Drop::Malformed);
    envelope.type = type.toString();
    envelope.origin = origin.toString();
    envelope.target = target.toString();
    envelope.payload = payload.toObject();
    envelope.seq = quint64(seqValue);
    envelope.timeMs = qint64(tsValue);
    if (envelope.origin.isEmpty() || envelope.type.isEmpty())
        return refuse(Drop::Malformed);
    return Opened{std::move(envelope), Drop::Malformed};
}

EnvelopeCodec::Seen &EnvelopeCodec::seenFor(const QString &origin, quint64 boot)
{
    // Bounded, whoever sends: without a secret anyone can make up senders and
    // boots. What is evicted is the least recently heard from.
    const auto leastRecent = [](const auto &map, auto lastMsOf) {
        return std::min_element(map.begin(), map.end(), [&](const auto &a, const auto &b) {
            return lastMsOf(a) < lastMsOf(b);
        });
    };
    if (!m_seen.contains(origin) && m_seen.size() >= MaxSenders) {
        m_seen.erase(leastRecent(m_seen, [](const QHash<quint64, Seen> &boots) {
            qint64 newest = 0;
            for (const Seen &seen : boots)
                newest = qMax(newest, seen.lastMs);
            return newest;
        }));
    }
    QHash<quint64, Seen> &boots = m_seen[origin];
    if (!boots.contains(boot) && boots.size() >= MaxBootsPerSender)
        boots.erase(leastRecent(boots, [](const Seen &seen) { return seen.lastMs; }));
    return boots[boot];
}

void EnvelopeCodec::forgetOldBoots(qint64 nowMs)
{
    // A boot not heard from for two skew windows can be forgotten: anything
    // sealed in it is now older than one window, so Stale refuses it anyway.
    if (nowMs - m_lastForgetMs < m_maxSkewMs)
        return;
    m_lastForgetMs = nowMs;
    const qint64 horizon = nowMs - 2 * m_maxSkewMs;
    for (auto sender = m_seen.begin(); sender != m_seen.end();) {
        for (auto boot = sender->begin(); boot != sender->end();) {
            if (boot->lastMs < horizon)
                boot = sender->erase(boot);
            else
                ++boot;
        }
        if (sender->isEmpty())
            sender = m_seen.erase(sender);
        else
            ++sender;
    }
}

} // namespace Switchboard
