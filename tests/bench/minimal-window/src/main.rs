//! A window with a page and nothing else.

fn main() {
    tauri::Builder::default().run(tauri::generate_context!()).expect("the window opens");
}
