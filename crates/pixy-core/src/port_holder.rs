//! Who holds a TCP port on the loopback interface, for the "port busy" message.
//!
//! Linux only (from /proc/net/tcp{,6} and /proc/PID/fd); elsewhere, and when /proc does not tell
//! (another user's process), the message simply names the port.

/// A description of the listening holder of `port`, e.g. `pid 4242 (python3)`.
pub fn describe(port: u16) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::describe(port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    pub fn describe(port: u16) -> Option<String> {
        let inode = listening_inode(port)?;
        let target = format!("socket:[{inode}]");
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
            let holds =
                fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()));
            if holds {
                if pid == std::process::id() {
                    return Some("this Pixy process (an earlier sign-in still waiting?)".to_string());
                }
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
        None
    }

    /// The socket inode listening on `port`, from the kernel's TCP tables.
    fn listening_inode(port: u16) -> Option<u64> {
        const LISTEN: &str = "0A";
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else { continue };
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                    continue;
                };
                let local_port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
                if local_port == Some(port) && *state == LISTEN {
                    if let Ok(inode) = inode.parse() {
                        return Some(inode);
                    }
                }
            }
        }
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_port_held_by_this_process_is_named_as_such() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let who = super::describe(port).expect("/proc names the holder");
        assert!(who.contains("Pixy"), "this process is the holder: {who}");
    }

    #[test]
    fn a_free_port_has_no_holder() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(super::describe(port), None);
    }
}
