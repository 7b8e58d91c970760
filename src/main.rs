//! The `pxebake` binary: parse arguments, run one command, print errors once, pick the exit code.

use std::process::ExitCode;

use clap::Parser as _;
use pxebake::bake::{self, paint, Ui};
use pxebake::cli::{Cli, Command};
use pxebake::diag::Invalid;
use pxebake::names::terminal_safe;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui { quiet: cli.quiet, output: cli.output };
    // Ctrl-C asks long work to stop cleanly; out/ is then left as it was.
    let _ = ctrlc::set_handler(|| bake::STOP.store(true, std::sync::atomic::Ordering::SeqCst));
    let result = match &cli.command {
        Command::Build(a) => bake::build(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Check(a) => bake::check(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::List { what, selector, inventory } => {
            bake::list(*what, selector.as_deref(), inventory, &ui).map(|()| ExitCode::SUCCESS)
        }
        Command::Set { field, selector, value, inventory } => {
            bake::set(*field, selector, value, inventory, &ui).map(|()| ExitCode::SUCCESS)
        }
        Command::Import { kind } => bake::import(kind, &ui).map(|()| ExitCode::SUCCESS),
        Command::Validate { kind } => bake::validate(kind).map(|()| {
            ui.say("ok");
            ExitCode::SUCCESS
        }),
        Command::Fetch(a) => pxebake::images::fetch(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Diff(a) => {
            bake::diff(a, &ui).map(|changed| if changed && a.exit_code { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e, &ui, matches!(cli.command, Command::Build(_))),
    }
}

/// Prints the error chain once; invalid input exits 2, every other failure 1.
fn report(e: &anyhow::Error, ui: &Ui, writes: bool) -> ExitCode {
    if let Some(invalid) = e.downcast_ref::<Invalid>() {
        if ui.output == pxebake::cli::Output::Json {
            println!("{}", serde_json::json!({ "ok": false, "problems": invalid.0 }));
        }
        // A systematic mistake can hit every host: show enough to act on, count the rest.
        const SHOWN: usize = 100;
        for d in invalid.0.iter().take(SHOWN) {
            eprintln!("{} {}", paint("error:", "31"), terminal_safe(&d.to_string(), false));
        }
        if invalid.0.len() > SHOWN {
            eprintln!("... and {} more (all of them with --output json)", invalid.0.len() - SHOWN);
        }
        let n = invalid.0.len();
        let note = if writes { "; nothing was written" } else { "" };
        eprintln!("{n} problem{} found{note}", if n == 1 { "" } else { "s" });
        return ExitCode::from(2);
    }
    eprint!("{} {}", paint("error:", "31"), terminal_safe(&e.to_string(), true));
    for cause in e.chain().skip(1) {
        eprint!(": {}", terminal_safe(&cause.to_string(), true));
    }
    eprintln!();
    ExitCode::from(1)
}
