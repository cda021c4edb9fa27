//! Who is asking: the program behind a client of the daemon's socket, found from the kernel
//! (the peer's pid from SO_PEERCRED, then /proc), never from anything the client says.
//!
//! The requesting program is the nearest ancestor of the connecting process that is neither
//! Pixy itself nor a shell: git, claude, or a script's interpreter with the script. A shell that
//! runs a script file counts as that script's interpreter; an interactive shell or `sh -c` is
//! passed through. Linux only (other systems name no program).
//!
//! Security: this tells which program asked, as far as the kernel knows it; it is no wall against
//! code that already runs as the same user, which can start any program it likes.

use std::path::Path;

/// A program that asked the daemon for something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The process that is the program.
    pub pid: u32,
    /// Its executable.
    pub exe: String,
    /// The script it runs, when it is an interpreter running one.
    pub script: Option<String>,
}

impl Program {
    /// The program in words: its executable, and its script.
    pub fn describe(&self) -> String {
        match &self.script {
            Some(script) => format!("{} {script}", self.exe),
            None => self.exe.clone(),
        }
    }

    /// The program by its file name, as a person knows it: the script's, else the executable's.
    pub fn name(&self) -> String {
        let path = self.script.as_deref().unwrap_or(&self.exe);
        Path::new(path).file_name().map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// Shells: passed through unless they run a script file.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "ash", "busybox", "tcsh", "csh"];

/// Interpreters whose first file argument is the program that runs.
const INTERPRETERS: &[&str] = &["python", "node", "perl", "ruby", "php", "lua", "deno", "bun", "java", "osascript"];

/// The program that asked, from the connecting process `pid`.
pub fn requester(pid: u32) -> Option<Program> {
    #[cfg(target_os = "linux")]
    {
        let own = std::fs::read_link("/proc/self/exe").ok();
        linux::requester(pid, own.as_deref())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// A process and when it started (in clock ticks since boot): together they name one process,
/// where a pid alone may be reused once it ends.
pub type Started = (u32, u64);

/// The process `pid` and its ancestors, nearest first, each with its start time; empty where the
/// system does not say (other than Linux).
pub fn lineage(pid: u32) -> Vec<Started> {
    #[cfg(target_os = "linux")]
    {
        linux::lineage(pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Vec::new()
    }
}

/// When the process `pid` started, to tell it from a later process given the same pid.
pub fn started(pid: u32) -> Option<Started> {
    #[cfg(target_os = "linux")]
    {
        linux::parent_and_start(std::path::Path::new(&format!("/proc/{pid}"))).map(|(_, start)| (pid, start))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The executable of the process `pid`.
pub fn executable(pid: u32) -> Option<std::path::PathBuf> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_link(format!("/proc/{pid}/exe")).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The executable file `name` (a bare name) is on PATH, as a shell would find it.
pub fn on_path(name: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| executable(p))
}

/// Whether an executable's name is one of `names`, versions included (`python3.11`).
fn named(exe: &str, names: &[&str]) -> bool {
    let base = Path::new(exe).file_name().and_then(|n| n.to_str()).unwrap_or("");
    names.iter().any(|n| {
        base == *n || base.strip_prefix(n).is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    })
}

/// The script an interpreter or shell runs: its first argument that is not an option and names a
/// file (relative ones against the process's working directory); `None` for `-c` and the like.
fn script_of(args: &[String], cwd: Option<&Path>) -> Option<String> {
    for arg in args.iter().skip(1) {
        if arg == "-c" || arg == "-e" || arg == "-m" || arg == "--eval" {
            return None;
        }
        if arg.starts_with('-') {
            continue;
        }
        let path = Path::new(arg);
        let full = match (path.is_absolute(), cwd) {
            (true, _) => path.to_path_buf(),
            (false, Some(cwd)) => cwd.join(path),
            (false, None) => return None,
        };
        return full.is_file().then(|| full.to_string_lossy().into_owned());
    }
    None
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::{Path, PathBuf};

    use super::{named, script_of, Program, INTERPRETERS, SHELLS};

    /// How far up the tree to look.
    const MAX_DEPTH: usize = 32;

    pub fn requester(pid: u32, own: Option<&Path>) -> Option<Program> {
        let mut pid = pid;
        for _ in 0..MAX_DEPTH {
            if pid <= 1 {
                return None;
            }
            let proc = PathBuf::from(format!("/proc/{pid}"));
            let exe = std::fs::read_link(proc.join("exe")).ok()?;
            let args = cmdline(&proc);
            let parent = ppid(&proc)?;
            let cwd = std::fs::read_link(proc.join("cwd")).ok();
            let exe_text = exe.to_string_lossy().trim_end_matches(" (deleted)").to_string();
            let is_pixy = own.is_some_and(|own| own == exe);
            if !is_pixy {
                let shell = named(&exe_text, SHELLS);
                let interpreter = shell || named(&exe_text, INTERPRETERS);
                let script = if interpreter { script_of(&args, cwd.as_deref()) } else { None };
                if !shell || script.is_some() {
                    return Some(Program { pid, exe: exe_text, script });
                }
            }
            pid = parent;
        }
        None
    }

    pub fn lineage(pid: u32) -> Vec<super::Started> {
        let mut found = Vec::new();
        let mut pid = pid;
        while pid > 1 && found.len() < MAX_DEPTH {
            let Some((parent, start)) = parent_and_start(&PathBuf::from(format!("/proc/{pid}"))) else { break };
            found.push((pid, start));
            pid = parent;
        }
        found
    }

    /// The parent's pid and the start time, from /proc/PID/stat.
    pub fn parent_and_start(proc: &Path) -> Option<(u32, u64)> {
        let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
        // After the command name (in parentheses, which may hold any character): the state is
        // field 3, the parent field 4 and the start time field 22.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
    }

    fn cmdline(proc: &Path) -> Vec<String> {
        std::fs::read(proc.join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ppid(proc: &Path) -> Option<u32> {
        parent_and_start(proc).map(|(parent, _)| parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_named_by_its_script_or_its_executable() {
        let git = Program { pid: 1, exe: "/usr/bin/git".into(), script: None };
        let job = Program { pid: 2, exe: "/usr/bin/python3.11".into(), script: Some("/home/a/job.py".into()) };
        assert_eq!((git.name().as_str(), job.name().as_str()), ("git", "job.py"));
    }

    #[test]
    fn interpreters_and_shells_are_known_by_name_with_their_versions() {
        assert!(named("/usr/bin/python3.11", INTERPRETERS) && named("/usr/bin/python3", INTERPRETERS));
        assert!(named("/bin/bash", SHELLS) && !named("/usr/bin/bashful", SHELLS));
        assert!(!named("/usr/bin/git", SHELLS) && !named("/usr/bin/git", INTERPRETERS));
    }

    #[test]
    fn the_script_is_the_first_file_argument_and_inline_code_is_none() {
        let dir = std::env::temp_dir().join(format!("pixy-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("job.py"), "").unwrap();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let expected = dir.join("job.py").to_string_lossy().into_owned();
        assert_eq!(script_of(&args(&["python3", "-u", "job.py", "x"]), Some(&dir)), Some(expected.clone()));
        assert_eq!(script_of(&args(&["python3", &expected]), None), Some(expected));
        assert_eq!(script_of(&args(&["bash", "-c", "pixy token x"]), Some(&dir)), None);
        assert_eq!(script_of(&args(&["bash"]), Some(&dir)), None, "an interactive shell runs no script");
        assert_eq!(script_of(&args(&["python3", "missing.py"]), Some(&dir)), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_script_run_by_an_interpreter_through_a_shell_is_the_requester() {
        use std::io::Read;
        let dir = std::env::temp_dir().join(format!("pixy-peer-tree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("asks.py");
        // The script starts a shell that prints its own pid and waits: the shell is "the client".
        std::fs::write(&script, "import subprocess\nsubprocess.run(['sh', '-c', 'echo $$; read x'])\n").unwrap();
        let mut child = std::process::Command::new("python3")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut pid = String::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            pid.push(byte[0] as char);
        }
        let found = requester(pid.trim().parse().unwrap());
        drop(child.stdin.take());
        let _ = child.wait();
        let found = found.expect("a requester is found");
        assert!(named(&found.exe, INTERPRETERS), "the interpreter, not the shell: {found:?}");
        assert_eq!(found.script.as_deref(), Some(script.to_string_lossy().as_ref()), "{found:?}");
        assert_eq!(found.pid, child.id(), "the python process is the program");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lineage_runs_from_the_process_up_through_its_parents_with_start_times() {
        let mine = lineage(std::process::id());
        assert_eq!(mine.first().map(|p| p.0), Some(std::process::id()), "it starts at the process itself");
        let parent = std::os::unix::process::parent_id();
        assert_eq!(mine.get(1).map(|p| p.0), Some(parent), "then its parent");
        assert_eq!(started(std::process::id()), mine.first().copied(), "the same start time twice");
        assert!(lineage(u32::MAX).is_empty(), "no such process");
    }
}
