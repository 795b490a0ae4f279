#include "topicsmodel.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>

#include <algorithm>

namespace Switchboard {

namespace {

bool byTopic(const TopicRegistry::TopicInfo &a, const QString &b)
{
    return a.topic < b;
}

} // namespace

TopicsModel::TopicsModel(TopicRegistry *registry, std::chrono::milliseconds interval,
                         QObject *parent)
    : QAbstractTableModel(parent), m_registry(registry)
{
    m_flush.setSingleShot(true);
    m_flush.setInterval(interval);
    connect(&m_flush, &QTimer::timeout, this, &TopicsModel::flush);
    if (!registry)
        return;
    connect(registry, &TopicRegistry::topicChanged, this, &TopicsModel::onTopicChanged);
    m_rows = registry->topics();
}

TopicsModel::~TopicsModel() = default;

int TopicsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int TopicsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant TopicsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const TopicRegistry::TopicInfo &row = m_rows.at(index.row());
    if (role == TopicRole)
        return row.topic;
    if (role == Qt::TextAlignmentRole && index.column() != TopicColumn)
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case TopicColumn:
        return row.topic;
    case SubscribersColumn:
        return row.subscribers;
    case MembersColumn:
        return row.members;
    case OffsetColumn:
        return row.offset;
    case HistoryColumn:
        return row.history;
    }
    return {};
}

QVariant TopicsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case TopicColumn:
        return tr("Topic");
    case SubscribersColumn:
        return tr("Subscribers");
    case MembersColumn:
        return tr("Members");
    case OffsetColumn:
        return tr("Offset");
    case HistoryColumn:
        return tr("Kept");
    }
    return {};
}

int TopicsModel::rowOf(const QString &topic) const
{
    const auto it = std::lower_bound(m_rows.cbegin(), m_rows.cend(), topic, byTopic);
    return it != m_rows.cend() && it->topic == topic ? int(it - m_rows.cbegin()) : -1;
}

QStringList TopicsModel::presenceLines(const QString &topic) const
{
    if (!m_registry)
        return {};
    const QJsonObject presence = m_registry->presence(topic);
    QStringList lines;
    for (auto it = presence.constBegin(); it != presence.constEnd(); ++it) {
        const QJsonArray metas = it.value().toObject().value(u"metas").toArray();
        // Another instance's session by its cluster-wide id, as the connections table names it.
        QStringList sessions;
        for (const QJsonValue &value : metas) {
            const QJsonObject meta = value.toObject();
            const QString node = meta.value(u"node").toString();
            const QString id = QString::number(meta.value(u"session").toInteger());
            sessions << (node == m_registry->nodeName() ? id : node + u':' + id);
        }
        lines << (metas.size() == 1 ? tr("%1 — session %2").arg(it.key(), sessions.constFirst())
                                    : tr("%1 — %2 connections (sessions %3)")
                                              .arg(it.key())
                                              .arg(metas.size())
                                              .arg(sessions.join(QStringLiteral(", "))));
    }
    return lines; // QJsonObject keys come sorted
}

void TopicsModel::onTopicChanged(const QString &topic)
{
    m_dirty.insert(topic);
    if (!m_flush.isActive())
        m_flush.start();
}

void TopicsModel::flush()
{
    if (!m_registry)
        return;
    const QSet<QString> changed = std::exchange(m_dirty, {});
    for (const QString &topic : changed) {
        const auto info = m_registry->topic(topic);
        const auto it = std::lower_bound(m_rows.begin(), m_rows.end(), topic, byTopic);
        const int row = int(it - m_rows.begin());
        const bool present = it != m_rows.end() && it->topic == topic;
        if (info && present) {
            *it = *info;
            Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        } else if (info) {
            beginInsertRows({}, row, row);
            m_rows.insert(row, *info);
            endInsertRows();
        } else if (present) {
            beginRemoveRows({}, row, row);
            m_rows.removeAt(row);
            endRemoveRows();
        }
    }
    Q_EMIT topicsRefreshed(changed);
}

} // namespace Switchboard
