#include "messagelogmodel.h"

#include <QtCore/QDateTime>
#include <QtCore/QIODevice>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QTimeZone>
#include <QtCore/QLocale>
#include <QtGui/QColor>
#include <QtGui/QTextDocument>

#include <algorithm>

namespace Switchboard {

namespace {

// Enough to read a message; a 16 MiB frame must not sit in the log 10,000 times.
constexpr qsizetype kMaxTextBytes = 4096;
constexpr qsizetype kBinaryHeadBytes = 32;
constexpr qsizetype kHexPreviewBytes = 16;

} // namespace

MessageLogModel::MessageLogModel(QObject *parent) : QAbstractTableModel(parent)
{
    m_flushTimer.setSingleShot(true);
    m_flushTimer.setInterval(100);
    connect(&m_flushTimer, &QTimer::timeout, this, &MessageLogModel::flush);
}

MessageLogModel::~MessageLogModel() = default;

int MessageLogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_entries.size());
}

int MessageLogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant MessageLogModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Entry &entry = m_entries.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case TimeColumn:
            return QDateTime::fromMSecsSinceEpoch(entry.timeMs).toString(u"hh:mm:ss.zzz");
        case DirectionColumn:
            return directionName(entry.direction);
        case SessionColumn:
            if (entry.direction == Direction::Broadcast || entry.direction == Direction::Publish)
                return tr("to %1").arg(entry.recipients);
            return entry.sessionId ? QString::number(entry.sessionId) : QString();
        case MessageColumn:
            return messageText(entry);
        default:
            return {};
        }
    case Qt::ToolTipRole:
        if (index.column() == SessionColumn
            && (entry.direction == Direction::Broadcast || entry.direction == Direction::Publish))
            return entry.recipients == 1 ? tr("Delivered to 1 session")
                                         : tr("Delivered to %1 sessions").arg(entry.recipients);
        if (index.column() == TimeColumn)
            return QLocale().toString(QDateTime::fromMSecsSinceEpoch(entry.timeMs),
                                      QLocale::LongFormat);
        if (index.column() == MessageColumn && entry.type == Frame::Type::Text) {
            // A tooltip that looks like HTML is shown as HTML: a client's "<img ...>" would
            // be drawn (and its file loaded) in the operator's console. Escaped, it is text.
            return Qt::convertFromPlainText(entry.truncated ? entry.text + u'…' : entry.text,
                                            Qt::WhiteSpaceNormal);
        }
        return {};
    case Qt::ForegroundRole:
        if (index.column() != DirectionColumn && entry.direction != Direction::System)
            return {};
        switch (entry.direction) {
        case Direction::In:
            return QColor(0x1f, 0x6f, 0xeb);
        case Direction::Out:
            return QColor(0x82, 0x50, 0xdf);
        case Direction::Broadcast:
            return QColor(0xbc, 0x4c, 0x00);
        case Direction::Publish:
            return QColor(0x1a, 0x7f, 0x37);
        case Direction::System:
            return QColor(0x6e, 0x77, 0x81);
        }
        return {};
    case SessionIdRole:
        return QVariant::fromValue(entry.sessionId);
    case DirectionRole:
        return int(entry.direction);
    default:
        return {};
    }
}

QVariant MessageLogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case TimeColumn:
        return tr("Time");
    case DirectionColumn:
        return tr("Direction");
    case SessionColumn:
        return tr("Session");
    case MessageColumn:
        return tr("Message");
    default:
        return {};
    }
}

QString MessageLogModel::messageText(const Entry &entry) const
{
    if (entry.type == Frame::Type::Binary) {
        QString hex = QString::fromLatin1(entry.head.left(kHexPreviewBytes).toHex(' '));
        if (entry.size > kHexPreviewBytes)
            hex += u" …";
        return tr("[binary, %1] %2").arg(QLocale().formattedDataSize(entry.size), hex);
    }
    // A log line is one line: show line breaks instead of breaking the row.
    QString text = entry.text;
    text.replace(QStringLiteral("\r\n"), QStringLiteral("⏎"));
    text.replace(u'\n', u'⏎').replace(u'\r', u'⏎');
    if (entry.truncated)
        text += u'…';
    if (!entry.topic.isEmpty())
        return u'[' + entry.topic + u"] " + text;
    return text;
}

MessageLogModel::Entry MessageLogModel::entryFor(Direction direction, quint64 sessionId,
                                                 const Frame &frame)
{
    Entry entry;
    entry.timeMs = QDateTime::currentMSecsSinceEpoch();
    entry.sessionId = sessionId;
    entry.direction = direction;
    entry.type = frame.type();
    entry.size = frame.size();
    if (frame.isBinary()) {
        entry.head = frame.payload().left(kBinaryHeadBytes);
        entry.truncated = frame.size() > kBinaryHeadBytes;
    } else {
        entry.truncated = frame.size() > kMaxTextBytes;
        entry.text = QString::fromUtf8(frame.payload().left(kMaxTextBytes));
        if (entry.truncated && entry.text.endsWith(QChar::ReplacementCharacter))
            entry.text.chop(1); // the cut fell inside a UTF-8 sequence
    }
    entry.payload = frame.payload();
    return entry;
}

void MessageLogModel::addIncoming(quint64 sessionId, const Frame &frame)
{
    if (!frame.isControl())
        append(entryFor(Direction::In, sessionId, frame));
}

void MessageLogModel::addOutgoing(quint64 sessionId, const Frame &frame)
{
    if (!frame.isControl())
        append(entryFor(Direction::Out, sessionId, frame));
}

void MessageLogModel::addBroadcast(const Frame &frame, int delivered)
{
    foldDeliveries(frame, delivered);
    Entry entry = entryFor(Direction::Broadcast, 0, frame);
    entry.recipients = delivered;
    append(std::move(entry));
}

void MessageLogModel::addPublish(const QString &topic, const Frame &frame, int delivered)
{
    foldDeliveries(frame, delivered);
    Entry entry = entryFor(Direction::Publish, 0, frame);
    entry.recipients = delivered;
    entry.topic = topic;
    append(std::move(entry));
}

void MessageLogModel::foldDeliveries(const Frame &frame, int delivered)
{
    // A broadcast or a publish reports each delivery through frameSent() first,
    // all sharing one payload. One line per recipient would flood the log, so
    // fold the lines not yet shown that carry this very payload into one. With
    // several workers they are not all the last lines: each worker's deliveries
    // arrive in their own order, between other sessions' messages.
    const auto isDelivery = [&frame](const Entry &entry) {
        return entry.direction == Direction::Out && entry.type == frame.type()
                && entry.payload.size() == frame.payload().size()
                && entry.payload.constData() == frame.payload().constData();
    };
    // The last `delivered` of them, removed in one pass (a broadcast to 10,000 must
    // not move the rest of the batch 10,000 times).
    qsizetype from = m_pending.size();
    for (int found = 0; from > 0 && found < delivered;) {
        if (isDelivery(m_pending.at(from - 1)))
            ++found;
        --from;
    }
    const auto tail = m_pending.begin() + from;
    m_pending.erase(std::remove_if(tail, m_pending.end(), isDelivery), m_pending.end());
}

void MessageLogModel::addSystem(const QString &text, quint64 sessionId)
{
    Entry entry;
    entry.timeMs = QDateTime::currentMSecsSinceEpoch();
    entry.sessionId = sessionId;
    entry.direction = Direction::System;
    entry.text = text;
    entry.size = text.size();
    append(std::move(entry));
}

void MessageLogModel::append(Entry entry)
{
    m_pending.append(std::move(entry));
    // Between two flushes only the newest capacity() lines can survive anyway.
    if (m_pending.size() >= 2 * qsizetype(m_capacity))
        m_pending.remove(0, m_pending.size() - m_capacity);
    if (!m_flushTimer.isActive())
        m_flushTimer.start();
}

void MessageLogModel::setCapacity(int rows)
{
    m_capacity = std::max(rows, 1);
    const qsizetype overflow = m_entries.size() - m_capacity;
    if (overflow > 0) {
        beginRemoveRows({}, 0, int(overflow) - 1);
        m_entries.remove(0, overflow);
        endRemoveRows();
    }
}

void MessageLogModel::setFlushInterval(std::chrono::milliseconds interval)
{
    m_flushTimer.setInterval(interval);
}

void MessageLogModel::flush()
{
    m_flushTimer.stop();
    if (m_pending.isEmpty())
        return;
    QList<Entry> batch = std::exchange(m_pending, {});
    if (batch.size() > m_capacity)
        batch.remove(0, batch.size() - m_capacity);
    for (Entry &entry : batch)
        entry.payload = {}; // only needed while a broadcast may still fold it

    const qsizetype overflow = m_entries.size() + batch.size() - m_capacity;
    if (overflow > 0) {
        beginRemoveRows({}, 0, int(overflow) - 1);
        m_entries.remove(0, overflow);
        endRemoveRows();
    }
    const int first = int(m_entries.size());
    beginInsertRows({}, first, first + int(batch.size()) - 1);
    m_entries.append(std::move(batch));
    endInsertRows();
}

void MessageLogModel::clear()
{
    m_pending.clear();
    m_flushTimer.stop();
    if (m_entries.isEmpty())
        return;
    beginResetModel();
    m_entries.clear();
    endResetModel();
}

bool MessageLogModel::writeJsonLines(QIODevice *device)
{
    flush();
    for (const Entry &entry : std::as_const(m_entries)) {
        QJsonObject line{
                {QStringLiteral("time"),
                 QDateTime::fromMSecsSinceEpoch(entry.timeMs, QTimeZone::utc())
                         .toString(Qt::ISODateWithMs)},
                {QStringLiteral("direction"), directionName(entry.direction)},
        };
        if (entry.sessionId != 0)
            line.insert(QStringLiteral("session"), qint64(entry.sessionId));
        if (entry.direction == Direction::Broadcast || entry.direction == Direction::Publish)
            line.insert(QStringLiteral("recipients"), entry.recipients);
        if (!entry.topic.isEmpty())
            line.insert(QStringLiteral("topic"), entry.topic);
        if (entry.direction != Direction::System) {
            line.insert(QStringLiteral("type"), Frame::typeName(entry.type));
            line.insert(QStringLiteral("size"), entry.size);
        }
        if (entry.type == Frame::Type::Binary)
            line.insert(QStringLiteral("hex"), QString::fromLatin1(entry.head.toHex()));
        else
            line.insert(QStringLiteral("text"), entry.text);
        if (entry.truncated)
            line.insert(QStringLiteral("truncated"), true);
        if (device->write(QJsonDocument(line).toJson(QJsonDocument::Compact) + '\n') < 0)
            return false;
    }
    return true;
}

QString MessageLogModel::directionName(Direction direction)
{
    switch (direction) {
    case Direction::In:
        return QStringLiteral("in");
    case Direction::Out:
        return QStringLiteral("out");
    case Direction::Broadcast:
        return QStringLiteral("broadcast");
    case Direction::Publish:
        return QStringLiteral("publish");
    case Direction::System:
        return QStringLiteral("system");
    }
    return {};
}

} // namespace Switchboard
