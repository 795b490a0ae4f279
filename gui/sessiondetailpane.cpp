#include "sessiondetailpane.h"

#include "tableview.h"

#include "connectionsmodel.h"
#include "logfiltermodel.h"
#include "messagelogmodel.h"

#include <QtCore/QDateTime>
#include <QtCore/QLocale>
#include <QtWidgets/QGridLayout>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QScrollBar>
#include <QtWidgets/QStackedWidget>
#include <QtWidgets/QTableView>
#include <QtWidgets/QVBoxLayout>

#include <algorithm>
#include <numeric>

namespace Switchboard {

namespace {

// No session has id 0: filtering by it leaves the pane's log empty, where an
// empty set would show every line.
const QSet<quint64> kNoSession{0};

QLabel *valueLabel(const char *name, QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setObjectName(QString::fromLatin1(name));
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->setTextFormat(Qt::PlainText);
    return label;
}

} // namespace

SessionDetailPane::SessionDetailPane(ConnectionsModel *connections, MessageLogModel *log,
                                     QWidget *parent)
    : QWidget(parent), m_connections(connections), m_log(new LogFilterModel(this))
{
    m_log->setIncludeShared(false);
    m_log->setSessions(kNoSession);
    m_log->setSourceModel(log);

    m_stack = new QStackedWidget(this);
    auto *placeholder = new QLabel(tr("Select one connection to see its details here."), this);
    placeholder->setObjectName(QStringLiteral("detailPlaceholder"));
    placeholder->setAlignment(Qt::AlignCenter);
    placeholder->setWordWrap(true);
    placeholder->setForegroundRole(QPalette::PlaceholderText);
    m_stack->addWidget(placeholder);

    auto *details = new QWidget(this);
    auto *layout = new QVBoxLayout(details);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(3);
    auto *header = new QHBoxLayout;
    m_title = new QLabel(details);
    m_title->setObjectName(QStringLiteral("detailTitle"));
    QFont titleFont = m_title->font();
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_state = valueLabel("detailState", details);
    m_closeButton = new QPushButton(tr("Disconnect"), details);
    m_closeButton->setObjectName(QStringLiteral("detailCloseButton"));
    m_closeButton->setToolTip(tr("Close this connection with code 4000"));
    header->addWidget(m_title);
    header->addWidget(m_state);
    header->addStretch();
    header->addWidget(m_closeButton);
    layout->addLayout(header);

    // Two label/value pairs a row: the pane sits beside the log and is short.
    auto *grid = new QGridLayout;
    grid->setHorizontalSpacing(8);
    grid->setVerticalSpacing(2);
    m_peer = valueLabel("detailPeer", details);
    m_path = valueLabel("detailPath", details);
    m_protocol = valueLabel("detailProtocol", details);
    m_compression = valueLabel("detailCompression", details);
    m_connected = valueLabel("detailConnected", details);
    m_messages = valueLabel("detailMessages", details);
    m_bytes = valueLabel("detailBytes", details);
    m_rtt = valueLabel("detailRtt", details);
    m_rtt->setWordWrap(true);
    const std::pair<QString, QLabel *> fields[] = {
            {tr("Peer"), m_peer},
            {tr("Path"), m_path},
            {tr("Subprotocol"), m_protocol},
            {tr("Compression"), m_compression},
            {tr("Connected"), m_connected},
            {tr("Messages"), m_messages},
            {tr("Bytes"), m_bytes},
    };
    int index = 0;
    for (const auto &[name, value] : fields) {
        auto *label = new QLabel(name + u':', details);
        label->setForegroundRole(QPalette::PlaceholderText);
        grid->addWidget(label, index / 2, (index % 2) * 2);
        grid->addWidget(value, index / 2, (index % 2) * 2 + 1);
        ++index;
    }
    auto *rttLabel = new QLabel(tr("Ping RTT:"), details);
    rttLabel->setForegroundRole(QPalette::PlaceholderText);
    const int rttRow = (index + 1) / 2;
    grid->addWidget(rttLabel, rttRow, 0, Qt::AlignTop);
    grid->addWidget(m_rtt, rttRow, 1, 1, 3);
    grid->setColumnStretch(1, 1);
    grid->setColumnStretch(3, 1);
    layout->addLayout(grid);

    m_logView = makeTableView(details);
    m_logView->setObjectName(QStringLiteral("detailLogView"));
    m_logView->setModel(m_log);
    // Every line is this session's: its id would only repeat.
    m_logView->setColumnHidden(MessageLogModel::SessionColumn, true);
    m_logView->setColumnWidth(MessageLogModel::TimeColumn, 95);
    m_logView->setColumnWidth(MessageLogModel::DirectionColumn, 75);
    // One line at least, so the pane never raises the window's minimum height;
    // the rest of the pane's height when there is more.
    m_logView->setMinimumHeight(m_logView->horizontalHeader()->sizeHint().height()
                                + m_logView->verticalHeader()->defaultSectionSize() + 4);
    layout->addWidget(m_logView, 1);
    // Follow the newest line unless the operator scrolled up (as the main log does).
    QScrollBar *bar = m_logView->verticalScrollBar();
    connect(bar, &QScrollBar::valueChanged, this,
            [this, bar](int value) { m_logAtBottom = value >= bar->maximum(); });
    connect(m_log, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_logAtBottom)
            m_logView->scrollToBottom();
    });

    auto *composer = new QHBoxLayout;
    m_messageEdit = new QLineEdit(details);
    m_messageEdit->setObjectName(QStringLiteral("detailMessageEdit"));
    m_messageEdit->setPlaceholderText(tr("Message to this connection"));
    m_sendButton = new QPushButton(tr("Send"), details);
    m_sendButton->setObjectName(QStringLiteral("detailSendButton"));
    composer->addWidget(m_messageEdit, 1);
    composer->addWidget(m_sendButton);
    layout->addLayout(composer);
    m_stack->addWidget(details);

    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(m_stack);

    connect(m_messageEdit, &QLineEdit::textChanged, this, &SessionDetailPane::updateButtons);
    connect(m_messageEdit, &QLineEdit::returnPressed, this, &SessionDetailPane::send);
    connect(m_sendButton, &QPushButton::clicked, this, &SessionDetailPane::send);
    connect(m_closeButton, &QPushButton::clicked, this, [this] {
        if (m_id != 0 && !m_closed)
            Q_EMIT closeRequested(m_id);
    });
    // The model's own batching paces the pane: one refresh per stats batch and
    // one per second for the "connected for" column.
    connect(m_connections, &QAbstractItemModel::dataChanged, this,
            &SessionDetailPane::onConnectionsChanged);
    connect(m_connections, &QAbstractItemModel::modelReset, this, &SessionDetailPane::refresh);
    refresh();
}

SessionDetailPane::~SessionDetailPane() = default;

void SessionDetailPane::setSession(quint64 id)
{
    if (id == m_id && !m_closed)
        return;
    m_id = id;
    m_closed = false;
    m_logAtBottom = true;
    m_messageEdit->clear();
    m_log->setSessions(id == 0 ? kNoSession : QSet<quint64>{id});
    refresh();
    m_logView->scrollToBottom();
}

void SessionDetailPane::markClosed(quint64 id, const QString &reason)
{
    if (id != m_id || id == 0)
        return;
    m_closed = true;
    m_state->setText(tr("closed: %1").arg(reason));
    m_state->setStyleSheet(QStringLiteral("color: #b3261e;"));
    updateButtons();
}

void SessionDetailPane::onConnectionsChanged(const QModelIndex &topLeft,
                                             const QModelIndex &bottomRight)
{
    if (m_id == 0 || m_closed)
        return;
    const int row = m_connections->rowOf(m_id);
    if (row >= topLeft.row() && row <= bottomRight.row())
        refresh();
}

void SessionDetailPane::refresh()
{
    if (m_id == 0) {
        m_stack->setCurrentIndex(0);
        return;
    }
    m_stack->setCurrentIndex(1);
    m_title->setText(tr("Connection %1").arg(m_id));
    const int row = m_connections->rowOf(m_id);
    if (row < 0) {
        // Gone without markClosed() (the table was reset): keep the last figures.
        if (!m_closed)
            markClosed(m_id, tr("no longer listed"));
        return;
    }
    if (m_closed)
        return;
    const auto text = [&](int column) {
        return m_connections->index(row, column).data().toString();
    };
    using Model = ConnectionsModel;
    const SessionInfo info = m_connections->sessionAt(row);
    m_state->setText(text(Model::StateColumn));
    m_state->setStyleSheet(QString());
    m_peer->setText(text(Model::PeerColumn));
    m_path->setText(text(Model::PathColumn));
    m_protocol->setText(info.protocol.isEmpty() ? tr("none") : text(Model::ProtocolColumn));
    m_compression->setText(info.compressed ? text(Model::CompressionColumn) : tr("none"));
    m_compression->setToolTip(
            m_connections->index(row, Model::CompressionColumn).data(Qt::ToolTipRole).toString());
    m_connected->setText(tr("%1, for %2")
                                 .arg(QLocale().toString(info.connectedAt.toLocalTime().time(),
                                                         QLocale::ShortFormat),
                                      text(Model::ConnectedForColumn)));
    m_connected->setToolTip(
            QLocale().toString(info.connectedAt.toLocalTime(), QLocale::LongFormat));
    m_messages->setText(
            tr("%1 in · %2 out")
                    .arg(text(Model::MessagesInColumn), text(Model::MessagesOutColumn)));
    m_bytes->setText(
            tr("%1 in · %2 out").arg(text(Model::BytesInColumn), text(Model::BytesOutColumn)));
    m_rtt->setText(rttText());
    updateButtons();
}

QString SessionDetailPane::rttText() const
{
    const QList<qint64> history = m_connections->rttHistory(m_id);
    if (history.isEmpty())
        return tr("no pong yet");
    const auto [low, high] = std::minmax_element(history.cbegin(), history.cend());
    const double mean = double(std::accumulate(history.cbegin(), history.cend(), qint64(0)))
            / double(history.size());
    QStringList values;
    for (const qint64 ms : history)
        values.append(QString::number(ms));
    return tr("%1 ms now; min %2, avg %3, max %4 over the last %5\n%6 ms")
            .arg(history.constLast())
            .arg(*low)
            .arg(QLocale().toString(mean, 'f', 1))
            .arg(*high)
            .arg(history.size() == 1 ? tr("ping") : tr("%1 pings").arg(history.size()))
            .arg(values.join(QStringLiteral(" · ")));
}

void SessionDetailPane::send()
{
    const QString text = m_messageEdit->text();
    if (m_id == 0 || m_closed || text.isEmpty())
        return;
    Q_EMIT sendRequested(m_id, text);
    m_messageEdit->clear();
}

void SessionDetailPane::updateButtons()
{
    const bool open = m_id != 0 && !m_closed;
    m_sendButton->setEnabled(open && !m_messageEdit->text().isEmpty());
    m_messageEdit->setEnabled(open);
    m_closeButton->setEnabled(open);
}

} // namespace Switchboard
