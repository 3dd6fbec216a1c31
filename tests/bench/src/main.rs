//! `parasol-bench`: measures Parasol against a minimal relay in the same
//! run, on the same machine, and writes a results file and a report.
//!
//! `parasol-bench all` runs every scenario against both baseline modes and
//! parasol-server, back to back; `--smoke` makes it small and quick (it
//! checks that everything works, not the numbers).

mod baseline;
mod groups;
mod idle;
mod intake;
mod load;
mod machine;
mod report;
mod scenarios;
mod servers;
mod slow;
mod storm;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Parasol benchmarks: every scenario against a baseline relay and parasol-server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario (a–f) against the baselines and Parasol.
    All(scenarios::Options),
    /// Run the baseline relay (used by `all`; it starts it as a child).
    Baseline {
        #[arg(long, value_enum)]
        mode: baseline::Mode,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::All(options) => runtime.block_on(scenarios::all(options)),
        Command::Baseline { mode, listen, data_dir } => runtime.block_on(baseline::serve(mode, listen, data_dir)),
    }
}
