//! Runaway templates: a loop that writes nothing never reaches the output bound, and Tera has
//! no fuel. Two bounds catch it: `range` (pxebake's own) counts the values it hands out per
//! rendering, so nested `range` loops end in a clear error; and every rendering is registered
//! with its start time, so a watchdog (in main) can end the process with a clear error when one
//! runs far past its time bound - a Tera rendering cannot be interrupted from outside, and
//! rendering comes before anything is written. The binary's allocator also counts what each
//! rendering takes, so a value doubled in a loop ends in a clear error, not in swapping or abort.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Values `range` may hand out in one rendering of one file (Tera's own limit is per call).
pub const MAX_RANGE_VALUES: usize = 1_000_000;

/// Elements a single `range` call may produce (as Tera's built-in).
const MAX_RANGE_LEN: i128 = 100_000;

thread_local! {
    static RANGE_LEFT: Cell<usize> = const { Cell::new(MAX_RANGE_VALUES) };
    /// While this thread renders: bytes allocated minus bytes freed since the rendering began;
    /// `IDLE` otherwise. A plain thread-local: the allocator counts without atomics or locks.
    static HEAP: Cell<isize> = const { Cell::new(IDLE) };
    /// The rendering's name, for a message written without allocating.
    static WHAT: Cell<([u8; 200], usize)> = const { Cell::new(([0; 200], 0)) };
    /// This thread's entry in the watchdog's list, made at its first rendering.
    static SLOT: std::sync::Arc<Slot> = {
        let slot = std::sync::Arc::new(Slot::default());
        if let Ok(mut all) = slots().lock() {
            all.push(slot.clone());
        }
        slot
    };
}

/// `HEAP` of a thread that is not rendering.
const IDLE: isize = isize::MIN;

/// Memory one rendering may take (net): far above any real template, which writes at most 32 MiB.
pub const MAX_RENDER_HEAP: isize = 1 << 30;

/// For the binary's allocator: counts `delta` bytes against the rendering on this thread, if
/// any; false when that rendering went past `MAX_RENDER_HEAP` (a value doubled in a loop).
#[inline]
pub fn heap_grow(delta: isize) -> bool {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    HEAP.try_with(|h| {
        let used = h.get();
        if used == IDLE {
            return true;
        }
        let used = used.saturating_add(delta);
        h.set(used);
        used <= MAX_RENDER_HEAP
    })
    .unwrap_or(true)
}

/// Whether failures are also reported as a JSON object on standard output (`--output json`).
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set by the binary for `--output json`: `heap_exceeded` then also prints its JSON error object.
pub fn report_as_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// For the binary's allocator, when `heap_grow` said no: says so on stderr and ends the process
/// with exit 2, without allocating (rendering comes before any write: nothing is half written).
pub fn heap_exceeded() -> ! {
    let (what, len) = WHAT.try_with(Cell::get).unwrap_or(([0; 200], 0));
    let parts: [&[u8]; 3] = [
        b"error: ",
        &what[..len],
        b" took more than 1024 MiB of memory; a template may take at most that much per file (a runaway loop building a value?); nothing was written\n",
    ];
    if JSON.load(Ordering::Relaxed) {
        // Fixed text: the template's name would need escaping, which allocates.
        let json: &[u8] = b"{\"ok\":false,\"error\":\"a template took more than 1024 MiB of memory for one file; nothing was written\",\"exit\":2}\n";
        // SAFETY: writing a valid buffer to stdout; the result does not matter, we exit next.
        unsafe { libc::write(1, json.as_ptr().cast(), json.len()) };
    }
    for p in parts {
        // SAFETY: writing a valid buffer to stderr; the result does not matter, we exit next.
        unsafe { libc::write(2, p.as_ptr().cast(), p.len()) };
    }
    // SAFETY: ends the process at once (no allocation, no destructors that could allocate).
    unsafe { libc::_exit(2) }
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

/// One thread's rendering in progress, as the watchdog sees it.
#[derive(Default)]
struct Slot {
    /// When the rendering began (nanoseconds since `epoch()`, plus one); 0 while idle.
    started: AtomicU64,
    /// Its time bound, in nanoseconds.
    limit: AtomicU64,
    /// What is being rendered (`started` is set while this is locked, so the two agree).
    what: Mutex<String>,
}

/// Every thread that has rendered (a thread registers once, not per rendering).
fn slots() -> &'static Mutex<Vec<std::sync::Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<Vec<std::sync::Arc<Slot>>>> = OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One rendering in progress (unregistered when dropped).
pub struct Active {
    /// When it began.
    pub start: Instant,
}

impl Drop for Active {
    fn drop(&mut self) {
        HEAP.set(IDLE);
        let _ = SLOT.try_with(|s| s.started.store(0, Ordering::Release));
    }
}

/// Registers a rendering of `what` bounded by `limit`, and gives this thread a fresh `range`
/// budget. Cheap: no allocation once this thread has rendered, one clock read.
pub fn start(what: std::fmt::Arguments, limit: Duration) -> Active {
    use std::fmt::Write as _;
    RANGE_LEFT.set(MAX_RANGE_VALUES);
    let epoch = epoch();
    let now = Instant::now();
    let _ = SLOT.try_with(|slot| {
        if let Ok(mut w) = slot.what.lock() {
            w.clear();
            let _ = w.write_fmt(what);
            let mut name = [0u8; 200];
            let len = w.len().min(name.len());
            name[..len].copy_from_slice(&w.as_bytes()[..len]);
            WHAT.set((name, len));
            slot.limit.store(nanos(limit), Ordering::Relaxed);
            slot.started.store(nanos(now.saturating_duration_since(epoch)).saturating_add(1), Ordering::Release);
        }
    });
    HEAP.set(0);
    Active { start: now }
}

/// A rendering running half again past its time bound (one that writes is stopped at the bound
/// itself, with the host named; this one loops without writing): the message to end with.
pub fn overdue() -> Option<String> {
    let slots = {
        let mut all = slots().lock().ok()?;
        // A thread that ended holds its slot no more.
        all.retain(|s| std::sync::Arc::strong_count(s) > 1);
        all.clone()
    };
    let now = nanos(epoch().elapsed());
    slots.iter().find_map(|slot| {
        let what = slot.what.lock().ok()?;
        let started = slot.started.load(Ordering::Acquire).checked_sub(1)?;
        let limit = Duration::from_nanos(slot.limit.load(Ordering::Relaxed));
        let bound = limit + limit / 2;
        (now.saturating_sub(started) > nanos(bound)).then(|| {
            format!(
                "{what} has run for over {} s without finishing; a template may take at most {} s per file (a runaway loop?); nothing was written",
                bound.as_secs_f64(),
                limit.as_secs_f64()
            )
        })
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
        let _g = start(format_args!("t"), Duration::from_secs(10));
        assert_eq!(t.render("t", &tera::Context::new()).unwrap(), "012|531|147");
    }

    #[test]
    fn nested_range_loops_that_write_nothing_end_in_an_error() {
        let t = tera_with("{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}");
        let _g = start(format_args!("t"), Duration::from_secs(10));
        let e = t.render("t", &tera::Context::new()).unwrap_err();
        let msg = format!("{e:?}");
        assert!(msg.contains("loops over `range` ran more than 1000000 times in one file"), "{msg}");
        // The next rendering on this thread has its budget back.
        let _g = start(format_args!("t"), Duration::from_secs(10));
        let t = tera_with("{% for i in range(end=100000) %}{% endfor %}ok");
        assert_eq!(t.render("t", &tera::Context::new()).unwrap(), "ok");
    }

    #[test]
    fn a_rendering_past_its_bound_is_overdue() {
        let g = start(format_args!("rendering `slow.yaml`"), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(80));
        let msg = overdue().expect("overdue");
        assert!(msg.starts_with("rendering `slow.yaml` has run for over 0.03 s without finishing"), "{msg}");
        drop(g);
        assert!(overdue().is_none_or(|m| !m.contains("slow.yaml")));
    }
}
