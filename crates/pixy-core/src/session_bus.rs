//! What the desktop session's D-Bus says about the keyring and the tray, for `pixy doctor`.
//!
//! - The keyring: whether the Secret Service (`org.freedesktop.secrets`) is owned or activatable
//!   on the session bus, and whether its default collection
//!   (`/org/freedesktop/secrets/aliases/default`) is locked, from its `Locked` property.
//! - The tray: whether a StatusNotifier watcher (`org.kde.StatusNotifierWatcher`) is on the bus,
//!   and its `IsStatusNotifierHostRegistered` property.
//!
//! Invariants: read-only. Only names and properties are read: nothing is unlocked, created or
//! prompted for, and no secret is asked for. A property read may start an activatable Secret
//! Service, as any keyring client would. Each probe opens its own connection and drops it; the
//! caller bounds the time (a bus that does not answer must not hang doctor).

use crate::doctor::{KeyringState, TrayState};

/// The Secret Service's well-known bus name.
pub const SECRET_SERVICE: &str = "org.freedesktop.secrets";
const DEFAULT_COLLECTION: &str = "/org/freedesktop/secrets/aliases/default";
const COLLECTION_INTERFACE: &str = "org.freedesktop.Secret.Collection";
/// The StatusNotifier watcher's well-known bus name.
pub const TRAY_WATCHER: &str = "org.kde.StatusNotifierWatcher";
const TRAY_WATCHER_PATH: &str = "/StatusNotifierWatcher";

/// The backend's name in words.
pub const BACKEND: &str = "Secret Service over D-Bus";

/// Asks the session bus about the Secret Service and its default collection.
pub async fn keyring() -> KeyringState {
    let mut state =
        KeyringState { backend: BACKEND.into(), running: false, reachable: false, unlocked: None, detail: None };
    let conn = match zbus::Connection::session().await {
        Ok(conn) => conn,
        Err(e) => {
            state.detail = Some(no_bus(&e));
            return state;
        }
    };
    match name_state(&conn, SECRET_SERVICE).await {
        Ok((owned, activatable)) => {
            state.running = owned;
            state.reachable = owned || activatable;
        }
        Err(e) => {
            state.detail = Some(format!("the session bus did not answer: {e}"));
            return state;
        }
    }
    if !state.reachable {
        return state;
    }
    match property::<bool>(&conn, SECRET_SERVICE, DEFAULT_COLLECTION, COLLECTION_INTERFACE, "Locked").await {
        Ok(locked) => state.unlocked = Some(!locked),
        Err(e) => state.detail = Some(format!("its default collection could not be read: {e}")),
    }
    state
}

/// Asks the session bus about a StatusNotifier watcher and host.
pub async fn tray() -> TrayState {
    let mut state = TrayState { watcher: false, host_registered: None, detail: None };
    let conn = match zbus::Connection::session().await {
        Ok(conn) => conn,
        Err(e) => {
            state.detail = Some(no_bus(&e));
            return state;
        }
    };
    match name_state(&conn, TRAY_WATCHER).await {
        Ok((owned, _)) => state.watcher = owned,
        Err(e) => {
            state.detail = Some(format!("the session bus did not answer: {e}"));
            return state;
        }
    }
    if state.watcher {
        match property::<bool>(&conn, TRAY_WATCHER, TRAY_WATCHER_PATH, TRAY_WATCHER, "IsStatusNotifierHostRegistered")
            .await
        {
            Ok(registered) => state.host_registered = Some(registered),
            Err(e) => state.detail = Some(format!("the watcher did not say whether a host is registered: {e}")),
        }
    }
    state
}

fn no_bus(e: &zbus::Error) -> String {
    match std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        Some(_) => format!("the session bus cannot be reached: {e}"),
        None => format!("no session bus (DBUS_SESSION_BUS_ADDRESS is not set): {e}"),
    }
}

/// Whether `name` is owned now, and whether the bus can start it.
async fn name_state(conn: &zbus::Connection, name: &str) -> zbus::Result<(bool, bool)> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    let bus_name = zbus::names::BusName::try_from(name)?;
    let owned = dbus.name_has_owner(bus_name).await?;
    let activatable = !owned && dbus.list_activatable_names().await?.iter().any(|n| n.as_str() == name);
    Ok((owned, activatable))
}

/// One property, read now (no cache, no signal subscription).
async fn property<T>(conn: &zbus::Connection, dest: &str, path: &str, interface: &str, name: &str) -> zbus::Result<T>
where
    T: TryFrom<zbus::zvariant::OwnedValue>,
    T::Error: Into<zbus::Error>,
{
    let proxy: zbus::Proxy<'_> = zbus::proxy::Builder::new(conn)
        .destination(dest.to_owned())?
        .path(path.to_owned())?
        .interface(interface.to_owned())?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    proxy.get_property::<T>(name).await
}
