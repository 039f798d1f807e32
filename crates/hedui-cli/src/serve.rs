//! `hedui serve` and `hedui users`.

use std::process::ExitCode;

use anyhow::{Result, bail};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user.
    Add {
        /// Login name.
        name: String,
    },
}

pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    bail!("serve is not built yet ({})", a.listen)
}

pub fn users(c: UsersCommand) -> Result<ExitCode> {
    match c {
        UsersCommand::Add { name } => bail!("users are not built yet ({name})"),
    }
}
