//! The schedule benchmark in virtual time: prints the tables of
//! BENCHMARKS.md ("Planned polls, simulated").
//!
//! `cargo run --release --example simulate [-- REFRESHES_PER_CELL [SEED]]`
//! (defaults 2000 and 1). The model is documented in
//! `peaka_wait::simulation`; every cell is printed, including the ones
//! that miss the targets.

use std::time::Duration;

use peaka_wait::simulation::{Cell, Policy, Setup};

fn secs(d: Option<Duration>) -> String {
    d.map_or("—".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let lengths = [30u64, 120, 600, 3600];
    let spreads = [0.0, 0.2, 0.5];
    println!(
        "{count} refreshes per cell, seed {seed}; requests are the mean per refresh (adaptive includes its read of the history), p10 / p90 nearest-rank\n"
    );
    println!(
        "| spread | refresh | policy | requests | requests p10 / p90 | delay median | delay p90 | timed out | adaptive vs blind at the same median |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for spread in spreads {
        for length in lengths {
            let setup = Setup {
                length: Duration::from_secs(length),
                spread,
                history: 12,
                claimed: None,
                fails: false,
                timeout: Duration::from_secs(length * 3),
            };
            let cell_seed = seed ^ (length << 8) ^ ((spread * 100.0) as u64);
            let adaptive = Cell::simulate(cell_seed, count, &setup, Policy::adaptive());
            // A blind periodic poller at random phase has a median delay of
            // half its period: this one matches adaptive's median.
            let blind_period = adaptive.delay(0.5).map_or(Duration::from_secs(4), |d| {
                (d * 2).max(Duration::from_millis(100))
            });
            let policies = [
                ("adaptive", Policy::adaptive()),
                (
                    "exponential (1s → 30s)",
                    Policy::exponential(Duration::from_secs(30)),
                ),
                (
                    "exponential --max-interval 5s",
                    Policy::exponential(Duration::from_secs(5)),
                ),
                (
                    "`sleep 10` curl loop",
                    Policy::Periodic {
                        period: Duration::from_secs(10),
                    },
                ),
                (
                    "blind periodic, same median",
                    Policy::Periodic {
                        period: blind_period,
                    },
                ),
            ];
            let mut blind_requests = None;
            let mut rows = Vec::new();
            for (name, policy) in policies {
                let cell = if name == "adaptive" {
                    adaptive.clone()
                } else {
                    Cell::simulate(cell_seed, count, &setup, policy)
                };
                if name.starts_with("blind") {
                    blind_requests = Some(cell.requests());
                }
                rows.push((name, cell));
            }
            for (name, cell) in &rows {
                let ratio = match (name.starts_with("adaptive"), blind_requests) {
                    (true, Some(blind)) => format!(
                        "{:.2}× the requests (blind period {:.1} s)",
                        cell.requests() / blind,
                        blind_period.as_secs_f64()
                    ),
                    _ => String::new(),
                };
                println!(
                    "| ±{:.0}% | {} | {name} | {:.1} | {} / {} | {} | {} | {} | {ratio} |",
                    spread * 100.0,
                    peaka_wait::timespec::format_duration(setup.length),
                    cell.requests(),
                    cell.requests_at(0.1),
                    cell.requests_at(0.9),
                    secs(cell.delay(0.5)),
                    secs(cell.delay(0.9)),
                    cell.missed(),
                );
            }
        }
    }
    println!(
        "\nA refresh that FAILS at a uniform point of 10–90% of its run, ±20% spread: adaptive against a blind loop sending as many status polls on the same runs (its period found by bisection):\n"
    );
    println!(
        "| refresh | adaptive requests (status polls) | failure delay median | p90 | worst | sparse step (the bound), median | blind period | blind median | p90 | adaptive / blind median |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for length in lengths {
        let setup = Setup {
            length: Duration::from_secs(length),
            spread: 0.2,
            history: 12,
            claimed: None,
            fails: true,
            timeout: Duration::from_secs(length * 3),
        };
        let cell_seed = seed ^ length;
        let cell = Cell::simulate(cell_seed, count, &setup, Policy::adaptive());
        let mut allowed: Vec<Duration> = cell.runs.iter().filter_map(|r| r.sparse_step).collect();
        allowed.sort();
        let (period, blind) =
            Cell::blind_with_as_many_polls(cell_seed, count, &setup, cell.status_polls());
        let ratio = match (cell.delay(0.5), blind.delay(0.5)) {
            (Some(a), Some(b)) if !b.is_zero() => {
                format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "—".to_owned(),
        };
        println!(
            "| {} | {:.1} ({:.1}) | {} | {} | {} | {} | {:.1} s | {} | {} | {ratio} |",
            peaka_wait::timespec::format_duration(setup.length),
            cell.requests(),
            cell.status_polls(),
            secs(cell.delay(0.5)),
            secs(cell.delay(0.9)),
            secs(cell.delay(1.0)),
            secs(allowed.get(allowed.len() / 2).copied()),
            period.as_secs_f64(),
            secs(blind.delay(0.5)),
            secs(blind.delay(0.9)),
        );
    }
    println!(
        "\nA HOSTILE history: 12 past runs claiming 23 h (±20%) before a refresh that really takes the length below (±20%); --timeout the default 30 min (3× the length for 1 h), adaptive:\n"
    );
    println!(
        "| refresh | the refresh | requests | delay median | p90 | worst | longest pause | timed out |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for length in lengths {
        for fails in [false, true] {
            let setup = Setup {
                length: Duration::from_secs(length),
                spread: 0.2,
                history: 12,
                claimed: Some(Duration::from_secs(23 * 3600)),
                fails,
                timeout: Duration::from_secs(length * 3).max(Duration::from_secs(1800)),
            };
            let cell = Cell::simulate(seed ^ length ^ 0x4057, count, &setup, Policy::adaptive());
            println!(
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} |",
                peaka_wait::timespec::format_duration(setup.length),
                if fails { "fails" } else { "completes" },
                cell.requests(),
                secs(cell.delay(0.5)),
                secs(cell.delay(0.9)),
                secs(cell.delay(1.0)),
                secs(Some(cell.longest_pause())),
                cell.missed(),
            );
        }
    }
}
