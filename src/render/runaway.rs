//! Runaway templates: a loop that writes nothing never reaches the output bound, and Tera has
//! no fuel. Two bounds catch it: `range` (pxebake's own) counts the values it hands out per
//! rendering, so nested `range` loops end in a clear error; and every rendering is registered
//! with its start time, so a watchdog (in main) can end the process with a clear error when one
//! runs far past its time bound - a Tera rendering cannot be interrupted from outside, and
//! rendering comes before anything is written.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Values `range` may hand out in one rendering of one file (Tera's own limit is per call).
pub const MAX_RANGE_VALUES: usize = 1_000_000;

/// Elements a single `range` call may produce (as Tera's built-in).
const MAX_RANGE_LEN: i128 = 100_000;

thread_local! {
    static RANGE_LEFT: Cell<usize> = const { Cell::new(MAX_RANGE_VALUES) };
}

/// `range(end=N, start=0, step_by=1)`, as Tera's, charged against the rendering's budget.
pub fn range(kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<Vec<i128>> {
    let start = kwargs.get::<i128>("start")?.unwrap_or_default();
    let end = kwargs.must_get::<i128>("end")?;
    let step = kwargs.get::<i128>("step_by")?.unwrap_or(1);
    if step == 0 {
        return Err(tera::Error::message("`range` was called with `step_by=0`"));
    }
    if start > end && step > 0 {
        return Err(tera::Error::message("`range` was called with `start` greater than `end`"));
    }
    let overflow = || tera::Error::message("`range` was called with arguments that overflow");
    let (span, by) = if step > 0 {
        (end.checked_sub(start).ok_or_else(overflow)?, step)
    } else {
        (start.saturating_sub(end).max(0), step.checked_neg().ok_or_else(overflow)?)
    };
    let len = span.checked_add(by - 1).ok_or_else(overflow)? / by;
    if len > MAX_RANGE_LEN {
        return Err(tera::Error::message(format!(
            "`range` would produce {len} values; one call may produce at most {MAX_RANGE_LEN}"
        )));
    }
    let left = RANGE_LEFT.get();
    if len as usize > left {
        RANGE_LEFT.set(0);
        return Err(tera::Error::message(format!(
            "loops over `range` ran more than {MAX_RANGE_VALUES} times in one file; a template may loop at most that much per file (a runaway loop?)"
        )));
    }
    RANGE_LEFT.set(left - len as usize);
    Ok((0..len).map(|i| start + i * step).collect())
}

struct Rendering {
    start: Instant,
    limit: Duration,
    what: String,
}

fn active() -> &'static Mutex<HashMap<u64, Rendering>> {
    static ACTIVE: OnceLock<Mutex<HashMap<u64, Rendering>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

/// One rendering in progress (unregistered when dropped).
pub struct Active(u64);

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut a) = active().lock() {
            a.remove(&self.0);
        }
    }
}

/// Registers a rendering of `what` bounded by `limit`, and gives this thread a fresh `range` budget.
pub fn start(what: &str, limit: Duration) -> Active {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    RANGE_LEFT.set(MAX_RANGE_VALUES);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut a) = active().lock() {
        a.insert(id, Rendering { start: Instant::now(), limit, what: what.to_string() });
    }
    Active(id)
}

/// A rendering running half again past its time bound (one that writes is stopped at the bound
/// itself, with the host named; this one loops without writing): the message to end with.
pub fn overdue() -> Option<String> {
    let a = active().lock().ok()?;
    a.values().find(|r| r.start.elapsed() > r.limit + r.limit / 2).map(|r| {
        format!(
            "{} has run for over {} s without finishing; a template may take at most {} s per file (a runaway loop?); nothing was written",
            r.what,
            (r.limit + r.limit / 2).as_secs_f64(),
            r.limit.as_secs_f64()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tera_with(text: &str) -> tera::Tera {
        let mut t = tera::Tera::new();
        t.register_function("range", range);
        t.add_raw_template("t", text).unwrap();
        t
    }

    #[test]
    fn range_counts_like_teras() {
        let t = tera_with("{% for i in range(end=3) %}{{ i }}{% endfor %}|{% for i in range(start=5, end=0, step_by=-2) %}{{ i }}{% endfor %}|{% for i in range(start=1, end=8, step_by=3) %}{{ i }}{% endfor %}");
        let _g = start("t", Duration::from_secs(10));
        assert_eq!(t.render("t", &tera::Context::new()).unwrap(), "012|531|147");
    }

    #[test]
    fn nested_range_loops_that_write_nothing_end_in_an_error() {
        let t = tera_with("{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}");
        let _g = start("t", Duration::from_secs(10));
        let e = t.render("t", &tera::Context::new()).unwrap_err();
        let msg = format!("{e:?}");
        assert!(msg.contains("loops over `range` ran more than 1000000 times in one file"), "{msg}");
        // The next rendering on this thread has its budget back.
        let _g = start("t", Duration::from_secs(10));
        let t = tera_with("{% for i in range(end=100000) %}{% endfor %}ok");
        assert_eq!(t.render("t", &tera::Context::new()).unwrap(), "ok");
    }

    #[test]
    fn a_rendering_past_its_bound_is_overdue() {
        let g = start("rendering `slow.yaml`", Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(80));
        let msg = overdue().expect("overdue");
        assert!(msg.starts_with("rendering `slow.yaml` has run for over 0.03 s without finishing"), "{msg}");
        drop(g);
        assert!(overdue().is_none_or(|m| !m.contains("slow.yaml")));
    }
}
