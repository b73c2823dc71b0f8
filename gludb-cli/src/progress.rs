//! Progress on stderr: an indicatif bar on a terminal (records, bytes,
//! rate, ETA, a line per finished class), plain log lines when stderr is a
//! file or a pipe (a service's log does not want carriage returns), and
//! nothing with `--quiet`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use gludb_backup::{Progress, RestoreProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{Output, count, size};

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown.
enum Display {
    Bar(ProgressBar),
    Log { last: Instant },
    Off,
}

/// One progress report of a backup or a restore.
pub(crate) struct Sample {
    class: String,
    records: u64,
    /// Known for a backup (counted in its snapshot), not for a restore.
    total_records: Option<u64>,
    bytes: u64,
    total_bytes: u64,
}

impl From<&Progress> for Sample {
    fn from(p: &Progress) -> Sample {
        Sample {
            class: p.class.clone(),
            records: p.records,
            total_records: Some(p.total_records),
            bytes: p.bytes,
            total_bytes: p.total_bytes,
        }
    }
}

impl From<&RestoreProgress> for Sample {
    fn from(p: &RestoreProgress) -> Sample {
        Sample {
            class: p.class.clone(),
            records: p.records,
            total_records: None,
            bytes: p.archive_bytes_read,
            total_bytes: p.archive_bytes,
        }
    }
}

/// The progress of one backup or restore run, fed by its callback.
pub(crate) struct RunProgress {
    /// `backup` or `restore`: the log lines' prefix.
    what: &'static str,
    display: Display,
    class: String,
    /// Records done when the current class started.
    class_start: u64,
    latest: Option<Sample>,
}

impl RunProgress {
    pub(crate) fn new(output: &Output, what: &'static str) -> Arc<Mutex<RunProgress>> {
        let display = if output.quiet {
            Display::Off
        } else if output.stderr_is_terminal {
            // Drawn from the first report on (with its length known).
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(bar_style());
            Display::Bar(bar)
        } else {
            Display::Log {
                last: Instant::now(),
            }
        };
        Arc::new(Mutex::new(RunProgress {
            what,
            display,
            class: String::new(),
            class_start: 0,
            latest: None,
        }))
    }

    /// Called after each batch of records.
    pub(crate) fn update(&mut self, sample: Sample) {
        if sample.class != self.class {
            self.class_done();
            self.class.clone_from(&sample.class);
            self.class_start = self.latest.as_ref().map_or(0, |p| p.records);
        }
        let records = match sample.total_records {
            Some(total) => format!("{}/{} records", count(sample.records), count(total)),
            None => format!("{} records", count(sample.records)),
        };
        match &mut self.display {
            Display::Bar(bar) => {
                if bar.length().is_none() {
                    bar.enable_steady_tick(Duration::from_millis(200));
                }
                bar.set_length(sample.total_bytes);
                bar.set_position(sample.bytes);
                bar.set_message(format!("{} · {records}", sample.class));
            }
            Display::Log { last } if last.elapsed() >= LOG_EVERY => {
                *last = Instant::now();
                let percent = if sample.total_bytes == 0 {
                    100.0
                } else {
                    sample.bytes as f64 * 100.0 / sample.total_bytes as f64
                };
                eprintln!(
                    "{}: {percent:.0}% ({records}, {} of {}), at {}",
                    self.what,
                    size(sample.bytes),
                    size(sample.total_bytes),
                    sample.class
                );
            }
            Display::Log { .. } | Display::Off => {}
        }
        self.latest = Some(sample);
    }

    /// Prints the line of the class that just finished.
    fn class_done(&mut self) {
        let Some(latest) = &self.latest else {
            return;
        };
        // A restore commits at its end: until then its records are read,
        // not restored.
        let read = if self.what == "restore" { " read" } else { "" };
        let line = format!(
            "  {} {} records{read}",
            self.class,
            count(latest.records - self.class_start)
        );
        match &self.display {
            Display::Bar(bar) => bar.println(line),
            Display::Log { .. } => eprintln!("{}: {}", self.what, line.trim_start()),
            Display::Off => {}
        }
    }

    /// The run ended (either way): the last class's line, then the bar goes.
    pub(crate) fn finish(&mut self) {
        self.class_done();
        self.latest = None;
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

/// The backup bar: the class and records above, bytes, rate and ETA below.
const BAR_TEMPLATE: &str = "{spinner} {msg}\n  [{bar:32}] {binary_bytes}/{binary_total_bytes} · {binary_bytes_per_sec} · ETA {eta}";

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(BAR_TEMPLATE)
        // The template is a literal that parses: a test runs it.
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A spinner for work without a measure (reading a whole archive): shown
/// on a terminal only.
pub(crate) struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub(crate) fn start(output: &Output, what: String) -> Spinner {
        if output.quiet || !output.stderr_is_terminal {
            return Spinner(None);
        }
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            spinner.set_style(style);
        }
        spinner.set_message(what);
        spinner.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(spinner))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(spinner) = &self.0 {
            spinner.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_template_parses() {
        assert!(indicatif::ProgressStyle::with_template(super::BAR_TEMPLATE).is_ok());
    }
}
