//! Pixy's window: a thin Tauri client of the daemon.
//!
//! The window holds no account state and no secret. Every command is one request to the daemon
//! (started on demand by `pixy_core::ipc::client`), mapped to the small view types the UI needs.
//! The process ends when its last window closes: nothing here (no tray, no background task) keeps
//! it alive, so WebKit's processes end with it while the daemon runs on.

mod commands;
mod events;
mod views;

/// Opens the window and runs until it is closed.
pub fn run() {
    let result = tauri::Builder::default()
        .manage(commands::FlowSlot::default())
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
        ])
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("pixy-desktop: could not open the window: {error}");
        std::process::exit(1);
    }
}
