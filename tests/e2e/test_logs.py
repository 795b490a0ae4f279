#!/usr/bin/python3
"""End-to-end: --log-format json and --log-file with the real binary.

The log file is parsed line by line with Python's json, and read with jq (Debian jq).
"""

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import IO_DEADLINE, ServerProcess, binary_path, curl  # noqa: E402

# A zone whose offset is neither zero nor whole hours, so a missing or rounded
# offset shows whatever zone the machine is in.
os.environ["TZ"] = "America/St_Johns"
time.tzset()

# ISO 8601, milliseconds, and the zone offset.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}([+-])(\d\d):(\d\d)$")
ACCESS = re.compile(r"^GET (/\S*) -> (\d{3}) in \d+\.\d{3} ms \(request id \S+\)$")


def offset_seconds(ts_match):
    sign, hours, minutes = ts_match.groups()
    seconds = (int(hours) * 60 + int(minutes)) * 60
    return -seconds if sign == "-" else seconds


class JsonLogFileTest(unittest.TestCase):
    def test_json_lines_in_the_log_file(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "switchboard.log")
            server = ServerProcess("--log-format", "json", "--log-file", path)
            self.addCleanup(server.kill)
            for _ in range(3):
                self.assertEqual(curl(server.http + "/api/health").status, 200)
            self.assertEqual(curl(server.http + "/no%22such%0Apage").status, 404)
            self.assertEqual(server.terminate(), 0)

            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            self.assertNotIn("switchboard.http", server.stderr_text())
            with open(path, "rb") as f:
                lines = f.read().decode().splitlines()
            self.assertTrue(lines)
            access = []
            for line in lines:
                event = json.loads(line)  # every line is one whole JSON object
                self.assertEqual(set(event), {"ts", "level", "category", "msg"}, line)
                match = TIMESTAMP.match(event["ts"])
                self.assertIsNotNone(match, line)
                self.assertEqual(offset_seconds(match), time.localtime().tm_gmtoff, line)
                self.assertIn(event["level"], {"debug", "info", "warning", "error"}, line)
                if event["category"] == "switchboard.http":
                    access.append(event)
            # The access log: still one event per request.
            self.assertEqual(len(access), 4, lines)
            for event in access[:3]:
                self.assertEqual(event["level"], "info")
                match = ACCESS.match(event["msg"])
                self.assertIsNotNone(match, event["msg"])
                self.assertEqual(match.groups(), ("/api/health", "200"))
            self.assertIn("404", access[3]["msg"])
            # And as an operator reads it: jq picks the access log out of the file.
            jq = subprocess.run(["jq", "-r", 'select(.category == "switchboard.http") | .msg',
                                 path], capture_output=True, text=True, timeout=IO_DEADLINE)
            self.assertEqual(jq.returncode, 0, jq.stderr)
            self.assertEqual(jq.stdout.splitlines(), [event["msg"] for event in access])

    def test_log_file_that_cannot_be_opened(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "missing", "switchboard.log")
            result = subprocess.run(
                [binary_path(), "--no-gui", "--port", "0", "--log-file", path],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=IO_DEADLINE)
            self.assertEqual(result.returncode, 2)
            self.assertIn(path, result.stderr)

    def test_text_is_the_default_with_offset(self):
        server = ServerProcess()
        self.addCleanup(server.kill)
        self.assertEqual(curl(server.http + "/api/health").status, 200)
        self.assertEqual(server.terminate(), 0)
        lines = [line for line in server.stderr_text().splitlines()
                 if " switchboard.http: GET /api/health" in line]
        self.assertEqual(len(lines), 1, server.stderr_text())
        self.assertIsNotNone(TIMESTAMP.match(lines[0].split(" ", 1)[0]), lines[0])


if __name__ == "__main__":
    unittest.main()
