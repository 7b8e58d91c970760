//! The `pxebake` binary: parse arguments, run one command, print errors once, pick the exit code.

use std::process::ExitCode;

use clap::Parser as _;
use pxebake::bake::{self, paint, Ui};
use pxebake::cli::{Cli, Command};
use pxebake::diag::Invalid;
use pxebake::names::terminal_safe;

/// The system allocator, with each template rendering's memory counted (see `render::runaway`).
struct Counting;

// SAFETY: every call goes to the system allocator unchanged; only sizes are counted.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if !pxebake::render::runaway::heap_grow(layout.size() as isize) {
            pxebake::render::runaway::heap_exceeded();
        }
        std::alloc::System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        pxebake::render::runaway::heap_grow(-(layout.size() as isize));
        std::alloc::System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if !pxebake::render::runaway::heap_grow(new_size as isize - layout.size() as isize) {
            pxebake::render::runaway::heap_exceeded();
        }
        std::alloc::System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let ui = Ui { quiet: cli.quiet, output: cli.output };
    // Ctrl-C asks long work to stop cleanly; out/ is then left as it was.
    let _ = ctrlc::set_handler(|| bake::STOP.store(true, std::sync::atomic::Ordering::SeqCst));
    // A template looping without writing cannot be stopped from outside its rendering: end the
    // process (rendering comes before any write, so nothing is half written).
    let json = ui.output == pxebake::cli::Output::Json;
    pxebake::render::runaway::report_as_json(json);
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if let Some(msg) = pxebake::render::runaway::overdue() {
            if json {
                println!("{}", serde_json::json!({ "ok": false, "error": msg, "exit": 2 }));
            }
            eprintln!("error: {}", pxebake::names::terminal_safe(&msg, false));
            std::process::exit(2);
        }
    });
    let result = match &cli.command {
        Command::Build(a) => bake::build(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Check(a) => bake::check(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::List { what, selector, interface_selector, inventory } => {
            bake::list(*what, selector.as_deref(), interface_selector.as_deref(), inventory, &ui)
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Set { field, selector, value, installed_from, inventory } => {
            bake::set(*field, selector, value.as_deref(), installed_from, inventory, &ui).map(|()| ExitCode::SUCCESS)
        }
        Command::Events { logs, inventory } => bake::events(logs, inventory, &ui).map(|()| ExitCode::SUCCESS),
        Command::Discover { logs, appliance, network, rack, inventory } => {
            let at = pxebake::discover::Placement { appliance, network, rack: *rack };
            bake::discover(logs, &at, inventory, &ui).map(|()| ExitCode::SUCCESS)
        }
        Command::Import { kind } => bake::import(kind, &ui).map(|()| ExitCode::SUCCESS),
        Command::Validate { kind } => bake::validate(kind, &ui).map(|()| ExitCode::SUCCESS),
        Command::Butane(a) => bake::butane(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Fetch(a) => bake::fetch(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Deploy(a) => bake::deploy(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Loaders(a) => bake::loaders(a, &ui).map(|()| ExitCode::SUCCESS),
        Command::Diff(a) => {
            bake::diff(a, &ui).map(|changed| if changed && a.exit_code { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e, &ui, matches!(cli.command, Command::Build(_))),
    }
}

/// Bad usage exits 2; with `--output json` anywhere in the arguments, as a JSON error too.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !wants_json() {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
    println!("{}", serde_json::json!({ "ok": false, "error": first, "exit": 2 }));
    eprint!("{text}");
    ExitCode::from(2)
}

fn wants_json() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--output=json") || args.windows(2).any(|w| w[0] == "--output" && w[1] == "json")
}

/// Prints the error chain once; invalid input exits 2, every other failure 1. With `--output
/// json`, standard output gets one JSON object saying so (`ok: false`).
fn report(e: &anyhow::Error, ui: &Ui, writes: bool) -> ExitCode {
    let json = ui.output == pxebake::cli::Output::Json;
    if let Some(invalid) = e.downcast_ref::<Invalid>() {
        if json {
            let n = invalid.0.len();
            let error = format!("{n} problem{} found", if n == 1 { "" } else { "s" });
            println!("{}", serde_json::json!({ "ok": false, "error": error, "exit": 2, "problems": invalid.0 }));
        }
        // A systematic mistake can hit every host: show enough to act on, count the rest.
        const SHOWN: usize = 100;
        for d in invalid.0.iter().take(SHOWN) {
            let (label, color) = if d.is_error() { ("error:", "31") } else { ("warning:", "33") };
            eprintln!("{} {}", paint(label, color), terminal_safe(&d.to_string(), false));
        }
        if invalid.0.len() > SHOWN {
            eprintln!("... and {} more (all of them with --output json)", invalid.0.len() - SHOWN);
        }
        let n = invalid.0.iter().filter(|d| d.is_error()).count();
        let warned = invalid.0.len() - n;
        if n == 0 {
            eprintln!("{warned} warning{} denied (--deny-warnings)", if warned == 1 { "" } else { "s" });
            return ExitCode::from(2);
        }
        let note = if writes { "; nothing was written" } else { "" };
        eprintln!("{n} problem{} found{note}", if n == 1 { "" } else { "s" });
        return ExitCode::from(2);
    }
    if json {
        println!("{}", serde_json::json!({ "ok": false, "error": format!("{e:#}"), "exit": 1 }));
    }
    eprint!("{} {}", paint("error:", "31"), terminal_safe(&e.to_string(), true));
    for cause in e.chain().skip(1) {
        eprint!(": {}", terminal_safe(&cause.to_string(), true));
    }
    eprintln!();
    ExitCode::from(1)
}
