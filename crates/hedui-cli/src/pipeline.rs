//! `hedui run` and `hedui demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(long, default_value = "pipelines/nightly.toml")]
    pub pipeline: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Working directory of the demo.
    #[arg(long, default_value = "hedui-data/demo")]
    pub dir: PathBuf,
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    bail!("run is not built yet ({})", a.pipeline.display())
}

pub fn demo(a: DemoArgs) -> Result<ExitCode> {
    bail!("demo is not built yet ({})", a.dir.display())
}
