//! `goro::signal`: signals arrive on channels (every listener, none lost while the
//! receivers keep up), `notify_context` cancels, refused signals are errors, and dropping
//! the last receiver gives the signal its default action back (in a child process).

use std::time::Duration;

use goro_chan::context::{Context, ContextError};
use goro_chan::signal::{ignore, ignored, notify, notify_context, reset};

mod common;
use common::{child_command, is_child};

fn raise(sig: i32) {
    // SAFETY: sending a signal to our own process.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

#[test]
fn every_receiver_gets_every_signal_of_a_burst_it_keeps_up_with() {
    for workers in [1, 2] {
        let rt = goro_runtime::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        let (a, b) = (
            notify(&[libc::SIGUSR1]).unwrap(),
            notify(&[libc::SIGUSR1]).unwrap(),
        );
        // One listener is a green thread, the other a plain OS thread; the sender waits
        // for both to acknowledge each signal before it sends the next.
        let (ack_tx, ack_rx) = goro_chan::bounded::<()>(0);
        let green_ack = ack_tx.clone();
        let green = rt.spawn(move || {
            for _ in 0..100 {
                assert_eq!(a.recv(), Ok(libc::SIGUSR1));
                green_ack.send(()).unwrap();
            }
            100
        });
        let plain = std::thread::spawn(move || {
            for _ in 0..100 {
                assert_eq!(b.recv_timeout(Duration::from_secs(10)), Ok(libc::SIGUSR1));
                ack_tx.send(()).unwrap();
            }
        });
        for _ in 0..100 {
            raise(libc::SIGUSR1);
            for _ in 0..2 {
                ack_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            }
        }
        plain.join().unwrap();
        assert_eq!(green.join().unwrap(), 100, "{workers} workers");
    }
}

#[test]
fn notify_context_is_cancelled_by_its_signal() {
    let rt = goro_runtime::Runtime::new().unwrap();
    let err = rt.block_on(|| {
        let (ctx, _stop) = notify_context(&Context::background(), &[libc::SIGUSR2]);
        goro_runtime::sleep(Duration::from_millis(10));
        raise(libc::SIGUSR2);
        let _ = ctx.done().recv_timeout(Duration::from_secs(10));
        ctx.err()
    });
    assert_eq!(err, Some(ContextError::Canceled));
}

#[test]
fn refused_signals_are_errors() {
    for bad in [&[libc::SIGKILL][..], &[libc::SIGSEGV], &[0]] {
        let e = notify(bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[test]
fn dropping_the_last_receiver_restores_the_default_action() {
    const NAME: &str = "dropping_the_last_receiver_restores_the_default_action";
    if is_child(NAME) {
        let rx = notify(&[libc::SIGTERM]).unwrap();
        raise(libc::SIGTERM);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(libc::SIGTERM));
        drop(rx);
        raise(libc::SIGTERM); // no listener: the default action, termination
        std::thread::sleep(Duration::from_secs(10));
        unreachable!("SIGTERM did not end the process");
    }
    let out = child_command(NAME).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Go's `NotifyContext` listens until `stop()`: a second SIGTERM during a graceful
/// shutdown is caught, not left to kill the process; after `stop` (here `cancel`), the
/// default action is back. The context's cause names the signal. In a child process.
#[test]
fn notify_context_keeps_catching_until_stop() {
    const NAME: &str = "notify_context_keeps_catching_until_stop";
    if is_child(NAME) {
        goro_runtime::run(|| {
            let (ctx, stop) = notify_context(&Context::background(), &[libc::SIGTERM]);
            goro_runtime::sleep(Duration::from_millis(10));
            raise(libc::SIGTERM);
            let _ = ctx.done().recv_timeout(Duration::from_secs(10));
            let cause = ctx.cause().unwrap().to_string();
            assert_eq!(cause, format!("signal {} received", libc::SIGTERM));
            // "Graceful shutdown": a second SIGTERM arrives and must be caught.
            raise(libc::SIGTERM);
            goro_runtime::sleep(Duration::from_millis(100));
            println!("CHILD survived the second signal");
            stop.cancel();
            // The listener leaves; with none left, the dispatcher restores the default
            // action at this delivery and raises the signal again, ending the process.
            goro_runtime::sleep(Duration::from_millis(50));
            raise(libc::SIGTERM);
            goro_runtime::sleep(Duration::from_secs(10));
        });
        unreachable!("SIGTERM did not end the process after stop");
    }
    child_printed_then_died_of(NAME, "CHILD survived the second signal", libc::SIGTERM);
}

/// Runs child `name`; it must print `line` and then end by signal `sig`.
fn child_printed_then_died_of(name: &str, line: &str, sig: i32) {
    use std::os::unix::process::ExitStatusExt;
    let out = child_command(name).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(line),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.signal(), Some(sig));
}

/// Go's `Notify(c)` with no signals relays every one; `Ignore`/`Ignored`; `Reset` gives a
/// signal its earlier action back. In a child process (process-wide dispositions).
#[test]
fn notify_all_ignore_and_reset() {
    const NAME: &str = "notify_all_ignore_and_reset";
    if is_child(NAME) {
        let all = notify(&[]).unwrap();
        raise(libc::SIGUSR1);
        raise(libc::SIGWINCH);
        let mut got = [all.recv().unwrap(), all.recv().unwrap()];
        got.sort();
        let mut want = [libc::SIGUSR1, libc::SIGWINCH];
        want.sort();
        assert_eq!(got, want, "every signal is relayed");
        assert!(!ignored(libc::SIGUSR2));
        ignore(&[libc::SIGUSR2]).unwrap();
        assert!(ignored(libc::SIGUSR2));
        raise(libc::SIGUSR2); // ignored: neither relayed nor fatal
        assert!(all.recv_timeout(Duration::from_millis(50)).is_err());
        assert!(ignore(&[libc::SIGKILL]).is_err());
        reset(&[libc::SIGTERM]); // back to the action before goro: termination
        println!("CHILD before the reset signal");
        raise(libc::SIGTERM);
        std::thread::sleep(Duration::from_secs(10));
        unreachable!("SIGTERM did not end the process after reset");
    }
    child_printed_then_died_of(NAME, "CHILD before the reset signal", libc::SIGTERM);
}
