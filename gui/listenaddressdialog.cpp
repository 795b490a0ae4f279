#include "listenaddressdialog.h"

#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QVBoxLayout>

namespace Switchboard {

namespace {

std::optional<QHostAddress> parseHost(const QString &text)
{
    const QString trimmed = text.trimmed();
    if (trimmed.compare(u"localhost", Qt::CaseInsensitive) == 0)
        return QHostAddress(QHostAddress::LocalHost);
    QHostAddress address;
    if (!address.setAddress(trimmed))
        return std::nullopt;
    return address;
}

} // namespace

ListenAddressDialog::ListenAddressDialog(const ListenAddress &current, QWidget *parent)
    : QDialog(parent)
    , m_host(new QLineEdit(current.host.toString(), this))
    , m_port(new QSpinBox(this))
    , m_hint(new QLabel(this))
    , m_buttons(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this))
{
    setWindowTitle(tr("Change listening address"));
    m_host->setObjectName(QStringLiteral("hostEdit"));
    m_host->setPlaceholderText(QStringLiteral("127.0.0.1"));
    m_port->setObjectName(QStringLiteral("portSpinBox"));
    m_port->setRange(0, 65535);
    m_port->setValue(current.port);
    m_port->setSpecialValueText(tr("0 (any free port)"));
    m_hint->setWordWrap(true);
    m_hint->setText(tr("127.0.0.1 accepts only this machine; 0.0.0.0 or :: every interface."));

    auto *form = new QFormLayout;
    form->addRow(tr("&Host:"), m_host);
    form->addRow(tr("&Port:"), m_port);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_hint);
    layout->addWidget(m_buttons);

    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_host, &QLineEdit::textChanged, this, &ListenAddressDialog::validate);
    validate();
}

ListenAddressDialog::~ListenAddressDialog() = default;

ListenAddress ListenAddressDialog::address() const
{
    return {parseHost(m_host->text()).value_or(QHostAddress(QHostAddress::LocalHost)),
            quint16(m_port->value())};
}

void ListenAddressDialog::validate()
{
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(parseHost(m_host->text()).has_value());
}

} // namespace Switchboard
