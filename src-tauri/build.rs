//! Build script of the window: generates Tauri's context and the permissions of the app's own
//! commands, so capabilities/ can allow exactly those and nothing more.

/// The commands in commands.rs and autostart.rs. A command missing here cannot be called from the window at all.
const COMMANDS: &[&str] = &[
    "providers",
    "accounts",
    "connect",
    "connect_resource",
    "cancel",
    "paste",
    "unlink",
    "refresh",
    "questions",
    "answer",
    "grants",
    "revoke_grant",
    "launch_view",
    "discover_provider",
    "add_provider",
    "copy_link",
    "copy_diagnostics",
    "reconnect",
    "autostart_enabled",
    "set_autostart",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step failed: check tauri.conf.json and capabilities/");
}
