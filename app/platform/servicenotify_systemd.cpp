#include "platform/servicenotify.h"

#include <systemd/sd-daemon.h>

namespace Switchboard {

void notifyServiceManager(const char *state)
{
    // Without NOTIFY_SOCKET this returns 0 at once; a failure to tell systemd
    // is systemd's to report (it times the start out), not a reason to stop.
    sd_notify(0, state);
}

} // namespace Switchboard
