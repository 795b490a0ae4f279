#pragma once

#include "websocket/frame.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QList>
#include <QtCore/QTimer>

#include <chrono>

class QIODevice;

namespace Switchboard {

/*!
    The message log: one row per frame in or out, broadcast or system event.

    Lines are collected and appended in one batch per flush interval (100 ms
    by default), so a view repaints a few times per second whatever the
    message rate. The log keeps at most capacity() rows and drops the oldest
    first. Payloads are not kept: text is cut to a preview and binary frames
    keep their size and first bytes.
*/
class MessageLogModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MessageLogModel)

public:
    enum Column { TimeColumn, DirectionColumn, SessionColumn, MessageColumn, ColumnCount };
    enum class Direction : quint8 { In, Out, Broadcast, Publish, System };
    enum Role {
        SessionIdRole = Qt::UserRole, //!< quint64; 0 for broadcasts and server events
        DirectionRole, //!< Direction as int
    };

    static constexpr int DefaultCapacity = 10'000;

    explicit MessageLogModel(QObject *parent = nullptr);
    ~MessageLogModel() override;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    void addIncoming(quint64 sessionId, const Frame &frame);
    void addOutgoing(quint64 sessionId, const Frame &frame);
    /*!
        Records a broadcast to \a delivered sessions. The per-session "out"
        lines the hub reported for it just before are folded into this one line.
    */
    void addBroadcast(const Frame &frame, int delivered);
    /*!
        Records a publish to \a topic of the channels endpoint, delivered to
        \a delivered subscribers; folded like a broadcast.
    */
    void addPublish(const QString &topic, const Frame &frame, int delivered);
    void addSystem(const QString &text, quint64 sessionId = 0);

    int capacity() const { return m_capacity; }
    void setCapacity(int rows);
    void setFlushInterval(std::chrono::milliseconds interval);

    /*! Appends the waiting lines now rather than at the next flush. */
    void flush();
    void clear();
    /*! Writes every line as one JSON object per line; false if the device failed. */
    bool writeJsonLines(QIODevice *device);

    static QString directionName(Direction direction);

private:
    struct Entry
    {
        qint64 timeMs = 0; // UTC, since the epoch
        quint64 sessionId = 0;
        Direction direction = Direction::System;
        Frame::Type type = Frame::Type::Text;
        int recipients = 0;
        qint64 size = 0;
        QString text; // preview of a text frame, or the system message
        QByteArray head; // first bytes of a binary frame
        bool truncated = false;
        QByteArray payload; // shared with the frame while pending; see addBroadcast()
        QString topic; // a publish's topic
    };

    /*! Drops the trailing "out" lines of the \a delivered sessions \a frame just went to. */
    void foldDeliveries(const Frame &frame, int delivered);

    void append(Entry entry);
    static Entry entryFor(Direction direction, quint64 sessionId, const Frame &frame);
    QString messageText(const Entry &entry) const;

    QList<Entry> m_entries;
    QList<Entry> m_pending;
    QTimer m_flushTimer;
    int m_capacity = DefaultCapacity;
};

} // namespace Switchboard
