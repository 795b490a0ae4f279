"""What a person meets in the repository before the binary: ./dev run and the LICENSE.

./dev run runs here with stand-ins for cmake and dpkg-query on PATH, so the test
sees which targets it asks for without building anything.
"""

import os
import pathlib
import subprocess
import tempfile
import textwrap
import unittest

SOURCE = pathlib.Path(os.environ.get("SWITCHBOARD_SOURCE_DIR",
                                     pathlib.Path(__file__).resolve().parents[2]))

FAKE_CMAKE = textwrap.dedent("""\
    #!/bin/sh
    # Records each call; a build makes a stand-in switchboard that echoes its arguments.
    echo "$*" >> "$FAKE_LOG"
    if [ "$1" = --build ]; then
        mkdir -p "$2/bin"
        printf '#!/bin/sh\\necho "switchboard $*"\\n' > "$2/bin/switchboard"
        chmod +x "$2/bin/switchboard"
    fi
    """)
FAKE_DPKG_QUERY = "#!/bin/sh\nprintf 'install ok installed'\n"


class DevRunTest(unittest.TestCase):
    def test_builds_only_the_app_and_leaves_the_options_to_dev_test(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = pathlib.Path(tmp)
            bin_dir = tmp / "bin"
            bin_dir.mkdir()
            for name, text in (("cmake", FAKE_CMAKE), ("dpkg-query", FAKE_DPKG_QUERY)):
                (bin_dir / name).write_text(text)
                (bin_dir / name).chmod(0o755)
            log = tmp / "cmake.log"
            env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
                       BUILD_DIR=str(tmp / "build"), FAKE_LOG=str(log))
            result = subprocess.run([str(SOURCE / "dev"), "run", "--no-gui", "--port", "0"],
                                    env=env, capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout.strip(), "switchboard --no-gui --port 0")
            calls = log.read_text().splitlines()
            builds = [call for call in calls if call.startswith("--build")]
            self.assertEqual(builds, [f"--build {tmp / 'build'} --target switchboard"], calls)
            configures = [call for call in calls if not call.startswith("--build")]
            self.assertEqual(len(configures), 1, calls)
            # Turning the tests off would stay in the cache ./dev test shares.
            self.assertNotIn("SWITCHBOARD_BUILD_TESTS", configures[0])
            self.assertNotIn("SWITCHBOARD_BUILD_BENCH", configures[0])


class LicenseTest(unittest.TestCase):
    def test_gpl3_text_and_the_readme_says_why(self):
        text = (SOURCE / "LICENSE").read_text()
        self.assertTrue(text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE"), text[:80])
        self.assertIn("Version 3, 29 June 2007", text)
        self.assertIn("END OF TERMS AND CONDITIONS", text)  # the whole text, not a stub
        readme = (SOURCE / "README.md").read_text()
        line = next((l for l in readme.splitlines() if l.startswith("Licence:")), "")
        self.assertIn("GPL-3.0-or-later", line)
        self.assertIn("Qt HTTP Server", line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
