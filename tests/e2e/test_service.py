#!/usr/bin/python3
"""End-to-end: running as a service would, with the real binary.

--config with --print-config, SIGHUP reloading the configuration file and
reopening a rotated log file, a bad file on reload keeping the running
configuration, and the sd_notify messages systemd's Type=notify waits for
(READY=1, RELOADING=1, STOPPING=1), read from a NOTIFY_SOCKET made here.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import IO_DEADLINE, ServerProcess, binary_path, curl, poll_until  # noqa: E402


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def clean_env(**extra):
    """The environment without any SWITCHBOARD_* a developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(extra)
    return env


class NotifySocket:
    """A datagram socket in the role of systemd's NOTIFY_SOCKET."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(IO_DEADLINE)

    def next(self):
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


class ConfigFileTest(unittest.TestCase):
    def test_print_config_shows_the_file_and_hides_secrets(self):
        with tempfile.TemporaryDirectory() as folder:
            conf = os.path.join(folder, "switchboard.conf")
            write(conf, "port = 4099\nadmin-token = very-secret-admin\nlog-level = debug\n")
            result = subprocess.run(
                [binary_path(), "--config", conf, "--print-config"], env=clean_env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=IO_DEADLINE)
            self.assertEqual(result.returncode, 0, result.stderr)
            text = result.stdout.decode()
            self.assertIn(f"# Set by {conf}:1.\nport = 4099\n", text)
            self.assertIn("log-level = debug\n", text)
            self.assertNotIn("very-secret-admin", text)

    def test_a_bad_file_exits_2_naming_file_line_and_key(self):
        with tempfile.TemporaryDirectory() as folder:
            conf = os.path.join(folder, "switchboard.conf")
            write(conf, "# Switchboard\nport = 4099\nmax-body-size = lots\n")
            result = subprocess.run(
                [binary_path(), "--no-gui", "--config", conf], env=clean_env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=IO_DEADLINE)
            self.assertEqual(result.returncode, 2)
            self.assertTrue(result.stderr.decode().startswith(
                f"Error: {conf}:3: max-body-size 'lots' is not a size"), result.stderr)


    def test_no_gui_from_the_file_or_environment_skips_the_display(self):
        # Decided before the application object exists: with no-gui set anywhere,
        # a dead display is not even tried (it would say "cannot open" otherwise).
        with tempfile.TemporaryDirectory() as folder:
            conf = os.path.join(folder, "switchboard.conf")
            write(conf, "no-gui = true\nport = 0\n")
            for args, env in ((["--config", conf], {}), ([], {"SWITCHBOARD_NO_GUI": "yes"})):
                proc = subprocess.Popen(
                    [binary_path(), "--port", "0", *args],
                    env=clean_env(DISPLAY=":77", QT_QPA_PLATFORM="xcb", **env),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    line = proc.stdout.readline().decode()
                    self.assertTrue(line.startswith("Switchboard listening on"), line)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(timeout=IO_DEADLINE), 0)
                    stderr = proc.stderr.read().decode()
                    proc.stdout.close()
                    proc.stderr.close()
                self.assertNotIn("cannot open", stderr)
                self.assertNotIn(":77", stderr)


class ReloadTest(unittest.TestCase):
    def test_sighup_rereads_the_file_and_reopens_the_log(self):
        with tempfile.TemporaryDirectory() as folder:
            conf = os.path.join(folder, "switchboard.conf")
            log = os.path.join(folder, "switchboard.log")
            write(conf, f"admin-token = first-token\nlog-file = {log}\n")
            notify = NotifySocket(folder)
            server = ServerProcess("--config", conf, token=None,
                                   env=clean_env(NOTIFY_SOCKET=notify.path))
            try:
                self.assertEqual(notify.next(), "READY=1")
                health = f"{server.http}/api/connections"
                self.assertEqual(curl(health, token="first-token").status, 200)

                # logrotate moves the file away, then asks for a new one.
                os.rename(log, log + ".1")
                write(conf, f"admin-token = second-token\nlog-file = {log}\nmax-connections = 50\n")
                os.kill(server.pid, signal.SIGHUP)
                self.assertEqual(notify.next(), "RELOADING=1")
                self.assertEqual(notify.next(), "READY=1")
                self.assertEqual(curl(health, token="first-token").status, 401)
                self.assertEqual(curl(health, token="second-token").status, 200)
                with open(log) as f:
                    text = f.read()
                self.assertIn("reloaded the configuration: admin-token applied", text)
                self.assertIn("reload: max-connections changed but only take effect after a restart",
                              text)
                self.assertIn("GET /api/connections -> 200", text)  # the new file gets the log
                with open(log + ".1") as f:
                    self.assertNotIn("second-token", f.read())

                # A broken file: said in the log, and the server goes on as it was.
                write(conf, "admin-token = third-token\nmax-body-size = lots\n")
                os.kill(server.pid, signal.SIGHUP)
                self.assertEqual(notify.next(), "RELOADING=1")
                self.assertEqual(notify.next(), "READY=1")
                self.assertEqual(curl(health, token="second-token").status, 200)
                warning = (f"reload: {conf}:2: max-body-size 'lots' is not a size up to 2G-1; "
                           "use e.g. 1M or 0 to refuse bodies; keeping the running configuration")
                poll_until(lambda: warning in open(log).read(), what="the reload warning")

                self.assertEqual(server.terminate(), 0)
                self.assertEqual(notify.next(), "STOPPING=1")
            finally:
                server.kill()
                notify.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
