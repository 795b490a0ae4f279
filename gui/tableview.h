#pragma once

class QTableView;
class QWidget;

namespace Switchboard {

/*!
    A table view as the console's tables want it: whole rows selected (several
    at once), no word wrap, alternating rows, no row numbers, and fixed row
    heights, so that the view never measures rows (which matters at 10,000
    log lines); the last column takes the rest of the width.
*/
QTableView *makeTableView(QWidget *parent);

} // namespace Switchboard
