"""The release packages: both binaries are in the .deb and the .rpm, the .deb installs, the
installed window opens under a real X server and starts the installed daemon, and removing the
package takes the binaries away.

It installs and removes a system package, so `make test` runs it last, after `make package`
(PIXY_PACKAGES_BUILT=1); run on its own it calls `make package` first."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from desktop import indigo, wait_painted, wait_until, windows_named
from conftest import APPROVE, ARTIFACTS, REPO, pids_with_env, process_cmdline, stop_pids, target_dir

pytestmark = pytest.mark.package

INSTALLED = ("/usr/bin/pixy-desktop", "/usr/bin/pixy")
ROOT = [] if os.geteuid() == 0 else ["sudo", "-n"]
APT_GET = [*ROOT, "apt-get", "-o", "DPkg::Lock::Timeout=900", "-y"]


def newest(pattern_dir, suffix):
    files = sorted(Path(pattern_dir).glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
    assert files, f"no {suffix} under {pattern_dir}: `make package` must produce one"
    return files[-1]


@pytest.fixture(scope="module")
def bundles():
    if os.environ.get("PIXY_PACKAGES_BUILT") != "1":
        env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir()))
        proc = subprocess.run(["make", "--no-print-directory", "package"], cwd=REPO, env=env,
                              stdin=subprocess.DEVNULL, timeout=3600)
        assert proc.returncode == 0, "make package failed"
    bundle = target_dir() / "release" / "bundle"
    return newest(bundle / "deb", ".deb"), newest(bundle / "rpm", ".rpm")


def test_deb_holds_the_window_and_the_cli(bundles):
    deb, _ = bundles
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    # dpkg-deb prints member names relative to the root: `./usr/bin/x` or `usr/bin/x`.
    paths = {"/" + line.split()[-1].lstrip("./") for line in listing.splitlines() if line.strip()}
    for path in INSTALLED:
        assert path in paths, f"{deb.name} must ship {path}; it has {sorted(p for p in paths if '/bin/' in p)}"


def test_rpm_holds_the_window_and_the_cli(bundles):
    _, rpm = bundles
    listing = subprocess.run(["rpm", "-qlp", str(rpm)], capture_output=True, text=True, check=True).stdout
    paths = set(listing.split())
    for path in INSTALLED:
        assert path in paths, f"{rpm.name} must ship {path}; it has {sorted(p for p in paths if '/bin/' in p)}"


def start_xvfb():
    """Xvfb on a free display (it picks one and tells through -displayfd)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display"
    return proc, f":{number}"


def test_installed_package_opens_the_window_and_starts_the_daemon(bundles, tmp_path):
    deb, _ = bundles
    package = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True,
                             check=True).stdout.strip()
    artifacts = ARTIFACTS / "package"
    artifacts.mkdir(parents=True, exist_ok=True)

    install = subprocess.run([*APT_GET, "install", "--reinstall", "--allow-downgrades", str(deb.resolve())],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1200)
    assert install.returncode == 0, f"apt-get install {deb.name} failed:\n{install.stdout}\n{install.stderr}"
    for path in INSTALLED:
        assert os.access(path, os.X_OK), f"installing {deb.name} must provide {path}"

    runtime = Path(tempfile.mkdtemp(prefix="pixy-pkg-rt-"))
    os.chmod(runtime, 0o700)
    xvfb, display = start_xvfb()
    env = dict(os.environ)
    env.update(DISPLAY=display, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), BROWSER=str(APPROVE))
    env.pop("WAYLAND_DISPLAY", None)
    window_log = open(artifacts / "pixy-desktop.log", "w", encoding="utf-8")
    window = None
    try:
        window = subprocess.Popen(["/usr/bin/pixy-desktop"], env=env, stdin=subprocess.DEVNULL,
                                  stdout=window_log, stderr=subprocess.STDOUT)
        # Searched again until it appears: one search can fail outright when another window goes
        # away while xdotool reads it (BadWindow), which `--sync` does not retry.
        found = wait_until(lambda: windows_named(display, "^Pixy$"), timeout=90, interval=0.5)
        if not found:
            pytest.fail(f"no window named Pixy appeared in 90 s; window exit {window.poll()}, "
                        f"log in {artifacts / 'pixy-desktop.log'}")
        # The installed UI must load (not an "asset not found" page): Pixy's indigo appears.
        shot = artifacts / "installed-window.png"
        painted = wait_painted(display, str(found[0]), shot, indigo, timeout=60)
        assert painted is not None, f"the installed window never showed Pixy's UI (see {shot})"
        assert window.poll() is None, "the window process must still be running"

        daemons = []
        deadline = time.monotonic() + 30
        while not daemons and time.monotonic() < deadline:
            daemons = [pid for pid in pids_with_env("XDG_RUNTIME_DIR", str(runtime))
                       if os.path.realpath(f"/proc/{pid}/exe") == "/usr/bin/pixy"
                       and "daemon" in process_cmdline(pid).split()]
            if not daemons:
                time.sleep(0.2)
        assert daemons, "the installed window must start the installed daemon (/usr/bin/pixy daemon) " \
                        f"for its user; running with its env: " \
                        f"{[process_cmdline(p) for p in pids_with_env('XDG_RUNTIME_DIR', str(runtime))]}"
    finally:
        if window is not None and window.poll() is None:
            stop_pids([window.pid])
        stop_pids(pids_with_env("XDG_RUNTIME_DIR", str(runtime)))
        if window is not None:
            window.wait(timeout=10)
        window_log.close()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
        remove = subprocess.run([*APT_GET, "remove", package], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=600)

    assert remove.returncode == 0, f"apt-get remove {package} failed:\n{remove.stdout}\n{remove.stderr}"
    for path in INSTALLED:
        assert not os.path.exists(path), f"removing {package} must take {path} away"
