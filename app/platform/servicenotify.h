#pragma once

namespace Switchboard {

/*!
    Tells the service manager how the service is doing, when one asked to be
    told (systemd's Type=notify sets NOTIFY_SOCKET); does nothing otherwise.
    \a state is sd_notify(3)'s text: "READY=1", "RELOADING=1", "STOPPING=1",
    "STATUS=...", several separated by newlines.
*/
void notifyServiceManager(const char *state);

} // namespace Switchboard
