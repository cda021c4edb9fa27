//! Pixy's window: a thin Tauri client of the daemon.
//!
//! The window holds no account state and no secret. Every command is one request to the daemon
//! (started on demand by `pixy_core::ipc::client`), mapped to the small view types the UI needs.
//! The process ends when its last window closes: nothing here (no tray, no background task) keeps
//! it alive, so WebKit's processes end with it while the daemon runs on. Launched at login
//! (`--background`, see autostart.rs), it only makes sure the daemon runs, and opens nothing.

mod autostart;
mod commands;
mod events;
mod views;

use tauri::Manager;

/// Tells the page that the launch view changed; it asks for it again (no event API is allowed).
const LAUNCH_CHANGED: &str = "window.dispatchEvent(new Event('pixy-launch'))";

/// Opens the window and runs until it is closed; launched at login, starts the daemon and ends.
pub fn run() {
    // Before Tauri: a launch at login must neither open a window nor reach a running one.
    if autostart::is_background(std::env::args()) {
        if let Err(error) = autostart::run_in_background() {
            eprintln!("pixy-desktop: could not start Pixy's background service: {error}");
            std::process::exit(1);
        }
        return;
    }
    let launch = views::LaunchView::from_args(std::env::args());
    let result = tauri::Builder::default()
        // One window: a second launch (the tray, a notification, a launcher) brings the running
        // one forward, on the view the second launch asked for, and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // Replaced even by no view at all: the window must not go back to where an earlier
            // launch asked it to go.
            let launch = app.state::<commands::Launch>();
            *launch.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = views::LaunchView::from_args(args);
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
                let _ = window.eval(LAUNCH_CHANGED);
            }
        }))
        .plugin(autostart::plugin())
        .manage(commands::Launch(std::sync::Mutex::new(launch)))
        .manage(commands::FlowSlot::default())
        .manage(commands::Clipboard::default())
        .invoke_handler(tauri::generate_handler![
            commands::providers,
            commands::accounts,
            commands::connect,
            commands::connect_resource,
            commands::cancel,
            commands::paste,
            commands::unlink,
            commands::refresh,
            commands::questions,
            commands::answer,
            commands::grants,
            commands::revoke_grant,
            commands::launch_view,
            commands::discover_provider,
            commands::add_provider,
            commands::copy_link,
            commands::copy_diagnostics,
            commands::reconnect,
            autostart::autostart_enabled,
            autostart::set_autostart,
        ])
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("pixy-desktop: could not open the window: {error}");
        std::process::exit(1);
    }
}
