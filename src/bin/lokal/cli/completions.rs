//! `lokal completions SHELL` and the hidden `lokal man DIR`, both generated
//! from the clap definition so they never drift from the real flags.
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, ValueEnum};

use super::exit::ExitCode;

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// bash
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}

/// Arguments of `lokal completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: Shell,
}

/// Arguments of `lokal man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write `lokal.1` and one page per subcommand into
    pub dir: PathBuf,
}

/// Prints the completion script.
pub fn run(a: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = super::Cli::command();
    // clap_complete panics when its writer fails: generate into memory, and
    // let a closed stdout be an ordinary write error.
    let mut out = Vec::new();
    match a.shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "lokal", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "lokal", &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "lokal", &mut out)
        }
    }
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(ExitCode::Ok)
}

/// Writes the man pages.
pub fn run_man(a: &ManArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let cmd = super::Cli::command();
    clap_mangen::generate_to(cmd, &a.dir)
        .with_context(|| format!("writing man pages to {}", a.dir.display()))?;
    Ok(ExitCode::Ok)
}
