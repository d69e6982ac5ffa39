//! `tracing` per green thread (the `tracing` feature): the spans a green thread entered
//! stay its own across parks and migrations.
//!
//! A `tracing` subscriber keeps the current span stack per OS thread (tracing-subscriber's
//! `Registry` in a thread-local). Green threads share OS threads, so without help a span
//! entered in one green thread is still "current" when the worker runs the next one, and
//! log lines come out as `request{id=3}:request{id=0}:request{id=1}: start`. tokio has the
//! same problem for futures and solves it with `Instrument`, which enters the span around
//! each poll. A green thread's equivalent of a poll is one resume of its coroutine, so the
//! runtime does it for every green thread:
//!
//! * **switch out** (the coroutine suspended): every span on the OS thread's stack was
//!   entered by this green thread — a worker enters none of its own between green
//!   threads — so they are exited, innermost first, and remembered, outermost first;
//! * **switch in** (before the resume): the remembered spans are entered again, on
//!   whichever OS thread now runs the green thread.
//!
//! Every green thread also runs inside a span of its own, `g{id=N}` (level INFO, target
//! `goro`), created at its first switch-in and closed when it finishes, so every log line
//! carries the green thread's id (the id `goro::dump` shows).
//!
//! Cost: with the feature off, nothing (the field and calls are compiled out). With it on
//! and no subscriber ever set, one relaxed load and a null check per switch
//! (`dispatcher::has_been_set`); a G keeps its four cache lines (the spans are boxed).
//! With a subscriber, two lookups of its current span per switch and the `g` span per
//! green thread (docs ch.8 has the figures).
//!
//! # Invariants
//! 1. Only the party that owns the G's execution (`g/mod.rs`, "Ownership of `body`")
//!    touches its `GSpans`: the worker around `resume`.
//! 2. Between a switch-out and the next switch-in, the G's spans are on no thread's stack.

use tracing::dispatcher;
use tracing::span::Id;
use tracing::Span;

/// Deepest span stack a switch-out takes along (a subscriber whose `exit` did not pop
/// would otherwise loop for ever).
const MAX_DEPTH: usize = 256;

/// A green thread's spans while it is switched out.
#[derive(Debug, Default)]
pub(crate) struct GSpans {
    /// Entered when it last switched out, outermost first.
    entered: Vec<Id>,
    /// Its `g{id=N}` span, from its first switch-in until it finishes.
    own: Option<Span>,
}

/// Before resuming the green thread with id `g`: enter its spans on this thread. Its
/// `GSpans` is allocated at the first switch-in under a subscriber (a G stays four cache
/// lines: `g/mod.rs`, "Layout").
#[inline]
pub(crate) fn switch_in(spans: &mut Option<Box<GSpans>>, g: u64) {
    if dispatcher::has_been_set() {
        spans.get_or_insert_with(Box::default).switch_in(g);
    }
}

/// After the green thread switched out (`finished`: its coroutine returned).
#[inline]
pub(crate) fn switch_out(spans: &mut Option<Box<GSpans>>, finished: bool) {
    if let Some(s) = spans {
        s.switch_out();
        if finished {
            s.finish();
        }
    }
}

impl GSpans {
    fn switch_in(&mut self, g: u64) {
        if self.own.is_none() {
            let span = tracing::info_span!(target: "goro", "g", id = g);
            if let Some(id) = span.id() {
                self.entered.insert(0, id);
            }
            self.own = Some(span);
        }
        if !self.entered.is_empty() {
            dispatcher::get_default(|d| self.entered.iter().for_each(|id| d.enter(id)));
        }
    }

    /// After the green thread switched out: take its spans off this thread's stack.
    fn switch_out(&mut self) {
        self.entered.clear();
        dispatcher::get_default(|d| {
            while self.entered.len() < MAX_DEPTH {
                let Some(id) = d.current_span().id().cloned() else {
                    break;
                };
                d.exit(&id);
                self.entered.push(id);
            }
        });
        self.entered.reverse();
    }

    /// The green thread finished (after its last switch-out): its own span closes.
    fn finish(&mut self) {
        self.entered.clear();
        self.own = None;
    }
}
