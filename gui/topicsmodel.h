#pragma once

#include "channels/topicregistry.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QList>
#include <QtCore/QPointer>
#include <QtCore/QSet>
#include <QtCore/QTimer>

namespace Switchboard {

/*!
    The channels endpoint's topics as a table, sorted by name: subscribers,
    members, the latest offset and the messages kept.

    Fed by TopicRegistry::topicChanged, batched like the connections table:
    the topics that changed are collected and their rows refreshed at most
    once per interval, so a burst of joins or publishes costs one update.
*/
class TopicsModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(TopicsModel)

public:
    enum Column {
        TopicColumn,
        SubscribersColumn,
        MembersColumn,
        OffsetColumn,
        HistoryColumn,
        ColumnCount
    };
    enum Role {
        TopicRole = Qt::UserRole, //!< the topic's name (QString)
    };

    explicit TopicsModel(TopicRegistry *registry,
                         std::chrono::milliseconds interval = std::chrono::milliseconds(250),
                         QObject *parent = nullptr);
    ~TopicsModel() override;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    /*! The row of \a topic, or -1. */
    int rowOf(const QString &topic) const;

    /*!
        The presence of \a topic as lines for a list: "ann — 2 connections
        (sessions 3, 5)", sorted by member.
    */
    QStringList presenceLines(const QString &topic) const;

Q_SIGNALS:
    /*! Rows were refreshed for these topics (after a batch). */
    void topicsRefreshed(const QSet<QString> &topics);

private:
    void onTopicChanged(const QString &topic);
    void flush();

    QPointer<TopicRegistry> m_registry;
    QList<TopicRegistry::TopicInfo> m_rows; // sorted by topic
    QSet<QString> m_dirty;
    QTimer m_flush;
};

} // namespace Switchboard
