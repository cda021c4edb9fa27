//! The daemon's tray icon: a StatusNotifierItem (ksni, over D-Bus; no GTK in the daemon).
//!
//! It shows how many accounts are linked and whether one needs relinking, opens the window
//! (`pixy-desktop`) on demand and quits the daemon. The window is a separate process that ends
//! when it is closed, so the resident daemon never carries WebKit.
//!
//! A desktop without a StatusNotifier host (a bare X session, a server, a CI box) is normal: the
//! tray logs that once and gives up, and the daemon runs on without it. The tray sees account
//! summaries only, never a secret.

use std::sync::{Arc, OnceLock};

use ksni::menu::StandardItem;
use ksni::{Icon, MenuItem, Status, ToolTip, Tray, TrayMethods};
use pixy_core::ipc::{AccountStatus, AccountSummary};
use tokio::sync::{watch, Notify};

/// Shows the tray icon until `accounts`' sender is dropped, keeping it in step with the accounts.
/// Its Quit item calls `quit.notify_one()`. Returns at once; the icon lives in a tokio task.
pub fn spawn(mut accounts: watch::Receiver<Vec<AccountSummary>>, quit: Arc<Notify>) {
    tokio::spawn(async move {
        let tray = PixyTray { accounts: accounts.borrow_and_update().clone(), quit };
        let handle = match tray.spawn().await {
            Ok(handle) => handle,
            Err(ksni::Error::Watcher(_)) | Err(ksni::Error::WontShow) => {
                tracing::info!("no tray host on the session bus; running without a tray icon");
                return;
            }
            Err(error) => {
                tracing::info!(%error, "no session bus for a tray icon; running without one");
                return;
            }
        };
        while accounts.changed().await.is_ok() {
            let now = accounts.borrow_and_update().clone();
            if handle.update(|tray| tray.accounts = now).await.is_none() {
                return; // the tray service ended on its own (the bus went away)
            }
        }
        handle.shutdown().await;
    });
}

/// The tray's state: what it shows and what its items act on.
struct PixyTray {
    accounts: Vec<AccountSummary>,
    quit: Arc<Notify>,
}

impl PixyTray {
    fn needing_relink(&self) -> usize {
        self.accounts.iter().filter(|a| a.status.needs_attention()).count()
    }

    fn open_window(&self) {
        crate::window::open(crate::window::View::Main);
    }

    /// What the icon's dot says about the accounts as a whole.
    fn badge(&self) -> pixmap::Badge {
        let statuses = || self.accounts.iter().map(|a| a.status);
        if statuses().any(|s| s == AccountStatus::Error) {
            pixmap::Badge::Error
        } else if statuses().any(AccountStatus::needs_attention) {
            pixmap::Badge::Attention
        } else {
            pixmap::Badge::None
        }
    }
}

/// "Pixy — 2 accounts linked", and the relink count when there is one.
fn title(accounts: &[AccountSummary]) -> String {
    let linked = match accounts.len() {
        0 => "no accounts linked".to_owned(),
        1 => "1 account linked".to_owned(),
        n => format!("{n} accounts linked"),
    };
    let relink = accounts.iter().filter(|a| a.status.needs_attention()).count();
    match relink {
        0 => format!("Pixy — {linked}"),
        1 => format!("Pixy — {linked}, 1 needs relinking"),
        n => format!("Pixy — {linked}, {n} need relinking"),
    }
}

impl Tray for PixyTray {
    fn id(&self) -> String {
        "pixy".into()
    }

    fn title(&self) -> String {
        title(&self.accounts)
    }

    fn status(&self) -> Status {
        if self.needing_relink() > 0 {
            Status::NeedsAttention
        } else {
            Status::Active
        }
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        static ICONS: OnceLock<Vec<Icon>> = OnceLock::new();
        ICONS.get_or_init(|| pixmap::sizes(pixmap::Badge::None)).clone()
    }

    /// Shown while the status is NeedsAttention: an amber dot for an account to relink, a red one
    /// when one is in error.
    fn attention_icon_pixmap(&self) -> Vec<Icon> {
        static AMBER: OnceLock<Vec<Icon>> = OnceLock::new();
        static RED: OnceLock<Vec<Icon>> = OnceLock::new();
        match self.badge() {
            pixmap::Badge::Error => RED.get_or_init(|| pixmap::sizes(pixmap::Badge::Error)).clone(),
            _ => AMBER.get_or_init(|| pixmap::sizes(pixmap::Badge::Attention)).clone(),
        }
    }

    /// Says which accounts need the person, and why.
    fn tool_tip(&self) -> ToolTip {
        let description = self
            .accounts
            .iter()
            .filter(|a| a.status.needs_attention())
            .map(|a| match &a.reason {
                Some(reason) => format!("{}: {} — {reason}", a.label, a.status.words()),
                None => format!("{}: {}", a.label, a.status.words()),
            })
            .collect::<Vec<_>>()
            .join("\n");
        ToolTip { title: title(&self.accounts), description, ..Default::default() }
    }

    /// A left click opens the window, as the menu's first item does.
    fn activate(&mut self, _x: i32, _y: i32) {
        self.open_window();
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let mut items: Vec<MenuItem<Self>> = vec![
            StandardItem {
                label: "Open Pixy".into(),
                activate: Box::new(|tray: &mut Self| tray.open_window()),
                ..Default::default()
            }
            .into(),
            MenuItem::Separator,
        ];
        if self.accounts.is_empty() {
            let none = StandardItem { label: "No accounts linked".into(), enabled: false, ..Default::default() };
            items.push(none.into());
        }
        for account in &self.accounts {
            // Disabled: the menu reports; linking and unlinking happen in the window.
            items.push(
                StandardItem {
                    label: format!("{} — {}", account.label, account.status.words()),
                    enabled: false,
                    ..Default::default()
                }
                .into(),
            );
        }
        items.push(
            StandardItem {
                label: "Link an account…".into(),
                activate: Box::new(|tray: &mut Self| tray.open_window()),
                ..Default::default()
            }
            .into(),
        );
        items.push(MenuItem::Separator);
        items.push(
            StandardItem {
                label: "Quit".into(),
                icon_name: "application-exit".into(),
                activate: Box::new(|tray: &mut Self| tray.quit.notify_one()),
                ..Default::default()
            }
            .into(),
        );
        items
    }
}

/// Pixy's mark drawn in code as ARGB32, the format StatusNotifierItem carries: two interlocking
/// white rings on an indigo rounded square, the same geometry as icons/pixy.svg (a 64-unit box).
/// Drawing it here spares the daemon an image decoder.
mod pixmap {
    use ksni::Icon;

    /// Hosts pick the size nearest their panel; 22–40 px panels are the common case.
    const SIZES: [i32; 6] = [16, 22, 24, 32, 48, 64];
    /// Samples per pixel along each axis: enough antialiasing for a 1.7 px stroke at 22 px.
    const SUPERSAMPLE: usize = 4;

    const LEFT: (f32, f32) = (25.0, 32.0);
    const RIGHT: (f32, f32) = (39.0, 32.0);
    const RADIUS: f32 = 12.0;
    const STROKE: f32 = 5.0;
    /// Width of the background band that cuts the ring passing underneath at a crossing.
    const GAP_STROKE: f32 = 8.0;
    const CORNER: f32 = 14.0;
    const TOP_LEFT: [f32; 3] = [0x63 as f32, 0x66 as f32, 0xf1 as f32];
    const BOTTOM_RIGHT: [f32; 3] = [0x43 as f32, 0x38 as f32, 0xca as f32];
    const WHITE: [f32; 3] = [255.0, 255.0, 255.0];
    const AMBER: [f32; 3] = [0xf5 as f32, 0x9e as f32, 0x0b as f32];
    const RED: [f32; 3] = [0xdc as f32, 0x26 as f32, 0x26 as f32];

    /// The dot in the icon's top-right corner.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Badge {
        /// Every account works: no dot.
        None,
        /// An account to relink: amber.
        Attention,
        /// An account in error: red.
        Error,
    }

    impl Badge {
        fn colour(self) -> Option<[f32; 3]> {
            match self {
                Badge::None => None,
                Badge::Attention => Some(AMBER),
                Badge::Error => Some(RED),
            }
        }
    }

    pub fn sizes(badge: Badge) -> Vec<Icon> {
        SIZES.iter().map(|&size| draw(size, badge)).collect()
    }

    /// One icon of `size` px, with `badge`'s dot in the top-right corner.
    pub fn draw(size: i32, badge: Badge) -> Icon {
        let n = size as usize;
        let scale = 64.0 / size as f32;
        let mut data = Vec::with_capacity(n * n * 4);
        for py in 0..n {
            for px in 0..n {
                // Average premultiplied colour over the samples, then un-premultiply: ARGB32 in
                // StatusNotifierItem is straight alpha.
                let mut acc = [0.0f32; 4];
                for sy in 0..SUPERSAMPLE {
                    for sx in 0..SUPERSAMPLE {
                        let x = (px as f32 + (sx as f32 + 0.5) / SUPERSAMPLE as f32) * scale;
                        let y = (py as f32 + (sy as f32 + 0.5) / SUPERSAMPLE as f32) * scale;
                        if let Some(rgb) = paint(x, y, badge.colour()) {
                            acc[0] += 1.0;
                            for c in 0..3 {
                                acc[c + 1] += rgb[c];
                            }
                        }
                    }
                }
                let samples = (SUPERSAMPLE * SUPERSAMPLE) as f32;
                let alpha = acc[0] / samples;
                let mut argb = [(alpha * 255.0).round() as u8, 0, 0, 0];
                if acc[0] > 0.0 {
                    for c in 0..3 {
                        argb[c + 1] = (acc[c + 1] / acc[0]).round().clamp(0.0, 255.0) as u8;
                    }
                }
                data.extend_from_slice(&argb);
            }
        }
        Icon { width: size, height: size, data }
    }

    /// The colour at (x, y) in the 64-unit box, or `None` outside the icon. Layers are painted in
    /// the SVG's order: background, both rings, then each crossing's gap band and its over-arc.
    fn paint(x: f32, y: f32, dot: Option<[f32; 3]>) -> Option<[f32; 3]> {
        if let Some(dot) = dot.filter(|_| dist((x, y), (52.0, 12.0)) <= 10.0) {
            return Some(if dist((x, y), (52.0, 12.0)) <= 8.0 { dot } else { WHITE });
        }
        if !in_rounded_square(x, y) {
            return None;
        }
        let t = ((x + y) / 128.0).clamp(0.0, 1.0);
        let background = [0, 1, 2].map(|c| TOP_LEFT[c] + (BOTTOM_RIGHT[c] - TOP_LEFT[c]) * t);
        let mut colour = background;
        if on_ring(x, y, LEFT, STROKE) || on_ring(x, y, RIGHT, STROKE) {
            colour = WHITE;
        }
        // Upper crossing: the left ring passes over the right one (angles in degrees, y down).
        let upper = crossing_angle(LEFT, -1.0);
        colour = over_arc(x, y, LEFT, upper, colour, background);
        // Lower crossing: the right ring passes over the left one.
        let lower = crossing_angle(RIGHT, 1.0);
        colour = over_arc(x, y, RIGHT, lower, colour, background);
        Some(colour)
    }

    /// The angle, seen from `centre`, of the crossing above (`side` −1) or below (+1) the middle.
    fn crossing_angle(centre: (f32, f32), side: f32) -> f32 {
        let half = (RIGHT.0 - LEFT.0) / 2.0;
        let h = (RADIUS * RADIUS - half * half).sqrt();
        let dx = 32.0 - centre.0;
        (side * h).atan2(dx).to_degrees()
    }

    /// Paints the gap band (background) and then the white arc of the ring that lies on top. The
    /// white arc is a little longer than the band so no seam shows where the band ends.
    fn over_arc(x: f32, y: f32, centre: (f32, f32), at: f32, colour: [f32; 3], background: [f32; 3]) -> [f32; 3] {
        let angle = (y - centre.1).atan2(x - centre.0).to_degrees();
        let within = |from: f32, to: f32| {
            let rel = (angle - at + 540.0).rem_euclid(360.0) - 180.0;
            rel >= from && rel <= to
        };
        let mut colour = colour;
        if within(-23.0, 25.0) && on_ring(x, y, centre, GAP_STROKE) {
            colour = background;
        }
        if within(-27.0, 29.0) && on_ring(x, y, centre, STROKE) {
            colour = WHITE;
        }
        colour
    }

    fn on_ring(x: f32, y: f32, centre: (f32, f32), stroke: f32) -> bool {
        (dist((x, y), centre) - RADIUS).abs() <= stroke / 2.0
    }

    fn in_rounded_square(x: f32, y: f32) -> bool {
        if !(0.0..64.0).contains(&x) || !(0.0..64.0).contains(&y) {
            return false;
        }
        let cx = x.clamp(CORNER, 64.0 - CORNER);
        let cy = y.clamp(CORNER, 64.0 - CORNER);
        dist((x, y), (cx, cy)) <= CORNER
    }

    fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(label: &str, status: AccountStatus) -> AccountSummary {
        AccountSummary {
            obtained_at: 0,
            linked_at: None,
            id: format!("demo-{label}"),
            provider: "demo".into(),
            label: label.into(),
            status,
            expires_at: None,
            scopes: Vec::new(),
            reason: None,
            last_error: None,
            resource: None,
            has_refresh_token: false,
            revocation_host: None,
        }
    }

    fn tray(accounts: Vec<AccountSummary>) -> PixyTray {
        PixyTray { accounts, quit: Arc::new(Notify::new()) }
    }

    fn pixel(icon: &Icon, x: i32, y: i32) -> [u8; 4] {
        let i = ((y * icon.width + x) * 4) as usize;
        icon.data[i..i + 4].try_into().unwrap()
    }

    #[test]
    fn the_title_counts_linked_accounts_in_words() {
        assert_eq!(title(&[]), "Pixy — no accounts linked");
        assert_eq!(title(&[account("ada", AccountStatus::Connected)]), "Pixy — 1 account linked");
        let two = [account("ada", AccountStatus::Connected), account("bob", AccountStatus::Connected)];
        assert_eq!(title(&two), "Pixy — 2 accounts linked", "plural from two on");
    }

    #[test]
    fn an_account_that_needs_relinking_shows_in_title_status_and_tooltip() {
        let t = tray(vec![account("ada", AccountStatus::Connected), account("bob", AccountStatus::NeedsRelink)]);
        assert_eq!(t.title(), "Pixy — 2 accounts linked, 1 needs relinking");
        assert_eq!(t.status(), Status::NeedsAttention, "hosts highlight an item that needs attention");
        assert_eq!(t.tool_tip().description, "bob: Needs relink", "the tooltip names who needs relinking");
    }

    #[test]
    fn the_menu_opens_the_window_lists_accounts_disabled_and_quits_last() {
        let t = tray(vec![account("ada@example.com", AccountStatus::Connected)]);
        let labels: Vec<(String, bool)> = t
            .menu()
            .into_iter()
            .map(|item| match item {
                MenuItem::Standard(s) => (s.label, s.enabled),
                MenuItem::Separator => ("---".into(), false),
                _ => ("?".into(), false),
            })
            .collect();
        let expected = [
            ("Open Pixy", true),
            ("---", false),
            ("ada@example.com — Connected", false),
            ("Link an account…", true),
            ("---", false),
            ("Quit", true),
        ];
        let expected: Vec<(String, bool)> = expected.iter().map(|(l, e)| (l.to_string(), *e)).collect();
        assert_eq!(labels, expected, "accounts are reported, not acted on, from the tray");
    }

    #[tokio::test]
    async fn quit_tells_the_daemon_to_stop() {
        let mut t = tray(Vec::new());
        let quit = t.quit.clone();
        let item = t.menu().pop().expect("a last item");
        let MenuItem::Standard(item) = item else { panic!("Quit must be a plain item") };
        assert_eq!(item.label, "Quit");
        (item.activate)(&mut t);
        let heard = tokio::time::timeout(std::time::Duration::from_secs(1), quit.notified()).await;
        assert!(heard.is_ok(), "Quit must notify the daemon's quit signal");
    }

    #[test]
    fn the_icon_is_argb32_with_transparent_corners_white_rings_and_an_indigo_ground() {
        for size in [22, 32, 40] {
            let icon = pixmap::draw(size, pixmap::Badge::None);
            assert_eq!(icon.data.len(), (size * size * 4) as usize, "ARGB32 is four bytes a pixel");
            assert_eq!(pixel(&icon, 0, 0)[0], 0, "the rounded corner is transparent at {size} px");
            // The left ring's leftmost stroke: x = 25 - 12 = 13 of 64, at mid height.
            let s = size as f32 / 64.0;
            let ring = pixel(&icon, (13.0 * s) as i32, (32.0 * s) as i32);
            let white = ring[1] > 200 && ring[2] > 200 && ring[3] > 200;
            assert!(white, "ring must be white at {size} px, got {ring:?}");
            let ground = pixel(&icon, (6.0 * s) as i32, (32.0 * s) as i32);
            assert_eq!(ground[0], 255, "the ground is opaque");
            assert!(ground[3] > 180 && ground[1] < 120 && ground[2] < 120, "the ground is indigo, got {ground:?}");
        }
    }

    #[test]
    fn the_attention_icon_carries_an_amber_dot_and_an_error_a_red_one() {
        let dot = |badge| pixel(&pixmap::draw(32, badge), 26, 6);
        let amber = dot(pixmap::Badge::Attention);
        assert!(amber[1] > 200 && amber[2] > 120 && amber[3] < 60, "amber in the top-right corner, got {amber:?}");
        let red = dot(pixmap::Badge::Error);
        assert!(red[1] > 200 && red[2] < 60 && red[3] < 60, "red for an error, got {red:?}");
    }

    #[test]
    fn the_dot_says_the_worst_status_and_the_tooltip_says_why() {
        let mut bob = account("bob", AccountStatus::NeedsRelink);
        bob.reason = Some("the provider refused the refresh token".into());
        assert_eq!(tray(vec![account("ada", AccountStatus::Connected)]).badge(), pixmap::Badge::None);
        let attention = tray(vec![account("ada", AccountStatus::Connected), bob.clone()]);
        assert_eq!(attention.badge(), pixmap::Badge::Attention);
        assert_eq!(attention.tool_tip().description, "bob: Needs relink — the provider refused the refresh token");
        let error = tray(vec![bob, account("cy", AccountStatus::Error)]);
        assert_eq!(error.badge(), pixmap::Badge::Error, "an error outweighs a relink");
        assert_eq!(error.status(), Status::NeedsAttention);
    }
}
