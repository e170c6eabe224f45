//! The run's figures as `bench/results.json` and as the server section of `BENCHMARKS.md`, each
//! figure beside its peer with the ratio (above 1: Baton did better).

use std::path::Path;

use anyhow::Context;

use crate::stats::{higher_is_better, Figure};

const START: &str = "<!-- bench:server:start -->";
const END: &str = "<!-- bench:server:end -->";

/// Fills in every figure's ratio to its baseline.
pub fn with_ratios(figures: &[Figure]) -> Vec<Figure> {
    figures
        .iter()
        .map(|figure| {
            let mut figure = figure.clone();
            figure.ratio = figure.baseline.as_ref().and_then(|baseline| {
                let peer = figures.iter().find(|f| &f.name == baseline)?;
                let ratio = if higher_is_better(&figure.unit) {
                    figure.value / peer.value
                } else {
                    peer.value / figure.value
                };
                ratio.is_finite().then_some(ratio)
            });
            figure
        })
        .collect()
}

pub fn print(figures: &[Figure], notes: &[String]) {
    for figure in with_ratios(figures) {
        match (&figure.baseline, figure.ratio) {
            (Some(baseline), Some(ratio)) => eprintln!(
                "{:<44} {:>10.2} {:<9} {:.2}× {baseline}",
                figure.name, figure.value, figure.unit, ratio
            ),
            _ => eprintln!("{:<44} {:>10.2} {}", figure.name, figure.value, figure.unit),
        }
    }
    for note in notes {
        eprintln!("note: {note}");
    }
}

/// Writes `bench/results.json` and replaces the server section of `BENCHMARKS.md`.
pub fn write(
    out: &Path,
    figures: &[Figure],
    notes: &[String],
    command: &str,
) -> anyhow::Result<()> {
    let figures = with_ratios(figures);
    let results = out.join("bench/results.json");
    std::fs::create_dir_all(results.parent().unwrap_or(out))?;
    std::fs::write(&results, serde_json::to_string_pretty(&figures)? + "\n")
        .with_context(|| format!("cannot write {}", results.display()))?;
    let path = out.join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let section = markdown(&figures, notes, command);
    let updated = match (existing.find(START), existing.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!(
                "{}{section}{}",
                &existing[..start],
                &existing[end + END.len()..]
            )
        }
        _ => {
            // First run: the section goes right after the title and its introduction.
            let at = existing.find("\n## ").map_or(existing.len(), |i| i + 1);
            format!("{}{section}\n\n{}", &existing[..at], &existing[at..])
        }
    };
    std::fs::write(&path, updated).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {} and {}", path.display(), results.display());
    Ok(())
}

fn markdown(figures: &[Figure], notes: &[String], command: &str) -> String {
    let mut text = String::new();
    text.push_str(START);
    text.push_str("\n## Sync server beside its peers (written by the bench tool)\n\n");
    text.push_str(&format!("Command: `{command}` · {}\n\n", machine()));
    text.push_str("| figure | value | peer | peer value | ratio (> 1: Baton better) |\n|---|---|---|---|---|\n");
    for figure in figures {
        let peer = figure
            .baseline
            .as_ref()
            .and_then(|b| figures.iter().find(|f| &f.name == b));
        text.push_str(&format!(
            "| {} | {} {} | {} | {} | {} |\n",
            figure.name,
            round(figure.value),
            figure.unit,
            peer.map_or(String::new(), |p| p.name.clone()),
            peer.map_or(String::new(), |p| format!("{} {}", round(p.value), p.unit)),
            figure
                .ratio
                .map_or(String::new(), |r| format!("**{r:.2}×**")),
        ));
    }
    for note in notes {
        text.push_str(&format!("\nNote: {note}\n"));
    }
    text.push_str(END);
    text
}

fn round(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{date} · {cores} cores ({cpu}) · server on core 0, load driver on core 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_say_how_baton_compares_whichever_way_is_better() {
        let mut rate = Figure::new("baton.rate", 500.0, "cycles/s");
        rate.baseline = Some("peer.rate".into());
        let mut p99 = Figure::new("baton.p99", 4.0, "ms");
        p99.baseline = Some("peer.p99".into());
        let figures = vec![
            rate,
            p99,
            Figure::new("peer.rate", 1000.0, "cycles/s"),
            Figure::new("peer.p99", 2.0, "ms"),
        ];
        let with = with_ratios(&figures);
        assert_eq!(with[0].ratio, Some(0.5));
        assert_eq!(with[1].ratio, Some(0.5));
        assert_eq!(with[2].ratio, None);
    }
}
