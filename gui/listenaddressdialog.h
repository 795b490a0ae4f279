#pragma once

#include <QtNetwork/QHostAddress>
#include <QtWidgets/QDialog>

class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace Switchboard {

/*! Where the server should listen: what the operator last asked for. */
struct ListenAddress
{
    QHostAddress host = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 4040;
};

/*! Asks for a host address and port; OK stays disabled until the host parses. */
class ListenAddressDialog final : public QDialog
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ListenAddressDialog)

public:
    explicit ListenAddressDialog(const ListenAddress &current, QWidget *parent = nullptr);
    ~ListenAddressDialog() override;

    ListenAddress address() const;

private:
    void validate();

    QLineEdit *m_host;
    QSpinBox *m_port;
    QLabel *m_hint;
    QDialogButtonBox *m_buttons;
};

} // namespace Switchboard
