"""What the packages are made of, checked where it is written: the Tauri bundle configuration for
every platform, the AppStream metainfo, the desktop entry, the icons, the systemd user unit, and
the man pages and shell completions that `pixy` generates from its own command-line definitions.

Each check runs the tool that distributions and the Tauri CLI use themselves, and each is shown
failing on a broken copy, so a pass means something. The built packages are checked in
test_package.py."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, target_dir

LINUX = REPO / "packaging" / "linux"
PIXY = target_dir() / "debug" / "pixy"


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, **kwargs)


def tauri_validate(config_dir):
    """Runs a Tauri CLI command that loads and validates the whole configuration (every platform's
    bundle settings, against the CLI's own schema) without building anything."""
    return run(["npm", "--prefix", str(REPO / "ui"), "exec", "--no", "--", "tauri", "inspect", "wix-upgrade-code"],
               cwd=config_dir)


def merged(base, patch):
    """`patch` merged into `base` as the Tauri CLI merges a --config file (JSON Merge Patch)."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        out[key] = merged(base.get(key), value) if value is not None else None
    return {k: v for k, v in out.items() if v is not None}


def release_config():
    """tauri.conf.json as `make package` and the release workflow build with it."""
    extra = json.loads((REPO / "packaging" / "bundle-cli.conf.json").read_text())
    return merged(json.loads((REPO / "tauri.conf.json").read_text()), extra)


def validate_in(directory, config):
    """Validates `config` in a directory of its own, beside the smallest package the CLI accepts
    as the app's (it reads the crate's metadata once the config passes)."""
    version = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    (directory / "Cargo.toml").write_text(f'[package]\nname = "pixy-desktop"\nversion = "{version}"\n'
                                          'edition = "2021"\n\n[[bin]]\nname = "pixy-desktop"\npath = "main.rs"\n')
    (directory / "main.rs").write_text("fn main() {}\n")
    (directory / "tauri.conf.json").write_text(json.dumps(config))
    return tauri_validate(directory)


def test_the_bundle_configuration_passes_the_tauri_cli_validation_on_every_platform(tmp_path):
    assert "externalBin" not in json.loads((REPO / "tauri.conf.json").read_text())["bundle"], \
        "Tauri's build script copies external binaries beside the one it builds: named in tauri.conf.json, " \
        "the packaged pixy would replace cargo's own in every build"
    config = release_config()
    bundle = config["bundle"]
    assert bundle["externalBin"] == ["build/pkg/pixy"], "the release build ships the CLI beside the window"
    assert {"deb", "rpm", "appimage"} <= set(bundle["linux"]), "Linux bundles are configured"
    assert "dmg" in bundle["macOS"], "the macOS disk image is configured"
    assert {"nsis", "wix"} <= set(bundle["windows"]), "both Windows installers are configured"
    (tmp_path / "valid").mkdir()
    valid = validate_in(tmp_path / "valid", config)
    assert valid.returncode == 0 and "Error" not in valid.stderr, f"the Tauri CLI refused the config:\n{valid.stderr}"

    # The same check on a copy broken where only macOS and Windows read it must fail, naming both.
    bundle["macOS"]["dmg"]["windowSize"] = {"width": "wide"}
    bundle["windows"]["nsis"]["installMode"] = "everywhere"
    (tmp_path / "broken").mkdir()
    broken = validate_in(tmp_path / "broken", config)
    assert broken.returncode != 0, "a config the bundler cannot use must be refused"
    assert "bundle > macOS > dmg > windowSize" in broken.stderr and "bundle > windows > nsis" in broken.stderr, \
        broken.stderr


def test_the_release_workflow_builds_each_platform_on_its_own_runner():
    workflow = (REPO / ".github" / "workflows" / "release.yml").read_text()
    for runner, bundles in [("ubuntu-", "make package"), ("macos-", "--bundles app,dmg"),
                            ("windows-", "--bundles nsis,msi")]:
        assert f"runs-on: {runner}" in workflow and bundles in workflow, f"{runner} job building {bundles}"
    # Each job puts the CLI where externalBin looks for it.
    assert workflow.count('build/pkg/pixy-$triple') == 2, "macOS and Windows name the CLI for their target"
    assert workflow.count("--config packaging/bundle-cli.conf.json") == 2, "and bundle it with the release config"


def test_the_metainfo_passes_appstream_validation_and_matches_the_package():
    metainfo = LINUX / "dev.pixy.Pixy.metainfo.xml"
    result = run(["appstreamcli", "validate", "--no-net", "--strict", str(metainfo)])
    assert result.returncode == 0, f"appstreamcli refused the metainfo:\n{result.stdout}{result.stderr}"
    text = metainfo.read_text()
    version = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    newest = re.search(r'<release version="([^"]+)"', text).group(1)
    assert newest == version, f"the newest release in the metainfo ({newest}) is the package's version ({version})"
    assert "<launchable type=\"desktop-id\">Pixy.desktop</launchable>" in text, \
        "the metainfo launches the desktop entry the bundler writes (productName.desktop)"

    broken = Path(tempfile.mkdtemp()) / "broken.metainfo.xml"
    broken.write_text(text.replace("<id>dev.pixy.Pixy</id>", "<id>Pixy app</id>"))
    assert run(["appstreamcli", "validate", "--no-net", "--strict", str(broken)]).returncode != 0


def render_desktop_entry(template):
    """The template as the Tauri bundler renders it (its handlebars variables)."""
    values = {"name": "Pixy", "comment": "Link your accounts from the desktop", "exec": "pixy-desktop",
              "icon": "pixy-desktop"}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def test_the_desktop_entry_validates_and_carries_categories_and_keywords(tmp_path):
    entry = tmp_path / "Pixy.desktop"
    entry.write_text(render_desktop_entry((LINUX / "pixy.desktop").read_text()))
    result = run(["desktop-file-validate", str(entry)])
    assert result.returncode == 0 and not result.stdout.strip(), f"desktop-file-validate: {result.stdout}"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Categories"] == "Settings;Security;" and "OAuth" in fields["Keywords"].split(";")
    assert fields["Exec"] == "pixy-desktop" and fields["Icon"] == "pixy-desktop"

    entry.write_text(entry.read_text().replace("Type=Application", "Type=Program"))
    assert run(["desktop-file-validate", str(entry)]).returncode != 0, "the validator catches a broken entry"


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_the_committed_icons_are_what_tauri_icon_makes_from_the_one_source_image(tmp_path):
    generated = tmp_path / "icons"
    result = run([str(REPO / "packaging" / "icons.sh"), str(generated)])
    assert result.returncode == 0, result.stderr
    bundled = json.loads((REPO / "tauri.conf.json").read_text())["bundle"]["icon"]
    sizes = sorted(png_size(REPO / p)[0] for p in bundled if p.endswith(".png"))
    assert sizes == [16, 22, 24, 32, 48, 64, 96, 128, 256, 512], f"every hicolor size is bundled: {sizes}"
    for name in bundled:
        committed = REPO / name
        fresh = generated / Path(name).name
        if name.endswith(".icns"):
            # The ICNS encoder is not byte-stable from run to run; it must still be an icon set.
            assert committed.read_bytes()[:4] == b"icns", f"{name} is an ICNS file"
            continue
        assert committed.read_bytes() == fresh.read_bytes(), \
            f"{name} differs from what `make icons` makes from icons/pixy.svg: run `make icons`"
        if name.endswith(".png"):
            side = int(Path(name).stem.split("x")[0]) if "x" in Path(name).stem else 512
            assert png_size(committed) == (side, side), f"{name} is {side}x{side}"


def test_the_systemd_user_unit_verifies_and_only_runs_the_daemon(tmp_path):
    unit = (LINUX / "pixy.service").read_text()
    assert re.search(r"^ExecStart=/usr/bin/pixy daemon$", unit, re.M)
    assert re.search(r"^WantedBy=graphical-session.target$", unit, re.M)
    runtime = tempfile.mkdtemp()
    os.chmod(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)

    def verify(text):
        path = tmp_path / "pixy.service"
        # The installed binary is not here yet: the unit is checked against the one just built.
        path.write_text(text.replace("/usr/bin/pixy", str(PIXY)))
        return run(["systemd-analyze", "verify", "--user", "--man=no", str(path)], env=env)

    good = verify(unit)
    assert good.returncode == 0 and not good.stderr.strip(), f"systemd-analyze verify: {good.stderr}"
    bad = verify(unit.replace("Restart=on-failure", "Restart=sometimes"))
    assert "restart specifier" in bad.stderr, f"systemd-analyze reports a broken unit: {bad.stderr}"


def visible_subcommands():
    """The subcommands `pixy --help` lists (hidden ones and help excluded)."""
    help_text = run([str(PIXY), "--help"]).stdout
    listed = help_text.split("Commands:", 1)[1].split("Options:", 1)[0]
    return [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split()[0] != "help"]


def test_the_man_pages_are_generated_for_every_subcommand_and_render(tmp_path):
    result = run([str(PIXY), "man-pages", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    subcommands = visible_subcommands()
    assert {"link", "token", "daemon", "completions"} <= set(subcommands), subcommands
    pages = {p.name for p in tmp_path.glob("*.1")}
    assert pages == {"pixy.1"} | {f"pixy-{s}.1" for s in subcommands}, f"one page per subcommand: {sorted(pages)}"
    rendered = run(["man", "-l", str(tmp_path / "pixy.1")], env=dict(os.environ, MANWIDTH="100")).stdout
    for sub in subcommands:
        assert f"pixy-{sub}(1)" in rendered, f"pixy(1) points to pixy-{sub}(1)"
    assert "accounts.json" in rendered and "PIXY_LOG" in rendered, "the page says where files live and what is read"
    token = run(["man", "-l", str(tmp_path / "pixy-token.1")]).stdout
    assert "--min-valid" in token and re.search(r"pixy\s+token\s", token), token


def test_bash_completion_completes_subcommands_and_options(tmp_path):
    script = tmp_path / "pixy.bash"
    script.write_text(run([str(PIXY), "completions", "bash"]).stdout)

    def complete(*words):
        line = " ".join(words)
        probe = (f'source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE="{line}"; '
                 f'COMP_POINT={len(line)}; _pixy pixy "{words[-1]}" "{words[-2]}"; printf "%s\\n" "${{COMPREPLY[@]}}"')
        return run(["bash", "-c", probe]).stdout.split()

    assert complete("pixy", "li") == ["link"]
    assert set(complete("pixy", "daemon", "--no-")) == {"--no-tray", "--no-demo"}


def test_fish_and_zsh_completions_load_and_know_every_subcommand(tmp_path):
    fish = tmp_path / "pixy.fish"
    fish.write_text(run([str(PIXY), "completions", "fish"]).stdout)
    offered = run(["fish", "--no-config", "-c", f"source {fish}; complete -C 'pixy '"]).stdout
    names = {line.split("\t")[0] for line in offered.splitlines()}
    assert set(visible_subcommands()) <= names, f"fish offers {sorted(names)}"

    zsh = tmp_path / "_pixy"
    zsh.write_text(run([str(PIXY), "completions", "zsh"]).stdout)
    assert zsh.read_text().startswith("#compdef pixy"), "zsh finds it by its #compdef line"
    assert run(["zsh", "-n", str(zsh)]).returncode == 0, "the zsh script parses"
    for sub in visible_subcommands():
        assert f"'{sub}:" in zsh.read_text(), f"zsh completes {sub}"
    assert run([str(PIXY), "completions", "tcsh"]).returncode == 2, "an unknown shell is a usage error"
