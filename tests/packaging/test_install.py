"""What `cmake --install` puts where (cmake/Packaging.cmake), installed into a
temporary DESTDIR: the binary, the desktop entry (desktop-file-validate), the icon
in every size with the size its directory names, the man page (groff without
warnings, every option --help lists), the systemd unit naming the installed paths,
and the example configuration. The .deb built from the same rules is tested in a
clean Debian 12 by tests/distro/test-package.sh.
"""

import os
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile
import unittest

BUILD_DIR = pathlib.Path(os.environ["SWITCHBOARD_BUILD_DIR"])
PREFIX = os.environ["SWITCHBOARD_PREFIX"]
CONFIG_DIR = os.environ["SWITCHBOARD_CONFIG_DIR"]
UNIT_DIR = os.environ["SWITCHBOARD_SYSTEMD_UNIT_DIR"]
ICON_SIZES = [int(size) for size in os.environ["SWITCHBOARD_ICON_SIZES"].split(",")]
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")


def png_size(path):
    """Width and height from a PNG's IHDR chunk (the first, right after the signature)."""
    data = path.read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = pathlib.Path(cls._tmp.name)
        result = subprocess.run([CMAKE, "--install", str(BUILD_DIR)],
                                env=dict(os.environ, DESTDIR=str(cls.root)),
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"cmake --install failed:\n{result.stdout}{result.stderr}")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def path(self, absolute):
        return self.root / absolute.lstrip("/")

    def share(self, relative):
        return self.path(f"{PREFIX}/share/{relative}")

    def test_binary_runs(self):
        binary = self.path(f"{PREFIX}/bin/switchboard")
        self.assertTrue(os.access(binary, os.X_OK), binary)
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"^switchboard \d+\.\d+\.\d+")

    def test_desktop_entry_is_valid_and_names_the_binary_and_icon(self):
        desktop = self.share("applications/switchboard.desktop")
        result = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True,
                                text=True, timeout=30)
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))
        entry = dict(line.split("=", 1) for line in desktop.read_text().splitlines()
                     if "=" in line)
        self.assertEqual(entry["Exec"].split()[0], "switchboard")
        self.assertEqual(entry["Icon"], "switchboard")
        self.assertEqual(entry["Terminal"], "false")
        self.assertIn("Network", entry["Categories"].split(";"))
        for key in ("Name", "GenericName", "Comment"):
            self.assertTrue(entry.get(key), key)

    def test_icon_in_every_size(self):
        hicolor = self.share("icons/hicolor")
        svg = hicolor / "scalable/apps/switchboard.svg"
        self.assertTrue(svg.read_text().lstrip().startswith("<?xml"), svg)
        pngs = sorted(hicolor.glob("*/apps/*.png"))
        installed = sorted(int(p.parent.parent.name.split("x")[0]) for p in pngs)
        self.assertEqual(installed, sorted(ICON_SIZES))
        for png in pngs:
            with self.subTest(png=str(png.relative_to(hicolor))):
                self.assertEqual(png.name, "switchboard.png")
                width, height = (int(n) for n in png.parent.parent.name.split("x"))
                self.assertEqual(png_size(png), (width, height))

    def man_text(self, page):
        # No hyphenation, long lines: every option stays whole on one line.
        result = subprocess.run(["groff", "-man", "-Tutf8", "-rHY=0", "-rLL=250n", "-P-cbou",
                                 str(page)], capture_output=True, text=True, timeout=30,
                                env=dict(os.environ, LC_ALL="C.UTF-8"))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.replace("\u2010", "-").replace("\u2212", "-")

    def test_man_page_renders_without_warnings(self):
        page = self.share("man/man1/switchboard.1")
        result = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True,
                                text=True, timeout=30)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        text = self.man_text(page)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION FILE",
                        "SIGNALS", "ENVIRONMENT", "FILES", "SEE ALSO"):
            self.assertRegex(text, rf"(?m)^{section}$")
        self.assertRegex(text, r"SYNOPSIS\n +switchboard \[options\]\n")
        self.assertIn(f"{CONFIG_DIR}/switchboard.conf", text)

    def test_man_page_mentions_every_option_help_lists(self):
        binary = self.path(f"{PREFIX}/bin/switchboard")
        help_text = subprocess.run([str(binary), "--help"], capture_output=True, text=True,
                                   timeout=30, check=True).stdout
        options = set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", help_text))
        self.assertGreater(len(options), 20, help_text)  # the parse found the option list
        text = self.man_text(self.share("man/man1/switchboard.1"))
        missing = sorted(o for o in options if not re.search(rf"(?<![\w-]){o}(?![\w-])", text))
        self.assertEqual(missing, [])

    def test_systemd_unit_names_the_installed_paths(self):
        unit = self.path(f"{UNIT_DIR}/switchboard.service").read_text()
        self.assertNotIn("@", re.sub(r"(?m)^(#.*|SystemCallFilter=.*)$", "", unit))
        exec_start = re.search(r"(?m)^ExecStart=(.*)$", unit).group(1).split()
        self.assertEqual(exec_start, [f"{PREFIX}/bin/switchboard", "--no-gui", "--config",
                                      f"{CONFIG_DIR}/switchboard.conf"])
        self.assertRegex(unit, r"(?m)^Type=notify$")
        self.assertRegex(unit, r"(?m)^ExecReload=kill -HUP \$MAINPID$")

    def test_example_configuration(self):
        config = self.path(f"{CONFIG_DIR}/switchboard.conf")
        lines = [line.strip() for line in config.read_text().splitlines()]
        self.assertTrue(lines and all(not line or line.startswith("#") or " = " in line
                                      for line in lines), lines)


if __name__ == "__main__":
    if not shutil.which("desktop-file-validate") or not shutil.which("groff"):
        raise SystemExit("needs desktop-file-validate (desktop-file-utils) and groff "
                         "(groff-base): ./dev test installs them")
    unittest.main(verbosity=2)
