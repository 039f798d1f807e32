//! `hedui simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The synthetic city directory (output of `hedui synth`).
    #[arg(long)]
    pub data: PathBuf,
}

pub fn simulate(a: SimulateArgs) -> Result<ExitCode> {
    bail!("simulate is not built yet ({})", a.data.display())
}
