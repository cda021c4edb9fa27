"""The release packages, as a person gets them: what the .deb and the .rpm hold and need, the
installed package integrating with the desktop (window, daemon, menu entry, icons, man pages,
completions, systemd unit, AppStream), and a whole life under apt and dpkg: version N installed
with linked accounts, upgraded to N+1 while its daemon runs, removed (the accounts stay), installed
again, and reset.

It installs and removes a system package, so `make test` runs it last, after `make package`
(PIXY_PACKAGES_BUILT=1); run on its own it calls `make package` first. The upgrade builds N+1
itself: a copy of this tree with the patch version bumped, packaged into a target directory that
shares the release build's compiled dependencies."""

import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from desktop import indigo, wait_painted, wait_until, windows_named
from conftest import (APPROVE, ARTIFACTS, KEYRING_SERVICE, REPO, OidcServer, Pixy, keyring_items,
                      oidc_link_args, pids_with_env, process_cmdline, stop_pids, target_dir)

pytestmark = pytest.mark.package

BINARIES = ("/usr/bin/pixy-desktop", "/usr/bin/pixy")
ROOT = [] if os.geteuid() == 0 else ["sudo", "-n"]
APT_GET = [*ROOT, "apt-get", "-o", "DPkg::Lock::Timeout=900", "-y"]
PACKAGE = "pixy"
SUBCOMMAND_PAGES = ("pixy-link.1.gz", "pixy-token.1.gz", "pixy-daemon.1.gz", "pixy-completions.1.gz")
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 96, 128, 256, 512)


def run(cmd, timeout=120, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, **kwargs)


def workspace_version(cargo_toml):
    return re.search(r'^version = "([^"]+)"', Path(cargo_toml).read_text(), re.M).group(1)


VERSION = workspace_version(REPO / "Cargo.toml")


DEB_ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()


def bundle_of(bundle_dir, version):
    deb = Path(bundle_dir) / "deb" / f"Pixy_{version}_{DEB_ARCH}.deb"
    rpms = sorted((Path(bundle_dir) / "rpm").glob(f"Pixy-{version}-*.rpm"))
    assert deb.is_file(), f"{deb} is missing: `make package` must produce it"
    assert rpms, f"no Pixy-{version} .rpm under {bundle_dir}/rpm"
    return deb, rpms[-1]


@pytest.fixture(scope="module")
def bundles():
    if os.environ.get("PIXY_PACKAGES_BUILT") != "1":
        env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir()))
        proc = subprocess.run(["make", "--no-print-directory", "package"], cwd=REPO, env=env,
                              stdin=subprocess.DEVNULL, timeout=3600)
        assert proc.returncode == 0, "make package failed"
    return bundle_of(target_dir() / "release" / "bundle", VERSION)


def deb_paths(deb):
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    # dpkg-deb prints member names relative to the root: `./usr/bin/x`.
    return {"/" + line.split()[5].lstrip("./") for line in listing.splitlines() if line.strip()}


def shipped_files(zsh_dir):
    """Everything but the binaries that each package must install, where the distribution looks."""
    return {
        "/usr/share/applications/Pixy.desktop",
        "/usr/share/metainfo/dev.pixy.Pixy.metainfo.xml",
        "/usr/share/icons/hicolor/scalable/apps/pixy-desktop.svg",
        "/usr/share/man/man1/pixy.1.gz",
        *(f"/usr/share/man/man1/{page}" for page in SUBCOMMAND_PAGES),
        "/usr/share/bash-completion/completions/pixy",
        f"{zsh_dir}/_pixy",
        "/usr/share/fish/vendor_completions.d/pixy.fish",
        "/usr/lib/systemd/user/pixy.service",
        *(f"/usr/share/icons/hicolor/{n}x{n}/apps/pixy-desktop.png" for n in HICOLOR_SIZES),
    }


def test_the_deb_and_the_rpm_ship_both_binaries_and_the_desktop_integration(bundles):
    deb, rpm = bundles
    in_deb = deb_paths(deb)
    missing = (set(BINARIES) | shipped_files("/usr/share/zsh/vendor-completions")) - in_deb
    assert not missing, f"{deb.name} lacks {sorted(missing)}"
    assert not any("@2" in p for p in in_deb), "no icon in a directory the hicolor theme does not have"
    in_rpm = set(run(["rpm", "-qlp", str(rpm)]).stdout.split())
    missing = (set(BINARIES) | shipped_files("/usr/share/zsh/site-functions")) - in_rpm
    assert not missing, f"{rpm.name} lacks {sorted(missing)}"


def apt_closure(packages):
    """Every package `packages` pull in through Depends (alternatives included), installed or not."""
    out = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
               "--no-breaks", "--no-replaces", "--no-enhances", *packages], timeout=300).stdout
    names = set(packages)
    for line in out.splitlines():
        line = line.strip().lstrip("|")
        if line.startswith(("Depends:", "PreDepends:")):
            names.add(line.split(":", 1)[1].strip().strip("<>").split(":")[0])
        elif line and not line.startswith(" ") and ":" not in line:
            names.add(line.strip("<>"))
    return names


def needed_libraries(binary):
    return re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", binary]).stdout)


def owner_of(soname):
    """The Debian package that provides the shared library `soname` on this machine."""
    found = re.search(rf"\s{re.escape(soname)} \([^)]*\) => (\S+)", run(["ldconfig", "-p"]).stdout)
    assert found, f"{soname} is not installed here"
    owner = run(["dpkg", "-S", os.path.realpath(found.group(1))]).stdout or run(["dpkg", "-S", found.group(1)]).stdout
    assert owner, f"no package owns {found.group(1)}"
    return owner.split(":")[0].split(",")[0].strip()


def test_the_packages_declare_what_the_binaries_need_at_run_time(bundles, tmp_path):
    deb, rpm = bundles
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    recommends = run(["dpkg-deb", "-f", str(deb), "Recommends"]).stdout
    for needed in ("libwebkit2gtk-4.1-0", "libgtk-3-0", "default-dbus-session-bus | dbus-session-bus"):
        assert needed in depends, f"the .deb depends on {needed}: {depends}"
    # Tokens live in the Secret Service: Pixy speaks its D-Bus protocol itself (no libsecret), so
    # what it needs is a session bus (above) and a Secret Service, of which any one will do.
    assert "gnome-keyring | keepassxc | libkf5wallet-bin" in recommends and "xdg-utils" in recommends, recommends

    # Every shared library either binary loads comes from a package the .deb's Depends pull in.
    names = [d.split("(")[0].strip() for alternative in depends.split(",") for d in alternative.split("|")]
    closure = apt_closure([n for n in names if n])
    extracted = tmp_path / "deb"
    run(["dpkg-deb", "-x", str(deb), str(extracted)])
    for binary in BINARIES:
        libraries = needed_libraries(str(extracted / binary.lstrip("/")))
        assert libraries, f"{binary} is dynamically linked"
        unmet = {lib: owner_of(lib) for lib in libraries if owner_of(lib) not in closure}
        assert not unmet, f"{binary} needs libraries from packages the .deb does not depend on: {unmet}"

    requires = run(["rpm", "-qpR", str(rpm)]).stdout
    for needed in ("libwebkit2gtk-4.1.so.0()(64bit)", "libgtk-3.so.0()(64bit)", "dbus"):
        assert needed in requires.split("\n"), f"the .rpm requires {needed}:\n{requires}"
    assert "gnome-keyring" in run(["rpm", "-qp", "--recommends", str(rpm)]).stdout


def install(deb):
    done = run([*APT_GET, "install", "--allow-downgrades", str(deb.resolve())], timeout=1200)
    assert done.returncode == 0, f"apt-get install {deb.name} failed:\n{done.stdout}\n{done.stderr}"
    installed = run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE]).stdout
    return installed


def remove():
    done = run([*APT_GET, "remove", PACKAGE], timeout=600)
    assert done.returncode == 0, f"apt-get remove {PACKAGE} failed:\n{done.stdout}\n{done.stderr}"


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


def check_desktop_integration(tmp_path):
    """The installed files, checked by the tools the desktop and the distribution use."""
    entry = run(["desktop-file-validate", "/usr/share/applications/Pixy.desktop"])
    assert entry.returncode == 0 and not entry.stdout.strip(), f"the installed desktop entry: {entry.stdout}"
    assert "Exec=pixy-desktop" in Path("/usr/share/applications/Pixy.desktop").read_text()

    # AppStream sees the metainfo, the desktop entry it launches and its icon together.
    root = tmp_path / "root"
    for path in ("usr/share/metainfo", "usr/share/applications", "usr/share/icons/hicolor"):
        shutil.copytree(f"/{path}", root / path, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if "pixy" not in n.lower() and "." in n])
    tree = run(["appstreamcli", "validate-tree", "--no-net", str(root)])
    assert tree.returncode == 0, f"appstreamcli validate-tree:\n{tree.stdout}{tree.stderr}"

    # The manual is found by man, and is what the installed pixy generates from its definitions.
    assert run(["man", "-w", "pixy"]).stdout.strip() == "/usr/share/man/man1/pixy.1.gz"
    fresh = tmp_path / "man"
    assert run(["/usr/bin/pixy", "man-pages", str(fresh)]).returncode == 0
    for page in ("pixy.1", *(p.removesuffix(".gz") for p in SUBCOMMAND_PAGES)):
        installed = gzip.decompress(Path(f"/usr/share/man/man1/{page}.gz").read_bytes())
        assert installed == (fresh / page).read_bytes(), f"the installed {page} matches the installed pixy"

    # bash-completion's own loader finds and loads the installed completion.
    probe = ("source /usr/share/bash-completion/bash_completion; _completion_loader pixy; "
             "COMP_WORDS=(pixy tok); COMP_CWORD=1; COMP_LINE='pixy tok'; COMP_POINT=8; "
             "$(complete -p pixy | sed -E 's/.* -F ([^ ]+) .*/\\1/') pixy tok pixy; echo ${COMPREPLY[@]}")
    assert run(["bash", "-c", probe]).stdout.split() == ["token"], "bash completes `pixy tok` to token"
    # (Not --no-config: it empties fish's completion path too.) A home of its own keeps any
    # personal fish configuration out.
    fish = run(["fish", "-c", "complete -C 'pixy gr'"], env=dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path)))
    fish = fish.stdout
    assert fish.startswith("grants"), f"fish finds the vendor completion: {fish!r}"

    runtime = tempfile.mkdtemp()
    os.chmod(runtime, 0o700)
    unit = run(["systemd-analyze", "verify", "--user", "/usr/lib/systemd/user/pixy.service"],
               env=dict(os.environ, XDG_RUNTIME_DIR=runtime))
    shutil.rmtree(runtime, ignore_errors=True)
    assert unit.returncode == 0 and not unit.stderr.strip(), f"systemd-analyze verify: {unit.stderr}"


def test_the_installed_package_integrates_with_the_desktop_and_opens_the_window(bundles, tmp_path):
    deb, _ = bundles
    artifacts = ARTIFACTS / "package"
    artifacts.mkdir(parents=True, exist_ok=True)
    assert install(deb) == VERSION
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
        for path in BINARIES:
            assert os.access(path, os.X_OK), f"installing {deb.name} must provide {path}"
        check_desktop_integration(tmp_path)

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

        daemons = wait_until(lambda: [
            pid for pid in pids_with_env("XDG_RUNTIME_DIR", str(runtime))
            if os.path.realpath(f"/proc/{pid}/exe") == "/usr/bin/pixy" and "daemon" in process_cmdline(pid).split()
        ], timeout=30, interval=0.2)
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
        remove()
    for path in BINARIES:
        assert not os.path.exists(path), f"removing {PACKAGE} must take {path} away"


# ------------------------------------------------------------------------------------------------
# A whole life under apt: install N, link, upgrade to N+1 with the daemon running, remove, install
# again, reset.


def next_version(version):
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


@pytest.fixture(scope="module")
def next_bundle(tmp_path_factory):
    """Version N+1: this tree (as it is, tracked files) with the patch version bumped, packaged.
    Its target directory starts as hard links to the release build's, so only Pixy's own crates
    are compiled again."""
    work = tmp_path_factory.mktemp("next")
    tree = work / "pixy"
    tracked = run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    for modules in ("ui", "tests/oidc", "tests/mcp"):
        (tree / modules / "node_modules").symlink_to(REPO / modules / "node_modules")
    version = next_version(VERSION)
    cargo_toml = tree / "Cargo.toml"
    cargo_toml.write_text(cargo_toml.read_text().replace(f'version = "{VERSION}"', f'version = "{version}"', 1))
    lock = tree / "Cargo.lock"
    lock.write_text(re.sub(r'(name = "pixy[-a-z]*"\nversion = )"[^"]+"', rf'\1"{version}"', lock.read_text()))
    target = work / "target"
    target.mkdir()
    run(["cp", "-al", str(target_dir() / "release"), str(target / "release")], timeout=600)
    shutil.rmtree(target / "release" / "bundle", ignore_errors=True)
    log = ARTIFACTS / "package" / "next-version-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        # The Grantex SDK the test set-up installs is not needed to package: the one already there is named.
        sdk = os.environ.get("PIXY_GRANTEX_SDK") or str(target_dir().parent / "grantex-sdk-0.7.2")
        built = subprocess.run(["make", "--no-print-directory", "package", f"GRANTEX_SDK={sdk}"], cwd=tree,
                               stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=3600,
                               env=dict(os.environ, CARGO_TARGET_DIR=str(target)))
    assert built.returncode == 0, f"building version {version} failed; see {log}"
    yield version, bundle_of(target / "release" / "bundle", version)[0]
    shutil.rmtree(work, ignore_errors=True)


def ping(user):
    """(version, pid) of the running daemon, or None."""
    proc = user.run("daemon", "--ping")
    found = re.search(r"pixy daemon (\S+) \(pid (\d+)\)", proc.stdout)
    return (found.group(1), int(found.group(2))) if found else None


def pixy_items():
    return [item for item in keyring_items(service=KEYRING_SERVICE) if not item.get("username", "").startswith("probe-")]


def token_works(user, account):
    proc = user.run("token", account, "--json")
    try:
        event = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return False
    return proc.returncode == 0 and event.get("event") == "token" and bool(event.get("access_token"))


def test_an_upgrade_keeps_every_account_removal_keeps_them_too_and_reset_clears_them(bundles, next_bundle, tmp_path):
    deb, _ = bundles
    version, next_deb = next_bundle
    artifacts = ARTIFACTS / "package-life"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    runtime = Path(tempfile.mkdtemp(prefix="pixy-up-rt-"))
    os.chmod(runtime, 0o700)
    user = Pixy(tmp_path / "user", runtime, artifacts)
    user.bin = "/usr/bin/pixy"
    server = OidcServer(artifacts / "oidc-server.log")
    refresh = None
    try:
        # 1. Version N, with a demo account and an oidc-provider account in the real keyring.
        assert install(deb) == VERSION
        assert user.run("link", "demo", timeout=90).returncode == 0, user.last.stderr
        linked = user.run_json(*oidc_link_args(server.issuer), timeout=120)[1]
        assert linked and linked[-1]["event"] == "linked", f"the oidc-provider link: {linked}"
        accounts = {a["id"] for a in user.status_accounts()}
        oidc_account = linked[-1]["account"]["id"]
        demo_account = next(a for a in accounts if a != oidc_account)
        index = user.config_home / "pixy" / "accounts.json"
        assert index.is_file() and len(pixy_items()) >= 4, "tokens in the keyring, the accounts in the index"
        before = ping(user)
        assert before and before[0] == VERSION, f"the daemon of version N runs: {before}"
        refreshes = server.counters()["token_requests"].get("refresh_token", 0)

        # 2. Upgrade with apt while a refresh is at the provider: its answer (a rotated refresh
        # token) is held there until the new package is in place.
        server.hold_tokens()
        refresh = subprocess.Popen([user.bin, "refresh", oidc_account, "--json"], env=user.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert wait_until(lambda: server.counters()["token_in_flight"] > 0, timeout=30), \
            "the refresh reached the provider"
        assert install(next_deb) == version
        time.sleep(5)  # the daemon looks at its executable every 2 s: it has seen the new one
        assert ping(user) == before, "the daemon waits while its refresh is in flight"
        server.hold_tokens(False)
        out, err = refresh.communicate(timeout=90)
        assert refresh.returncode == 0 and '"event":"refreshed"' in out.replace(" ", ""), \
            f"the refresh under way when the package was upgraded finished: {out} {err}"
        after = wait_until(lambda: (p := ping(user)) and p[0] == version and p, timeout=60, interval=0.5)
        assert after, f"the running daemon moves to version {version} by itself: {ping(user)}"
        assert after[1] == before[1], "it re-executed in place (same PID, so a service manager keeps it)"
        assert not os.readlink(f"/proc/{after[1]}/exe").endswith("(deleted)"), "it runs the new binary"
        assert {a["id"] for a in user.status_accounts()} == accounts, "every account is still there"
        assert token_works(user, demo_account) and token_works(user, oidc_account), "pixy token still works"
        assert user.run("refresh", oidc_account, timeout=90).returncode == 0, \
            f"the refresh token kept across the upgrade is the current one: {user.last.stderr}"
        counters = server.counters()
        assert counters["token_requests"].get("refresh_token", 0) == refreshes + 2, \
            f"two refreshes, each done once: {counters}"
        assert not counters["token_errors"].get("refresh_token"), f"no refresh failed or was replayed: {counters}"

        # 3. Remove (not purge): the binaries go, the accounts stay.
        index_before = index.read_bytes()
        items_before = sorted(i["username"] for i in pixy_items())
        remove()
        for path in BINARIES:
            assert not os.path.exists(path), f"removing {PACKAGE} takes {path} away"
        stop_pids(pids_with_env("XDG_RUNTIME_DIR", str(runtime)))
        assert index.read_bytes() == index_before, "the index is kept as it was"
        assert sorted(i["username"] for i in pixy_items()) == items_before, "the keyring entries are kept"

        # 4. Installed again, Pixy finds them.
        assert install(next_deb) == version
        assert {a["id"] for a in user.status_accounts()} == accounts
        assert token_works(user, oidc_account)

        # 5. Reset: refused without a terminal unless --yes, then revokes and deletes everything.
        refused = user.run("reset")
        assert refused.returncode != 0 and "--yes" in refused.stderr, f"reset asks first: {refused.stderr}"
        assert index.is_file() and pixy_items(), "a refused reset changes nothing"
        revocations = server.counters()["revocations"]
        done = user.run("reset", "--yes", timeout=120)
        assert done.returncode == 0, f"pixy reset --yes: {done.stdout}{done.stderr}"
        assert server.counters()["revocations"] > revocations, "the provider was asked to revoke"
        assert not index.exists() and not pixy_items(), "no account and no token is left"
        assert user.status_accounts() == []
    finally:
        if refresh is not None and refresh.poll() is None:
            refresh.kill()
        stop_pids(pids_with_env("XDG_RUNTIME_DIR", str(runtime)))
        server.stop()
        shutil.rmtree(runtime, ignore_errors=True)
        if run(["dpkg-query", "-W", PACKAGE]).returncode == 0:
            remove()
