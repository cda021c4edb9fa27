//! `pixy man-pages DIR` (hidden): writes `pixy.1` and one `pixy-SUBCOMMAND.1` per subcommand,
//! rendered from the clap definitions that parse the command line, so the manual cannot drift
//! from them. `make package` runs it and the packages ship the pages.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

/// Arguments of `pixy man-pages`.
#[derive(Args)]
pub struct ManPagesArgs {
    /// The directory to write the pages into (created when missing).
    dir: PathBuf,
}

/// Writes the pages, or says which one could not be written.
pub fn run(args: ManPagesArgs, command: clap::Command) -> ExitCode {
    match write_pages(&args.dir, command) {
        Ok(written) => {
            for page in written {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pixy man-pages: {e}");
            ExitCode::from(1)
        }
    }
}

fn write_pages(dir: &Path, command: clap::Command) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let command = command.version(env!("CARGO_PKG_VERSION"));
    let mut written = vec![write_page(dir, "pixy", command.clone())?];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("pixy-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `pixy-link`, as git's pages do; the version is the
        // parent's, which clap does not hand down.
        let page = sub
            .clone()
            .display_name(&name)
            .bin_name(format!("pixy {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        written.push(write_page(dir, &name, page)?);
    }
    Ok(written)
}

fn write_page(dir: &Path, name: &str, command: clap::Command) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    std::fs::write(&path, page)?;
    Ok(path)
}
