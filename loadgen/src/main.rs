//! `switchboard-loadgen`: `run` scenarios against a spawned or existing Switchboard and
//! report (summary table, `--json`, `--html`, `--svg`); `compare` two JSON results (exit 1 on
//! a regression beyond the tolerance, 2 on unreadable input).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use switchboard_loadgen::cli::{Cli, Command, CompareArgs, RunArgs};
use switchboard_loadgen::{compare, report, run};

/// mimalloc, as `switchboard serve` uses: the loadgen's CPU per setup is what bounds a run
/// on one machine.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Compare(a) => compare_cmd(&a),
        Command::Run(a) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("switchboard-loadgen: runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run_cmd(*a)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard-loadgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run_cmd(args: RunArgs) -> Result<(), switchboard_loadgen::LoadgenError> {
    let opts = run::target_options(&args)?;
    let output = args.output.clone();
    let result = run::run(args, opts).await?;
    print!("{}", report::table::summary(&result));
    if let Some(p) = &output.json {
        report::write_json(p, &result)?;
        println!("results written to {}", p.display());
    }
    for p in report::write_extras(output.html.as_deref(), output.svg.as_deref(), &result)? {
        println!("report written to {}", p.display());
    }
    Ok(())
}

fn compare_cmd(a: &CompareArgs) -> ExitCode {
    let (base, new) = match (report::read_json(&a.base), report::read_json(&a.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("switchboard-loadgen compare: {e}");
            return ExitCode::from(2);
        }
    };
    let c = compare::compare(&base, &new, a.tolerance);
    print!("{}", c.table());
    if c.regressed() {
        println!("regression beyond {:.1}%", a.tolerance * 100.0);
        ExitCode::from(1)
    } else {
        println!("no regression beyond {:.1}%", a.tolerance * 100.0);
        ExitCode::SUCCESS
    }
}
