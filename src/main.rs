//! The `manifold` binary: parse the command line, hand over to the library
//! (which starts the async runtime once the settings are read).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    manifold::cli::Cli::parse().run()
}
