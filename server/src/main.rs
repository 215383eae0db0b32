use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = vitrine::cli::Cli::parse();
    vitrine::cli::run(cli)
}
