//! `pixy-desktop`: Pixy's window. Spawned on demand (by the tray's "Open Pixy" or from a launcher);
//! it exits when its window closes, so no WebKit process stays resident. At login (`--background`)
//! it starts the daemon, whose tray icon is Pixy's presence, and exits without a window.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    pixy_desktop::run();
}
