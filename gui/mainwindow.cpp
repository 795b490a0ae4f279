#include "mainwindow.h"

#include "channels/topicregistry.h"
#include "cluster/cluster.h"
#include "connectionsmodel.h"
#include "websocket/hub.h"
#include "logfiltermodel.h"
#include "messagelogmodel.h"
#include "http/server.h"
#include "platform/ownerfile.h"
#include "sessiondetailpane.h"
#include "tableview.h"
#include "topicsmodel.h"
#include "trafficchart.h"
#include "traffichistory.h"
#include "trafficmeter.h"

#include <QtCore/QPointer>
#include <QtCore/QDateTime>
#include <QtCore/QJsonObject>
#include <QtCore/QSaveFile>
#include <QtCore/QSettings>
#include <QtCore/QSortFilterProxyModel>
#include <QtGui/QClipboard>
#include <QtGui/QCloseEvent>
#include <QtGui/QDesktopServices>
#include <QtGui/QGuiApplication>
#include <QtGui/QPainter>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QFileDialog>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QListWidget>
#include <QtWidgets/QMenuBar>
#include <QtWidgets/QApplication>
#include <QtWidgets/QMenu>
#include <QtWidgets/QMessageBox>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QScrollBar>
#include <QtWidgets/QSplitter>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QSystemTrayIcon>
#include <QtWidgets/QTabWidget>
#include <QtWidgets/QTableView>
#include <QtWidgets/QToolBar>
#include <QtWidgets/QToolButton>
#include <QtWidgets/QVBoxLayout>

#include <algorithm>

namespace Switchboard {

namespace {

const QString kGeometryKey = QStringLiteral("window/geometry");
const QString kWindowStateKey = QStringLiteral("window/state");
const QString kSplitterKey = QStringLiteral("window/splitter");
const QString kBottomSplitterKey = QStringLiteral("window/bottomSplitter");
// V2: the Node column came second; a state saved without it would give each
// column its left neighbour's width.
const QString kConnectionsHeaderKey = QStringLiteral("connections/headerV2");
const QString kLogHeaderKey = QStringLiteral("log/header");
const QString kFollowSelectionKey = QStringLiteral("log/followSelection");
const QString kHostKey = QStringLiteral("server/host");
const QString kPortKey = QStringLiteral("server/port");

// Spelled out rather than tr("%n connection(s)"): no English translation is loaded.
QString connectionCount(int count)
{
    return count == 1 ? MainWindow::tr("1 connection")
                      : MainWindow::tr("%1 connections").arg(count);
}

// The tray shows the count at a glance; the tooltip has the words.
QIcon iconWithBadge(const QIcon &icon, int count)
{
    QPixmap pixmap = icon.pixmap(64, 64);
    if (count <= 0)
        return QIcon(pixmap);
    const QString text = count > 99 ? QStringLiteral("99+") : QString::number(count);
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    QFont font = painter.font();
    font.setBold(true);
    font.setPixelSize(text.size() > 2 ? 18 : 26);
    painter.setFont(font);
    const int width = text.size() > 2 ? 54 : 40;
    const QRect badge(pixmap.width() - width, pixmap.height() - 34, width, 34);
    painter.setPen(Qt::NoPen);
    painter.setBrush(QColor(0xd1, 0x24, 0x2f));
    painter.drawRoundedRect(badge, 14, 14);
    painter.setPen(Qt::white);
    painter.drawText(badge, Qt::AlignCenter, text);
    return QIcon(pixmap);
}

Frame composeFrame(const QString &text, bool binary)
{
    return binary ? Frame::binary(text.toUtf8()) : Frame::text(text);
}

// What the log says was sent to a session it has no lines for (one on another instance).
QString framePreview(const Frame &frame)
{
    constexpr qsizetype kPreview = 80;
    if (frame.isBinary())
        return MainWindow::tr("%1 bytes of binary").arg(frame.payload().size());
    const QString text = frame.toText();
    return text.size() > kPreview ? text.left(kPreview) + u'…' : text;
}

QString nodeCount(int count)
{
    return count == 1 ? MainWindow::tr("1 node") : MainWindow::tr("%1 nodes").arg(count);
}

// Some platform themes (offscreen, minimal window managers) bind no keys to
// the standard actions; the console promises Ctrl+S and Ctrl+Q everywhere.
QList<QKeySequence> standardKeys(QKeySequence::StandardKey key, QKeyCombination fallback)
{
    QList<QKeySequence> keys = QKeySequence::keyBindings(key);
    if (keys.isEmpty())
        keys.append(QKeySequence(fallback));
    return keys;
}

} // namespace

MainWindow::MainWindow(Hub *hub, Server *server, Cluster *cluster, TopicRegistry *topics,
                       QWidget *parent)
    : QMainWindow(parent)
    , m_hub(hub)
    , m_server(server)
    , m_cluster(cluster)
    , m_topics(topics)
    , m_connections(new ConnectionsModel(this))
    , m_connectionsProxy(new QSortFilterProxyModel(this))
    , m_log(new MessageLogModel(this))
    , m_logProxy(new LogFilterModel(this))
    , m_traffic(new TrafficMeter(this))
    , m_history(new TrafficHistory(this))
    , m_urlOpener(&QDesktopServices::openUrl)
{
    setWindowTitle(tr("Switchboard"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/switchboard.png")));

    m_connectionsProxy->setSourceModel(m_connections);
    m_connectionsProxy->setSortRole(ConnectionsModel::SortRole);
    m_connectionsProxy->setFilterKeyColumn(-1);
    m_connectionsProxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_logProxy->setSourceModel(m_log);

    buildActions();
    buildWidgets();
    buildMenus();
    connectCore();
    restoreSettings();
    // After restoring the header, which may come from a run with(out) a cluster.
    m_connectionsView->setColumnHidden(ConnectionsModel::NodeColumn, !m_cluster);
    updateActions();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildActions()
{
    m_listenAction = new QAction(tr("Stop listening"), this);
    m_listenAction->setObjectName(QStringLiteral("listenAction"));
    m_listenAction->setToolTip(tr("Stop accepting new connections; live ones stay"));
    connect(m_listenAction, &QAction::triggered, this, &MainWindow::toggleListening);

    m_changeAddressAction = new QAction(tr("Change address…"), this);
    m_changeAddressAction->setObjectName(QStringLiteral("changeAddressAction"));
    m_changeAddressAction->setToolTip(tr("Listen on another host or port"));
    connect(m_changeAddressAction, &QAction::triggered, this, &MainWindow::changeAddress);

    m_openClientAction = new QAction(tr("Open test client"), this);
    m_openClientAction->setObjectName(QStringLiteral("openClientAction"));
    m_openClientAction->setToolTip(tr("Open the bundled browser client"));
    connect(m_openClientAction, &QAction::triggered, this, &MainWindow::openTestClient);

    m_saveLogAction = new QAction(tr("Save log…"), this);
    m_saveLogAction->setObjectName(QStringLiteral("saveLogAction"));
    m_saveLogAction->setShortcuts(standardKeys(QKeySequence::Save, Qt::CTRL | Qt::Key_S));
    m_saveLogAction->setToolTip(tr("Save the log as JSON Lines"));
    connect(m_saveLogAction, &QAction::triggered, this, &MainWindow::saveLog);

    m_clearLogAction = new QAction(tr("Clear log"), this);
    m_clearLogAction->setObjectName(QStringLiteral("clearLogAction"));

    // Closing the window is what shuts the server down (main() watches for the
    // last window closing), so Quit takes exactly that path.
    m_quitAction = new QAction(tr("Quit"), this);
    m_quitAction->setObjectName(QStringLiteral("quitAction"));
    m_quitAction->setShortcuts(standardKeys(QKeySequence::Quit, Qt::CTRL | Qt::Key_Q));
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    auto *toolBar = addToolBar(tr("Server"));
    toolBar->setObjectName(QStringLiteral("serverToolBar"));
    toolBar->setMovable(false);
    toolBar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    toolBar->addAction(m_listenAction);
    toolBar->addAction(m_changeAddressAction);
    toolBar->addSeparator();
    toolBar->addAction(m_openClientAction);
}

void MainWindow::buildWidgets()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);

    // Listener errors stay on screen until they are fixed: a taken port is
    // something the operator has to act on.
    m_errorBanner = new QFrame(central);
    m_errorBanner->setObjectName(QStringLiteral("errorBanner"));
    m_errorBanner->setFrameShape(QFrame::StyledPanel);
    m_errorBanner->setStyleSheet(QStringLiteral(
            "#errorBanner { background: #fde7e9; border: 1px solid #d1242f; border-radius: 4px; }"
            "#errorBanner QLabel { color: #82071e; }"));
    m_errorLabel = new QLabel(m_errorBanner);
    m_errorLabel->setObjectName(QStringLiteral("errorLabel"));
    m_errorLabel->setWordWrap(true);
    m_errorLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *fixButton = new QPushButton(tr("Change address…"), m_errorBanner);
    connect(fixButton, &QPushButton::clicked, this, &MainWindow::changeAddress);
    // Dismissing only hides the banner; the log keeps the error.
    auto *closeButton = new QToolButton(m_errorBanner);
    closeButton->setObjectName(QStringLiteral("errorCloseButton"));
    closeButton->setText(QStringLiteral("✕"));
    closeButton->setAutoRaise(true);
    closeButton->setToolTip(tr("Dismiss"));
    connect(closeButton, &QToolButton::clicked, this, &MainWindow::hideError);
    auto *bannerLayout = new QHBoxLayout(m_errorBanner);
    bannerLayout->addWidget(m_errorLabel, 1);
    bannerLayout->addWidget(fixButton);
    bannerLayout->addWidget(closeButton);
    m_errorBanner->hide();
    layout->addWidget(m_errorBanner);

    // Connections: filter box over the table.
    auto *connectionsPane = new QWidget(central);
    auto *connectionsLayout = new QVBoxLayout(connectionsPane);
    connectionsLayout->setContentsMargins(0, 0, 0, 0);
    m_filterEdit = new QLineEdit(connectionsPane);
    m_filterEdit->setObjectName(QStringLiteral("filterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter connections (any column)"));
    m_filterEdit->setClearButtonEnabled(true);
    connect(m_filterEdit, &QLineEdit::textChanged, m_connectionsProxy,
            &QSortFilterProxyModel::setFilterFixedString);
    m_connectionsView = makeTableView(connectionsPane);
    m_connectionsView->setObjectName(QStringLiteral("connectionsView"));
    m_connectionsView->setModel(m_connectionsProxy);
    m_connectionsView->setSortingEnabled(true);
    m_connectionsView->sortByColumn(ConnectionsModel::IdColumn, Qt::AscendingOrder);
    // In cluster mode ids read "node:id", and the Node column takes room. Both fit the
    // default window (1100 px).
    using Model = ConnectionsModel;
    const std::pair<int, std::pair<int, int>> widths[] = {
            // column: {width alone, width in cluster mode}
            {Model::IdColumn, {50, 120}},          {Model::NodeColumn, {100, 95}},
            {Model::PeerColumn, {140, 120}},       {Model::PathColumn, {75, 65}},
            {Model::ProtocolColumn, {75, 70}},     {Model::ConnectedForColumn, {95, 90}},
            {Model::MessagesInColumn, {70, 65}},   {Model::MessagesOutColumn, {75, 70}},
            {Model::BytesInColumn, {85, 80}},      {Model::BytesOutColumn, {85, 80}},
            {Model::CompressionColumn, {100, 95}}, {Model::PingColumn, {70, 65}},
            {Model::StateColumn, {65, 60}},
    };
    for (const auto &[column, width] : widths)
        m_connectionsView->setColumnWidth(column, m_cluster ? width.second : width.first);
    connectionsLayout->addWidget(m_connectionsView);

    // Message log with its controls.
    auto *logPane = new QWidget(central);
    auto *logLayout = new QVBoxLayout(logPane);
    logLayout->setContentsMargins(0, 0, 0, 0);
    auto *logControls = new QHBoxLayout;
    auto *logTitle = new QLabel(tr("<b>Message log</b>"), logPane);
    m_followSelection = new QCheckBox(tr("Only selected connections"), logPane);
    m_followSelection->setObjectName(QStringLiteral("followSelectionCheck"));
    m_followSelection->setToolTip(
            tr("Show only the messages of the selected connections (and broadcasts)"));
    connect(m_followSelection, &QCheckBox::toggled, this, &MainWindow::updateLogFilter);
    auto *clearButton = new QPushButton(tr("Clear"), logPane);
    clearButton->setObjectName(QStringLiteral("clearLogButton"));
    connect(m_clearLogAction, &QAction::triggered, m_log, &MessageLogModel::clear);
    connect(clearButton, &QPushButton::clicked, m_clearLogAction, &QAction::trigger);
    auto *saveButton = new QPushButton(tr("Save…"), logPane);
    saveButton->setObjectName(QStringLiteral("saveLogButton"));
    saveButton->setToolTip(tr("Save the log as JSON Lines"));
    connect(saveButton, &QPushButton::clicked, m_saveLogAction, &QAction::trigger);
    logControls->addWidget(logTitle);
    logControls->addSpacing(12);
    logControls->addWidget(m_followSelection);
    logControls->addStretch();
    logControls->addWidget(clearButton);
    logControls->addWidget(saveButton);
    m_logView = makeTableView(logPane);
    m_logView->setObjectName(QStringLiteral("logView"));
    m_logView->setModel(m_logProxy);
    m_logView->setColumnWidth(MessageLogModel::TimeColumn, 100);
    m_logView->setColumnWidth(MessageLogModel::DirectionColumn, 80);
    m_logView->setColumnWidth(MessageLogModel::SessionColumn, 70);
    logLayout->addLayout(logControls);
    logLayout->addWidget(m_logView);

    // Keep the newest line in sight, unless the operator scrolled up to read.
    // Whether the log follows is decided when the operator (or we) move the
    // scroll bar, not when lines arrive: a layout change (the error banner
    // appearing, the splitter moving) grows the range without moving the
    // value, and must not be mistaken for scrolling up.
    QScrollBar *logBar = m_logView->verticalScrollBar();
    connect(logBar, &QScrollBar::valueChanged, this,
            [this, logBar](int value) { m_logAtBottom = value >= logBar->maximum(); });
    connect(logBar, &QScrollBar::rangeChanged, this, [this, logBar](int, int maximum) {
        if (m_logAtBottom)
            logBar->setValue(maximum);
    });
    connect(m_logProxy, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_logAtBottom)
            m_logView->scrollToBottom();
    });

    // Beside the log: the traffic chart over the selected connection's details.
    auto *sidePane = new QWidget(central);
    auto *sideLayout = new QVBoxLayout(sidePane);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    // No titles: the chart's legend and time axis and the pane's own header say
    // what they are, and each line saved keeps the window's minimum height.
    m_chart = new TrafficChart(m_history, sidePane);
    m_chart->setObjectName(QStringLiteral("trafficChart"));
    m_detail = new SessionDetailPane(m_connections, m_log, sidePane);
    m_detail->setObjectName(QStringLiteral("sessionDetailPane"));
    connect(m_detail, &SessionDetailPane::sendRequested, this, &MainWindow::sendToSession);
    connect(m_detail, &SessionDetailPane::closeRequested, this, &MainWindow::closeSession);
    sideLayout->setSpacing(3); // tight: the column must not raise the window's minimum height
    sideLayout->addWidget(m_chart);
    m_chart->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Minimum);
    sideLayout->addWidget(m_detail, 1);

    m_bottomSplitter = new QSplitter(Qt::Horizontal, central);
    m_bottomSplitter->setObjectName(QStringLiteral("bottomSplitter"));
    m_bottomSplitter->addWidget(logPane);
    m_bottomSplitter->addWidget(sidePane);
    m_bottomSplitter->setStretchFactor(0, 1);
    m_bottomSplitter->setStretchFactor(1, 1);
    m_bottomSplitter->setChildrenCollapsible(false);

    // Connections, and the channels endpoint's topics, in tabs over the log.
    m_tabs = new QTabWidget(central);
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(connectionsPane, tr("Connections"));
    if (m_topics)
        m_tabs->addTab(buildTopicsPane(), tr("Topics"));
    // The filter sits in the tab bar's corner (no row of its own: the window's
    // minimum height stays), and only while the connections are shown.
    // QTabWidget sizes its corner by the widget's size hint, which a line edit
    // keeps narrow: a container with a layout asks for the width it needs.
    auto *corner = new QWidget(m_tabs);
    auto *cornerLayout = new QHBoxLayout(corner);
    cornerLayout->setContentsMargins(0, 0, 0, 2);
    m_filterEdit->setMinimumWidth(260);
    cornerLayout->addWidget(m_filterEdit);
    m_tabs->setCornerWidget(corner, Qt::TopRightCorner);
    // Two rows of a table are enough at the smallest: the tab bar must not
    // raise the window's minimum height.
    m_connectionsView->setMinimumHeight(56);
    connect(m_tabs, &QTabWidget::currentChanged, corner,
            [corner](int index) { corner->setVisible(index == 0); });

    m_splitter = new QSplitter(Qt::Vertical, central);
    m_splitter->setObjectName(QStringLiteral("splitter"));
    m_splitter->addWidget(m_tabs);
    m_splitter->addWidget(m_bottomSplitter);
    m_splitter->setStretchFactor(0, 2);
    m_splitter->setStretchFactor(1, 3);
    m_splitter->setChildrenCollapsible(false);
    layout->addWidget(m_splitter, 1);

    // Composer.
    auto *composer = new QHBoxLayout;
    m_messageEdit = new QLineEdit(central);
    m_messageEdit->setObjectName(QStringLiteral("messageEdit"));
    m_messageEdit->setPlaceholderText(tr("Message (Enter sends to the selected connections)"));
    m_binary = new QCheckBox(tr("Binary"), central);
    m_binary->setObjectName(QStringLiteral("binaryCheck"));
    m_binary->setToolTip(tr("Send the text's UTF-8 bytes as a binary frame"));
    m_sendButton = new QPushButton(tr("Send to selected"), central);
    m_sendButton->setObjectName(QStringLiteral("sendButton"));
    m_broadcastButton = new QPushButton(tr("Broadcast"), central);
    m_broadcastButton->setObjectName(QStringLiteral("broadcastButton"));
    m_broadcastButton->setToolTip(tr("Send to every connection"));
    m_disconnectButton = new QPushButton(tr("Disconnect selected"), central);
    m_disconnectButton->setObjectName(QStringLiteral("disconnectButton"));
    m_disconnectButton->setToolTip(tr("Close the selected connections with code 4000"));
    composer->addWidget(m_messageEdit, 1);
    composer->addWidget(m_binary);
    composer->addWidget(m_sendButton);
    composer->addWidget(m_broadcastButton);
    if (m_topics) {
        m_publishButton = new QPushButton(tr("Publish to topic"), central);
        m_publishButton->setObjectName(QStringLiteral("publishButton"));
        m_publishButton->setToolTip(tr("Publish to the topic selected in the Topics tab"));
        connect(m_publishButton, &QPushButton::clicked, this, &MainWindow::publishToTopic);
        composer->addWidget(m_publishButton);
    }
    composer->addSpacing(12);
    composer->addWidget(m_disconnectButton);
    layout->addLayout(composer);

    connect(m_messageEdit, &QLineEdit::textChanged, this, &MainWindow::updateActions);
    connect(m_messageEdit, &QLineEdit::returnPressed, this, [this] {
        if (selectedSessionIds(true).isEmpty() && selectedRemoteSessions(true).isEmpty())
            statusBar()->showMessage(
                    tr("Select one or more connections to send to, or click Broadcast."), 4000);
        else
            sendToSelected();
    });
    connect(m_sendButton, &QPushButton::clicked, this, &MainWindow::sendToSelected);
    connect(m_broadcastButton, &QPushButton::clicked, this, &MainWindow::broadcast);
    connect(m_disconnectButton, &QPushButton::clicked, this, &MainWindow::disconnectSelected);

    // Selections change when rows go away too; every path ends in the same refresh.
    const auto selectionMayHaveChanged = [this] {
        updateActions();
        updateLogFilter();
        updateDetailPane();
    };
    connect(m_connectionsView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            selectionMayHaveChanged);
    connect(m_connectionsProxy, &QAbstractItemModel::rowsRemoved, this, selectionMayHaveChanged);
    connect(m_connectionsProxy, &QAbstractItemModel::modelReset, this, selectionMayHaveChanged);
    connect(m_connectionsProxy, &QAbstractItemModel::dataChanged, this, &MainWindow::updateActions);

    setCentralWidget(central);

    m_addressLabel = new QLabel(this);
    m_addressLabel->setObjectName(QStringLiteral("addressLabel"));
    m_addressLabel->setToolTip(tr("Click to copy the WebSocket URL"));
    connect(m_addressLabel, &QLabel::linkActivated, this, &MainWindow::copyWebSocketUrl);
    m_countLabel = new QLabel(this);
    m_countLabel->setObjectName(QStringLiteral("countLabel"));
    m_rateLabel = new QLabel(this);
    m_rateLabel->setObjectName(QStringLiteral("rateLabel"));
    m_countLabel->setContentsMargins(8, 0, 8, 0);
    m_rateLabel->setContentsMargins(8, 0, 4, 0);
    statusBar()->addWidget(m_addressLabel);
    if (m_cluster) {
        m_clusterLabel = new QLabel(this);
        m_clusterLabel->setObjectName(QStringLiteral("clusterLabel"));
        m_clusterLabel->setContentsMargins(8, 0, 8, 0);
        statusBar()->addPermanentWidget(m_clusterLabel);
    }
    statusBar()->addPermanentWidget(m_countLabel);
    statusBar()->addPermanentWidget(m_rateLabel);
    onRatesChanged(0, 0);

    if (QSystemTrayIcon::isSystemTrayAvailable()) {
        m_tray = new QSystemTrayIcon(windowIcon(), this);
        auto *menu = new QMenu(this);
        menu->addAction(tr("Show console"), this, &MainWindow::bringToFront);
        menu->addSeparator();
        menu->addAction(m_quitAction);
        m_tray->setContextMenu(menu);
        connect(m_tray, &QSystemTrayIcon::activated, this,
                [this](QSystemTrayIcon::ActivationReason reason) {
                    if (reason == QSystemTrayIcon::Trigger)
                        bringToFront();
                });
        m_tray->show();
    }
}

QWidget *MainWindow::buildTopicsPane()
{
    // The topics of /ws/channels beside the presence of the one selected.
    m_topicsModel = new TopicsModel(m_topics, std::chrono::milliseconds(250), this);
    auto *proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(m_topicsModel);
    auto *pane = new QSplitter(Qt::Horizontal);
    pane->setObjectName(QStringLiteral("topicsPane"));
    m_topicsView = makeTableView(pane);
    m_topicsView->setObjectName(QStringLiteral("topicsView"));
    m_topicsView->setModel(proxy);
    m_topicsView->setSortingEnabled(true);
    m_topicsView->sortByColumn(TopicsModel::TopicColumn, Qt::AscendingOrder);
    m_topicsView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_topicsView->setColumnWidth(TopicsModel::TopicColumn, 220);
    auto *presencePane = new QWidget(pane);
    auto *presenceLayout = new QVBoxLayout(presencePane);
    presenceLayout->setContentsMargins(0, 0, 0, 0);
    m_presenceTitle = new QLabel(presencePane);
    m_presenceList = new QListWidget(presencePane);
    m_presenceList->setObjectName(QStringLiteral("presenceList"));
    presenceLayout->addWidget(m_presenceTitle);
    presenceLayout->addWidget(m_presenceList, 1);
    // As small as the connections table may get (the tabs share one height).
    m_topicsView->setMinimumHeight(56);
    m_presenceList->setMinimumHeight(56 - m_presenceTitle->sizeHint().height());
    pane->addWidget(m_topicsView);
    pane->addWidget(presencePane);
    pane->setStretchFactor(0, 3);
    pane->setStretchFactor(1, 2);
    connect(m_topicsView->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        updatePresence();
        updateActions();
    });
    connect(m_topicsModel, &TopicsModel::topicsRefreshed, this,
            [this](const QSet<QString> &topics) {
                if (topics.contains(selectedTopic()))
                    updatePresence();
            });
    updatePresence();
    return pane;
}

QString MainWindow::selectedTopic() const
{
    if (!m_topicsView)
        return {};
    const QModelIndexList rows = m_topicsView->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : rows.constFirst().data(TopicsModel::TopicRole).toString();
}

void MainWindow::updatePresence()
{
    const QString topic = selectedTopic();
    m_presenceTitle->setText(topic.isEmpty()
                                     ? tr("<b>Present</b> (select a topic)")
                                     : tr("<b>Present in %1</b>").arg(topic.toHtmlEscaped()));
    m_presenceList->clear();
    if (!topic.isEmpty())
        m_presenceList->addItems(m_topicsModel->presenceLines(topic));
}

void MainWindow::publishToTopic()
{
    const QString topic = selectedTopic();
    const QString text = m_messageEdit->text();
    if (topic.isEmpty() || text.isEmpty() || !m_topics)
        return;
    // What the admin API publishes for the same body: text as a string, binary as base64.
    const Frame frame = composeFrame(text, m_binary->isChecked());
    const QJsonValue data = frame.isText()
            ? QJsonValue(text)
            : QJsonValue(QJsonObject{{QStringLiteral("binary_base64"),
                                      QString::fromLatin1(frame.payload().toBase64())}});
    const int subscribers = int(m_topics->subscribers(topic).size());
    // At once alone; in a cluster once Redis has given the offset.
    m_topics->publish(
            topic, data,
            [self = QPointer<MainWindow>(this), topic, subscribers](std::optional<qint64> offset) {
                if (!self)
                    return;
                self->statusBar()->showMessage(
                        offset ? tr("Published to %1 as offset %2, to %3")
                                         .arg(topic)
                                         .arg(*offset)
                                         .arg(connectionCount(subscribers))
                               : tr("Not published to %1: the cluster's Redis "
                                    "cannot be reached")
                                         .arg(topic),
                        3000);
            });
    m_messageEdit->clear();
}

void MainWindow::buildMenus()
{
    // The check box stays the one place that holds the state; the menu item mirrors it.
    m_followSelectionAction = new QAction(m_followSelection->text(), this);
    m_followSelectionAction->setObjectName(QStringLiteral("followSelectionAction"));
    m_followSelectionAction->setCheckable(true);
    m_followSelectionAction->setChecked(m_followSelection->isChecked());
    connect(m_followSelectionAction, &QAction::toggled, m_followSelection, &QCheckBox::setChecked);
    connect(m_followSelection, &QCheckBox::toggled, m_followSelectionAction, &QAction::setChecked);

    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_saveLogAction);
    file->addSeparator();
    file->addAction(m_quitAction);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addAction(m_followSelectionAction);
    view->addAction(m_clearLogAction);

    QMenu *server = menuBar()->addMenu(tr("&Server"));
    server->addAction(m_listenAction);
    server->addAction(m_changeAddressAction);
    server->addSeparator();
    server->addAction(m_openClientAction);

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *about = help->addAction(tr("&About Switchboard"), this, &MainWindow::showAbout);
    about->setObjectName(QStringLiteral("aboutAction"));
    about->setMenuRole(QAction::AboutRole);
    QAction *aboutQt = help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    aboutQt->setObjectName(QStringLiteral("aboutQtAction"));
    aboutQt->setMenuRole(QAction::AboutQtRole);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About Switchboard"),
                       tr("<h3>Switchboard %1</h3>"
                          "<p>A WebSocket and HTTP server with this operator console.</p>"
                          "<p>Licensed under the GNU General Public License, version 3 or later "
                          "(GPL-3.0-or-later): <a href=\"%2\">%2</a></p>"
                          "<p>Usage, options and the console are described in the project's "
                          "README.md; <code>switchboard --help</code> lists the options.</p>")
                               .arg(QStringLiteral(SWITCHBOARD_VERSION),
                                    QStringLiteral("https://www.gnu.org/licenses/gpl-3.0.html")));
}

void MainWindow::connectCore()
{
    connect(m_hub, &Hub::sessionOpened, m_connections, &ConnectionsModel::addSession);
    connect(m_hub, &Hub::statsChanged, m_connections, &ConnectionsModel::updateSessions);
    connect(m_hub, &Hub::sessionClosed, m_connections, &ConnectionsModel::removeSession);

    connect(m_hub, &Hub::sessionOpened, m_log, [this](const SessionInfo &info) {
        m_log->addSystem(
                tr("connected from %1 on %2").arg(info.peer(), QString::fromUtf8(info.path)),
                info.id);
    });
    connect(m_hub, &Hub::sessionClosed, m_log, [this](quint64 id, const TerminateReason &reason) {
        m_log->addSystem(tr("disconnected: %1").arg(reason.toString()), id);
    });
    connect(m_hub, &Hub::frameReceived, m_log, &MessageLogModel::addIncoming);
    connect(m_hub, &Hub::frameSent, m_log, &MessageLogModel::addOutgoing);
    connect(m_hub, &Hub::broadcastSent, m_log, &MessageLogModel::addBroadcast);
    if (m_topics)
        connect(m_topics, &TopicRegistry::published, m_log,
                [this](const QString &topic, qint64, const Frame &frame, int delivered) {
                    m_log->addPublish(topic, frame, delivered);
                });

    connect(m_hub, &Hub::frameReceived, m_traffic, &TrafficMeter::countIncoming);
    connect(m_hub, &Hub::frameSent, m_traffic, &TrafficMeter::countOutgoing);
    connect(m_traffic, &TrafficMeter::ratesChanged, this, &MainWindow::onRatesChanged);
    connect(m_traffic, &TrafficMeter::sampled, m_history,
            [this](quint64 in, quint64 out, qint64 elapsedMs) {
                m_history->addSample(QDateTime::currentMSecsSinceEpoch(), m_hub->count(), in + out,
                                     elapsedMs);
            });
    // After the table dropped the row: the pane keeps the session's last figures.
    connect(m_hub, &Hub::sessionClosed, m_detail,
            [this](quint64 id, const TerminateReason &reason) {
                m_detail->markClosed(id, reason.toString());
            });

    connect(m_hub, &Hub::countChanged, this, &MainWindow::onCountChanged);
    connect(m_server, &Server::listeningChanged, this, &MainWindow::onListeningChanged);

    if (m_cluster) {
        connect(m_cluster, &Cluster::started, this, [this] {
            m_connections->setNodeName(m_cluster->nodeName());
            updateClusterStatus();
        });
        connect(m_cluster, &Cluster::connectedChanged, this, [this](bool connected) {
            m_log->addSystem(connected ? tr("cluster: connected to Redis")
                                       : tr("cluster degraded: Redis unreachable; sessions on "
                                            "other instances cannot be reached"));
            updateClusterStatus();
        });
        connect(m_cluster, &Cluster::remoteSessionsChanged, this,
                &MainWindow::onRemoteSessionsChanged);
    }

    // Catch up with whatever happened before the window existed.
    m_connections->resetSessions(m_hub->sessions());
    if (m_cluster) {
        m_connections->setNodeName(m_cluster->nodeName());
        onRemoteSessionsChanged();
    }
    onCountChanged(m_hub->count());
    onListeningChanged(m_server->isListening());
    if (m_server->isListening())
        m_address = {m_server->serverAddress(), m_server->serverPort()};
}

bool MainWindow::startListening(const ListenAddress &address)
{
    const bool wasListening = m_server->isListening();
    const ListenAddress previous{m_server->serverAddress(), m_server->serverPort()};
    if (m_server->listen(address.host, address.port)) {
        m_address = address;
        hideError();
        m_log->addSystem(tr("listening on %1").arg(m_server->webSocketUrl()));
        QSettings settings;
        restrictToOwner(settings.fileName());
        settings.setValue(kHostKey, address.host.toString());
        settings.setValue(kPortKey, address.port);
        return true;
    }

    QString message = listenErrorMessage(address);
    m_log->addSystem(message);
    if (wasListening && m_server->listen(previous.host, previous.port)) {
        message += u' ' + tr("Still listening on %1.").arg(m_server->httpUrl());
    } else {
        m_address = address; // "Start listening" retries what was asked for
    }
    showError(message);
    return false;
}

QString MainWindow::listenErrorMessage(const ListenAddress &address) const
{
    // The server's own wording advises command-line options; here the fix is a click away.
    switch (m_server->listenError()) {
    case QAbstractSocket::AddressInUseError:
        return tr("Port %1 is in use by another program. Choose another address with "
                  "Change address…, or stop the other program.")
                .arg(address.port);
    case QAbstractSocket::SocketAddressNotAvailableError:
        return tr("%1 is not an address of this computer. Choose another address with "
                  "Change address… (127.0.0.1 for this computer only, 0.0.0.0 for every "
                  "network).")
                .arg(address.host.toString());
    default:
        return m_server->errorString();
    }
}

std::optional<ListenAddress> MainWindow::savedListenAddress()
{
    const QSettings settings;
    if (!settings.contains(kHostKey) || !settings.contains(kPortKey))
        return std::nullopt;
    QHostAddress host;
    bool ok = false;
    const uint port = settings.value(kPortKey).toUInt(&ok);
    if (!host.setAddress(settings.value(kHostKey).toString()) || !ok || port > 65535)
        return std::nullopt;
    return ListenAddress{host, quint16(port)};
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    QMainWindow::closeEvent(event);
}

void MainWindow::restoreSettings()
{
    const QSettings settings;
    if (!restoreGeometry(settings.value(kGeometryKey).toByteArray()))
        resize(1100, 720);
    restoreState(settings.value(kWindowStateKey).toByteArray());
    // First run: six rows of connections, and the rest for the log, the chart and the
    // selected connection's details, which then fit without scrolling.
    if (!m_splitter->restoreState(settings.value(kSplitterKey).toByteArray()))
        m_splitter->setSizes({175, 445});
    if (!m_bottomSplitter->restoreState(settings.value(kBottomSplitterKey).toByteArray()))
        m_bottomSplitter->setSizes({560, 540}); // about half each at the default width
    m_connectionsView->horizontalHeader()->restoreState(
            settings.value(kConnectionsHeaderKey).toByteArray());
    m_logView->horizontalHeader()->restoreState(settings.value(kLogHeaderKey).toByteArray());
    m_followSelection->setChecked(settings.value(kFollowSelectionKey, false).toBool());
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    // For the user only, like every file the console writes: the settings name the
    // address the server listens on, and may one day hold more.
    restrictToOwner(settings.fileName());
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kWindowStateKey, saveState());
    settings.setValue(kSplitterKey, m_splitter->saveState());
    settings.setValue(kBottomSplitterKey, m_bottomSplitter->saveState());
    settings.setValue(kConnectionsHeaderKey, m_connectionsView->horizontalHeader()->saveState());
    settings.setValue(kLogHeaderKey, m_logView->horizontalHeader()->saveState());
    settings.setValue(kFollowSelectionKey, m_followSelection->isChecked());
}

void MainWindow::bringToFront()
{
    showNormal();
    raise();
    activateWindow();
}

void MainWindow::onListeningChanged(bool listening)
{
    m_listenAction->setText(listening ? tr("Stop listening") : tr("Start listening"));
    m_listenAction->setToolTip(listening ? tr("Stop accepting new connections; live ones stay")
                                         : tr("Accept connections again"));
    m_openClientAction->setEnabled(listening);
    if (listening) {
        const QString url = m_server->webSocketUrl();
        m_addressLabel->setText(
                tr("Listening on <a href=\"copy\">%1</a>").arg(url.toHtmlEscaped()));
        setWindowTitle(tr("Switchboard — %1").arg(url));
    } else {
        m_addressLabel->setText(tr("Not listening"));
        setWindowTitle(tr("Switchboard — not listening"));
    }
}

void MainWindow::onCountChanged(int count)
{
    QString text = connectionCount(count);
    // The table lists other instances' sessions too; say which is which.
    if (const int remote = m_connections->remoteCount(); remote > 0)
        text = tr("%1 here · %2 on other nodes").arg(text).arg(remote);
    m_countLabel->setText(text);
    if (m_tray) {
        m_tray->setToolTip(tr("Switchboard: %1").arg(text));
        m_tray->setIcon(iconWithBadge(windowIcon(), count));
    }
    updateActions();
}

void MainWindow::onRatesChanged(double in, double out)
{
    const QLocale locale;
    m_rateLabel->setText(tr("in %1 msg/s · out %2 msg/s")
                                 .arg(locale.toString(in, 'f', 1), locale.toString(out, 'f', 1)));
}

void MainWindow::onRemoteSessionsChanged()
{
    m_connections->setRemoteSessions(m_cluster->remoteSessions());
    const QStringList nodes = m_cluster->remoteNodes();
    for (const QString &node : nodes) {
        if (!m_remoteNodes.contains(node))
            m_log->addSystem(tr("cluster: instance %1 joined").arg(node));
    }
    for (const QString &node : std::as_const(m_remoteNodes)) {
        if (!nodes.contains(node))
            m_log->addSystem(tr("cluster: instance %1 dropped out").arg(node));
    }
    m_remoteNodes = nodes;
    updateClusterStatus();
    onCountChanged(m_hub->count());
}

void MainWindow::updateClusterStatus()
{
    if (!m_clusterLabel)
        return;
    const QString redis = m_cluster->settings().redis.displayUrl();
    const QString node = m_cluster->nodeName();
    const bool authenticated = m_cluster->isAuthenticated();
    if (m_cluster->isConnected()) {
        const QString nodes = nodeCount(int(m_remoteNodes.size()) + 1);
        m_clusterLabel->setText(
                authenticated ? tr("Cluster: connected as %1 (%2)").arg(node, nodes)
                              : tr("Cluster: connected as %1 (%2), insecure").arg(node, nodes));
        m_clusterLabel->setStyleSheet(authenticated ? QString()
                                                    : QStringLiteral("color: #8a5300;"));
        const QString security = authenticated
                ? tr("Messages between instances are authenticated (HMAC-SHA256).")
                : tr("INSECURE: messages between instances are not authenticated "
                     "(--cluster-insecure); anyone who can publish to this Redis can reach "
                     "every session.");
        m_clusterLabel->setToolTip(
                tr("This instance is node %1, joined through Redis %2.\nOther instances: %3\n%4")
                        .arg(node, redis,
                             m_remoteNodes.isEmpty() ? tr("none") : m_remoteNodes.join(u", "),
                             security));
    } else {
        m_clusterLabel->setText(tr("Cluster: degraded — Redis unreachable"));
        m_clusterLabel->setStyleSheet(QStringLiteral("color: #b3261e; font-weight: bold;"));
        const QString why = m_cluster->lastError();
        m_clusterLabel->setToolTip(
                tr("Cannot reach Redis %1%2. Local connections work as usual; sessions on other "
                   "instances cannot be reached until it is back.")
                        .arg(redis, why.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(why)));
    }
}

QList<quint64> MainWindow::selectedSessionIds(bool openOnly) const
{
    QList<quint64> ids;
    const QModelIndexList rows = m_connectionsView->selectionModel()->selectedRows();
    ids.reserve(rows.size());
    for (const QModelIndex &row : rows) {
        const SessionInfo info
                = m_connections->sessionAt(m_connectionsProxy->mapToSource(row).row());
        if (info.id != 0 && (!openOnly || info.state == SessionInfo::State::Open))
            ids.append(info.id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

QList<ConnectionsModel::RemoteSessionInfo> MainWindow::selectedRemoteSessions(bool openOnly) const
{
    QList<ConnectionsModel::RemoteSessionInfo> sessions;
    const QModelIndexList rows = m_connectionsView->selectionModel()->selectedRows();
    for (const QModelIndex &row : rows) {
        const auto remote
                = m_connections->remoteSessionAt(m_connectionsProxy->mapToSource(row).row());
        if (remote && (!openOnly || remote->info.state == SessionInfo::State::Open))
            sessions.append(*remote);
    }
    return sessions;
}

void MainWindow::updateActions()
{
    const bool hasText = !m_messageEdit->text().isEmpty();
    const bool hasSelection
            = !selectedSessionIds(true).isEmpty() || !selectedRemoteSessions(true).isEmpty();
    m_sendButton->setEnabled(hasText && hasSelection);
    m_broadcastButton->setEnabled(hasText
                                  && (m_hub->count() > 0 || m_connections->remoteCount() > 0));
    if (m_publishButton)
        m_publishButton->setEnabled(hasText && !selectedTopic().isEmpty());
    m_disconnectButton->setEnabled(hasSelection);
}

void MainWindow::updateLogFilter()
{
    if (!m_followSelection->isChecked()) {
        m_logProxy->setSessions({});
        return;
    }
    const QList<quint64> ids = selectedSessionIds();
    m_logProxy->setSessions(QSet<quint64>(ids.cbegin(), ids.cend()));
}

void MainWindow::updateDetailPane()
{
    const QList<quint64> ids = selectedSessionIds();
    // The row of a session that just closed leaves the selection (while the row
    // is still in the table: the selection changes before the row goes); its pane
    // stays, saying "closed", until the operator selects something else.
    if (ids.isEmpty() && m_detail->sessionId() != 0 && !m_hub->session(m_detail->sessionId()))
        return;
    const bool one = ids.size() == 1 && selectedRemoteSessions().isEmpty();
    m_detail->setSession(one ? ids.constFirst() : 0);
}

void MainWindow::sendToSession(quint64 id, const QString &text)
{
    const bool sent = m_hub->send(id, Frame::text(text));
    statusBar()->showMessage(sent ? tr("Sent to connection %1").arg(id)
                                  : tr("Connection %1 is gone; nothing sent").arg(id),
                             3000);
}

void MainWindow::closeSession(quint64 id)
{
    m_hub->close(id, 4000, QStringLiteral("closed by operator"));
    statusBar()->showMessage(tr("Closing connection %1").arg(id), 3000);
}

void MainWindow::showError(const QString &message)
{
    m_errorLabel->setText(message);
    m_errorBanner->show();
}

void MainWindow::hideError()
{
    m_errorLabel->clear();
    m_errorBanner->hide();
}

void MainWindow::sendToSelected()
{
    const QList<quint64> ids = selectedSessionIds(true);
    const auto remote = selectedRemoteSessions(true);
    const QString text = m_messageEdit->text();
    if ((ids.isEmpty() && remote.isEmpty()) || text.isEmpty())
        return;
    // One frame for every recipient: it is encoded once.
    const Frame frame = composeFrame(text, m_binary->isChecked());
    int sent = 0;
    for (const quint64 id : ids)
        sent += m_hub->send(id, frame) ? 1 : 0;
    // The other instances deliver (and log) these; here the log notes what was forwarded.
    int unreachable = 0;
    for (const auto &session : remote) {
        if (m_cluster->sendRemote(session.node, session.info.id, frame)) {
            ++sent;
            m_log->addSystem(tr("sent to %1 through the cluster: %2")
                                     .arg(session.globalId(), framePreview(frame)));
        } else {
            ++unreachable;
        }
    }
    QString message = tr("Sent to %1").arg(connectionCount(sent));
    if (unreachable > 0)
        message += u"; "
                + tr("%1 not reached: Redis unreachable").arg(connectionCount(unreachable));
    statusBar()->showMessage(message, unreachable > 0 ? 8000 : 3000);
    m_messageEdit->clear();
}

void MainWindow::broadcast()
{
    const QString text = m_messageEdit->text();
    if (text.isEmpty())
        return;
    // Hub::broadcast() also asks the cluster to relay it to every other instance.
    const int delivered = m_hub->broadcast(composeFrame(text, m_binary->isChecked()));
    QString message = tr("Broadcast to %1").arg(connectionCount(delivered));
    if (m_cluster)
        message += m_cluster->isConnected() ? tr(" here and relayed to the other instances")
                                            : tr(" here only: Redis unreachable, not relayed");
    statusBar()->showMessage(message, 3000);
    m_messageEdit->clear();
}

void MainWindow::disconnectSelected()
{
    const QList<quint64> ids = selectedSessionIds(true);
    for (const quint64 id : ids)
        m_hub->close(id, 4000, QStringLiteral("closed by operator"));
    int closing = int(ids.size());
    int unreachable = 0;
    for (const auto &session : selectedRemoteSessions(true)) {
        if (m_cluster->closeRemote(session.node, session.info.id, 4000,
                                   QStringLiteral("closed by operator"))) {
            ++closing;
            m_log->addSystem(tr("asked %1 to close through the cluster").arg(session.globalId()));
        } else {
            ++unreachable;
        }
    }
    QString message;
    if (closing > 0)
        message = tr("Closing %1").arg(connectionCount(closing));
    if (unreachable > 0)
        message += (message.isEmpty() ? QString() : QStringLiteral("; "))
                + tr("%1 not reached: Redis unreachable").arg(connectionCount(unreachable));
    if (!message.isEmpty())
        statusBar()->showMessage(message, unreachable > 0 ? 8000 : 3000);
}

void MainWindow::toggleListening()
{
    if (m_server->isListening()) {
        m_server->stopListening();
        m_log->addSystem(tr("stopped listening; live connections stay open"));
    } else {
        startListening(m_address);
    }
}

void MainWindow::changeAddress()
{
    ListenAddressDialog dialog(m_address, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    startListening(dialog.address());
}

void MainWindow::setUrlOpener(UrlOpener opener)
{
    m_urlOpener = opener ? std::move(opener) : UrlOpener(&QDesktopServices::openUrl);
}

void MainWindow::openTestClient()
{
    const QString url = m_server->httpUrl();
    if (m_urlOpener(QUrl(url)))
        return;
    // No browser to hand the page to: make the address easy to take elsewhere,
    // and say so where the operator is looking, for long enough to read it.
    QGuiApplication::clipboard()->setText(url);
    const QString message
            = tr("Could not start a web browser. %1 is copied to the clipboard: paste it into "
                 "a browser's address bar.")
                      .arg(url);
    statusBar()->showMessage(message, 30000);
    m_log->addSystem(message);
}

void MainWindow::copyWebSocketUrl()
{
    const QString url = m_server->webSocketUrl();
    QGuiApplication::clipboard()->setText(url);
    statusBar()->showMessage(tr("Copied %1 to the clipboard").arg(url), 3000);
}

void MainWindow::saveLog()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Save message log"),
                                                      QStringLiteral("switchboard-log.jsonl"),
                                                      tr("JSON Lines (*.jsonl);;All files (*)"));
    if (path.isEmpty())
        return;
    QString error;
    if (!saveLogTo(path, &error)) {
        QMessageBox::warning(this, tr("Save message log"),
                             tr("Could not save %1: %2").arg(path, error));
        return;
    }
    statusBar()->showMessage(tr("Saved the log to %1").arg(path), 4000);
}

bool MainWindow::saveLogTo(const QString &path, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        if (error)
            *error = file.errorString();
        return false;
    }
    // Before the first byte: messages may carry tokens or personal data.
    if (!restrictToOwner(file)) {
        if (error)
            *error = tr("cannot make the file readable by its owner only");
        return false; // never committed: nothing is left behind
    }
    if (!m_log->writeJsonLines(&file) || !file.commit()) {
        if (error)
            *error = file.errorString();
        return false;
    }
    return true;
}

} // namespace Switchboard
