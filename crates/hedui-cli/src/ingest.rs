//! `hedui ingest` and `hedui daemon`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The pipeline file (e.g. pipelines/nightly.toml).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// Pull only this source.
    #[arg(long)]
    pub source: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The pipeline file (e.g. pipelines/nightly.toml).
    #[arg(long)]
    pub pipeline: PathBuf,
}

pub fn ingest(a: IngestArgs) -> Result<ExitCode> {
    bail!("ingest is not built yet ({})", a.pipeline.display())
}

pub fn daemon(a: DaemonArgs) -> Result<ExitCode> {
    bail!("daemon is not built yet ({})", a.pipeline.display())
}
