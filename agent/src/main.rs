use std::process::ExitCode;

use clap::Parser;

/// The slim binary for build machines: the agent's subcommands of `vitrine`, nothing else.
#[derive(Debug, Parser)]
#[command(name = "vitrine-agent", version, about = "Stores a build's artifacts in Vitrine")]
struct Cli {
    #[command(subcommand)]
    command: vitrine_agent::AgentCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    vitrine_agent::init_tracing("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vitrine-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.command.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vitrine-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
